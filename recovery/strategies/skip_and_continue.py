"""skip_and_continue: the task is skipped with a reason; dependents follow the skip rules."""

from __future__ import annotations

from typing import ClassVar

from orchestrator.models import RecoveryType
from recovery.policy import StrategyOption
from recovery.strategies.base import FailureContext, Outcome, OutcomeKind, Strategy


class SkipAndContinue(Strategy):
    type: ClassVar[RecoveryType] = RecoveryType.SKIP_AND_CONTINUE

    def apply(self, ctx: FailureContext, option: StrategyOption, recovery_id: int) -> Outcome:
        return Outcome(
            OutcomeKind.SKIPPED,
            detail=f"skipped after {ctx.error.type.value}: {ctx.error.message}",
        )
