"""escalate_to_user: park the task until a person approves (run it again) or rejects it.

Parking stores the task's own request signature durably and ends the execution with
``Ignore``: no worker slot is held while it waits, and it survives worker restarts.
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.models import RecoveryType
from recovery.policy import StrategyOption
from recovery.strategies.base import FailureContext, Outcome, Strategy, park_for_approval


class EscalateToUser(Strategy):
    type: ClassVar[RecoveryType] = RecoveryType.ESCALATE_TO_USER

    def available(self, ctx: FailureContext) -> bool:
        return RecoveryType.ESCALATE_TO_USER not in ctx.tried

    def apply(self, ctx: FailureContext, option: StrategyOption, recovery_id: int) -> Outcome:
        reason = (
            f"{ctx.task.id} failed with {ctx.error.type.value}: {ctx.error.message}; "
            "approve to run it again, reject to skip it"
        )
        invocation = ctx.invocation.model_copy(
            update={
                "recovery_id": recovery_id,
                "approved_strategy": RecoveryType.ESCALATE_TO_USER,
                "decision": None,
            }
        )
        park_for_approval(ctx, reason, invocation)
