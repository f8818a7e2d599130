"""ParkingLot: tasks waiting for a person (approvals) or for their run to resume (pauses).

A parked task holds no worker slot: its Celery signature is stored durably here and
sent again once someone decides. Deciding is atomic (exactly one caller wins), so two
``approve`` commands, or ``approve`` racing ``reject``, never release a task twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from orchestrator.history.recovery_records import (
    ParkDecision,
    ParkedTaskRecord,
    ParkKind,
    parked_task_record,
    storable_json,
    storable_text,
)
from orchestrator.history.repository import Repository
from orchestrator.history.tables import ParkedTaskRow


class ParkingLot(Repository):
    """Parked tasks on PostgreSQL (or SQLite when embedded); one row per (run, task).

    The schema must exist (``orchestrator.history.upgrade``). Safe to share between
    threads; every method runs in its own short transaction.
    """

    def park(
        self,
        *,
        run_id: str,
        task_id: str,
        user_id: str,
        kind: ParkKind | str,
        reason: str,
        signature: dict[str, Any],
        parked_at: datetime,
    ) -> bool:
        """Park a task until someone decides; returns whether this call parked it.

        Idempotent while waiting: parking a (run, task) that is already parked and
        undecided keeps the first parking (its signature, reason and time) and returns
        False, so a redelivered message cannot replace what a person is looking at.
        Once decided, parking it again replaces the old row with a new undecided one and
        returns True: a task that escalates again (or is paused again) needs a new
        decision, and an old approval never releases a new parking.
        """
        values = {
            "run_id": run_id,
            "task_id": task_id,
            "user_id": user_id,
            "kind": ParkKind(kind).value,
            "reason": storable_text(reason),
            "signature": storable_json(signature),
            "parked_at": parked_at,
            "decided_at": None,
            "decision": None,
            "decided_by": None,
        }
        stmt = self._upsert()(ParkedTaskRow).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "task_id"],
            set_={k: stmt.excluded[k] for k in values if k not in ("run_id", "task_id")},
            where=ParkedTaskRow.decision.is_not(None),
        ).returning(ParkedTaskRow.run_id)
        with self._tx() as s:
            # RETURNING yields a row only when it was inserted or replaced.
            return s.execute(stmt).first() is not None

    def decide(
        self,
        *,
        run_id: str,
        task_id: str,
        decision: ParkDecision | str,
        decided_by: str,
        at: datetime,
        kind: ParkKind | str | None = None,
    ) -> ParkedTaskRecord | None:
        """Decide a waiting task; returns it (with its signature) to the one caller that won.

        Atomic (``UPDATE ... WHERE decision IS NULL RETURNING``): of concurrent callers,
        exactly one gets the record; the others, and any later caller, get None, as does
        a task that was never parked. With ``kind``, only a task parked for that reason
        is decided (``resume`` cannot approve an escalation).
        """
        conditions = [ParkedTaskRow.run_id == run_id, ParkedTaskRow.task_id == task_id]
        if kind is not None:
            conditions.append(ParkedTaskRow.kind == ParkKind(kind).value)
        decided = self._decide(conditions, decision, decided_by, at)
        return decided[0] if decided else None

    def decide_all(
        self,
        *,
        run_id: str,
        decision: ParkDecision | str,
        decided_by: str,
        at: datetime,
        kind: ParkKind | str | None = None,
    ) -> list[ParkedTaskRecord]:
        """Decide every waiting task of a run (of one kind if given), atomically.

        For resuming a paused run, or rejecting everything a cancelled run parked. Each
        task is returned to exactly one caller, as with ``decide``. Ordered by parking.
        """
        conditions = [ParkedTaskRow.run_id == run_id]
        if kind is not None:
            conditions.append(ParkedTaskRow.kind == ParkKind(kind).value)
        decided = self._decide(conditions, decision, decided_by, at)
        return sorted(decided, key=lambda r: (r.parked_at, r.task_id))

    def _decide(
        self, conditions: list[Any], decision: ParkDecision | str, decided_by: str, at: datetime
    ) -> list[ParkedTaskRecord]:
        stmt = (
            update(ParkedTaskRow)
            .where(*conditions, ParkedTaskRow.decision.is_(None))
            .values(decision=ParkDecision(decision).value, decided_by=decided_by, decided_at=at)
            .returning(ParkedTaskRow)
            .execution_options(synchronize_session=False)
        )
        with self._tx() as s:
            return [parked_task_record(row) for row in s.scalars(stmt)]

    # -- readers -------------------------------------------------------------------------

    def waiting(
        self,
        *,
        user_id: str | None = None,
        run_id: str | None = None,
        kind: ParkKind | str | None = None,
    ) -> list[ParkedTaskRecord]:
        """Undecided parked tasks, filtered as given, oldest parking first."""
        stmt = select(ParkedTaskRow).where(ParkedTaskRow.decision.is_(None))
        if user_id is not None:
            stmt = stmt.where(ParkedTaskRow.user_id == user_id)
        if run_id is not None:
            stmt = stmt.where(ParkedTaskRow.run_id == run_id)
        if kind is not None:
            stmt = stmt.where(ParkedTaskRow.kind == ParkKind(kind).value)
        stmt = stmt.order_by(ParkedTaskRow.parked_at, ParkedTaskRow.run_id, ParkedTaskRow.task_id)
        with self._sessions() as s:
            return [parked_task_record(row) for row in s.scalars(stmt)]

    def get(self, run_id: str, task_id: str) -> ParkedTaskRecord | None:
        """The parked task, decided or not, or None if it was never parked."""
        with self._sessions() as s:
            row = s.get(ParkedTaskRow, (run_id, task_id))
            return None if row is None else parked_task_record(row)
