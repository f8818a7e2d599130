"""The merge step of alternative_approach: the parts' outputs become the task's output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.context import utcnow
from orchestrator.models import ErrorType, TaskError, TaskState
from tasks.outcome import conclude
from tasks.recover import recovery_history

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime


def merge_alternative(
    runtime: Runtime, run_id: str, task_id: str, user_id: str, part_ids: list[str], recovery_id: int
) -> dict[str, Any]:
    """Merge the subtasks' outputs into ``task_id``'s output, or fail it if a part failed."""
    store = runtime.context
    live_chain = store.chain(user_id, run_id)
    task = live_chain.task(task_id)
    spec = runtime.registry.get(str(task.type))
    states = store.task_states(user_id, run_id)
    status = states[task_id]
    failed = [
        p for p in part_ids if states.get(p) is None or states[p].state is not TaskState.SUCCEEDED
    ]
    now = utcnow()
    error: TaskError | None = None
    output_json: str | None = None
    if failed:
        error = TaskError(
            type=ErrorType.DEPENDENCY_FAILURE,
            message=f"alternative parts did not succeed: {', '.join(failed)}",
        )
    else:
        alternative = runtime.registry.hooks.alternative_for(spec.task_type)
        params = spec.params_model.model_validate(task.parameters)
        original_error = status.error or TaskError(
            type=ErrorType.RESOURCE_UNAVAILABLE, message="unknown"
        )
        plan = alternative(task, params, original_error) if alternative else None
        if plan is None:
            error = TaskError(
                type=ErrorType.STATE_INCONSISTENCY,
                message="the alternative is no longer registered",
            )
        else:
            merged = plan.merge(store.outputs(user_id, run_id, part_ids))
            output_json = merged.model_dump_json()
    reason = (
        f"recovered by alternative_approach: merged {', '.join(part_ids)}"
        if error is None
        else error.message
    )
    runtime.recovery_log.finish_recovery(
        recovery_id, succeeded=error is None, detail=reason, finished_at=now
    )
    final = status.model_copy(
        update={
            "recovery_attempts": recovery_history(runtime, run_id, task_id),
            "state": TaskState.SUCCEEDED if error is None else TaskState.FAILED,
            "finished_at": now,
            "error": error if error is not None else status.error,
            "reason": reason,
        }
    )
    # The same recording as any task end: live context, history with audit rows and the
    # output (for context repair), and the abort rule of a critical task.
    return conclude(
        runtime, task, user_id, run_id, final, output_json, status.started_at or now, inputs={}
    )
