"""HistoryStore: the durable record of goals, runs, task attempts and the audit log.

Writes are few and coarse on purpose (design: keep history off the hot path): one
transaction at submission, one per task attempt when it ends, one when the run ends.
Each write that has an audit consequence writes its audit rows in the same transaction,
so the log never claims something the tables do not show, or the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, or_, select, text, update
from sqlalchemy.orm import Session

from orchestrator.history.audit import AuditAction, AuditEntry
from orchestrator.history.records import (
    AttemptRecord,
    RunRecord,
    attempt_record,
    audit_entry,
    audit_row_values,
    run_record,
)
from orchestrator.history.recovery_records import storable_json
from orchestrator.history.repository import Repository
from orchestrator.history.tables import AuditLogRow, GoalRow, RunRow, TaskAttemptRow
from orchestrator.models import (
    ExecutionResult,
    RunState,
    TaskChain,
    TaskError,
    TaskState,
    UserGoal,
)


class UnknownRunError(LookupError):
    """The run id was never recorded with ``record_submission``."""


class GoalOwnershipError(ValueError):
    """A goal id is already recorded for another user (goal ids are chosen by clients)."""


class HistoryStore(Repository):
    """Durable history on PostgreSQL (or SQLite when embedded).

    The schema must exist: run ``orchestrator.history.upgrade(url)`` first. Safe to share
    between threads; every method runs in its own short transaction.
    """

    def ping(self) -> None:
        """Run ``SELECT 1``; raises the driver's error if the database is unreachable."""
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def after_fork(self) -> None:
        """In a forked child: drop the parent's pooled connections without closing them."""
        self._engine.dispose(close=False)

    # -- writers -------------------------------------------------------------------------

    def record_submission(
        self,
        *,
        run_id: str,
        user_id: str,
        goal: UserGoal,
        chain: TaskChain,
        submitted_at: datetime,
    ) -> None:
        """Record a new run (state ``pending``), its goal and a ``run_submitted`` audit entry.

        One transaction. The goal row is shared by every run of the same goal id and
        written only the first time. Raises ``GoalOwnershipError`` if that goal id belongs
        to another user, and ``sqlalchemy.exc.IntegrityError`` if ``run_id`` exists.
        """
        insert_goal = self._upsert()(GoalRow).values(
            id=goal.id,
            user_id=user_id,
            description=goal.description,
            priority=goal.priority.value,
            payload=goal.model_dump(mode="json"),
            created_at=submitted_at,
        )
        with self._tx() as s:
            # The write comes first so a SQLite transaction takes the write lock at once.
            s.execute(insert_goal.on_conflict_do_nothing(index_elements=["id"]))
            owner = s.scalar(select(GoalRow.user_id).where(GoalRow.id == goal.id))
            if owner != user_id:
                raise GoalOwnershipError(f"goal {goal.id!r} belongs to another user")
            s.execute(
                insert(RunRow).values(
                    run_id=run_id,
                    chain_id=chain.id,
                    goal_id=goal.id,
                    user_id=user_id,
                    state=RunState.PENDING.value,
                    chain=chain.model_dump(mode="json", by_alias=True),
                    result=None,
                    submitted_at=submitted_at,
                )
            )
            entry = AuditEntry(
                user_id=user_id,
                action=AuditAction.RUN_SUBMITTED,
                run_id=run_id,
                detail={"goal_id": goal.id, "chain_id": chain.id, "tasks": len(chain.tasks)},
                at=submitted_at,
            )
            s.execute(insert(AuditLogRow), [audit_row_values(entry)])

    def record_run_started(self, run_id: str, at: datetime) -> None:
        """Mark a pending run ``running`` and audit ``run_started``; idempotent.

        Only the first call on a still-pending run changes anything (a cancelled or
        already running run is left alone), so redelivered messages are harmless.
        Raises ``UnknownRunError`` if the run was never recorded.
        """
        with self._tx() as s:
            user_id = s.scalar(
                update(RunRow)
                .where(RunRow.run_id == run_id, RunRow.state == RunState.PENDING.value)
                .values(state=RunState.RUNNING.value, started_at=at)
                .returning(RunRow.user_id)
            )
            if user_id is None:
                self._require_run(s, run_id)
                return
            entry = AuditEntry(
                user_id=user_id, action=AuditAction.RUN_STARTED, run_id=run_id, at=at
            )
            s.execute(insert(AuditLogRow), [audit_row_values(entry)])

    def record_attempt(
        self,
        *,
        run_id: str,
        task_id: str,
        task_type: str,
        attempt: int,
        state: TaskState | str,
        queue: str | None,
        worker: str | None,
        started_at: datetime | None,
        finished_at: datetime | None,
        duration_ms: float | None,
        error: TaskError | None,
        reason: str | None,
        audit: Sequence[AuditEntry] = (),
        output: dict[str, Any] | None = None,
        input_fingerprint: str | None = None,
    ) -> None:
        """Write one task attempt (upsert on run, task, attempt) and its audit entries.

        One transaction, meant to be called once when the attempt ends. Writing the same
        attempt again overwrites it, so a redelivered task does not duplicate history.
        ``output`` (JSON) is what a succeeded attempt produced; ``input_fingerprint``
        identifies its inputs, for ``last_good_output``.
        """
        values = {
            "run_id": run_id,
            "task_id": task_id,
            "task_type": task_type,
            "attempt": attempt,
            "state": TaskState(state).value,
            "queue": queue,
            "worker": worker,
            "started_at": started_at,
            "finished_at": finished_at,
            "duration_ms": duration_ms,
            "error": error.model_dump(mode="json") if error is not None else None,
            "reason": reason,
            "output": None if output is None else storable_json(output),
            "input_fingerprint": input_fingerprint,
        }
        stmt = self._upsert()(TaskAttemptRow).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "task_id", "attempt"],
            set_={k: stmt.excluded[k] for k in values if k not in ("run_id", "task_id", "attempt")},
        )
        with self._tx() as s:
            s.execute(stmt)
            if audit:
                s.execute(insert(AuditLogRow), [audit_row_values(e) for e in audit])

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries (one transaction); an empty sequence does nothing."""
        if not entries:
            return
        with self._tx() as s:
            s.execute(insert(AuditLogRow), [audit_row_values(e) for e in entries])

    def record_run_finished(
        self,
        *,
        run_id: str,
        state: RunState | str,
        result: ExecutionResult,
        finished_at: datetime,
    ) -> None:
        """Store the run's final state and result and audit ``run_finished``; one transaction.

        The first finish wins: later calls (a redelivered callback) change nothing.
        Raises ``UnknownRunError`` if the run was never recorded.
        """
        final = RunState(state)
        with self._tx() as s:
            user_id = s.scalar(
                update(RunRow)
                .where(RunRow.run_id == run_id, RunRow.finished_at.is_(None))
                .values(
                    state=final.value,
                    result=result.model_dump(mode="json"),
                    finished_at=finished_at,
                )
                .returning(RunRow.user_id)
            )
            if user_id is None:
                self._require_run(s, run_id)
                return
            entry = AuditEntry(
                user_id=user_id,
                action=AuditAction.RUN_FINISHED,
                run_id=run_id,
                detail={"status": result.status.value},
                at=finished_at,
            )
            s.execute(insert(AuditLogRow), [audit_row_values(entry)])

    def set_run_state(self, run_id: str, state: RunState | str) -> None:
        """Overwrite a run's state (no audit entry). Raises ``UnknownRunError``."""
        with self._tx() as s:
            found = s.scalar(
                update(RunRow)
                .where(RunRow.run_id == run_id)
                .values(state=RunState(state).value)
                .returning(RunRow.run_id)
            )
            if found is None:
                raise UnknownRunError(run_id)

    @staticmethod
    def _require_run(s: Session, run_id: str) -> None:
        if s.scalar(select(RunRow.run_id).where(RunRow.run_id == run_id)) is None:
            raise UnknownRunError(run_id)

    # -- readers -------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run as recorded, or ``None`` if unknown."""
        with self._sessions() as s:
            row = s.execute(
                select(RunRow, GoalRow.description)
                .join(GoalRow, GoalRow.id == RunRow.goal_id)
                .where(RunRow.run_id == run_id)
            ).one_or_none()
            return None if row is None else run_record(row[0], row[1])

    def list_runs(self, *, user_id: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The newest ``limit`` runs (of one user if given), newest submission first."""
        if limit < 1:
            raise ValueError("limit must be positive")
        # run_id breaks ties so equal timestamps still give a stable order.
        stmt = _runs(user_id).order_by(RunRow.submitted_at.desc(), RunRow.run_id.desc())
        return self._run_records(stmt.limit(limit))

    def runs_to_reconcile(
        self, *, finished_after: datetime, user_id: str | None = None, limit: int = 1000
    ) -> list[RunRecord]:
        """Runs not finished yet (all of them first), then those finished after
        ``finished_after``, most recent first; at most ``limit``.

        What ``orchestrator sync`` compares with the live context (whose keys outlive a
        finished run by the context TTL). Unfinished runs come first so a burst of
        finished ones can never push a stuck run out of the limit.
        """
        stmt = (
            _runs(user_id)
            .where(or_(RunRow.finished_at.is_(None), RunRow.finished_at >= finished_after))
            .order_by(
                RunRow.finished_at.desc().nulls_first(),
                RunRow.submitted_at.desc(),
                RunRow.run_id.desc(),
            )
        )
        return self._run_records(stmt.limit(limit))

    def _run_records(self, stmt: Select[RunRow, str]) -> list[RunRecord]:
        with self._sessions() as s:
            return [run_record(run, desc) for run, desc in s.execute(stmt)]

    def attempts(self, run_id: str) -> list[AttemptRecord]:
        """Every recorded attempt of a run, in start order (never-started ones last)."""
        stmt = (
            select(TaskAttemptRow)
            .where(TaskAttemptRow.run_id == run_id)
            .order_by(TaskAttemptRow.started_at.asc().nulls_last(), TaskAttemptRow.id)
        )
        with self._sessions() as s:
            return [attempt_record(a) for a in s.scalars(stmt)]

    def audit_log(
        self, *, run_id: str | None = None, user_id: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Audit entries in the order they were written (oldest first), at most ``limit``."""
        if limit < 1:
            raise ValueError("limit must be positive")
        stmt = select(AuditLogRow)
        if run_id is not None:
            stmt = stmt.where(AuditLogRow.run_id == run_id)
        if user_id is not None:
            stmt = stmt.where(AuditLogRow.user_id == user_id)
        with self._sessions() as s:
            rows = s.scalars(stmt.order_by(AuditLogRow.id).limit(limit))
            return [audit_entry(r) for r in rows]

    def last_good_output(
        self, task_type: str, input_fingerprint: str, *, user_id: str
    ) -> dict[str, Any] | None:
        """The output of the newest succeeded attempt of ``task_type`` with these inputs in
        a run of ``user_id`` (another user's outputs are theirs, even for the same inputs)."""
        stmt = (
            select(TaskAttemptRow.output)
            .join(RunRow, RunRow.run_id == TaskAttemptRow.run_id)
            .where(
                RunRow.user_id == user_id,
                TaskAttemptRow.input_fingerprint == input_fingerprint,
                TaskAttemptRow.task_type == task_type,
                TaskAttemptRow.state == TaskState.SUCCEEDED.value,
                TaskAttemptRow.output.is_not(None),
            )
            .order_by(TaskAttemptRow.finished_at.desc().nulls_last(), TaskAttemptRow.id.desc())
            .limit(1)
        )
        with self._sessions() as s:
            return s.scalar(stmt)

    def attempt_outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        """``task_id -> output`` of each task of a run that succeeded (its latest success)."""
        stmt = (
            select(TaskAttemptRow.task_id, TaskAttemptRow.output)
            .where(
                TaskAttemptRow.run_id == run_id,
                TaskAttemptRow.state == TaskState.SUCCEEDED.value,
                TaskAttemptRow.output.is_not(None),
            )
            .order_by(TaskAttemptRow.attempt)
        )
        with self._sessions() as s:
            # Ascending attempts: a later success overwrites an earlier one.
            return dict(s.execute(stmt).all())


def _runs(user_id: str | None) -> Select[RunRow, str]:
    """Runs with their goal's description (of one user if given), not yet ordered."""
    stmt = select(RunRow, GoalRow.description).join(GoalRow, GoalRow.id == RunRow.goal_id)
    return stmt if user_id is None else stmt.where(RunRow.user_id == user_id)
