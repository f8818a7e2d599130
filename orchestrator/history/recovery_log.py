"""RecoveryLog: every failure and every recovery outcome, for statistics and learning.

Failures are counted per error fingerprint (how often has this exact error been seen);
recovery attempts are written when a strategy starts and finished with its outcome, so
``recovery_stats`` can report success rate and mean time to recover by error type and
strategy, and the recovery layer can prefer what worked before (``outcome_stats``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, insert, select, update

from orchestrator.history.recovery_records import (
    RecoveryAttemptRecord,
    RecoveryStatsRow,
    recovery_attempt_record,
    storable_json,
    storable_text,
)
from orchestrator.history.repository import Repository
from orchestrator.history.tables import RecoveryAttemptRow, TaskFailureRow
from orchestrator.models import ErrorType, RecoveryType, TaskError


class UnknownRecoveryError(LookupError):
    """The recovery id was never returned by ``start_recovery``."""


class RecoveryLog(Repository):
    """Failures and recovery outcomes on PostgreSQL (or SQLite when embedded).

    The schema must exist (``orchestrator.history.upgrade``). Safe to share between
    threads; every method runs in its own short transaction.
    """

    def record_failure(
        self,
        *,
        run_id: str,
        task_id: str,
        task_type: str,
        attempt: int,
        error: TaskError,
        fingerprint: str,
        at: datetime,
        severity: str | None = None,
    ) -> int:
        """Append one failure of one task attempt; returns its id.

        Every call adds a row (a redelivered failure counts again): the count is "how
        often was this seen", not "how many distinct attempts failed".
        """
        values = {
            "at": at,
            "run_id": run_id,
            "task_id": task_id,
            "task_type": task_type,
            "attempt": attempt,
            "error_type": ErrorType(error.type).value,
            "fingerprint": fingerprint,
            "message": storable_text(error.message),
            "severity": severity,
            "details": storable_json(error.details),
        }
        stmt = insert(TaskFailureRow).values(**values).returning(TaskFailureRow.id)
        with self._tx() as s:
            return s.execute(stmt).scalar_one()

    def count_fingerprint(self, fingerprint: str) -> int:
        """How many failures with this fingerprint were recorded (indexed count)."""
        stmt = select(func.count()).where(TaskFailureRow.fingerprint == fingerprint)
        with self._sessions() as s:
            return s.scalar(stmt) or 0

    # -- recovery attempts ---------------------------------------------------------------

    def start_recovery(
        self,
        *,
        run_id: str,
        task_id: str,
        attempt: int,
        error_type: ErrorType | str,
        fingerprint: str,
        strategy: RecoveryType | str,
        started_at: datetime,
        detail: str = "",
    ) -> int:
        """Record that ``strategy`` started on a failure; returns the id to finish it with."""
        values = {
            "run_id": run_id,
            "task_id": task_id,
            "attempt": attempt,
            "error_type": ErrorType(error_type).value,
            "fingerprint": fingerprint,
            "strategy": RecoveryType(strategy).value,
            "started_at": started_at,
            "detail": storable_text(detail),
        }
        stmt = insert(RecoveryAttemptRow).values(**values).returning(RecoveryAttemptRow.id)
        with self._tx() as s:
            return s.execute(stmt).scalar_one()

    def finish_recovery(
        self,
        recovery_id: int,
        *,
        succeeded: bool,
        finished_at: datetime,
        detail: str | None = None,
    ) -> bool:
        """Store the outcome and ``time_to_recover_ms = finished_at - started_at``.

        The first finish wins: returns True if this call finished the attempt, False if
        it was already finished (nothing changes). ``detail`` replaces the detail given at
        start unless None. A negative duration (clocks of two workers disagreeing) is
        stored as 0. Raises ``UnknownRecoveryError`` for an unknown id.
        """
        values: dict[str, object] = {"finished_at": finished_at, "succeeded": succeeded}
        if detail is not None:
            values["detail"] = storable_text(detail)
        with self._tx() as s:
            # The write comes first so a SQLite transaction takes the write lock at once.
            started_at = s.scalar(
                update(RecoveryAttemptRow)
                .where(
                    RecoveryAttemptRow.id == recovery_id,
                    RecoveryAttemptRow.finished_at.is_(None),
                )
                .values(**values)
                .returning(RecoveryAttemptRow.started_at)
            )
            if started_at is None:
                found = s.scalar(
                    select(RecoveryAttemptRow.id).where(RecoveryAttemptRow.id == recovery_id)
                )
                if found is None:
                    raise UnknownRecoveryError(recovery_id)
                return False
            elapsed_ms = (finished_at - started_at).total_seconds() * 1000.0
            s.execute(
                update(RecoveryAttemptRow)
                .where(RecoveryAttemptRow.id == recovery_id)
                .values(time_to_recover_ms=max(0.0, elapsed_ms))
            )
            return True

    def finish_pending(
        self,
        run_id: str,
        task_id: str,
        *,
        succeeded: bool,
        finished_at: datetime,
        detail: str | None = None,
    ) -> int:
        """Finish every unfinished recovery attempt of one task of a run; returns how many.

        For outcomes decided elsewhere (an escalation rejected by a person). Each gets
        its own ``time_to_recover_ms``, as with ``finish_recovery``.
        """
        values: dict[str, object] = {"finished_at": finished_at, "succeeded": succeeded}
        if detail is not None:
            values["detail"] = storable_text(detail)
        with self._tx() as s:
            finished = s.execute(
                update(RecoveryAttemptRow)
                .where(
                    RecoveryAttemptRow.run_id == run_id,
                    RecoveryAttemptRow.task_id == task_id,
                    RecoveryAttemptRow.finished_at.is_(None),
                )
                .values(**values)
                .returning(RecoveryAttemptRow.id, RecoveryAttemptRow.started_at)
            ).all()
            for recovery_id, started_at in finished:
                elapsed_ms = (finished_at - started_at).total_seconds() * 1000.0
                s.execute(
                    update(RecoveryAttemptRow)
                    .where(RecoveryAttemptRow.id == recovery_id)
                    .values(time_to_recover_ms=max(0.0, elapsed_ms))
                )
            return len(finished)

    def annotate(self, recovery_id: int, note: str) -> None:
        """Append a line to a recovery attempt's detail (what the strategy did so far).

        A later ``finish_recovery`` with a ``detail`` replaces the whole text. Raises
        ``UnknownRecoveryError`` for an unknown id.
        """
        line = storable_text(note)
        detail = RecoveryAttemptRow.detail
        with self._tx() as s:
            found = s.scalar(
                update(RecoveryAttemptRow)
                .where(RecoveryAttemptRow.id == recovery_id)
                .values(detail=case((detail == "", line), else_=detail + "\n" + line))
                .returning(RecoveryAttemptRow.id)
            )
            if found is None:
                raise UnknownRecoveryError(recovery_id)

    # -- readers -------------------------------------------------------------------------

    def recovery_attempts(
        self, run_id: str, task_id: str | None = None
    ) -> list[RecoveryAttemptRecord]:
        """Recovery attempts of a run (of one task if given), oldest first."""
        stmt = select(RecoveryAttemptRow).where(RecoveryAttemptRow.run_id == run_id)
        if task_id is not None:
            stmt = stmt.where(RecoveryAttemptRow.task_id == task_id)
        stmt = stmt.order_by(RecoveryAttemptRow.started_at, RecoveryAttemptRow.id)
        with self._sessions() as s:
            return [recovery_attempt_record(r) for r in s.scalars(stmt)]

    def tried_strategies(self, run_id: str, task_id: str) -> set[RecoveryType]:
        """The strategies already started (finished or not) for one task of a run."""
        stmt = select(RecoveryAttemptRow.strategy).where(
            RecoveryAttemptRow.run_id == run_id, RecoveryAttemptRow.task_id == task_id
        )
        with self._sessions() as s:
            return {RecoveryType(strategy) for strategy in s.scalars(stmt)}

    def outcome_stats(
        self, error_type: ErrorType | str, *, fingerprint: str | None = None
    ) -> dict[str, tuple[int, int]]:
        """``strategy -> (finished attempts, successes)`` for one error type.

        Only finished attempts count. With ``fingerprint``, only that exact error's.
        Strategies never tried are absent.
        """
        successes = func.sum(case((RecoveryAttemptRow.succeeded.is_(True), 1), else_=0))
        stmt = (
            select(RecoveryAttemptRow.strategy, func.count(), successes)
            .where(
                RecoveryAttemptRow.error_type == ErrorType(error_type).value,
                RecoveryAttemptRow.finished_at.is_not(None),
            )
            .group_by(RecoveryAttemptRow.strategy)
        )
        if fingerprint is not None:
            stmt = stmt.where(RecoveryAttemptRow.fingerprint == fingerprint)
        with self._sessions() as s:
            return {strategy: (int(n), int(ok or 0)) for strategy, n, ok in s.execute(stmt)}

    def recovery_stats(self) -> list[RecoveryStatsRow]:
        """Finished recoveries by error type x strategy, sorted by both.

        ``success_rate`` is successes / attempts; ``mean_time_to_recover_ms`` averages the
        successful attempts only (None when none succeeded).
        """
        ok = RecoveryAttemptRow.succeeded.is_(True)
        stmt = (
            select(
                RecoveryAttemptRow.error_type,
                RecoveryAttemptRow.strategy,
                func.count(),
                func.sum(case((ok, 1), else_=0)),
                func.avg(case((ok, RecoveryAttemptRow.time_to_recover_ms), else_=None)),
            )
            .where(RecoveryAttemptRow.finished_at.is_not(None))
            .group_by(RecoveryAttemptRow.error_type, RecoveryAttemptRow.strategy)
            .order_by(RecoveryAttemptRow.error_type, RecoveryAttemptRow.strategy)
        )
        with self._sessions() as s:
            rows = s.execute(stmt).all()
        return [
            RecoveryStatsRow(
                error_type=ErrorType(error_type),
                strategy=RecoveryType(strategy),
                attempts=int(n),
                successes=int(succeeded or 0),
                success_rate=int(succeeded or 0) / int(n),
                mean_time_to_recover_ms=None if mean is None else float(mean),
            )
            for error_type, strategy, n, succeeded, mean in rows
        ]

    def learnings_available(self, fingerprint: str) -> bool:
        """Whether any recovery of this exact error (fingerprint) has finished."""
        stmt = (
            select(RecoveryAttemptRow.id)
            .where(
                RecoveryAttemptRow.fingerprint == fingerprint,
                RecoveryAttemptRow.finished_at.is_not(None),
            )
            .limit(1)
        )
        with self._sessions() as s:
            return s.scalar(stmt) is not None
