"""Parking and releasing tasks: the mechanism behind approvals and pause/resume.

Parking stores a task's own request signature in history and ends its execution
(``Ignore``); releasing claims the parked row (exactly one caller wins) and sends the
signature again with the decision, so the task keeps its id and the rest of its chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery.result import denied_join_result

from orchestrator.context import utcnow
from orchestrator.history import AuditAction, AuditEntry, ParkedTaskRecord
from orchestrator.models import TaskError, TaskState
from tasks.control import Decision, Invocation, ParkKind

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

#: Who decides when the orchestrator releases a task itself (a park that lost a race).
SYSTEM_DECIDER = "orchestrator"


def park_task(
    runtime: Runtime,
    *,
    run_id: str,
    task_id: str,
    user_id: str,
    kind: ParkKind,
    reason: str,
    signature: dict[str, Any],
    error: TaskError | None = None,
) -> None:
    """Store a task's signature durably and show it as parked (the worker then lets go)."""
    now = utcnow()
    runtime.parking.park(
        run_id=run_id,
        task_id=task_id,
        user_id=user_id,
        kind=kind.value,
        reason=reason,
        signature=signature,
        parked_at=now,
    )
    runtime.context.note_task_state(user_id, run_id, task_id, TaskState.PARKED, reason, error=error)
    runtime.history.record_audit(
        [
            AuditEntry(
                user_id=user_id,
                action=AuditAction.TASK_PARKED,
                run_id=run_id,
                task_id=task_id,
                detail={"kind": kind.value, "reason": reason},
                at=now,
            )
        ]
    )
    # Resume and cancel set their flag, then release what is parked; a task that read
    # the flags just before that and parks just after would wait forever. Parking
    # first and reading the flags second closes the gap from this side.
    meta = runtime.context.run_meta(user_id, run_id)
    unwanted = (
        meta is None
        or meta.cancel_requested
        or (kind is ParkKind.PAUSE and not meta.pause_requested)
    )
    if unwanted:
        release(
            runtime,
            run_id=run_id,
            task_id=task_id,
            user_id=user_id,
            decision=Decision.RESUMED,
            decided_by=SYSTEM_DECIDER,
        )


def release(
    runtime: Runtime,
    *,
    run_id: str,
    task_id: str,
    user_id: str,
    decision: Decision,
    decided_by: str,
    kind: ParkKind | None = None,
) -> ParkedTaskRecord | None:
    """Claim a parked task of ``user_id`` and send it again with ``decision``.

    None when nothing of that user (and kind) waits there, or another caller won.
    """
    waiting = runtime.parking.get(run_id, task_id)
    if waiting is None or not waiting.waiting or waiting.user_id != user_id:
        return None
    if kind is not None and waiting.kind.value != kind.value:
        return None
    signature = runtime.celery.signature(waiting.signature)
    spec = runtime.registry.spec_for(_task_type_of(signature.task))
    # The row came from our database, but re-sending it must not trust it: it has to be
    # this very task of this run, for this user.
    if (
        spec is None
        or spec.celery_name != signature.task
        or list(signature.args)[:3] != [run_id, task_id, user_id]
    ):
        raise ValueError(f"parked signature of {run_id}/{task_id} does not match the row")
    parked = runtime.parking.decide(
        run_id=run_id,
        task_id=task_id,
        decision=decision.value,
        decided_by=decided_by,
        at=utcnow(),
        kind=waiting.kind,
    )
    if parked is None:
        return None
    invocation = Invocation.model_validate(signature.kwargs.get("invocation") or {})
    update: dict[str, object] = {"decision": decision}
    if invocation.gate_request is not None:
        # A gate's question becomes its approval only when a person approves it.
        approved = decision is Decision.APPROVED
        update |= {
            "gate_request": None,
            "gate_approved": invocation.gate_request if approved else None,
        }
    # replace(), not clone(): an immutable signature ignores kwargs given to clone().
    resent = signature.replace(kwargs=invocation.model_copy(update=update).as_kwargs())
    with denied_join_result():
        resent.apply_async()
    return parked


def _task_type_of(celery_name: str) -> str:
    return celery_name.partition(".")[2]
