"""Recording a task's outcome: live context first, then history in one transaction.

Also the run-wide consequence of a failure: a failed task with a critical precondition
aborts the rest of the run.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.context import utcnow
from orchestrator.history import AuditAction, AuditEntry
from orchestrator.models import AITask, TaskError, TaskState, TaskStatus
from tasks.fingerprints import input_fingerprint
from tasks.guard import StartDecision, Verdict, aborts_run

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime


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


def record_not_run(
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
    finish_task(runtime, run_id, user_id, final, None, [audit])
    return final


def conclude(
    runtime: Runtime,
    task: AITask,
    user_id: str,
    run_id: str,
    final: TaskStatus,
    output_json: str | None,
    started_at: datetime,
    *,
    recorded: bool = False,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record the task's final state (unless done already) and apply the abort rule."""
    if not recorded:
        audit = [
            AuditEntry(
                user_id=user_id,
                action=AuditAction.TASK_STARTED,
                run_id=run_id,
                task_id=task.id,
                detail={"task_type": str(task.type), "worker": final.worker},
                at=started_at,
            ),
            AuditEntry(
                user_id=user_id,
                action=AuditAction.TASK_FINISHED,
                run_id=run_id,
                task_id=task.id,
                detail={"state": final.state.value, "degraded": final.degraded},
                at=final.finished_at or utcnow(),
            ),
        ]
        fingerprint = None
        if final.state is TaskState.SUCCEEDED and output_json is not None:
            fingerprint = input_fingerprint(str(task.type), task.parameters, inputs or {})
        finish_task(runtime, run_id, user_id, final, output_json, audit, fingerprint)
    if final.state is TaskState.FAILED and aborts_run(task):
        message = final.error.message if final.error else final.reason
        runtime.context.set_abort(user_id, run_id, f"task {task.id} failed: {message}")
    return {"task_id": task.id, "state": final.state.value}


def finish_task(
    runtime: Runtime,
    run_id: str,
    user_id: str,
    status: TaskStatus,
    output_json: str | None,
    audit: list[AuditEntry],
    fingerprint: str | None = None,
) -> None:
    # Live context first (downstream tasks read it next), then history in one transaction.
    if status.state is TaskState.SUCCEEDED and status.degraded:
        status = status.model_copy(update={"reason": status.reason or "degraded output"})
    runtime.context.record_task_end(user_id, run_id, status, output_json)
    record_attempt_row(runtime, run_id, status, audit, output_json, fingerprint)


def record_attempt_row(
    runtime: Runtime,
    run_id: str,
    status: TaskStatus,
    audit: list[AuditEntry],
    output_json: str | None = None,
    fingerprint: str | None = None,
) -> None:
    """The attempt's history row (and audit rows) in one transaction.

    A degraded output is not kept as a "good output" for later degradation or repair.
    """
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
        output=None if output_json is None or status.degraded else _as_data(output_json),
        input_fingerprint=None if status.degraded else fingerprint,
    )


def _as_data(output_json: str) -> dict[str, Any]:
    data = json.loads(output_json)
    return data if isinstance(data, dict) else {"value": data}
