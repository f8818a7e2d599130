"""Handing a failed task to the recovery layer and recording what it decided."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orchestrator.context import utcnow
from orchestrator.models import (
    AITask,
    ErrorType,
    RecoveryAttempt,
    RecoveryType,
    TaskChain,
    TaskState,
    TaskStatus,
)
from recovery.strategies import FailureContext, OutcomeKind
from tasks.control import Invocation, TaskControl
from tasks.outcome import record_attempt_row

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime


def recover_failure(
    runtime: Runtime,
    *,
    chain: TaskChain,
    task: AITask,
    run_id: str,
    user_id: str,
    status: TaskStatus,
    params: BaseModel | None,
    inputs: dict[str, Any],
    invocation: Invocation,
    control: TaskControl,
) -> tuple[TaskStatus, str | None]:
    """Recover ``task`` (which failed with ``status.error``); its final status and output.

    Strategies that retry, replace or park end the execution inside this call.
    """
    assert status.error is not None  # noqa: S101 -- only called for failed tasks
    spec = runtime.registry.get(str(task.type))
    engine = runtime.recovery
    analysis = engine.analyse(
        run_id=run_id,
        task=task,
        error=status.error,
        attempt=status.attempt,
        goal_priority=chain.goal.priority,
    )
    ctx = FailureContext(
        runtime=runtime,
        chain=chain,
        task=task,
        spec=spec,
        run_id=run_id,
        user_id=user_id,
        attempt=status.attempt,
        error=status.error,
        params=params,
        inputs=inputs,
        invocation=invocation,
        control=control,
        analysis=analysis,
        tried=runtime.recovery_log.tried_strategies(run_id, task.id),
    )
    # The failed attempt gets its history row now: a retry, replacement or parking ends
    # this execution inside recover() and would otherwise leave no trace of it.
    record_attempt_row(
        runtime,
        run_id,
        status.model_copy(update={"state": TaskState.FAILED, "reason": "recovery decides next"}),
        [],
    )
    outcome = engine.recover(ctx)
    attempts = recovery_history(runtime, run_id, task.id)
    now = utcnow()
    if outcome.kind is OutcomeKind.RECOVERED:
        return status.model_copy(
            update={
                "state": TaskState.SUCCEEDED,
                "finished_at": now,
                "degraded": outcome.degraded,
                "reason": f"recovered: {outcome.detail}",
                "recovery_attempts": attempts,
            }
        ), outcome.output_json
    state = TaskState.SKIPPED if outcome.kind is OutcomeKind.SKIPPED else TaskState.FAILED
    return status.model_copy(
        update={
            "state": state,
            "finished_at": now,
            "reason": outcome.detail,
            "recovery_attempts": attempts,
        }
    ), None


def recovery_history(runtime: Runtime, run_id: str, task_id: str) -> list[RecoveryAttempt]:
    """Every recovery attempt of one task of a run, oldest first (for TaskFailure/status)."""
    return [
        RecoveryAttempt(
            strategy=RecoveryType(r.strategy),
            error_type=ErrorType(r.error_type),
            attempt=r.attempt,
            started_at=r.started_at,
            finished_at=r.finished_at,
            succeeded=r.succeeded,
            detail=r.detail,
        )
        for r in runtime.recovery_log.recovery_attempts(run_id, task_id)
    ]


__all__ = ["recover_failure", "recovery_history"]
