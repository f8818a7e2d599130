"""The output of GENERATE_INSIGHTS: insights over a portfolio analysis, with their evidence.

Every number an insight's statement prints is one of its ``evidence`` figures (formatted
as a percentage or a plain number), so a reader can check it against the analysis. No
pandas here: UPDATE_KNOWLEDGE and other consumers read the model cheaply.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from orchestrator.models.base import StrictModel


class InsightKind(StrEnum):
    CONCENTRATION = "concentration"
    DRAWDOWN = "drawdown"
    VOLATILITY_REGIME = "volatility_regime"
    RELATIVE_PERFORMANCE = "relative_performance"
    CORRELATED_CLUSTER = "correlated_cluster"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """0 (info) to 3 (high): for ordering, most severe first."""
        return list(Severity).index(self)


class Insight(StrictModel):
    kind: InsightKind
    title: str
    statement: str
    #: Figure name -> value (fractions as fractions: 0.12 = 12 %).
    evidence: dict[str, float]
    severity: Severity
    suggested_action: str
    #: The holdings or instruments the insight is about.
    subjects: list[str] = Field(default_factory=list)


class RuleOutcome(StrictModel):
    """Whether a rule could be evaluated on this analysis, whether it fired, and why."""

    kind: InsightKind
    evaluated: bool
    fired: bool
    reason: str


class InsightReport(StrictModel):
    """GENERATE_INSIGHTS' output: insights most severe first, and how far to trust them."""

    portfolio_id: str
    #: The upstream task whose analysis the insights read.
    analysis_task_id: str
    start: date
    end: date
    #: The kinds considered (the task's focus; all kinds without one).
    focus: list[InsightKind]
    insights: list[Insight]
    rules: list[RuleOutcome]
    confidence: float = Field(ge=0.0, le=1.0)
    confidence_reasons: list[str]
