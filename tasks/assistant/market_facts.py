"""Market facts from daily closes: instruments, sectors, the benchmark's trend, correlations.

Pure functions over pandas frames (no I/O, no clock). The closes frame may hold
instruments of different calendars: each instrument's figures rest on its own closes
(``closes[symbol].dropna()``), never on days only other instruments traded. A basket of
several instruments (a sector, the holdings) is forward-filled on the days at least one
of its members has a close, never back-filled, as in the portfolio analysis. Every
deviation, drawdown, correlation and the volatility regime come from
``tasks.portfolio.metrics`` and ``tasks.portfolio.regime``, so a research figure and an
analysis figure computed over the same prices agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd

from orchestrator.portfolio.sectors import NON_MARKET_SECTORS, UNCLASSIFIED, Classification
from tasks.assistant.research_models import (
    BenchmarkTrend,
    CorrelatedPair,
    Correlations,
    CorrelationTarget,
    HoldingCorrelation,
    InstrumentFacts,
    SectorFacts,
)
from tasks.portfolio import metrics
from tasks.portfolio import regime as vol

PERIODS_PER_YEAR = 252
#: The long-term trend line: the benchmark is in an uptrend above its 200-day average.
SMA_DAYS = 200
#: Holdings whose daily returns correlate at least this much move as one position.
HIGH_CORRELATION = 0.7
#: Fewer daily returns than this make correlations noise: a holding (or a pair) with
#: fewer is left out of them.
MIN_CORRELATION_OBSERVATIONS = 20


def _history(column: pd.Series) -> pd.Series:
    """The instrument's own closes (its calendar): the days it has a price, in order."""
    return column.dropna().sort_index()


def _basket_prices(closes: pd.DataFrame, symbols: Sequence[str]) -> pd.DataFrame:
    """``symbols``' closes on the days at least one of them has one, forward-filled."""
    return closes[list(symbols)].dropna(how="all").sort_index().ffill()


def _returns(history: pd.Series) -> pd.Series:
    return history.pct_change(fill_method=None).iloc[1:]


def _day(stamp: object) -> date:
    return pd.Timestamp(stamp).date()  # type: ignore[arg-type]


def instrument_facts(
    closes: pd.DataFrame,
    classes: Mapping[str, Classification],
    *,
    benchmark_return: float | None = None,
    weights: Mapping[str, float] | None = None,
) -> list[InstrumentFacts]:
    """Facts of every column with at least two prices in ``closes`` (the window), by symbol."""
    facts: list[InstrumentFacts] = []
    for symbol in sorted(closes.columns):
        history = _history(closes[symbol])
        if len(history) < 2:
            continue
        returns = _returns(history)
        total = float(history.iloc[-1] / history.iloc[0] - 1.0)
        known = classes.get(symbol)
        facts.append(
            InstrumentFacts(
                symbol=symbol,
                name=known.name if known else symbol,
                sector=known.sector if known else UNCLASSIFIED,
                first_date=_day(history.index[0]),
                last_date=_day(history.index[-1]),
                observations=len(returns),
                full_window=history.index[0] == closes.index[0],
                start_price=float(history.iloc[0]),
                end_price=float(history.iloc[-1]),
                total_return=total,
                annualized_volatility=metrics.annualized_volatility(returns, PERIODS_PER_YEAR),
                max_drawdown=metrics.max_drawdown(history.to_numpy()).max_drawdown,
                excess_return=None if benchmark_return is None else total - benchmark_return,
                portfolio_weight=(weights or {}).get(symbol),
            )
        )
    return facts


