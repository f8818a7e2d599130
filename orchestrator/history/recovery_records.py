"""What the recovery history returns (frozen records), and how values are made storable."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict
from pydantic_core import to_jsonable_python

from orchestrator.history.tables import DeadLetterRow, ParkedTaskRow, RecoveryAttemptRow
from orchestrator.models import ErrorType, RecoveryType


class ParkKind(StrEnum):
    """Why a task is parked."""

    #: ``escalate_to_user``: waits for ``approve`` or ``reject``.
    APPROVAL = "approval"
    #: Its run is paused: waits for ``resume`` (or ``rejected`` when the run is cancelled).
    PAUSE = "pause"


class ParkDecision(StrEnum):
    """How a parked task was released."""

    APPROVED = "approved"
    REJECTED = "rejected"
    RESUMED = "resumed"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecoveryAttemptRecord(_Record):
    """One recovery strategy applied to one failure; ``succeeded`` is None while running."""

    id: int
    run_id: str
    task_id: str
    attempt: int
    error_type: ErrorType
    fingerprint: str
    strategy: RecoveryType
    started_at: AwareDatetime
    finished_at: AwareDatetime | None
    succeeded: bool | None
    time_to_recover_ms: float | None
    detail: str


class RecoveryStatsRow(_Record):
    """Finished recoveries of one error type by one strategy.

    ``mean_time_to_recover_ms`` averages the successful recoveries only (a failed one
    did not recover); None when none succeeded.
    """

    error_type: ErrorType
    strategy: RecoveryType
    attempts: int
    successes: int
    success_rate: float
    mean_time_to_recover_ms: float | None


class ParkedTaskRecord(_Record):
    """A parked task; waiting while ``decision`` is None."""

    run_id: str
    task_id: str
    user_id: str
    kind: ParkKind
    reason: str
    #: The Celery signature (``Signature`` is a dict) that runs the task once released.
    signature: dict[str, Any]
    parked_at: AwareDatetime
    decided_at: AwareDatetime | None
    decision: ParkDecision | None
    decided_by: str | None

    @property
    def waiting(self) -> bool:
        return self.decision is None


class DeadLetterRecord(_Record):
    """A message that could not be processed, with its payload and why."""

    id: int
    at: AwareDatetime
    celery_task_id: str | None
    task_name: str | None
    reason: str
    payload: dict[str, Any]
    delivery_count: int | None


# -- conversions (used by RecoveryLog, ParkingLot, DeadLetterBox) --------------------------


def recovery_attempt_record(row: RecoveryAttemptRow) -> RecoveryAttemptRecord:
    return RecoveryAttemptRecord(
        id=row.id,
        run_id=row.run_id,
        task_id=row.task_id,
        attempt=row.attempt,
        error_type=ErrorType(row.error_type),
        fingerprint=row.fingerprint,
        strategy=RecoveryType(row.strategy),
        started_at=row.started_at,
        finished_at=row.finished_at,
        succeeded=row.succeeded,
        time_to_recover_ms=row.time_to_recover_ms,
        detail=row.detail,
    )


def parked_task_record(row: ParkedTaskRow) -> ParkedTaskRecord:
    return ParkedTaskRecord(
        run_id=row.run_id,
        task_id=row.task_id,
        user_id=row.user_id,
        kind=ParkKind(row.kind),
        reason=row.reason,
        signature=row.signature,
        parked_at=row.parked_at,
        decided_at=row.decided_at,
        decision=None if row.decision is None else ParkDecision(row.decision),
        decided_by=row.decided_by,
    )


def dead_letter_record(row: DeadLetterRow) -> DeadLetterRecord:
    return DeadLetterRecord(
        id=row.id,
        at=row.at,
        celery_task_id=row.celery_task_id,
        task_name=row.task_name,
        reason=row.reason,
        payload=row.payload,
        delivery_count=row.delivery_count,
    )


def storable_text(value: str) -> str:
    """``value`` without NUL characters, which PostgreSQL refuses in text and JSONB."""
    return value.replace("\x00", "\\u0000")


def storable_json(value: Any) -> Any:
    """``value`` as plain JSON that both dialects store.

    Models, datetimes, enums and bytes become JSON values (pydantic's JSON mode; bytes
    as base64), anything else unknown its ``repr``, NaN and infinities null (JSONB has
    none), and NUL characters are escaped. Meant for payloads the orchestrator does not
    control (poison messages, task outputs).
    """
    plain = to_jsonable_python(value, fallback=repr, bytes_mode="base64", inf_nan_mode="null")
    return _strip_nul(plain)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(k)): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value
