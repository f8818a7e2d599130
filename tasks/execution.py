"""One task of a run, start to end: guard, inputs, handler, recovery, outputs, history.

Called by the Celery task wrapper in ``tasks.base``. It never raises for a task's own
failure (DESIGN: a task never breaks the canvas): failures go to the recovery layer,
whose strategies either end this execution with Celery's own primitives (retry, replace,
park) or return an outcome recorded here -- recovered, skipped or failed -- in the live
context and in history, from which downstream tasks decide.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orchestrator.context import RunMeta, utcnow
from orchestrator.models import (
    AITask,
    ErrorType,
    RecoveryType,
    RunState,
    TaskChain,
    TaskError,
    TaskState,
    TaskStatus,
)
from recovery import Phase, to_task_error
from tasks.approval import ApprovalRequired
from tasks.context import HandlerContext
from tasks.control import Decision, Invocation, ParkKind, TaskControl
from tasks.deadline import call_with_deadline
from tasks.errors import DependencyFailureError, HandlerError
from tasks.guard import StartDecision, Verdict, decide_start, input_sources, parents_of
from tasks.outcome import conclude, record_not_run
from tasks.recover import recover_failure, recovery_history

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

log = logging.getLogger(__name__)

#: Deliveries of one attempt before its message counts as poison (it keeps killing workers).
MAX_DELIVERIES = 3


@dataclass(frozen=True)
class Delivery:
    """Where and how this task's message was delivered (from the Celery request)."""

    attempt: int
    worker: str | None
    queue: str | None
    redelivered: bool = False
    celery_id: str | None = None


@dataclass(frozen=True)
class HandlerRun:
    """What running the handler produced."""

    status: TaskStatus
    output_json: str | None
    exception: BaseException | None
    params: BaseModel | None
    inputs: dict[str, Any]


