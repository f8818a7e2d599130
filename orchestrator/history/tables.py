"""The history schema (SQLAlchemy 2 declarative). ``migrations/`` must create exactly this.

Every constraint and index has a deterministic name (``NAMING_CONVENTION``) so the
hand-written migration can spell the same names and later migrations can drop them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Length of every identifier column (run, chain, goal, task and user ids).
ID_LEN = 128
#: Length of fingerprint columns (a hex SHA-256 digest).
FINGERPRINT_LEN = 64


class UTCDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that only accepts and only returns aware datetimes.

    SQLite has no time zone type and hands back naive values, so values are normalised
    to UTC on the way in and tagged as UTC on the way out; both dialects then behave
    the same. A naive datetime is refused instead of being silently taken as local time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"history needs timezone-aware datetimes, got naive {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type(*, nullable: bool = False) -> TypeEngine[Any]:
    """JSON, stored as JSONB on PostgreSQL (indexable, compact, normalised keys).

    For nullable columns ``None`` must become SQL NULL, not the JSON literal ``null``,
    so ``IS NULL`` queries find it.
    """
    return JSON(none_as_null=nullable).with_variant(JSONB(none_as_null=nullable), "postgresql")


#: Autoincrementing key: BIGINT on PostgreSQL (the audit log grows without bound), but
#: INTEGER on SQLite, where only ``INTEGER PRIMARY KEY`` is an alias of the rowid.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of the history tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class GoalRow(Base):
    """A goal as a user submitted it; several runs may share one goal."""

    __tablename__ = "goals"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(ID_LEN))
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RunRow(Base):
    """One execution of a planned chain."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    chain_id: Mapped[str] = mapped_column(String(ID_LEN))
    goal_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("goals.id"))
    user_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    state: Mapped[str] = mapped_column(String(16))
    chain: Mapped[dict[str, Any]] = mapped_column(json_type())
    result: Mapped[dict[str, Any] | None] = mapped_column(json_type(nullable=True))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TaskAttemptRow(Base):
    """One attempt of one task; written once, when the attempt ends."""

    __tablename__ = "task_attempts"
    __table_args__ = (UniqueConstraint("run_id", "task_id", "attempt"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("runs.run_id"), index=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_type: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[dict[str, Any] | None] = mapped_column(json_type(nullable=True))
    reason: Mapped[str | None] = mapped_column(Text)
    #: The task's output (JSON) when the attempt succeeded; 0002.
    output: Mapped[dict[str, Any] | None] = mapped_column(json_type(nullable=True))
    #: Hash of task type, parameters and inputs: finds the last good output for the
    #: same inputs (graceful degradation); 0002.
    input_fingerprint: Mapped[str | None] = mapped_column(String(FINGERPRINT_LEN), index=True)


class AuditLogRow(Base):
    """Append-only audit trail; database triggers refuse UPDATE and DELETE.

    ``run_id`` deliberately has no foreign key: refusals may concern runs that were
    never recorded, and the trail must outlive any clean-up of runs.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(json_type())


# -- recovery (0002) -----------------------------------------------------------------------
#
# The recovery tables have no foreign key to ``runs``, like the audit log: what was learnt
# about an error fingerprint must outlive any clean-up of runs, and a worker recording a
# failure must not depend on the run's submission having been written first.


class TaskFailureRow(Base):
    """One failure of one task attempt, with the fingerprint of its error."""

    __tablename__ = "task_failures"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_type: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    error_type: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_LEN), index=True)
    message: Mapped[str] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(json_type())


class RecoveryAttemptRow(Base):
    """One recovery strategy applied to one failure; ``succeeded`` is NULL while it runs."""

    __tablename__ = "recovery_attempts"
    __table_args__ = (
        # Finished exactly when it has an outcome: the statistics rely on it.
        CheckConstraint(
            "(finished_at IS NULL) = (succeeded IS NULL)", name="outcome_when_finished"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    attempt: Mapped[int] = mapped_column(Integer)
    error_type: Mapped[str] = mapped_column(String(32), index=True)
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_LEN), index=True)
    strategy: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    succeeded: Mapped[bool | None] = mapped_column(Boolean)
    time_to_recover_ms: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)


class ParkedTaskRow(Base):
    """A task waiting for a person (approval) or for its run to resume (pause).

    ``signature`` is the Celery signature (as a dict) that runs the task once released.
    Undecided while ``decision`` is NULL; one row per (run, task).
    """

    __tablename__ = "parked_tasks"
    __table_args__ = (
        CheckConstraint("kind IN ('approval', 'pause')", name="kind"),
        CheckConstraint(
            "decision IS NULL OR decision IN ('approved', 'rejected', 'resumed')",
            name="decision",
        ),
    )

    run_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    signature: Mapped[dict[str, Any]] = mapped_column(json_type())
    parked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(ID_LEN))


class DeadLetterRow(Base):
    """A message that could not be processed (poison message), kept with its payload."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    celery_task_id: Mapped[str | None] = mapped_column(String(255))
    task_name: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(json_type())
    delivery_count: Mapped[int | None] = mapped_column(Integer)
