"""One task of a run, start to end: guard, inputs, handler, outputs, history.

Called by the Celery task wrapper in ``tasks.base``; never raises for a task's own
failure (DESIGN: a task never breaks the canvas) -- failures become TaskFailures in the
live context and in history, and downstream tasks decide from them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orchestrator.context import utcnow
from orchestrator.history import AuditAction, AuditEntry
from orchestrator.models import AITask, RunState, TaskChain, TaskError, TaskState, TaskStatus
from recovery import to_task_error
from tasks.context import HandlerContext
from tasks.errors import HandlerError
from tasks.guard import StartDecision, Verdict, aborts_run, decide_start, input_sources

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """Where and how often this task's message was delivered (from the Celery request)."""

    attempt: int
    worker: str | None
    queue: str | None


_NOT_RUN_STATE = {
    Verdict.CANCEL: TaskState.CANCELLED,
    Verdict.SKIP: TaskState.SKIPPED,
    Verdict.REFUSE: TaskState.FAILED,
}
_NOT_RUN_AUDIT = {
    Verdict.CANCEL: AuditAction.TASK_SKIPPED,
    Verdict.SKIP: AuditAction.TASK_SKIPPED,
    Verdict.REFUSE: AuditAction.TASK_REFUSED,
}


def execute_task(
    runtime: Runtime, run_id: str, task_id: str, user_id: str, delivery: Delivery
) -> dict[str, Any]:
    """Run one task of a run; returns a small marker ``{"task_id", "state"}``."""
    store = runtime.context
    chain = store.chain(user_id, run_id)
    task = chain.task(task_id)
    meta = store.run_meta(user_id, run_id)
    if meta is None:
        raise KeyError(f"run {run_id} of user {user_id} has no live context")
    states = store.task_states(user_id, run_id)
    current = states.get(task_id)
    if current is not None and current.state.is_final:
        # A redelivered message of a task that already finished: its result stands.
        return {"task_id": task_id, "state": current.state.value, "redelivered": True}

    now = utcnow()
    if meta.state is RunState.PENDING and store.mark_run_started(user_id, run_id, now):
        runtime.history.record_run_started(run_id, now)

    decision = decide_start(
        task,
        chain,
        states,
        cancel_requested=meta.cancel_requested,
        abort_reason=meta.abort_reason,
        permitted=runtime.permissions.allows(user_id, str(task.type)),
        user_id=user_id,
    )
    status = TaskStatus(
        task_id=task_id,
        type=str(task.type),
        module=task.module.value,
        queue=delivery.queue,
        worker=delivery.worker,
        attempt=delivery.attempt,
    )
    if decision.verdict is Verdict.RUN:
        status = _run_handler(runtime, chain, task, user_id, run_id, status, now)
    else:
        status = _record_not_run(runtime, task, user_id, run_id, status, decision, now)
    if status.state is TaskState.FAILED and aborts_run(task):
        message = status.error.message if status.error else status.reason
        store.set_abort(user_id, run_id, f"task {task_id} failed: {message}")
    return {"task_id": task_id, "state": status.state.value}


def _record_not_run(
    runtime: Runtime,
    task: AITask,
    user_id: str,
    run_id: str,
    status: TaskStatus,
    decision: StartDecision,
    now: datetime,
) -> TaskStatus:
    error = None
    if decision.error_type is not None:
        error = TaskError(type=decision.error_type, message=decision.reason)
    final = status.model_copy(
        update={
            "state": _NOT_RUN_STATE[decision.verdict],
            "finished_at": now,
            "error": error,
            "reason": decision.reason,
        }
    )
    audit = AuditEntry(
        user_id=user_id,
        action=_NOT_RUN_AUDIT[decision.verdict],
        run_id=run_id,
        task_id=task.id,
        detail={"reason": decision.reason, "task_type": str(task.type)},
        at=now,
    )
    _finish(runtime, run_id, user_id, final, None, [audit])
    return final


def _run_handler(
    runtime: Runtime,
    chain: TaskChain,
    task: AITask,
    user_id: str,
    run_id: str,
    status: TaskStatus,
    now: datetime,
) -> TaskStatus:
    store = runtime.context
    started = status.model_copy(update={"state": TaskState.RUNNING, "started_at": now})
    store.record_task_start(user_id, run_id, started)
    spec = runtime.registry.get(str(task.type))
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    output_json: str | None = None
    error: TaskError | None = None
    try:
        params = spec.params_model.model_validate(task.parameters)
        inputs = store.outputs(user_id, run_id, input_sources(chain, task.id))
        ctx = HandlerContext(
            run_id=run_id,
            task_id=task.id,
            user_id=user_id,
            attempt=status.attempt,
            chain=chain,
            task=task,
            runtime=runtime,
        )
        output = spec.handler(params, inputs, ctx)
        if not isinstance(output, BaseModel):
            raise TypeError(
                f"handler of {task.type} returned {type(output).__name__}, not a pydantic model"
            )
        output_json = output.model_dump_json()
    except Exception as exc:  # every failure is recorded; none may break the canvas
        error = to_task_error(exc)
        # A typed error is an expected outcome; anything else deserves its traceback.
        log.warning(
            "task %s of run %s failed: %s",
            task.id,
            run_id,
            exc,
            exc_info=not isinstance(exc, HandlerError),
        )
    finished_at = utcnow()
    final = started.model_copy(
        update={
            "state": TaskState.SUCCEEDED if error is None else TaskState.FAILED,
            "finished_at": finished_at,
            "duration_ms": round((time.perf_counter() - wall_start) * 1000, 3),
            "error": error,
        }
    )
    cpu_ms = round((time.process_time() - cpu_start) * 1000, 3)
    _finish(
        runtime,
        run_id,
        user_id,
        final,
        output_json,
        [
            AuditEntry(
                user_id=user_id,
                action=AuditAction.TASK_STARTED,
                run_id=run_id,
                task_id=task.id,
                detail={"task_type": str(task.type), "worker": status.worker},
                at=now,
            ),
            AuditEntry(
                user_id=user_id,
                action=AuditAction.TASK_FINISHED,
                run_id=run_id,
                task_id=task.id,
                detail={"state": final.state.value, "cpu_time_ms": cpu_ms},
                at=finished_at,
            ),
        ],
    )
    return final


def _finish(
    runtime: Runtime,
    run_id: str,
    user_id: str,
    status: TaskStatus,
    output_json: str | None,
    audit: list[AuditEntry],
) -> None:
    # Live context first (downstream tasks read it next), then history in one transaction.
    runtime.context.record_task_end(user_id, run_id, status, output_json)
    runtime.history.record_attempt(
        run_id=run_id,
        task_id=status.task_id,
        task_type=status.type,
        attempt=status.attempt,
        state=status.state.value,
        queue=status.queue,
        worker=status.worker,
        started_at=status.started_at,
        finished_at=status.finished_at,
        duration_ms=status.duration_ms,
        error=status.error,
        reason=status.reason,
        audit=audit,
    )
