"""Health reports (0005): what MONITOR_HEALTH and beat's health job found, kept for a while.

One row per report: when it was taken, by whom (a run id, ``beat`` or ``cli``), whether
every check passed, and each check's status, latency and detail (JSON, in check order).
The table sits on the shared metadata like the portfolio tables, so one Alembic chain
migrates it. Reports are pruned when a new one is written: anything older than the
retention window goes, so the table stays small however often beat runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from pydantic import AwareDatetime, Field
from sqlalchemy import Boolean, CursorResult, String, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.history.repository import Repository
from orchestrator.history.tables import ID_LEN, Base, BigIntPK, UTCDateTime, json_type
from orchestrator.models.base import StrictModel

#: ``source`` of a report taken by Celery beat's periodic job.
BEAT_SOURCE = "beat"
#: ``source`` of a report taken by ``orchestrator health --now``.
CLI_SOURCE = "cli"
#: The newest report is stale once it is this many health intervals old: beat, or the
#: system worker that runs beat's job, has stopped.
STALE_AFTER_INTERVALS = 3


class CheckStatus(StrEnum):
    """Outcome of one health check."""

    UP = "up"
    DOWN = "down"
    #: Not applicable here (workers of the embedded mode start with each run).
    SKIPPED = "skipped"


class CheckResult(StrictModel):
    """One check of a health report."""

    name: str
    status: CheckStatus
    latency_ms: float
    detail: str = ""


class HealthRecord(StrictModel):
    """One recorded health report."""

    checked_at: AwareDatetime
    #: Who took it: the run id of a MONITOR_HEALTH task, ``beat`` or ``cli``.
    source: str = Field(min_length=1, max_length=ID_LEN)
    healthy: bool
    checks: list[CheckResult]


def is_stale(record: HealthRecord, *, now: datetime, interval_s: float) -> bool:
    """Whether ``record`` is too old to say anything about ``now`` (see above)."""
    return now - record.checked_at > timedelta(seconds=STALE_AFTER_INTERVALS * interval_s)


class HealthReportRow(Base):
    """A health report; ``checks`` is the list of ``CheckResult`` as JSON."""

    __tablename__ = "health_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    source: Mapped[str] = mapped_column(String(ID_LEN))
    healthy: Mapped[bool] = mapped_column(Boolean)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(json_type())


class HealthLog(Repository):
    """Writes and reads health reports (the schema must be at revision 0005 or later)."""

    def record(self, report: HealthRecord, *, keep_days: float) -> int:
        """Store ``report`` and drop reports older than ``keep_days`` before it, in one
        transaction; returns how many were dropped."""
        cutoff = report.checked_at - timedelta(days=keep_days)
        with self._tx() as s:
            s.execute(
                insert(HealthReportRow).values(
                    checked_at=report.checked_at,
                    source=report.source,
                    healthy=report.healthy,
                    checks=[c.model_dump(mode="json") for c in report.checks],
                )
            )
            pruned = cast(
                CursorResult[Any],
                s.execute(delete(HealthReportRow).where(HealthReportRow.checked_at < cutoff)),
            )
            return int(pruned.rowcount or 0)

    def latest(self, *, limit: int = 10, source: str | None = None) -> list[HealthRecord]:
        """The newest ``limit`` reports (of one source if given), newest first."""
        if limit < 1:
            raise ValueError("limit must be positive")
        stmt = select(HealthReportRow)
        if source is not None:
            stmt = stmt.where(HealthReportRow.source == source)
        # id breaks ties between reports taken in the same microsecond.
        stmt = stmt.order_by(HealthReportRow.checked_at.desc(), HealthReportRow.id.desc())
        with self._sessions() as s:
            return [
                HealthRecord(
                    checked_at=row.checked_at,
                    source=row.source,
                    healthy=row.healthy,
                    checks=[CheckResult.model_validate(c) for c in row.checks],
                )
                for row in s.scalars(stmt.limit(limit))
            ]