def sector_facts(
    closes: pd.DataFrame,
    facts: Sequence[InstrumentFacts],
    weights: Mapping[str, float] | None = None,
) -> list[SectorFacts]:
    """Each sector of ``facts`` as an equal-weight buy-and-hold basket, best return first.

    The basket holds the same amount of each member priced on the window's first day, so its
    total return is the mean of theirs; members listed later are named, not included.
    ``universe_share`` is the sector's share of the instruments of market sectors in
    ``facts``; index funds and unclassified instruments are no market sector (share 0).
    """
    by_sector: dict[str, list[InstrumentFacts]] = {}
    for fact in facts:
        by_sector.setdefault(fact.sector, []).append(fact)
    held = weights or {}
    market = sum(1 for f in facts if f.sector not in NON_MARKET_SECTORS)
    result: list[SectorFacts] = []
    for sector, members in by_sector.items():
        full = sorted(f.symbol for f in members if f.full_window)
        total = volatility = drawdown = None
        if full:
            prices = _basket_prices(closes, full)
            basket = (prices / prices.iloc[0]).mean(axis=1)
            total = float(basket.iloc[-1] - 1.0)
            volatility = metrics.annualized_volatility(_returns(basket), PERIODS_PER_YEAR)
            drawdown = metrics.max_drawdown(basket.to_numpy()).max_drawdown
        ranked = sorted(members, key=lambda f: (-f.total_return, f.symbol))
        result.append(
            SectorFacts(
                sector=sector,
                symbols=full,
                partial_symbols=sorted(f.symbol for f in members if not f.full_window),
                total_return=total,
                annualized_volatility=volatility,
                max_drawdown=drawdown,
                best_symbol=ranked[0].symbol,
                worst_symbol=ranked[-1].symbol,
                holdings_weight=sum(held.get(f.symbol, 0.0) for f in members),
                universe_share=0.0
                if sector in NON_MARKET_SECTORS or not market
                else len(members) / market,
                market_sector=sector not in NON_MARKET_SECTORS,
            )
        )
    # Sectors without a basket (every member listed late) sort last.
    return sorted(
        result,
        key=lambda s: (s.total_return is None, -(s.total_return or 0.0), s.sector),
    )


def benchmark_trend(symbol: str, closes: pd.Series, start: date) -> BenchmarkTrend | None:
    """The benchmark over the window from ``start``; ``closes`` reach further back.

    The 200-day average and the baseline volatility need history before the window, so the
    caller passes about a year and a half of closes ending at the window's end.
    """
    history = _history(closes)
    window = history[history.index >= pd.Timestamp(start)]
    if len(window) < 2:
        return None
    reading = vol.volatility_regime(_returns(history).to_numpy(), PERIODS_PER_YEAR)
    last = float(history.iloc[-1])
    has_sma = len(history) >= SMA_DAYS
    sma = float(history.iloc[-SMA_DAYS:].mean()) if has_sma else None
    # The baseline's returns need one more close before them.
    baseline_first = max(len(history) - reading.baseline_days - 1, 0)
    return BenchmarkTrend(
        symbol=symbol,
        total_return=float(window.iloc[-1] / window.iloc[0] - 1.0),
        annualized_volatility=metrics.annualized_volatility(_returns(window), PERIODS_PER_YEAR),
        max_drawdown=metrics.max_drawdown(window.to_numpy()).max_drawdown,
        last_close=last,
        sma_days=SMA_DAYS,
        sma=sma,
        sma_start=_day(history.index[-SMA_DAYS]) if has_sma else None,
        distance_from_sma=None if sma is None else last / sma - 1.0,
        recent_vol_days=vol.REGIME_RECENT_DAYS,
        recent_volatility=reading.recent,
        baseline_vol_days=reading.baseline_days or vol.REGIME_BASELINE_DAYS,
        baseline_volatility=reading.baseline,
        baseline_start=None if reading.baseline is None else _day(history.index[baseline_first]),
        regime=reading.regime,
    )


