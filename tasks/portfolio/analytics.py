"""ANALYZE_PORTFOLIO's computation: prices and holdings in, a :class:`PortfolioAnalysis` out.

Pure and vectorised (no I/O, no loops over dates); figures follow :class:`Conventions`,
formulas live in :mod:`tasks.portfolio.metrics`. Valuation is buy and hold of the current
quantities plus constant cash. An instrument without a price at the window start joins at
its first price like a deposit, not a gain: returns are time-weighted, and the charted
value is the wealth index (exactly the market value when nothing joins late).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from orchestrator.models.params import AnalysisType, PerformanceMetric, RiskMetric, Timeframe
from tasks.portfolio import analysis_models as am
from tasks.portfolio import metrics as m

_MONTHS_IN: dict[Timeframe, int] = {
    Timeframe.ONE_MONTH: 1,
    Timeframe.THREE_MONTHS: 3,
    Timeframe.SIX_MONTHS: 6,
    Timeframe.ONE_YEAR: 12,
    Timeframe.THREE_YEARS: 36,
    Timeframe.FIVE_YEARS: 60,
}
#: First, last, peak, trough and recovery must fit in the downsampled series.
_MIN_SERIES_POINTS = 5
#: Below this many daily returns (about a quarter) volatility and ratios are imprecise.
SHORT_HISTORY_RETURNS = 60
#: Days a window may start late and still be whole (Saturday + holiday Monday -> Tuesday).
_START_GRACE_DAYS = 7


@dataclass(frozen=True)
class AnalysisOptions:
    """What to compute and how; built by the handler from AnalyzePortfolioParams."""

    #: Annual risk-free rate (0.02 = 2 %), for Sharpe, Sortino and alpha.
    risk_free_rate: float = 0.0
    var_confidence: float = 0.95
    periods_per_year: int = 252
    #: Which RiskStats figures to fill; the others stay None.
    risk_metrics: frozenset[RiskMetric] = frozenset(RiskMetric)
    #: For presentation only: every performance figure is a required field of the model
    #: and costs next to nothing, so all of them are always computed.
    performance_metrics: frozenset[PerformanceMetric] = frozenset(PerformanceMetric)
    include_benchmark: bool = True
    include_correlation: bool = True
    #: The chart series is downsampled to at most this many points.
    max_series_points: int = 400

    def __post_init__(self) -> None:
        if not 0.5 < self.var_confidence < 1.0:
            raise ValueError(f"var_confidence must be in (0.5, 1), got {self.var_confidence}")
        if self.periods_per_year <= 0:
            raise ValueError(f"periods_per_year must be positive, got {self.periods_per_year}")
        if self.max_series_points < _MIN_SERIES_POINTS:
            raise ValueError(f"max_series_points must be at least {_MIN_SERIES_POINTS}")


def window_start(as_of: date, timeframe: Timeframe, first_available: date) -> date:
    """First day (inclusive) of the analysis window that ends at ``as_of``.

    1month is ``as_of`` minus one calendar month, the day clamped to the month's length
    (31 March -> 28/29 February), 1year twelve months, etc. Only MAX uses
    ``first_available``; the others give the calendar start even before the data, so the
    analysis can report the shorter window.
    """
    if timeframe == Timeframe.MAX:
        return first_available
    year, month_index = divmod(as_of.year * 12 + as_of.month - 1 - _MONTHS_IN[timeframe], 12)
    month = month_index + 1
    return date(year, month, min(as_of.day, calendar.monthrange(year, month)[1]))


def _names(symbols: list[str]) -> str:
    hidden = len(symbols) - 10  # enough to act on, short enough to read
    return ", ".join(symbols[:10]) + (f" and {hidden} more" if hidden > 0 else "")


@dataclass(frozen=True)
class _Valuation:
    dates: pd.DatetimeIndex
    symbols: list[str]
    quantities: m.FloatArray
    bh: m.BuyAndHold
    late_symbols: list[str]
    unpriced_symbols: list[str]


def _value_holdings(
    prices: pd.DataFrame, quantities: Mapping[str, float], cash: float, reasons: list[str]
) -> _Valuation:
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError("prices must have a DatetimeIndex")
    if index.size == 0:
        raise ValueError("no prices: the window holds no dates")
    if index.has_duplicates or prices.columns.has_duplicates:
        raise ValueError("prices have duplicate dates or symbols")
    if not (math.isfinite(cash) and all(math.isfinite(q) for q in quantities.values())):
        raise ValueError("cash and quantities must be finite")
    order = np.argsort(index.to_numpy(), kind="stable")
    held = [symbol for symbol, quantity in quantities.items() if quantity != 0.0]
    listed = [s for s in held if s in prices.columns]
    raw = prices.loc[:, listed].to_numpy(dtype=np.float64, na_value=np.nan)[order]
    invalid = ~(raw > 0.0) | np.isinf(raw)  # NaN compares False: it counts as invalid
    if bad := int(np.count_nonzero(invalid & ~np.isnan(raw))):
        reasons.append(f"{bad} non-positive or infinite price(s) treated as missing")
    has_price = np.any(~invalid, axis=0)
    symbols = [s for s, ok in zip(listed, has_price.tolist(), strict=True) if ok]
    unpriced = [s for s in held if s not in set(symbols)]
    if held and not symbols:
        raise ValueError(f"no prices for any holding in the window ({_names(held)})")
    if unpriced:
        reasons.append(f"no price in the window, left out: {_names(unpriced)}")
    raw, dates = np.where(invalid, np.nan, raw)[:, has_price], pd.DatetimeIndex(index[order])
    first_any = int(np.argmax(np.any(~np.isnan(raw), axis=1))) if symbols else 0
    if first_any > 0:  # only cash before: start where the first holding is priced
        reasons.append(f"no holding has a price before {dates[first_any].date()}")
        raw, dates = raw[first_any:], dates[first_any:]
    quantity = np.array([float(quantities[s]) for s in symbols], dtype=np.float64)
    bh = m.buy_and_hold(raw, quantity, cash)
    if not (np.isfinite(bh.values).all() and (bh.values - bh.inflows > 0.0).all()):
        row = int(np.argmin(np.nan_to_num(bh.values - bh.inflows, nan=-np.inf)))
        raise ValueError(f"the portfolio value is not positive on {dates[row].date()}")
    late = [s for s, row in zip(symbols, bh.first_rows.tolist(), strict=True) if row > 0]
    if late:
        reasons.append(f"priced only from inside the window, from first price: {_names(late)}")
    return _Valuation(dates, symbols, quantity, bh, late, unpriced)


@dataclass(frozen=True)
class _Benchmark:
    symbol: str
    closes: m.FloatArray  # on the portfolio's dates, forward-filled, NaN before the first
    first_row: int
    returns: m.FloatArray  # daily, paired with the portfolio's returns[first_row:]
    stats: am.BenchmarkStats


def _benchmark(
    closes: pd.Series | None,
    val: _Valuation,
    symbol: str,
    annual: float,
    ppy: int,
    reasons: list[str],
) -> _Benchmark | None:
    """The benchmark on the portfolio's dates, from its first close, with its figures."""
    if closes is None:
        reasons.append(f"no benchmark data for {symbol}: beta, alpha and relative figures omitted")
        return None
    aligned, carried = m.align_closes(closes, val.dates)
    present = np.flatnonzero(~np.isnan(aligned))
    first = int(present[0]) if present.size else aligned.size - 1
    returns = aligned[first + 1 :] / aligned[first:-1] - 1.0
    total = float(aligned[-1] / aligned[first] - 1.0) if returns.size else 0.0
    bench_annual = m.annualized_return(total, returns.size, ppy)
    if returns.size < 2 or bench_annual is None:
        reasons.append(f"benchmark {symbol}: under 2 returns in the window (or overflow), omitted")
        return None
    if first > 0:
        reasons.append(f"benchmark {symbol} starts {val.dates[first].date()}: compared from there")
    if carried:
        reasons.append(f"benchmark {symbol} has no close of its own on {carried} day(s)")
    paired = val.bh.returns[first:]
    tracking_error, information = m.tracking_error_information_ratio(paired, returns, ppy)
    stats = am.BenchmarkStats(
        symbol=symbol,
        total_return=total,
        annualized_return=bench_annual,
        volatility=m.annualized_volatility(returns, ppy) or 0.0,
        max_drawdown=m.max_drawdown(aligned[first:]).max_drawdown,
        excess_annualized_return=annual - bench_annual,
        tracking_error=tracking_error,
        information_ratio=information,
        correlation=m.correlation(paired, returns),
    )
    return _Benchmark(symbol, aligned, first, returns, stats)