def execute_task(
    runtime: Runtime,
    run_id: str,
    task_id: str,
    user_id: str,
    delivery: Delivery,
    *,
    invocation: Invocation | None = None,
    control: TaskControl | None = None,
) -> dict[str, Any]:
    """Run one task of a run; returns a small marker ``{"task_id", "state"}``."""
    invocation = invocation or Invocation()
    store = runtime.context
    meta = store.run_meta(user_id, run_id)
    if meta is None:
        raise KeyError(f"run {run_id} of user {user_id} has no live context")
    chain = store.chain(user_id, run_id, version=meta.chain_version)
    task = chain.task(task_id)
    # Only this task and what it depends on: reading every task's state would make each
    # task of a long run cost more than the last.
    states = store.task_states(user_id, run_id, only=_relevant_ids(chain, task))
    current = states.get(task_id)
    if current is not None and current.state.is_final:
        # A redelivered message of a task that already finished: its result stands.
        return {"task_id": task_id, "state": current.state.value, "redelivered": True}
    status = TaskStatus(
        task_id=task_id,
        type=str(task.type),
        module=task.module.value,
        queue=delivery.queue,
        worker=delivery.worker,
        attempt=delivery.attempt,
        recovery_attempts=current.recovery_attempts if current else [],
    )
    now = utcnow()
    if _is_poison(runtime, user_id, run_id, task_id, delivery, now):
        error = TaskError(
            type=ErrorType.DATA_CORRUPTION,
            message=(
                f"message delivered {MAX_DELIVERIES}+ times without finishing (it keeps killing "
                "its worker); dead-lettered"
            ),
        )
        return conclude(
            runtime,
            task,
            user_id,
            run_id,
            status.model_copy(
                update={"state": TaskState.FAILED, "finished_at": now, "error": error}
            ),
            None,
            now,
        )
    if meta.state is RunState.PENDING and store.mark_run_started(user_id, run_id, now):
        runtime.history.record_run_started(run_id, now)
    if control is not None and _should_pause(meta, invocation):
        control.park(
            kind=ParkKind.PAUSE, reason="run paused before this task started", invocation=invocation
        )
    if invocation.decision is Decision.REJECTED:
        runtime.recovery_log.finish_pending(
            run_id, task_id, succeeded=False, detail="rejected by a person", finished_at=now
        )
        # The task keeps the error it was parked with; a person chose not to go on.
        rejected_type = (
            current.error.type if current and current.error else ErrorType.CONFLICTING_GOALS
        )
        decision = StartDecision(Verdict.SKIP, "rejected by a person", rejected_type)
    else:
        decision = decide_start(
            task,
            chain,
            states,
            cancel_requested=meta.cancel_requested,
            abort_reason=meta.abort_reason,
            permitted=runtime.permissions.allows(user_id, str(task.type)),
            user_id=user_id,
        )
    if decision.verdict is not Verdict.RUN:
        final = record_not_run(runtime, task, user_id, run_id, status, decision, now)
        return conclude(runtime, task, user_id, run_id, final, None, now, recorded=True)

    if current is not None and _approved_strategy_pending(invocation, current):
        # A person approved a strategy for the earlier failure: apply it, don't rerun first.
        run = HandlerRun(
            current, None, None, None, store.outputs(user_id, run_id, input_sources(chain, task_id))
        )
    else:
        run = _run_handler(runtime, chain, task, user_id, run_id, status, invocation, now)
        if invocation.recovery_id is not None:
            run = _close_recovery(runtime, run_id, run, current, invocation.recovery_id)
    if isinstance(run.exception, ApprovalRequired) and control is not None:
        # A gate, not a failure: the task waits for a person, then runs with approved=True.
        control.park(
            kind=ParkKind.APPROVAL,
            reason=f"{task.id} needs approval: {run.exception.reason}",
            invocation=invocation.model_copy(
                update={
                    "decision": None,
                    "gate_request": run.exception.request,
                    "gate_approved": None,
                }
            ),
        )
    recoverable = getattr(run.exception, "recoverable", True)
    if run.status.state is TaskState.SUCCEEDED or control is None or not recoverable:
        return conclude(
            runtime, task, user_id, run_id, run.status, run.output_json, now, inputs=run.inputs
        )
    final, output_json = recover_failure(
        runtime,
        chain=chain,
        task=task,
        run_id=run_id,
        user_id=user_id,
        status=run.status,
        params=run.params,
        inputs=run.inputs,
        invocation=invocation,
        control=control,
    )
    return conclude(runtime, task, user_id, run_id, final, output_json, now, inputs=run.inputs)


def _close_recovery(
    runtime: Runtime, run_id: str, run: HandlerRun, before: TaskStatus | None, recovery_id: int
) -> HandlerRun:
    """This execution was a recovery attempt: record how it went."""
    succeeded = run.status.state is TaskState.SUCCEEDED
    log_ = runtime.recovery_log
    log_.annotate(recovery_id, f"attempt {run.status.attempt} {run.status.state.value}")
    log_.finish_recovery(recovery_id, succeeded=succeeded, finished_at=utcnow())
    if not succeeded:
        return run
    status = run.status.model_copy(
        update={
            "error": before.error if before is not None else None,
            "reason": f"recovered on attempt {run.status.attempt}",
            "recovery_attempts": recovery_history(runtime, run_id, run.status.task_id),
        }
    )
    return HandlerRun(status, run.output_json, None, run.params, run.inputs)


def _relevant_ids(chain: TaskChain, task: AITask) -> list[str]:
    ids = [task.id, *parents_of(chain, task.id)]
    ids += [c.task_id for c in task.preconditions if c.task_id is not None]
    return list(dict.fromkeys(ids))


def _approved_strategy_pending(invocation: Invocation, current: TaskStatus) -> bool:
    """A person approved a recovery strategy (other than "run it again") for a failure."""
    return (
        invocation.decision is Decision.APPROVED
        and invocation.approved_strategy not in (None, RecoveryType.ESCALATE_TO_USER)
        and current.error is not None
    )


