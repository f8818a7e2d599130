"""context_repair: rebuild the run's live context from history, then retry the task."""

from __future__ import annotations

from typing import ClassVar

from orchestrator.models import RecoveryType
from recovery.policy import StrategyOption
from recovery.strategies.base import FailureContext, Outcome, Strategy
from recovery.strategies.retry_with_backoff import note_retry


class ContextRepair(Strategy):
    type: ClassVar[RecoveryType] = RecoveryType.CONTEXT_REPAIR

    def available(self, ctx: FailureContext) -> bool:
        return (
            RecoveryType.CONTEXT_REPAIR not in ctx.tried
            and ctx.attempt < ctx.task.retry_policy.max_attempts
        )

    def apply(self, ctx: FailureContext, option: StrategyOption, recovery_id: int) -> Outcome:
        repaired = ctx.runtime.context.repair_from_history(
            ctx.user_id, ctx.run_id, ctx.runtime.history.attempt_outputs(ctx.run_id)
        )
        invocation = ctx.invocation.model_copy(update={"recovery_id": recovery_id})
        note_retry(ctx, 0.0, invocation.timeout_s)
        ctx.runtime.recovery_log.annotate(recovery_id, f"restored {repaired} output(s)")
        ctx.control.retry_later(countdown_s=0.0, invocation=invocation)