def _risk_stats(
    returns: m.FloatArray,
    annual: float,
    drawdown: m.MaxDrawdown,
    bench: _Benchmark | None,
    options: AnalysisOptions,
) -> am.RiskStats:
    wanted, ppy, rf = options.risk_metrics, options.periods_per_year, options.risk_free_rate
    confidence = options.var_confidence
    rf_daily = m.daily_risk_free(rf, ppy)
    stats = am.RiskStats(risk_free_rate=rf, var_confidence=confidence)
    if RiskMetric.VOLATILITY in wanted:
        stats.volatility = m.annualized_volatility(returns, ppy)
    if RiskMetric.SHARPE in wanted:
        stats.sharpe = m.sharpe_ratio(returns, rf_daily, ppy)
    if RiskMetric.SORTINO in wanted:
        stats.sortino = m.sortino_ratio(returns, rf_daily, ppy)
    if bench is not None and wanted & {RiskMetric.BETA, RiskMetric.ALPHA}:
        beta, alpha = m.beta_alpha(returns[bench.first_row :], bench.returns, rf_daily, ppy)
        stats.beta = beta if RiskMetric.BETA in wanted else None
        stats.alpha = alpha if RiskMetric.ALPHA in wanted else None
    historical = m.historical_var_cvar(returns, confidence)
    parametric = m.parametric_var_cvar(returns, confidence)
    if historical is not None and parametric is not None:
        if RiskMetric.VAR in wanted:
            stats.var_historical, stats.var_parametric = historical[0], parametric[0]
        if RiskMetric.CVAR in wanted:
            stats.cvar_historical, stats.cvar_parametric = historical[1], parametric[1]
    # Like every risk figure, Calmar needs two returns: one day annualised means nothing.
    if RiskMetric.CALMAR in wanted and drawdown.max_drawdown < 0.0 and returns.size >= 2:
        stats.calmar = annual / abs(drawdown.max_drawdown)
    return stats