def _should_pause(meta: RunMeta, invocation: Invocation) -> bool:
    return meta.pause_requested and invocation.decision is None


def _is_poison(
    runtime: Runtime, user_id: str, run_id: str, task_id: str, delivery: Delivery, now: datetime
) -> bool:
    if not delivery.redelivered:
        return False  # a first delivery (a re-send after a decision is one too)
    deliveries = 1 + runtime.context.count_delivery(user_id, run_id, task_id, delivery.attempt)
    if deliveries <= MAX_DELIVERIES:
        return False
    runtime.dead_letters.record(
        reason=f"delivered {deliveries} times without finishing (worker lost each time)",
        payload={
            "run_id": run_id,
            "task_id": task_id,
            "user_id": user_id,
            "attempt": delivery.attempt,
        },
        celery_task_id=delivery.celery_id,
        task_name=None,
        delivery_count=deliveries,
        at=now,
    )
    return True


def _run_handler(
    runtime: Runtime,
    chain: TaskChain,
    task: AITask,
    user_id: str,
    run_id: str,
    status: TaskStatus,
    invocation: Invocation,
    now: datetime,
) -> HandlerRun:
    store = runtime.context
    started = status.model_copy(
        update={"state": TaskState.RUNNING, "started_at": now, "error": None, "reason": None}
    )
    store.record_task_start(user_id, run_id, started)
    spec = runtime.registry.get(str(task.type))
    wall_start = time.perf_counter()
    output_json: str | None = None
    error: TaskError | None = None
    failure: BaseException | None = None
    params: BaseModel | None = None
    inputs: dict[str, Any] = {}
    phase = Phase.PARAMS
    try:
        params = spec.params_model.model_validate(task.parameters)
        sources = input_sources(chain, task.id)
        inputs = store.outputs(user_id, run_id, sources)
        missing = [s for s in sources if s not in inputs]
        if missing:
            # Upstream succeeded (the guard checked) yet its output is gone: the live
            # context lost it (expiry, a Redis restart). Recovery can rebuild it.
            raise DependencyFailureError(
                f"output of {', '.join(missing)} is missing from the live context",
                missing=missing,
            )
        ctx = HandlerContext(
            run_id=run_id,
            task_id=task.id,
            user_id=user_id,
            attempt=status.attempt,
            chain=chain,
            task=task,
            runtime=runtime,
            approval=invocation.gate_approved,
            restart=invocation.restart,
        )
        phase = Phase.HANDLER
        timeout_s = invocation.timeout_s or task.timeout_s
        if runtime.settings.enforce_timeouts_in_process:
            output = call_with_deadline(spec.handler, (params, inputs, ctx), timeout_s=timeout_s)
        else:
            output = spec.handler(params, inputs, ctx)
        phase = Phase.OUTPUT
        if not isinstance(output, BaseModel):
            raise TypeError(
                f"handler of {task.type} returned {type(output).__name__}, not a pydantic model"
            )
        output_json = output.model_dump_json()
    except Exception as exc:  # every failure is recorded; none may break the canvas
        failure = exc
        error = to_task_error(exc, phase=phase)
        # A typed error is an expected outcome; anything else deserves its traceback.
        # An approval gate is not a failure at all.
        log.log(
            logging.INFO if isinstance(exc, ApprovalRequired) else logging.WARNING,
            "task %s of run %s failed: %s",
            task.id,
            run_id,
            exc,
            exc_info=not isinstance(exc, HandlerError),
        )
    final = started.model_copy(
        update={
            "state": TaskState.SUCCEEDED if error is None else TaskState.FAILED,
            "finished_at": utcnow(),
            "duration_ms": round((time.perf_counter() - wall_start) * 1000, 3),
            "error": error,
        }
    )
    return HandlerRun(final, output_json, failure, params, inputs)


__all__ = ["Delivery", "execute_task"]
