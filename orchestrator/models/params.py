"""One typed parameters model per TaskType.

Field names are the specification's, in snake_case. Parameters that take an upstream
task's output are typed :class:`OutputRef`, so validation can check them.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from orchestrator.models.base import StrictModel
from orchestrator.models.enums import TaskType
from orchestrator.models.refs import OutputRef

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Timeframe(StrEnum):
    ONE_MONTH = "1month"
    THREE_MONTHS = "3months"
    SIX_MONTHS = "6months"
    ONE_YEAR = "1year"
    THREE_YEARS = "3years"
    FIVE_YEARS = "5years"
    MAX = "max"


# --- workspace ---------------------------------------------------------------------


class CreateProjectParams(StrictModel):
    template: Slug
    name: Slug
    project_id: Identifier | None = None
    dependencies: list[Label] = Field(default_factory=list, max_length=100)
    structure: OutputRef | None = None


class GenerateCodeParams(StrictModel):
    code_type: Slug
    project_id: Identifier | None = None
    file_type: Slug | None = None
    features: list[Slug] = Field(default_factory=list, max_length=50)
    document_types: list[Slug] = Field(default_factory=list, max_length=20)
    context_data: OutputRef | None = None
    portfolio_schema: OutputRef | None = None
    report_structure: OutputRef | None = None
    code_context: OutputRef | None = None


class RunTerminalCommandParams(StrictModel):
    argv: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        min_length=1, max_length=256
    )
    project_id: Identifier | None = None
    cwd: Annotated[str, StringConstraints(max_length=1024)] | None = None
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    #: Captured bytes per stream (the tail is kept); capped by ORCH_TERMINAL_MAX_OUTPUT_BYTES.
    max_output_bytes: int | None = Field(default=None, gt=0, le=100_000_000)
    #: A non-zero exit status or a timeout fails the task (else it is only reported).
    check: bool = True


class GitOperationKind(StrEnum):
    INIT = "init"
    STATUS = "status"
    ADD = "add"
    COMMIT = "commit"
    BRANCH = "branch"
    CHECKOUT = "checkout"
    DIFF = "diff"
    LOG = "log"
    TAG = "tag"
    REVERT = "revert"
    PUSH = "push"


class GitOperationParams(StrictModel):
    operation: GitOperationKind
    project_id: Identifier | None = None
    ref: Annotated[str, StringConstraints(max_length=255)] | None = None
    message: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    paths: list[Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=list, max_length=1000
    )
    #: PUSH: a path inside the user's workspace or a URL on ORCH_GIT_REMOTE_ALLOWLIST.
    remote: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None


class FileOperationKind(StrEnum):
    READ = "read"
    WRITE = "write"
    APPEND = "append"
    LIST = "list"
    MOVE = "move"
    DELETE = "delete"


class FileOperationParams(StrictModel):
    operation: FileOperationKind
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    project_id: Identifier | None = None
    destination: Annotated[str, StringConstraints(max_length=1024)] | None = None
    content: Annotated[str, StringConstraints(max_length=10_000_000)] | None = None
    #: MOVE onto an existing destination replaces it (it is backed up first).
    overwrite: bool = False


# --- portfolio ---------------------------------------------------------------------


class AnalysisType(StrEnum):
    BASIC = "basic"
    PERFORMANCE = "performance"
    RISK = "risk"
    COMPREHENSIVE = "comprehensive"


class AnalysisDepth(StrEnum):
    SUMMARY = "summary"
    STANDARD = "standard"
    DETAILED = "detailed"


class RiskMetric(StrEnum):
    SHARPE = "sharpe"
    SORTINO = "sortino"
    VOLATILITY = "volatility"
    BETA = "beta"
    ALPHA = "alpha"
    VAR = "var"
    CVAR = "cvar"
    CALMAR = "calmar"


class PerformanceMetric(StrEnum):
    TOTAL_RETURN = "total_return"
    ANNUALIZED_RETURN = "annualized_return"
    DRAWDOWN = "drawdown"
    CONTRIBUTION = "contribution"


class AnalyzePortfolioParams(StrictModel):
    portfolio_id: Identifier
    analysis_type: AnalysisType = AnalysisType.COMPREHENSIVE
    analysis_depth: AnalysisDepth = AnalysisDepth.STANDARD
    timeframe: Timeframe = Timeframe.ONE_YEAR
    include_benchmarks: bool = True
    risk_metrics: list[RiskMetric] = Field(
        default_factory=lambda: [RiskMetric.SHARPE, RiskMetric.VOLATILITY]
    )
    performance_metrics: list[PerformanceMetric] = Field(
        default_factory=lambda: [PerformanceMetric.TOTAL_RETURN]
    )
    #: Annual risk-free rate (0.02 = 2 %), used by Sharpe, Sortino and alpha.
    risk_free_rate: float = Field(default=0.0, ge=-0.05, le=0.5)
    #: Confidence of VaR and CVaR (0.95 = the worst 5 % of days).
    var_confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    #: Benchmark instrument; default the market data's configured benchmark (SPY).
    benchmark: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9.\-]{0,15}$")] | None = None
    #: Analyse as of this date (default: the latest price in the market data).
    as_of: date | None = None


class TradeSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class ExecuteTradeParams(StrictModel):
    portfolio_id: Identifier
    symbol: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9.\-]{0,15}$")]
    side: TradeSide
    quantity: float = Field(gt=0)
    order_type: Literal["market"] = "market"


class ReportFormat(StrEnum):
    HTML = "html"
    PDF = "pdf"
    JSON = "json"
    MARKDOWN = "markdown"


class ReportSection(StrEnum):
    SUMMARY = "summary"
    PERFORMANCE = "performance"
    RISK = "risk"
    DRAWDOWN = "drawdown"
    BENCHMARK = "benchmark"
    ALLOCATION = "allocation"
    POSITIONS = "positions"
    CORRELATION = "correlation"
    DATA_QUALITY = "data_quality"
    CONVENTIONS = "conventions"


class GenerateReportParams(StrictModel):
    portfolio_id: Identifier
    formats: list[ReportFormat] = Field(
        default_factory=lambda: [ReportFormat.HTML, ReportFormat.JSON, ReportFormat.MARKDOWN],
        min_length=1,
    )
    analysis: OutputRef | None = None
    #: Sections to include, in the report's own order; empty means all.
    sections: list[ReportSection] = Field(default_factory=list, max_length=20)


class AlertKind(StrEnum):
    PRICE_ABOVE = "price_above"
    PRICE_BELOW = "price_below"
    PERCENT_MOVE = "percent_move"
    DRAWDOWN = "drawdown"


class AlertRule(StrictModel):
    """One alert rule; what it needs depends on its kind (checked here, at the edge).

    - ``price_above`` / ``price_below``: a symbol, and a price > 0 (fires at >= / <=).
    - ``percent_move``: a fraction of the previous close, 0 < t < 10 (0.05 = a 5 % move
      either way); of the symbol when one is named, else of any holding.
    - ``drawdown``: a fraction below the trailing peak, 0 < t < 1 (0.10 = 10 % below); of
      the symbol when one is named, else of the whole portfolio.
    """

    kind: AlertKind
    threshold: float = Field(allow_inf_nan=False)
    symbol: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9.\-]{0,15}$")] | None = None

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        kind, threshold = self.kind, self.threshold
        if kind in (AlertKind.PRICE_ABOVE, AlertKind.PRICE_BELOW) and self.symbol is None:
            raise ValueError(f"a {kind.value} rule needs a symbol")
        if threshold <= 0:
            raise ValueError(f"the threshold of a {kind.value} rule must be > 0, not {threshold}")
        if kind is AlertKind.PERCENT_MOVE and threshold >= 10:
            raise ValueError(
                f"a percent_move threshold is a fraction (0.05 = 5 %) below 10, not {threshold}"
            )
        if kind is AlertKind.DRAWDOWN and threshold >= 1:
            raise ValueError(
                f"a drawdown threshold is a fraction (0.10 = 10 %) below 1, not {threshold}"
            )
        return self


class UpdateAlertsParams(StrictModel):
    portfolio_id: Identifier
    rules: list[AlertRule] = Field(default_factory=list, max_length=200)
    evaluate: bool = True


# --- ai-assistant ------------------------------------------------------------------


class ResearchTopicParams(StrictModel):
    topics: list[Slug] = Field(min_length=1, max_length=20)
    timeframe: Timeframe | OutputRef = Timeframe.ONE_YEAR
    correlate_with: Slug | None = None


class AnalyzeContextParams(StrictModel):
    analysis_type: Slug
    user_preferences: Literal["from_context"] | dict[str, str | int | float | bool] = "from_context"
    portfolio_data: OutputRef | None = None
    market_data: OutputRef | None = None


class GenerateInsightsParams(StrictModel):
    source: OutputRef | None = None
    focus: list[Slug] = Field(default_factory=list, max_length=20)


class UpdateKnowledgeParams(StrictModel):
    title: Label
    source: OutputRef | None = None
    text: Annotated[str, StringConstraints(max_length=1_000_000)] | None = None
    tags: list[Slug] = Field(default_factory=list, max_length=20)


# --- system ------------------------------------------------------------------------


class TestType(StrEnum):
    __test__ = False  # not a pytest test class

    SCHEMA = "schema"
    UNIT = "unit"
    INTEGRATION = "integration"
    SIMULATION = "simulation"


class ValidateDataParams(StrictModel):
    test_type: TestType
    data_source: Slug | OutputRef
    validation_criteria: list[Slug] = Field(default_factory=list, max_length=50)


SyncTarget = Literal["context", "history"]


def _all_sync_targets() -> list[SyncTarget]:
    return ["context", "history"]


class SyncServicesParams(StrictModel):
    services: list[SyncTarget] = Field(default_factory=_all_sync_targets)


class BackupStateParams(StrictModel):
    """Back up a run's live context and history; by default the current run."""

    target_run_id: Identifier | None = None
    file_name: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")] | None
    ) = None