def _skipped(reason: str, observations: int = 0) -> Correlations:
    return Correlations(
        target=CorrelationTarget.PORTFOLIO_HOLDINGS,
        computed=False,
        skipped_reason=reason,
        observations=observations,
        threshold=HIGH_CORRELATION,
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _late(returns: pd.DataFrame, symbols: Sequence[str]) -> list[str]:
    counts = returns[list(symbols)].notna().sum()
    return [s for s in symbols if int(counts[s]) < MIN_CORRELATION_OBSERVATIONS]


def _rest_of_portfolio(
    returns: pd.DataFrame, symbol: str, others: Sequence[str], weights: Mapping[str, float]
) -> float | None:
    """Correlation of ``symbol`` with the other holdings' weighted returns, row by row.

    On each day the rest is the weighted mean of the others that have a return that day
    (weights renormalised over them; equal weights if they are all zero), so a holding
    listed later joins the rest from its first return on, as in the portfolio's value.
    """
    rest = returns[list(others)]
    w = pd.Series({s: max(weights[s], 0.0) for s in others})
    if float(w.sum()) <= 0.0:
        w = pd.Series(1.0, index=list(others))
    present = rest.notna().astype(float)
    total = present @ w
    combined = (rest.fillna(0.0) @ w) / total.where(total > 0.0)
    paired = pd.concat([returns[symbol], combined], axis=1).dropna()
    if len(paired) < MIN_CORRELATION_OBSERVATIONS:
        return None
    return metrics.correlation(paired.iloc[:, 0].to_numpy(), paired.iloc[:, 1].to_numpy())


def _with_benchmark(column: pd.Series, bench: pd.Series | None) -> float | None:
    if bench is None:
        return None
    paired = pd.concat([column, bench], axis=1, join="inner").dropna()
    if len(paired) < MIN_CORRELATION_OBSERVATIONS:
        return None
    return metrics.correlation(paired.iloc[:, 0].to_numpy(), paired.iloc[:, 1].to_numpy())


def holdings_correlations(
    closes: pd.DataFrame,
    weights: Mapping[str, float],
    benchmark: pd.Series | None = None,
) -> Correlations:
    """Correlations of each holding with the rest of the portfolio and with the benchmark.

    The holdings' closes are forward-filled on the days at least one of them has a close;
    a holding's returns start the day after its first price. Every figure uses the days
    on which both of its sides have a return: each pair its common days (as the portfolio
    analysis's matrix), each holding its own days against the rest and the benchmark. A
    holding with fewer than ``MIN_CORRELATION_OBSERVATIONS`` returns (listed late in the
    window) is left out, with the reason; the others are still correlated.
    """
    symbols = sorted(s for s in weights if s in closes.columns)
    missing = sorted(s for s in weights if s not in closes.columns)
    if len(symbols) < 1:
        return _skipped("no holding has prices in the window")
    prices = _basket_prices(closes, symbols)
    returns = prices.pct_change(fill_method=None).iloc[1:]
    late = _late(returns, symbols)
    used = [s for s in symbols if s not in late]
    if not used:
        longest = int(returns.notna().sum().max()) if len(returns) else 0
        return _skipped(
            f"only {longest} daily returns of any holding "
            f"(at least {MIN_CORRELATION_OBSERVATIONS} needed)",
            longest,
        )
    returns = returns[used].dropna(how="all")
    bench = _returns(_history(benchmark)) if benchmark is not None else None
    matrix = metrics.correlation_matrix(returns.to_numpy())
    present = returns.notna().to_numpy(dtype=np.float64)
    common = present.T @ present  # days on which both of a pair have a return
    holdings = [
        HoldingCorrelation(
            symbol=symbol,
            weight=weights[symbol],
            with_portfolio=_rest_of_portfolio(
                returns, symbol, [s for s in used if s != symbol], weights
            )
            if len(used) > 1
            else None,
            with_benchmark=_with_benchmark(returns[symbol], bench),
        )
        for symbol in used
    ]
    upper = [
        (used[i], used[j], float(matrix[i, j]))
        for i in range(len(used))
        for j in range(i + 1, len(used))
        if np.isfinite(matrix[i, j]) and common[i, j] >= MIN_CORRELATION_OBSERVATIONS
    ]
    upper_sorted = sorted(upper, key=lambda p: (-p[2], p[0], p[1]))
    pairs = [
        CorrelatedPair(first=a, second=b, correlation=c)
        for a, b, c in upper_sorted
        if c >= HIGH_CORRELATION
    ]
    reasons = []
    if missing:
        reasons.append(f"no prices in the window for {', '.join(missing)}")
    if late:
        reasons.append(
            f"fewer than {MIN_CORRELATION_OBSERVATIONS} daily returns (listed late in the "
            f"window), left out: {', '.join(late)}"
        )
    if len(used) == 1:
        reasons.append("a single holding: there is no rest of the portfolio to correlate with")
    return Correlations(
        target=CorrelationTarget.PORTFOLIO_HOLDINGS,
        computed=True,
        skipped_reason="; ".join(reasons) or None,
        observations=len(returns),
        threshold=HIGH_CORRELATION,
        average_pairwise=_finite(float(np.mean([c for _, _, c in upper]))) if upper else None,
        holdings=holdings,
        high_pairs=pairs,
        top_pair=CorrelatedPair(
            first=upper_sorted[0][0], second=upper_sorted[0][1], correlation=upper_sorted[0][2]
        )
        if upper_sorted
        else None,
    )
