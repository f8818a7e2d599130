"""alternative_approach: a registered alternative runs in the failed task's place.

The spec's example: a code-generation task that times out is split into component subtasks
(charts, pdf, api, utils). The subtasks join the run's plan (with the failed task's
incoming dependencies), run in parallel in its place through ``Task.replace`` -- which
keeps the task's id and the rest of its chain -- and a merge step writes their merged
output as the failed task's own, so downstream tasks continue unchanged.
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.models import RecoveryType, TaskDependency, TaskState
from recovery.policy import StrategyOption
from recovery.strategies.base import FailureContext, Outcome, OutcomeKind, Strategy


class AlternativeApproach(Strategy):
    type: ClassVar[RecoveryType] = RecoveryType.ALTERNATIVE_APPROACH

    def available(self, ctx: FailureContext) -> bool:
        return (
            RecoveryType.ALTERNATIVE_APPROACH not in ctx.tried
            and ctx.params is not None
            and ctx.runtime.registry.hooks.alternative_for(ctx.spec.task_type) is not None
        )

    def apply(self, ctx: FailureContext, option: StrategyOption, recovery_id: int) -> Outcome:
        alternative = ctx.runtime.registry.hooks.alternative_for(ctx.spec.task_type)
        plan = alternative(ctx.task, ctx.params, ctx.error) if alternative else None
        if plan is None or not plan.subtasks:
            return Outcome(OutcomeKind.NOT_APPLICABLE, "the alternative does not apply here")
        incoming = [d for d in ctx.chain.dependencies if d.to_task == ctx.task.id]
        edges = [
            TaskDependency.model_validate({"from": d.from_task, "to": sub.id, "type": d.type.value})
            for sub in plan.subtasks
            for d in incoming
        ]
        ctx.runtime.context.add_tasks(
            ctx.user_id, ctx.run_id, plan.subtasks, edges, alternative_of=ctx.task.id
        )
        ctx.runtime.recovery_log.annotate(
            recovery_id, f"split into {', '.join(s.id for s in plan.subtasks)}"
        )
        ctx.runtime.context.note_task_state(
            ctx.user_id,
            ctx.run_id,
            ctx.task.id,
            TaskState.RUNNING,
            f"replaced by {len(plan.subtasks)} subtasks after {ctx.error.type.value}",
            error=ctx.error,
        )
        ctx.control.replace_with([s.id for s in plan.subtasks], recovery_id=recovery_id)
