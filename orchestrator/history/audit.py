"""Audit entries: who did what to which run, when. The table behind them is append-only."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AuditAction(StrEnum):
    """Everything the orchestrator writes to the audit log."""

    RUN_SUBMITTED = "run_submitted"
    RUN_STARTED = "run_started"
    RUN_FINISHED = "run_finished"
    TASK_STARTED = "task_started"
    TASK_FINISHED = "task_finished"
    TASK_REFUSED = "task_refused"
    TASK_SKIPPED = "task_skipped"
    CANCEL_REQUESTED = "cancel_requested"
    TASK_PARKED = "task_parked"
    TASK_APPROVED = "task_approved"
    TASK_REJECTED = "task_rejected"
    PAUSE_REQUESTED = "pause_requested"
    RESUME_REQUESTED = "resume_requested"
    #: A submitted chain that failed validation (nothing was enqueued).
    CHAIN_REJECTED = "chain_rejected"
    # Effects handlers have on a user's behalf (portfolio, workspace).
    TRADE_FILLED = "trade_filled"
    TRADE_REVERSED = "trade_reversed"
    TRADE_REFUSED = "trade_refused"
    ALERT_TRIGGERED = "alert_triggered"
    WORKSPACE_REFUSED = "workspace_refused"
    COMMAND_RUN = "command_run"
    FILE_CHANGED = "file_changed"
    GIT_CHANGED = "git_changed"
    # The ai-assistant and system modules.
    KNOWLEDGE_ADDED = "knowledge_added"
    VALIDATION_RUN = "validation_run"
    RUN_RESTORED = "run_restored"
    RUN_REPAIRED = "run_repaired"


def utc_now() -> datetime:
    """The current time, timezone-aware (history never stores naive datetimes)."""
    return datetime.now(UTC)


class AuditEntry(BaseModel):
    """One line of the audit log.

    ``at`` must be timezone-aware: a naive time in an audit trail is ambiguous once
    workers run in different time zones. ``detail`` must be JSON-serialisable (datetimes,
    enums and models are converted with pydantic's JSON mode when written).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str = Field(min_length=1, max_length=128)
    action: AuditAction
    run_id: str | None = Field(default=None, max_length=128)
    task_id: str | None = Field(default=None, max_length=128)
    detail: dict[str, Any] = Field(default_factory=dict)
    at: AwareDatetime = Field(default_factory=utc_now)