class HealthCheck(StrEnum):
    REDIS = "redis"
    DATABASE = "database"
    BROKER = "broker"
    WORKERS = "workers"


class MonitorHealthParams(StrictModel):
    checks: list[HealthCheck] = Field(default_factory=lambda: list(HealthCheck), min_length=1)
    worker_timeout_s: float = Field(default=1.0, gt=0, le=30)


#: The parameters model of each built-in task type.
PARAMS_OF: dict[TaskType, type[StrictModel]] = {
    TaskType.CREATE_PROJECT: CreateProjectParams,
    TaskType.GENERATE_CODE: GenerateCodeParams,
    TaskType.RUN_TERMINAL_COMMAND: RunTerminalCommandParams,
    TaskType.GIT_OPERATION: GitOperationParams,
    TaskType.FILE_OPERATION: FileOperationParams,
    TaskType.ANALYZE_PORTFOLIO: AnalyzePortfolioParams,
    TaskType.EXECUTE_TRADE: ExecuteTradeParams,
    TaskType.GENERATE_REPORT: GenerateReportParams,
    TaskType.UPDATE_ALERTS: UpdateAlertsParams,
    TaskType.RESEARCH_TOPIC: ResearchTopicParams,
    TaskType.ANALYZE_CONTEXT: AnalyzeContextParams,
    TaskType.GENERATE_INSIGHTS: GenerateInsightsParams,
    TaskType.UPDATE_KNOWLEDGE: UpdateKnowledgeParams,
    TaskType.VALIDATE_DATA: ValidateDataParams,
    TaskType.SYNC_SERVICES: SyncServicesParams,
    TaskType.BACKUP_STATE: BackupStateParams,
    TaskType.MONITOR_HEALTH: MonitorHealthParams,
}
