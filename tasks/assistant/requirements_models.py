"""The outputs of ANALYZE_CONTEXT: report requirements and a market-context summary.

``ReportRequirements`` (analysis_type ``report_requirements``, the spec's task_003) is what
GENERATE_CODE's report generator and GENERATE_REPORT read; ``MarketContext``
(analysis_type ``market_context``) summarises upstream research. Every decision carries
the reason it was taken, so a reader (or a later task) can tell a preference from a
default from a consequence of the data. This module imports no pandas and no Celery:
the workspace renderer imports it too.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import Field

from orchestrator.models.base import StrictModel
from orchestrator.models.params import ReportFormat, ReportSection
from tasks.assistant.research_models import FindingKind, VolatilityRegime


class Audience(StrEnum):
    """Who reads the report: sets the default level of detail."""

    INVESTOR = "investor"
    ADVISOR = "advisor"
    EXECUTIVE = "executive"


class DetailLevel(StrEnum):
    SUMMARY = "summary"
    STANDARD = "standard"
    DETAILED = "detailed"


class ChartKind(StrEnum):
    EQUITY_CURVE = "equity_curve"
    DRAWDOWN = "drawdown"
    ALLOCATION = "allocation"
    CONTRIBUTION = "contribution"
    CORRELATION_HEATMAP = "correlation_heatmap"


class GeneratorFeature(StrEnum):
    """Optional parts of the generated report generator (``codegen_report.REPORT_FEATURES``)."""

    CHART_GENERATION = "chart_generation"
    DATA_VISUALIZATION = "data_visualization"
    EXPORT = "export"
    PDF_EXPORT = "pdf_export"


class AudienceChoice(StrictModel):
    audience: Audience
    detail_level: DetailLevel
    reason: str


class SectionChoice(StrictModel):
    section: ReportSection
    reason: str


class ChartChoice(StrictModel):
    chart: ChartKind
    reason: str


class MetricChoice(StrictModel):
    #: Dotted path into the PortfolioAnalysis, e.g. ``risk.sharpe``.
    metric: str
    value: float
    reason: str


class FormatChoice(StrictModel):
    format: ReportFormat
    reason: str


class FeatureChoice(StrictModel):
    feature: GeneratorFeature
    reason: str


class Omission(StrictModel):
    """Something considered and left out (a section, chart, metric or preference), and why."""

    what: str
    reason: str


class MarketContextPlan(StrictModel):
    """The market-context part of a report: only when research ran upstream."""

    source_task_id: str
    statements: list[str]
    reason: str


class ModulePlan(StrictModel):
    """One module of the generator project and why it is there."""

    module: str
    purpose: str
    reason: str


class GeneratorStructure(StrictModel):
    """What the report generator project should contain (``task_003_structure``)."""

    sections: list[ReportSection]
    charts: list[ChartKind]
    formats: list[ReportFormat]
    features: list[FeatureChoice]
    modules: list[ModulePlan]
    #: Preferences the Python generator records but cannot honour (chart library, language).
    notes: list[str] = Field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return [f.feature.value for f in self.features]


class ReportRequirements(StrictModel):
    """ANALYZE_CONTEXT ``report_requirements``: the report to build and why."""

    analysis_type: Literal["report_requirements"] = "report_requirements"
    portfolio_id: str
    #: The upstream task whose analysis the requirements rest on.
    analysis_task_id: str
    audience: AudienceChoice
    #: In the report's order.
    sections: list[SectionChoice]
    charts: list[ChartChoice]
    metrics: list[MetricChoice]
    formats: list[FormatChoice]
    market_context: MarketContextPlan | None = None
    data_quality_notes: list[str]
    omitted: list[Omission]
    #: The normalised preferences the decisions read (snake_case keys).
    preferences: dict[str, str | int | float | bool | list[str]]
    structure: GeneratorStructure

    @property
    def section_values(self) -> list[ReportSection]:
        return [s.section for s in self.sections]

    @property
    def format_values(self) -> list[ReportFormat]:
        return [f.format for f in self.formats]


class MarketTrend(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class MarketRegime(StrEnum):
    RISK_ON = "risk_on"
    RISK_OFF = "risk_off"
    MIXED = "mixed"
    UNKNOWN = "unknown"


class KeyFinding(StrictModel):
    kind: FindingKind
    statement: str
    figures: dict[str, float]


class RegimeAssessment(StrictModel):
    regime: MarketRegime
    trend: MarketTrend
    #: The research's volatility regime of the benchmark.
    volatility: VolatilityRegime
    figures: dict[str, float]
    reason: str


class WatchItem(StrictModel):
    subject: str
    reason: str
    figures: dict[str, float]


class MarketContext(StrictModel):
    """ANALYZE_CONTEXT ``market_context``: the research in short, for the user's context."""

    analysis_type: Literal["market_context"] = "market_context"
    research_task_id: str
    start: date
    end: date
    key_findings: list[KeyFinding]
    regime: RegimeAssessment
    watch: list[WatchItem]
    detail_level: DetailLevel
    confidence: float = Field(ge=0.0, le=1.0)
    confidence_reasons: list[str]
