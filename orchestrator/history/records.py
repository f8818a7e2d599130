"""What the history readers return: frozen snapshots, detached from the database."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from orchestrator.history.audit import AuditAction, AuditEntry
from orchestrator.history.tables import AuditLogRow, RunRow, TaskAttemptRow
from orchestrator.models import (
    ExecutionResult,
    RunState,
    TaskChain,
    TaskError,
    TaskState,
    TaskStatus,
)


class _Record(BaseModel):
    # Frozen: a record is what the database said at read time; mutating it would
    # suggest the change is persisted, which it is not.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunRecord(_Record):
    """One run as recorded: the plan as submitted, where it got to, and its result."""

    run_id: str
    chain_id: str
    goal_id: str
    user_id: str
    state: RunState
    chain: TaskChain
    result: ExecutionResult | None
    submitted_at: AwareDatetime
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    goal_description: str


class AttemptRecord(_Record):
    """One attempt of one task of a run (a retried task has one record per attempt)."""

    run_id: str
    task_id: str
    task_type: str
    attempt: int
    state: TaskState
    queue: str | None
    worker: str | None
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    duration_ms: float | None
    error: TaskError | None
    reason: str | None


# -- conversions between rows and records (used by the store) ------------------------------


def run_record(row: RunRow, goal_description: str) -> RunRecord:
    """The record of a ``runs`` row; the JSON columns are validated back into models."""
    return RunRecord(
        run_id=row.run_id,
        chain_id=row.chain_id,
        goal_id=row.goal_id,
        user_id=row.user_id,
        state=RunState(row.state),
        chain=TaskChain.model_validate(row.chain),
        result=None if row.result is None else ExecutionResult.model_validate(row.result),
        submitted_at=row.submitted_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        goal_description=goal_description,
    )


def attempt_record(row: TaskAttemptRow) -> AttemptRecord:
    """The record of a ``task_attempts`` row."""
    return AttemptRecord(
        run_id=row.run_id,
        task_id=row.task_id,
        task_type=row.task_type,
        attempt=row.attempt,
        state=TaskState(row.state),
        queue=row.queue,
        worker=row.worker,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_ms=row.duration_ms,
        error=None if row.error is None else TaskError.model_validate(row.error),
        reason=row.reason,
    )


def audit_entry(row: AuditLogRow) -> AuditEntry:
    """The entry an ``audit_log`` row holds."""
    return AuditEntry(
        user_id=row.user_id,
        action=AuditAction(row.action),
        run_id=row.run_id,
        task_id=row.task_id,
        detail=row.detail,
        at=row.at,
    )


def audit_row_values(entry: AuditEntry) -> dict[str, Any]:
    """Column values of the ``audit_log`` row for ``entry``."""
    # JSON mode turns datetimes, enums and models inside ``detail`` into JSON values.
    return {
        "at": entry.at,
        "user_id": entry.user_id,
        "run_id": entry.run_id,
        "task_id": entry.task_id,
        "action": entry.action.value,
        "detail": entry.model_dump(mode="json")["detail"],
    }


def history_task_states(record: RunRecord, attempts: list[AttemptRecord]) -> dict[str, TaskStatus]:
    """Each task's latest recorded attempt as a TaskStatus (pending if never recorded)."""
    modules = {t.id: t.module.value for t in record.chain.tasks}
    states = {
        t.id: TaskStatus(
            task_id=t.id, type=str(t.type), module=t.module.value, queue=t.module.queue
        )
        for t in record.chain.tasks
    }
    for attempt in attempts:  # in start order: the latest attempt wins
        states[attempt.task_id] = TaskStatus(
            task_id=attempt.task_id,
            type=attempt.task_type,
            module=modules.get(attempt.task_id, "unknown"),
            state=attempt.state,
            queue=attempt.queue,
            worker=attempt.worker,
            attempt=attempt.attempt,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            duration_ms=attempt.duration_ms,
            error=attempt.error,
            reason=attempt.reason,
        )
    return states