def _drawdown_stats(drawdown: m.MaxDrawdown, dates: pd.DatetimeIndex) -> am.DrawdownStats:
    if drawdown.peak_index is None or drawdown.trough_index is None:
        return am.DrawdownStats(max_drawdown=0.0)
    peak = dates[drawdown.peak_index].date()
    recovery = None if drawdown.recovery_index is None else dates[drawdown.recovery_index].date()
    return am.DrawdownStats(
        max_drawdown=drawdown.max_drawdown,
        peak_date=peak,
        trough_date=dates[drawdown.trough_index].date(),
        recovery_date=recovery,
        duration_days=((recovery or dates[-1].date()) - peak).days,
    )


def _positions(val: _Valuation) -> tuple[list[am.PositionAnalysis], am.Concentration]:
    end_prices = val.bh.prices[-1]
    start_prices = val.bh.prices[val.bh.first_rows, np.arange(end_prices.size)]
    market_values = val.quantities * end_prices
    invested = float(market_values.sum())
    weights = market_values / invested if invested != 0.0 else np.zeros_like(market_values)
    table = {
        "symbol": val.symbols,
        "quantity": val.quantities.tolist(),
        "price": end_prices.tolist(),
        "market_value": market_values.tolist(),
        "weight": weights.tolist(),
        "period_return": (end_prices / start_prices - 1.0).tolist(),
        # P&L over the start value: start weight (cash in the denominator) x period
        # return, and for a late listing its P&L since its first price.
        "contribution": (val.quantities * (end_prices - start_prices) / val.bh.values[0]).tolist(),
    }
    positions = [
        am.PositionAnalysis.model_validate(dict(zip(table, row, strict=True)))
        for row in zip(*table.values(), strict=True)
    ]
    hhi = m.herfindahl_index(weights)
    top = int(np.argmax(weights)) if weights.size else None
    concentration = am.Concentration(
        hhi=hhi,
        effective_positions=1.0 / hhi if hhi > 0.0 else 0.0,
        top_symbol=None if top is None else val.symbols[top],
        top_weight=0.0 if top is None else float(weights[top]),
    )
    return positions, concentration


