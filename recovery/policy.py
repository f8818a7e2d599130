"""Which recovery strategies an error type offers, and in which order to try them (pure).

Candidates per ErrorType come from ``config/recovery.yaml`` (operators edit it). Ranking is
the specification's ``success_probability * (1 - risk_weight)``, highest first, ties kept
in YAML order.

``RISK_WEIGHT``: low 0.1, medium 0.3, high 0.6 -- a low-risk option keeps 90 % of its
probability, a high-risk one 40 %, so a high-risk option (rollback) wins only when nothing
safer is plausible: 0.9 low scores 0.81, 0.75 medium 0.525 (the spec's "Error Recovery in
Action" order), and a near-certain but high-risk skip (0.9 → 0.36) stays below asking the
user (0.45 low → 0.405).

``MIN_OBSERVATIONS`` = 20: the success probability of a strategy is its recorded success
rate once it has been tried 20 times for that error type, the YAML default before. The
standard error of a proportion is √(p(1-p)/n): at n = 20 it is ≤ 0.11 (0.09 at p = 0.8),
so the 95 % interval (±0.18) is about one gap between neighbouring defaults (0.9 / 0.75 /
0.6); at n = 5 it would be ±0.4, and two unlucky runs would reorder the list. n = 20 also
gives n·p ≥ 5 and n·(1-p) ≥ 5 for p in [0.25, 0.75], the usual condition for the normal
approximation; beyond that the interval narrows only with √n, so waiting longer mostly
keeps stale defaults in charge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from config import CONFIG_DIR
from orchestrator.models import ErrorType, RecoveryType, RiskLevel
from orchestrator.models.base import StrictModel

DEFAULT_POLICY_PATH = CONFIG_DIR / "recovery.yaml"

RISK_WEIGHT: dict[RiskLevel, float] = {
    RiskLevel.LOW: 0.1,
    RiskLevel.MEDIUM: 0.3,
    RiskLevel.HIGH: 0.6,
}
#: Recorded attempts of a strategy before its success rate replaces the YAML default.
MIN_OBSERVATIONS = 20
#: Options that always leave a decision possible; every list ends with one of them.
TERMINAL_TYPES = frozenset({RecoveryType.ESCALATE_TO_USER, RecoveryType.SKIP_AND_CONTINUE})


class RecoveryStep(StrictModel):
    """One step of a strategy as the spec lists it (descriptive; strategies act)."""

    action: str
    parameter: Any = None


class StrategyOption(StrictModel):
    """A candidate recovery for an error type (the spec's RecoveryStrategy, from YAML)."""

    id: str = Field(min_length=1, max_length=64)
    type: RecoveryType
    description: str = ""
    steps: list[RecoveryStep] = Field(default_factory=list)
    success_probability: float = Field(ge=0, le=1)
    risk_level: RiskLevel
    requires_user_approval: bool = False
    estimated_time_s: float = Field(default=0.0, ge=0)
    #: Offered only once the same failure (fingerprint) has occurred this many times before.
    min_previous_occurrences: int = Field(default=0, ge=0)


class RecoveryPolicy(StrictModel):
    """Candidate strategies for every one of the 14 ErrorTypes, in YAML order."""

    strategies: dict[ErrorType, list[StrategyOption]]

    @model_validator(mode="after")
    def _complete(self) -> RecoveryPolicy:
        # Every error type is listed (an empty list is a decision: fail at once).
        missing = [t.value for t in ErrorType if t not in self.strategies]
        if missing:
            raise ValueError(f"no recovery strategies for error types: {', '.join(missing)}")
        for error_type, options in self.strategies.items():
            ids = [o.id for o in options]
            if len(ids) != len(set(ids)):
                raise ValueError(f"{error_type.value}: strategy ids repeat: {ids}")
        return self

    @classmethod
    def load(cls, path: Path | str | None = None) -> RecoveryPolicy:
        """Read and validate a policy file (``config/recovery.yaml`` by default).

        Raises ValueError naming the file when it is not valid YAML or not a valid policy.
        """
        source = Path(path) if path is not None else DEFAULT_POLICY_PATH
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
            return cls.model_validate({"strategies": data})
        except (yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"{source}: invalid recovery policy: {exc}") from exc

    def options_for(self, error_type: ErrorType) -> list[StrategyOption]:
        """The candidates for ``error_type``, in YAML order."""
        return list(self.strategies[error_type])


class OutcomeStats(StrictModel):
    """How often a strategy was applied to an error type, and how often it worked."""

    observations: int = Field(default=0, ge=0)
    successes: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _successes_within_observations(self) -> OutcomeStats:
        if self.successes > self.observations:
            raise ValueError("successes exceed observations")
        return self

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.observations if self.observations else None


class RankedStrategy(StrictModel):
    """An option with the probability its score used and whether that came from history."""

    option: StrategyOption
    success_probability_used: float
    score: float
    learned: bool


def score(success_probability: float, risk_level: RiskLevel) -> float:
    """The spec's ranking key: ``success_probability * (1 - RISK_WEIGHT[risk_level])``."""
    return success_probability * (1.0 - RISK_WEIGHT[risk_level])


def rank_strategies(
    options: Iterable[StrategyOption],
    *,
    learned: Mapping[RecoveryType, OutcomeStats],
    available: set[RecoveryType] | frozenset[RecoveryType],
    previous_occurrences: int,
    min_observations: int = MIN_OBSERVATIONS,
) -> list[RankedStrategy]:
    """The usable options, best first (ties in the given order).

    Dropped: options whose type is not in ``available`` (e.g. no alternative registered for
    the task type) and options whose ``min_previous_occurrences`` is not reached. An
    option's probability is the learned success rate of its type once that has at least
    ``min_observations`` observations, else its YAML default. Include ``TERMINAL_TYPES`` in
    ``available`` for a list that is never empty.
    """
    ranked: list[RankedStrategy] = []
    for option in options:
        if option.type not in available:
            continue
        if previous_occurrences < option.min_previous_occurrences:
            continue
        stats = learned.get(option.type)
        use_learned = stats is not None and stats.observations >= max(min_observations, 1)
        probability = (
            stats.successes / stats.observations
            if use_learned and stats is not None
            else option.success_probability
        )
        ranked.append(
            RankedStrategy(
                option=option,
                success_probability_used=probability,
                score=score(probability, option.risk_level),
                learned=use_learned,
            )
        )
    # list.sort is stable: equal scores keep the given (YAML) order.
    ranked.sort(key=lambda r: r.score, reverse=True)
    return ranked
