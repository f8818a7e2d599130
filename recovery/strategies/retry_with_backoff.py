"""retry_with_backoff: the same task again after an exponential, jittered, capped delay.

Applied with ``Task.retry`` so the task keeps its place in its chain and chord. On a
timeout the retry gets a longer time limit (the spec's 180 s / 300 s by severity, scaled
to the task's own timeout). Bounded by the task's RetryPolicy.max_attempts.
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.models import ErrorType, RecoveryType, TaskState
from recovery.backoff import compute_backoff_s, escalated_timeout_s, should_give_up
from recovery.policy import StrategyOption
from recovery.strategies.base import FailureContext, Outcome, Strategy


class RetryWithBackoff(Strategy):
    type: ClassVar[RecoveryType] = RecoveryType.RETRY_WITH_BACKOFF

    def available(self, ctx: FailureContext) -> bool:
        return not should_give_up(ctx.attempt, ctx.task.retry_policy)

    def apply(self, ctx: FailureContext, option: StrategyOption, recovery_id: int) -> Outcome:
        policy = ctx.task.retry_policy
        # A countdown longer than the broker's visibility timeout is delivered twice.
        limit_s = ctx.runtime.settings.visibility_timeout_s / 2
        countdown_s = min(compute_backoff_s(ctx.attempt, policy), limit_s)
        timeout_s = ctx.invocation.timeout_s
        if ctx.error.type is ErrorType.TASK_TIMEOUT:
            current = timeout_s or ctx.task.timeout_s
            timeout_s = max(current, escalated_timeout_s(ctx.task.timeout_s, ctx.analysis.severity))
        invocation = ctx.invocation.model_copy(
            update={
                "recovery_id": recovery_id,
                "timeout_s": timeout_s,
                "approved_strategy": None,
                "decision": None,
            }
        )
        note_retry(ctx, countdown_s, timeout_s)
        ctx.runtime.recovery_log.annotate(
            recovery_id,
            f"countdown {countdown_s:.3f} s" + (f", timeout {timeout_s:g} s" if timeout_s else ""),
        )
        ctx.control.retry_later(countdown_s=countdown_s, invocation=invocation)


def note_retry(ctx: FailureContext, countdown_s: float, timeout_s: float | None) -> None:
    reason = f"retry {ctx.attempt + 1}/{ctx.task.retry_policy.max_attempts} in {countdown_s:.2f} s"
    if timeout_s is not None:
        reason += f" with timeout {timeout_s:.0f} s"
    ctx.runtime.context.note_task_state(
        ctx.user_id, ctx.run_id, ctx.task.id, TaskState.RETRYING, reason, error=ctx.error
    )
