"""What recovery may do to the running Celery task, without importing Celery.

``OrchestratedTask`` implements :class:`TaskControl` with Celery's own primitives:
``Task.retry`` (keeps chain and chord membership), ``Task.replace`` (keeps the task id and
the rest of the chain) and parking (``signature_from_request`` stored durably, then
``Ignore``). Each method ends the current execution by raising Celery's control-flow
exception; none returns.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NoReturn, Protocol

from pydantic import Field

from orchestrator.models import RecoveryType, TaskError
from orchestrator.models.base import JsonScalar, StrictModel


class HandedOff(BaseException):
    """This execution ends here; Celery takes over (a retry, a replacement, a parked task).

    A BaseException so that no ``except Exception`` between the strategy and the Celery
    task wrapper can swallow it; the wrapper re-raises Celery's own exception.
    """

    def __init__(self, celery_exception: Exception) -> None:
        super().__init__(str(celery_exception))
        self.celery_exception = celery_exception


class ParkKind(StrEnum):
    APPROVAL = "approval"
    PAUSE = "pause"


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    RESUMED = "resumed"


class Invocation(StrictModel):
    """Keyword arguments a task is re-sent with by recovery, approval or resume."""

    #: The recovery attempt this execution belongs to (a retry, an approved strategy).
    recovery_id: int | None = None
    #: A timeout raised by retry_with_backoff for this attempt.
    timeout_s: float | None = Field(default=None, gt=0)
    #: A strategy a person approved; applied without asking again.
    approved_strategy: RecoveryType | None = None
    #: The decision on a parked task.
    decision: Decision | None = None
    #: Restart generation after rollback_and_restart (0 = the original run).
    restart: int = Field(default=0, ge=0)
    #: What an approval gate asked a person, while the task waits at the gate.
    gate_request: dict[str, JsonScalar] | None = None
    #: What a person approved at the gate; kept across retries of the same generation.
    gate_approved: dict[str, JsonScalar] | None = None

    def as_kwargs(self) -> dict[str, Any]:
        return {"invocation": self.model_dump(mode="json", exclude_defaults=True)}


class TaskControl(Protocol):
    """Celery primitives recovery may use on the task that failed."""

    def retry_later(self, *, countdown_s: float, invocation: Invocation) -> NoReturn:
        """Run this same task again after ``countdown_s``, in its chain and chord."""

    def replace_with(self, task_ids: list[str], *, recovery_id: int) -> NoReturn:
        """Run ``task_ids`` in parallel in this task's place, then merge their outputs."""

    def restart_with(self, task_ids: list[str], invocation: Invocation) -> NoReturn:
        """Re-run ``task_ids`` in order, then this task again, then the rest of the chain."""

    def park(
        self,
        *,
        kind: ParkKind,
        reason: str,
        invocation: Invocation,
        error: TaskError | None = None,
    ) -> NoReturn:
        """Store this task's own signature durably and stop without holding a worker slot."""
