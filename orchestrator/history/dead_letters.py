"""DeadLetterBox: messages that could not be processed (poison messages), kept for people.

A message that keeps failing before its task can even run (undecodable, unknown task,
redelivered too often) is acknowledged and recorded here with its payload and the
reason, instead of looping through the broker forever.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from orchestrator.history.recovery_records import (
    DeadLetterRecord,
    dead_letter_record,
    storable_json,
    storable_text,
)
from orchestrator.history.repository import Repository
from orchestrator.history.tables import DeadLetterRow


class DeadLetterBox(Repository):
    """Dead letters on PostgreSQL (or SQLite when embedded); append and list.

    The schema must exist (``orchestrator.history.upgrade``). Safe to share between
    threads; every method runs in its own short transaction.
    """

    def record(
        self,
        *,
        reason: str,
        payload: dict[str, Any],
        at: datetime,
        celery_task_id: str | None = None,
        task_name: str | None = None,
        delivery_count: int | None = None,
    ) -> int:
        """Keep one dead letter; returns its id.

        The payload is whatever the broker delivered, so it is made storable rather than
        refused: bytes become base64, unknown objects their ``repr``, NUL characters are
        escaped (see ``storable_json``). Recording a poison message must not fail on it.
        """
        stmt = (
            insert(DeadLetterRow)
            .values(
                at=at,
                celery_task_id=celery_task_id,
                task_name=task_name,
                reason=storable_text(reason),
                payload=storable_json(payload),
                delivery_count=delivery_count,
            )
            .returning(DeadLetterRow.id)
        )
        with self._tx() as s:
            return s.execute(stmt).scalar_one()

    def list(self, limit: int = 100) -> builtins.list[DeadLetterRecord]:
        """The newest ``limit`` dead letters, newest first."""
        if limit < 1:
            raise ValueError("limit must be positive")
        stmt = select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit)
        with self._sessions() as s:
            return [dead_letter_record(row) for row in s.scalars(stmt)]