def _correlation(val: _Valuation, reasons: list[str]) -> am.CorrelationMatrix | None:
    # NaN before a listing, so a symbol's returns start the day after its first price.
    matrix = m.correlation_matrix(val.bh.prices[1:] / val.bh.prices[:-1] - 1.0)
    usable = ~np.isnan(np.diagonal(matrix))
    symbols = [s for s, ok in zip(val.symbols, usable.tolist(), strict=True) if ok]
    if not usable.all():
        dropped = [s for s in val.symbols if s not in set(symbols)]
        reasons.append(f"not correlated (under 2 returns or constant): {_names(dropped)}")
        matrix = matrix[np.ix_(usable, usable)]
    if len(symbols) < 2:
        return None
    if np.isnan(matrix).any():
        reasons.append("correlations of pairs with under 2 common moving days reported as 0")
        matrix = np.nan_to_num(matrix, nan=0.0)
    return am.CorrelationMatrix(symbols=symbols, matrix=matrix.tolist())


def _series(
    val: _Valuation, drawdown: m.MaxDrawdown, bench: _Benchmark | None, max_points: int
) -> list[am.SeriesPoint]:
    wealth = val.bh.wealth
    special = (drawdown.peak_index, drawdown.trough_index, drawdown.recovery_index)
    rows = m.downsample_indices(wealth.size, max_points, {i for i in special if i is not None})
    drawdowns = np.minimum(m.drawdown_series(wealth)[rows], 0.0).tolist()
    bench_values: list[float | None] = [None] * rows.size
    if bench is not None:  # rebased to the portfolio's value on the benchmark's first close
        first = bench.first_row
        rebased = (wealth[first] * bench.closes[rows] / bench.closes[first]).tolist()
        bench_values = [v if row >= first else None for v, row in zip(rebased, rows, strict=True)]
    points = zip(val.dates[rows], wealth[rows].tolist(), bench_values, drawdowns, strict=True)
    return [
        am.SeriesPoint(date=day.date(), value=value, benchmark_value=bench_value, drawdown=dd)
        for day, value, bench_value, dd in points
    ]


