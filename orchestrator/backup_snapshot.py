"""Taking a backup (BACKUP_STATE): one snapshot of a run's history, then its live context.

The history part (the run, its goal, every attempt with its output, every audit entry) is
read in one transaction: REPEATABLE READ on PostgreSQL, so a task of the run that ends
meanwhile is in all of it or in none of it; SQLite's explicit ``BEGIN`` (see
``create_history_engine``) reads one snapshot anyway. The live context is read after it.
The document format is ``orchestrator.backup``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from orchestrator.backup import (
    BACKUP_FORMAT_VERSION,
    BackupAttempt,
    BackupGoal,
    content_digest,
    sign_digest,
)
from orchestrator.context import ContextStore
from orchestrator.history.audit import AuditEntry
from orchestrator.history.records import RunRecord, attempt_record, audit_entry, run_record
from orchestrator.history.tables import AuditLogRow, GoalRow, RunRow, TaskAttemptRow
from orchestrator.models import Priority
from orchestrator.models.base import StrictModel


class HistorySnapshot(StrictModel):
    """What history holds of one run, read in one transaction."""

    record: RunRecord
    goal: BackupGoal
    attempts: list[BackupAttempt]
    audit: list[AuditEntry]


def _snapshot_session(engine: Engine) -> Session:
    if engine.dialect.name == "postgresql":
        # Both reset when the connection goes back to the pool.
        engine = engine.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    return Session(engine)


def _attempts(session: Session, run_id: str) -> list[BackupAttempt]:
    # The order of HistoryStore.attempts: start order, never-started ones last.
    rows = session.scalars(
        select(TaskAttemptRow)
        .where(TaskAttemptRow.run_id == run_id)
        .order_by(TaskAttemptRow.started_at.asc().nulls_last(), TaskAttemptRow.id)
    )
    return [
        BackupAttempt.model_validate(
            {
                **attempt_record(r).model_dump(),
                "output": r.output,
                "input_fingerprint": r.input_fingerprint,
            }
        )
        for r in rows
    ]


def read_history(engine: Engine, run_id: str) -> HistorySnapshot | None:
    """The run ``run_id`` as history holds it (one snapshot), or None if it is unknown."""
    with _snapshot_session(engine) as session, session.begin():
        found = session.execute(
            select(RunRow, GoalRow)
            .join(GoalRow, GoalRow.id == RunRow.goal_id)
            .where(RunRow.run_id == run_id)
        ).one_or_none()
        if found is None:
            return None
        run_row, goal_row = found
        attempts = _attempts(session, run_id)
        audit_rows = session.scalars(
            select(AuditLogRow).where(AuditLogRow.run_id == run_id).order_by(AuditLogRow.id)
        )
        # Every entry: a backup that silently drops part of the trail would restore a lie.
        audit = [audit_entry(r) for r in audit_rows]
        return HistorySnapshot(
            record=run_record(run_row, goal_row.description),
            goal=BackupGoal(
                id=goal_row.id,
                user_id=goal_row.user_id,
                description=goal_row.description,
                priority=Priority(goal_row.priority),
                payload=goal_row.payload,
                created_at=goal_row.created_at,
            ),
            attempts=attempts,
            audit=audit,
        )


def build_backup(
    *,
    history: HistorySnapshot,
    context: ContextStore,
    created_at: datetime,
    created_by_run: str | None,
    secret: SecretStr | None = None,
) -> dict[str, Any]:
    """The backup document (format 2, checksum included, signed with ``secret`` if given)."""
    run_id, user_id = history.record.run_id, history.record.user_id
    meta = context.run_meta(user_id, run_id)
    snapshot = context.snapshot(user_id, run_id, meta=meta)
    live = {
        **snapshot,
        # The live plan differs from the recorded one once recovery added tasks to it.
        "chain": None
        if meta is None
        else context.chain(user_id, run_id, version=meta.chain_version).model_dump(
            mode="json", by_alias=True
        ),
        "result": None
        if (result := context.result(user_id, run_id)) is None
        else result.model_dump(mode="json"),
    }
    document: dict[str, Any] = {
        "format_version": BACKUP_FORMAT_VERSION,
        "created_at": created_at.isoformat(),
        "created_by_run": created_by_run,
        "run": history.record.model_dump(mode="json", by_alias=True),
        "goal": history.goal.model_dump(mode="json"),
        "attempts": [a.model_dump(mode="json") for a in history.attempts],
        "audit": [a.model_dump(mode="json") for a in history.audit],
        "live_context": live,
    }
    # Through JSON and back first: the checksum is over what a reader will parse.
    document = json.loads(json.dumps(document))
    document["content_sha256"] = content_digest(document)
    if secret is not None:
        document["signature"] = sign_digest(document["content_sha256"], secret)
    return document
