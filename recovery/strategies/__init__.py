"""One module per RecoveryType; each strategy applies itself with Celery's own primitives."""

from orchestrator.models import RecoveryType
from recovery.strategies.alternative_approach import AlternativeApproach
from recovery.strategies.base import FailureContext, Outcome, OutcomeKind, Strategy
from recovery.strategies.context_repair import ContextRepair
from recovery.strategies.escalate_to_user import EscalateToUser
from recovery.strategies.graceful_degradation import GracefulDegradation
from recovery.strategies.retry_with_backoff import RetryWithBackoff
from recovery.strategies.rollback_and_restart import RollbackAndRestart
from recovery.strategies.skip_and_continue import SkipAndContinue


def default_strategies() -> dict[RecoveryType, Strategy]:
    """A strategy for each of the seven RecoveryTypes."""
    strategies: list[Strategy] = [
        RetryWithBackoff(),
        AlternativeApproach(),
        GracefulDegradation(),
        ContextRepair(),
        RollbackAndRestart(),
        EscalateToUser(),
        SkipAndContinue(),
    ]
    return {s.type: s for s in strategies}


__all__ = [
    "AlternativeApproach",
    "ContextRepair",
    "EscalateToUser",
    "FailureContext",
    "GracefulDegradation",
    "Outcome",
    "OutcomeKind",
    "RetryWithBackoff",
    "RollbackAndRestart",
    "SkipAndContinue",
    "Strategy",
    "default_strategies",
]
