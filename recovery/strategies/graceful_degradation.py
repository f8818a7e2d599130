"""graceful_degradation: a registered fallback, or the last good output for the same inputs.

The result is marked degraded (TaskResult.degraded, status "warning") and the run lists it
in ExecutionResult.degraded_tasks.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from orchestrator.models import RecoveryType
from recovery.policy import StrategyOption
from recovery.strategies.base import FailureContext, Outcome, OutcomeKind, Strategy
from tasks.context import HandlerContext
from tasks.fingerprints import input_fingerprint


class GracefulDegradation(Strategy):
    type: ClassVar[RecoveryType] = RecoveryType.GRACEFUL_DEGRADATION

    def available(self, ctx: FailureContext) -> bool:
        if ctx.runtime.registry.hooks.fallback_for(ctx.spec.task_type) is not None:
            return ctx.params is not None
        return self._cached(ctx) is not None

    def _cached(self, ctx: FailureContext) -> dict[str, object] | None:
        fingerprint = input_fingerprint(ctx.spec.task_type, ctx.task.parameters, ctx.inputs)
        return ctx.runtime.history.last_good_output(
            ctx.spec.task_type, fingerprint, user_id=ctx.user_id
        )

    def apply(self, ctx: FailureContext, option: StrategyOption, recovery_id: int) -> Outcome:
        fallback = ctx.runtime.registry.hooks.fallback_for(ctx.spec.task_type)
        if fallback is not None and ctx.params is not None:
            handler_ctx = HandlerContext(
                run_id=ctx.run_id,
                task_id=ctx.task.id,
                user_id=ctx.user_id,
                attempt=ctx.attempt,
                chain=ctx.chain,
                task=ctx.task,
                runtime=ctx.runtime,
            )
            output = fallback(ctx.params, ctx.inputs, handler_ctx)
            if not isinstance(output, BaseModel):
                return Outcome(OutcomeKind.NOT_APPLICABLE, "fallback returned no pydantic model")
            return Outcome(
                OutcomeKind.RECOVERED, "fallback handler", output.model_dump_json(), degraded=True
            )
        cached = self._cached(ctx)
        if cached is None:
            return Outcome(OutcomeKind.NOT_APPLICABLE, "no fallback and no earlier good output")
        import json

        return Outcome(
            OutcomeKind.RECOVERED,
            "last good output for the same inputs",
            json.dumps(cached),
            degraded=True,
        )
