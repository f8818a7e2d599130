"""Choosing and applying a recovery strategy for a failed task.

analyse (fingerprint, previous occurrences from history) -> candidate strategies for the
error type from ``config/recovery.yaml``, ranked by success probability x (1 - risk
weight), learned probabilities once there are enough outcomes -> the first strategy that
is available here is applied. A strategy that needs a person's approval parks the task
first; the approved strategy is applied when the task comes back. Every attempt is
recorded; when nothing applies the task fails with the whole attempt list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.context import utcnow
from orchestrator.models import AITask, Priority, RecoveryType, TaskError
from recovery.analysis import ErrorAnalysis, analyze_error
from recovery.policy import (
    OutcomeStats,
    RecoveryPolicy,
    StrategyOption,
    rank_strategies,
)
from recovery.strategies import FailureContext, Outcome, OutcomeKind, Strategy, default_strategies
from recovery.strategies.base import park_for_approval

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

log = logging.getLogger(__name__)

NOTHING_APPLIES = Outcome(OutcomeKind.NOT_APPLICABLE, "no recovery strategy applies")
#: Strategies a task may be given more than once (each retry is its own attempt).
REPEATABLE = frozenset({RecoveryType.RETRY_WITH_BACKOFF})


@dataclass
class RecoveryEngine:
    """Recovery for one runtime: the policy, the strategies and the recovery log."""

    runtime: Runtime
    policy: RecoveryPolicy
    strategies: dict[RecoveryType, Strategy]

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> RecoveryEngine:
        return cls(
            runtime, RecoveryPolicy.load(runtime.settings.recovery_file), default_strategies()
        )

    def analyse(
        self, *, run_id: str, task: AITask, error: TaskError, attempt: int, goal_priority: Priority
    ) -> ErrorAnalysis:
        """Record the failure and analyse it against earlier failures like it."""
        log_ = self.runtime.recovery_log
        analysis = analyze_error(
            error,
            task=task,
            task_critical=any(c.critical for c in task.preconditions),
            goal_priority=goal_priority,
            attempt=attempt,
            previous_occurrences=0,
            learnings_available=False,
        )
        previous = log_.count_fingerprint(analysis.fingerprint)
        log_.record_failure(
            run_id=run_id,
            task_id=task.id,
            task_type=str(task.type),
            attempt=attempt,
            error=error,
            fingerprint=analysis.fingerprint,
            at=utcnow(),
            severity=analysis.severity.value,
        )
        return analysis.model_copy(
            update={
                "previous_occurrences": previous,
                "learnings_available": log_.learnings_available(analysis.fingerprint),
            }
        )

    def candidates(self, ctx: FailureContext) -> list[StrategyOption]:
        """The options for this failure, best first, that can be applied here."""
        available = {
            t
            for t, strategy in self.strategies.items()
            if (t in REPEATABLE or t not in ctx.tried) and strategy.available(ctx)
        }
        stats = {
            RecoveryType(strategy): OutcomeStats(observations=n, successes=ok)
            for strategy, (n, ok) in self.runtime.recovery_log.outcome_stats(ctx.error.type).items()
        }
        ranked = rank_strategies(
            self.policy.options_for(ctx.error.type),
            learned=stats,
            available=available,
            previous_occurrences=ctx.analysis.previous_occurrences,
        )
        return [r.option for r in ranked]

    def recover(self, ctx: FailureContext) -> Outcome:
        """Apply the best available strategy; returns only when the task ends here."""
        approved = ctx.invocation.approved_strategy
        options = self.candidates(ctx)
        if approved is not None and approved is not RecoveryType.ESCALATE_TO_USER:
            options = [o for o in options if o.type is approved] or options
        for option in options:
            if option.requires_user_approval and approved is not option.type:
                self._ask_approval(ctx, option)
            outcome = self._apply(ctx, option)
            if outcome.kind is not OutcomeKind.NOT_APPLICABLE:
                return outcome
        return NOTHING_APPLIES

    def _apply(self, ctx: FailureContext, option: StrategyOption) -> Outcome:
        log_ = self.runtime.recovery_log
        recovery_id = self._start(ctx, option.type)
        ctx.tried.add(option.type)
        try:
            outcome = self.strategies[option.type].apply(ctx, option, recovery_id)
        except Exception as exc:  # a failing strategy is recorded; the next one is tried
            log.warning(
                "recovery %s of %s failed: %s", option.type.value, ctx.task.id, exc, exc_info=True
            )
            outcome = Outcome(OutcomeKind.NOT_APPLICABLE, f"{type(exc).__name__}: {exc}")
        log_.finish_recovery(
            recovery_id,
            succeeded=outcome.kind is not OutcomeKind.NOT_APPLICABLE,
            detail=outcome.detail,
            finished_at=utcnow(),
        )
        return outcome

    def _ask_approval(self, ctx: FailureContext, option: StrategyOption) -> None:
        recovery_id = self._start(ctx, RecoveryType.ESCALATE_TO_USER)
        invocation = ctx.invocation.model_copy(
            update={"recovery_id": recovery_id, "approved_strategy": option.type, "decision": None}
        )
        reason = (
            f"{ctx.task.id} failed with {ctx.error.type.value}: {ctx.error.message}; "
            f"approve to apply {option.type.value} ({option.description or option.id}), "
            "reject to skip the task"
        )
        park_for_approval(ctx, reason, invocation)

    def _start(self, ctx: FailureContext, strategy: RecoveryType) -> int:
        return self.runtime.recovery_log.start_recovery(
            run_id=ctx.run_id,
            task_id=ctx.task.id,
            attempt=ctx.attempt,
            error_type=ctx.error.type,
            fingerprint=ctx.analysis.fingerprint,
            strategy=strategy,
            started_at=utcnow(),
        )


__all__ = ["RecoveryEngine"]
