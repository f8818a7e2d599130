"""rollback_and_restart: undo the run's completed effects, newest first, then restart.

Side-effecting task types register a compensation. Completed tasks that have one are
compensated in reverse order of completion; they then run again, in their original order,
followed by the failed task and the rest of its chain (``Task.replace``): the run
restarts from the last consistent point, before the first effect.
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.models import RecoveryType, TaskState
from recovery.policy import StrategyOption
from recovery.strategies.base import FailureContext, Outcome, OutcomeKind, Strategy
from tasks.context import HandlerContext

#: Restarts per run: a second failure after a restart is not rolled back again.
MAX_RESTARTS = 1


class RollbackAndRestart(Strategy):
    type: ClassVar[RecoveryType] = RecoveryType.ROLLBACK_AND_RESTART

    def _compensable(self, ctx: FailureContext) -> list[str]:
        states = ctx.runtime.context.task_states(ctx.user_id, ctx.run_id)
        hooks = ctx.runtime.registry.hooks
        done = [
            s
            for s in states.values()
            if s.state is TaskState.SUCCEEDED and hooks.compensation_for(s.type) is not None
        ]
        done.sort(key=lambda s: (s.finished_at is None, s.finished_at))
        return [s.task_id for s in done]

    def available(self, ctx: FailureContext) -> bool:
        return ctx.invocation.restart < MAX_RESTARTS and bool(self._compensable(ctx))

    def apply(self, ctx: FailureContext, option: StrategyOption, recovery_id: int) -> Outcome:
        completed = self._compensable(ctx)
        if not completed:
            return Outcome(OutcomeKind.NOT_APPLICABLE, "no completed effect to undo")
        outputs = ctx.runtime.context.outputs(ctx.user_id, ctx.run_id, completed)
        hooks = ctx.runtime.registry.hooks
        for task_id in reversed(completed):
            task = ctx.chain.task(task_id)
            spec = ctx.runtime.registry.get(str(task.type))
            compensation = hooks.compensation_for(spec.task_type)
            if compensation is None:
                continue
            params = spec.params_model.model_validate(task.parameters)
            handler_ctx = HandlerContext(
                run_id=ctx.run_id,
                task_id=task_id,
                user_id=ctx.user_id,
                attempt=ctx.attempt,
                chain=ctx.chain,
                task=task,
                runtime=ctx.runtime,
                restart=ctx.invocation.restart,
            )
            compensation(params, outputs.get(task_id, {}), handler_ctx)
            ctx.runtime.context.note_task_state(
                ctx.user_id,
                ctx.run_id,
                task_id,
                TaskState.PENDING,
                f"compensated after {ctx.task.id} failed; will run again",
            )
            ctx.runtime.recovery_log.annotate(recovery_id, f"compensated {task_id}")
        invocation = ctx.invocation.model_copy(
            # The approval was for this rollback; the restarted task runs afresh.
            update={
                "recovery_id": recovery_id,
                "restart": ctx.invocation.restart + 1,
                "approved_strategy": None,
                "decision": None,
            }
        )
        ctx.control.restart_with(completed, invocation)