def _quality(
    val: _Valuation, timeframe: Timeframe, benchmark_missing: bool, reasons: list[str]
) -> am.DataQuality:
    """Confidence 1.0 for a full window of clean data, times a factor per problem."""
    confidence, observations = 1.0, val.bh.returns.size
    if observations < 2:
        confidence *= 0.1
        reasons.insert(0, f"only {observations} daily return(s): no risk figures")
    elif observations < SHORT_HISTORY_RETURNS:
        confidence *= 0.5 + 0.5 * observations / SHORT_HISTORY_RETURNS
        reasons.insert(0, f"short history: {observations} daily returns, risk figures imprecise")
    if val.bh.gap_ratio > 0.0:
        confidence *= max(0.3, 1.0 - 2.0 * val.bh.gap_ratio)
        reasons.append(f"{val.bh.gap_ratio:.2%} of prices missing after the first, forward-filled")
    confidence *= 1.0 - 0.3 * len(val.late_symbols) / max(len(val.symbols), 1)
    if unpriced := len(val.unpriced_symbols):
        confidence *= 1.0 - 0.5 * unpriced / (len(val.symbols) + unpriced)
    start, end = val.dates[0].date(), val.dates[-1].date()
    asked = window_start(end, timeframe, start)
    if (start - asked).days > _START_GRACE_DAYS:
        coverage = (end - start).days / max((end - asked).days, 1)
        confidence *= 0.5 + 0.5 * coverage
        reasons.append(f"window starts {start}, not {asked}: {coverage:.0%} of {timeframe.value}")
    if benchmark_missing:
        confidence *= 0.9
    return am.DataQuality(
        confidence=round(min(1.0, max(0.0, confidence)), 4),
        reasons=reasons,
        observations=observations,
        missing_ratio=val.bh.missing_ratio,
    )


def analyze_holdings(
    prices: pd.DataFrame,
    quantities: Mapping[str, float],
    cash: float,
    benchmark: pd.Series | None,
    options: AnalysisOptions,
    *,
    portfolio_id: str,
    portfolio_name: str,
    benchmark_symbol: str | None,
    analysis_type: AnalysisType,
    timeframe: Timeframe,
) -> am.PortfolioAnalysis:
    """Analyse buy and hold of ``quantities`` plus ``cash`` over the window of ``prices``.

    ``prices``: adjusted closes, a column per symbol, DatetimeIndex cut to the window, NaN
    where missing (forward-filled, never back-filled). Holdings without any price are left
    out and named in ``quality.reasons``; zero quantities are not holdings. ``benchmark``
    closes are aligned to the prices' dates. TypeError for a non-datetime index;
    ValueError for no dates, no price for any holding, non-finite cash or quantities, or a
    portfolio value that is not positive.
    """
    reasons: list[str] = []
    val = _value_holdings(prices, quantities, cash, reasons)
    returns, ppy = val.bh.returns, options.periods_per_year
    total = float(val.bh.wealth[-1] / val.bh.wealth[0] - 1.0)
    annual = m.annualized_return(total, returns.size, ppy)
    if annual is None:
        raise ValueError(f"a total return of {total:.3g} in {returns.size} day(s) overflows")
    bench: _Benchmark | None = None
    if options.include_benchmark:
        symbol = benchmark_symbol or str(getattr(benchmark, "name", None) or "benchmark")
        bench = _benchmark(benchmark, val, symbol, annual, ppy, reasons)
    drawdown = m.max_drawdown(val.bh.wealth)
    positions, concentration = _positions(val)
    # Before the quality assessment: both add reasons.
    matrix = _correlation(val, reasons) if options.include_correlation else None
    quality = _quality(val, timeframe, options.include_benchmark and bench is None, reasons)
    return am.PortfolioAnalysis(
        portfolio_id=portfolio_id,
        portfolio_name=portfolio_name,
        analysis_type=analysis_type,
        timeframe=timeframe,
        start=val.dates[0].date(),
        end=val.dates[-1].date(),
        start_value=float(val.bh.values[0]),
        end_value=float(val.bh.values[-1]),
        cash=cash,
        returns=am.ReturnStats(
            total_return=total, annualized_return=annual, observations=returns.size
        ),
        risk=_risk_stats(returns, annual, drawdown, bench, options),
        drawdown=_drawdown_stats(drawdown, val.dates),
        benchmark=None if bench is None else bench.stats,
        positions=positions,
        concentration=concentration,
        correlation=matrix,
        series=_series(val, drawdown, bench, options.max_series_points),
        quality=quality,
        conventions=am.Conventions(periods_per_year=ppy),
    )
