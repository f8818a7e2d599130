"""The last step of every run: the ExecutionResult, by the specification's rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.context import utcnow
from orchestrator.models import (
    ErrorType,
    ExecutionResult,
    FailureStatus,
    ResourceUsage,
    ResultStatus,
    RunState,
    RunStatus,
    TaskChain,
    TaskError,
    TaskFailure,
    TaskResult,
    TaskState,
    TaskStatus,
)

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime


def run_status(results: int, failures: int, *, cancelled: bool) -> RunStatus:
    """completed when nothing failed; partial when something succeeded; else failed."""
    if cancelled:
        return RunStatus.CANCELLED
    if failures == 0:
        return RunStatus.COMPLETED
    return RunStatus.PARTIAL if results > 0 else RunStatus.FAILED


def summarize_run(
    chain: TaskChain,
    run_id: str,
    states: Mapping[str, TaskStatus],
    outputs: Mapping[str, Any],
    *,
    cancel_requested: bool,
    submitted_at: datetime,
    finished_at: datetime,
) -> ExecutionResult:
    """The run's ExecutionResult from the final state of each task (pure).

    A task that failed and was recovered counts as completed; it is also listed in
    ``failed_tasks`` with final status "recovered" and its recovery attempts, which do not
    make the run partial.
    """
    completed: list[TaskResult] = []
    failed: list[TaskFailure] = []
    unrecovered = 0
    for task in chain.tasks:
        status = states.get(task.id)
        state = status.state if status is not None else TaskState.PENDING
        if status is not None and state is TaskState.SUCCEEDED:
            duration = status.duration_ms or 0.0
            completed.append(
                TaskResult(
                    task_id=task.id,
                    status=ResultStatus.WARNING if status.degraded else ResultStatus.SUCCESS,
                    output=outputs.get(task.id),
                    duration_ms=duration,
                    resource_usage=ResourceUsage(wall_time_ms=duration),
                    degraded=status.degraded,
                )
            )
            if status.recovery_attempts and status.error is not None:
                failed.append(
                    TaskFailure(
                        task_id=task.id,
                        error=status.error,
                        attempt_count=max(status.attempt, 1),
                        recovery_attempts=status.recovery_attempts,
                        final_status=FailureStatus.RECOVERED,
                    )
                )
            continue
        unrecovered += 1
        if status is not None and status.error is not None:
            error = status.error
        else:
            error = TaskError(
                type=ErrorType.STATE_INCONSISTENCY,
                message=f"task never reached a final state (it is {state.value})",
            )
        failed.append(
            TaskFailure(
                task_id=task.id,
                error=error,
                attempt_count=max(status.attempt if status else 0, 1),
                recovery_attempts=status.recovery_attempts if status else [],
                final_status=FailureStatus.FAILED
                if state is TaskState.FAILED
                else FailureStatus.SKIPPED,
            )
        )
    cancelled = cancel_requested and any(
        states.get(t.id) is not None and states[t.id].state is TaskState.CANCELLED
        for t in chain.tasks
    )
    return ExecutionResult(
        chain_id=chain.id,
        run_id=run_id,
        status=run_status(len(completed), unrecovered, cancelled=cancelled),
        completed_tasks=completed,
        failed_tasks=failed,
        duration_ms=round((finished_at - submitted_at).total_seconds() * 1000, 3),
        degraded_tasks=[r.task_id for r in completed if r.degraded],
    )


def finalize_run(runtime: Runtime, run_id: str, user_id: str) -> dict[str, str]:
    """Compute and store the run's result in the live context and in history."""
    store = runtime.context
    meta = store.run_meta(user_id, run_id)
    if meta is None:
        raise KeyError(f"run {run_id} of user {user_id} has no live context")
    if meta.state.is_final:
        return {"run_id": run_id, "status": meta.state.value, "redelivered": "true"}
    chain = store.chain(user_id, run_id)
    states = store.task_states(user_id, run_id)
    outputs = store.outputs(user_id, run_id, [t.id for t in chain.tasks])
    finished_at = utcnow()
    result = summarize_run(
        chain,
        run_id,
        states,
        outputs,
        cancel_requested=meta.cancel_requested,
        submitted_at=meta.submitted_at,
        finished_at=finished_at,
    )
    state = RunState(result.status.value)
    runtime.history.record_run_finished(
        run_id=run_id, state=state.value, result=result, finished_at=finished_at
    )
    store.finish_run(user_id, run_id, state, result, finished_at)
    return {"run_id": run_id, "status": result.status.value}
