"""The output of ANALYZE_PORTFOLIO: typed, self-describing, and what GENERATE_REPORT reads.

Every figure is a plain fraction (0.12 = 12 %), annualised where the name says so. The
conventions a figure follows travel with it (:class:`Conventions`), so a report or a
downstream task never has to guess how a number was computed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum

from pydantic import Field

from orchestrator.models.base import StrictModel
from orchestrator.models.params import AnalysisType, Timeframe

#: Fewer daily returns than this make every figure shaky (annualised figures above all):
#: the analysis, the research and the insights all qualify what rests on fewer.
FEW_OBSERVATIONS = 60


class VolatilityRegime(StrEnum):
    """Recent volatility against its baseline (``tasks.portfolio.metrics.volatility_regime``)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    UNKNOWN = "unknown"


def weights_by_symbol(positions: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Symbol -> summed weight of its ``(symbol, weight)`` positions, in first-seen order.

    One symbol held in two lots is one holding; a negative weight (a short lot) counts as
    0, since every consumer (research, insights, generated bots) reads a long-only book.
    """
    weights: dict[str, float] = {}
    for symbol, weight in positions:
        weights[symbol] = weights.get(symbol, 0.0) + max(weight, 0.0)
    return weights


class Conventions(StrictModel):
    """How every figure of the analysis is computed (the standard quant-library definitions)."""

    return_type: str = "simple daily returns r_t = V_t / V_(t-1) - 1 of the portfolio value"
    periods_per_year: int = 252
    #: Delta degrees of freedom of every standard deviation (1 = sample deviation).
    std_ddof: int = 1
    annualisation: str = (
        "returns geometric: (1 + R_total)^(periods_per_year / n) - 1; "
        "volatility: daily std x sqrt(periods_per_year)"
    )
    sharpe: str = (
        "mean(r - rf_daily) / std(r - rf_daily) x sqrt(periods_per_year), "
        "rf_daily = (1 + rf)^(1 / periods_per_year) - 1"
    )
    sortino: str = (
        "mean(r - rf_daily) / downside_dev x sqrt(periods_per_year), "
        "downside_dev = sqrt(mean(min(r - rf_daily, 0)^2)) over all periods"
    )
    beta_alpha: str = (
        "beta = cov(r_p, r_b) / var(r_b) on daily returns; alpha (Jensen, annualised) = "
        "(mean(r_p - rf_d) - beta x mean(r_b - rf_d)) x periods_per_year"
    )
    var_cvar: str = (
        "one-day, reported as positive losses; historical: -quantile(r, 1 - c) with linear "
        "interpolation, CVaR = -mean(r | r <= quantile); parametric (normal): "
        "-(mu + z_(1-c) sigma), CVaR = -(mu - sigma phi(z_(1-c)) / (1 - c))"
    )
    drawdown: str = (
        "drawdown_t = V_t / max(V_0..V_t) - 1; max drawdown is its minimum (a negative "
        "fraction); recovery = first date the value is back at the peak"
    )
    calmar: str = "annualised return / |max drawdown|"
    valuation: str = (
        "the portfolio's current holdings held over the whole window (buy and hold), "
        "plus its cash; prices are adjusted closes, forward-filled, never back-filled; an "
        "instrument without a price at the window start joins at its first price as an "
        "inflow, not a gain (time-weighted returns; the charted value and the drawdowns "
        "follow the wealth index V_0 x prod(1 + r))"
    )


class ReturnStats(StrictModel):
    total_return: float
    annualized_return: float
    #: Number of daily returns the figures rest on.
    observations: int = Field(ge=0)


class RiskStats(StrictModel):
    """Risk figures; None where not requested or not computable (no benchmark, say)."""

    volatility: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    beta: float | None = None
    alpha: float | None = None
    var_historical: float | None = None
    var_parametric: float | None = None
    cvar_historical: float | None = None
    cvar_parametric: float | None = None
    calmar: float | None = None
    risk_free_rate: float = 0.0
    var_confidence: float = 0.95


class DrawdownStats(StrictModel):
    max_drawdown: float = Field(le=0.0)
    peak_date: date | None = None
    trough_date: date | None = None
    #: None while the value has not yet regained its peak.
    recovery_date: date | None = None
    #: Calendar days from peak to recovery (or to the end of the window if not recovered).
    duration_days: int | None = None


class BenchmarkStats(StrictModel):
    symbol: str
    total_return: float
    annualized_return: float
    volatility: float
    max_drawdown: float
    #: Portfolio annualised return minus the benchmark's.
    excess_annualized_return: float
    tracking_error: float | None = None
    information_ratio: float | None = None
    #: Pearson correlation of the portfolio's and the benchmark's daily returns.
    correlation: float | None = None


class PositionAnalysis(StrictModel):
    symbol: str
    quantity: float
    price: float
    market_value: float
    #: Share of the invested value (cash excluded) at the end of the window.
    weight: float
    #: The instrument's own return over the window.
    period_return: float
    #: Its share of the portfolio's return: start weight x period return (weights incl. cash).
    #: For an instrument listed inside the window: its P&L since its first price / start value.
    contribution: float


class Concentration(StrictModel):
    #: Herfindahl-Hirschman index of the end weights, in [1/n, 1].
    hhi: float
    #: 1 / HHI: how many equal positions the portfolio is worth.
    effective_positions: float
    top_symbol: str | None = None
    top_weight: float = 0.0


class CorrelationMatrix(StrictModel):
    symbols: list[str]
    #: Pearson correlations of daily returns, row i / column j in ``symbols`` order.
    matrix: list[list[float]]


class SeriesPoint(StrictModel):
    """One point of the charts' series (downsampled for long windows)."""

    date: date
    value: float
    benchmark_value: float | None = None
    drawdown: float


class DataQuality(StrictModel):
    """How far to trust the figures, and why."""

    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = Field(default_factory=list)
    observations: int = Field(ge=0)
    #: Share of the (date x instrument) prices missing in the window before filling.
    missing_ratio: float = Field(ge=0.0, le=1.0)


class PortfolioAnalysis(StrictModel):
    """ANALYZE_PORTFOLIO's output; GENERATE_REPORT renders exactly these figures."""

    portfolio_id: str
    portfolio_name: str
    currency: str = "USD"
    analysis_type: AnalysisType
    timeframe: Timeframe
    start: date
    end: date
    start_value: float
    end_value: float
    cash: float
    returns: ReturnStats
    risk: RiskStats
    drawdown: DrawdownStats
    benchmark: BenchmarkStats | None = None
    positions: list[PositionAnalysis]
    concentration: Concentration
    correlation: CorrelationMatrix | None = None
    series: list[SeriesPoint]
    quality: DataQuality
    conventions: Conventions = Field(default_factory=Conventions)

    def weights_by_symbol(self) -> dict[str, float]:
        """Symbol -> summed end-of-window weight of its positions (module function)."""
        return weights_by_symbol((p.symbol, p.weight) for p in self.positions)
