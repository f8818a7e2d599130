"""Portfolio analytics against hand-computed figures, and the invariants that must hold.

Expected values are worked out from the literal prices in each test with plain
arithmetic, ``math`` and ``statistics``, never with the pandas/numpy code under test.
Documented choices checked here: a zero deviation makes Sharpe and Sortino None (not 0
and not inf), and the drawdown's peak is the last day at the high (empyrical).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import date
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.models.params import AnalysisType, RiskMetric, Timeframe
from tasks.portfolio import metrics
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.portfolio.analytics import AnalysisOptions, analyze_holdings, window_start

ROOT_252 = math.sqrt(252)
MONDAY = "2024-01-01"


def frame(columns: Mapping[str, Sequence[float]], start: str = MONDAY) -> pd.DataFrame:
    """Business-day prices from ``start``; ``math.nan`` marks a missing price."""
    length = len(next(iter(columns.values())))
    return pd.DataFrame(dict(columns), index=pd.bdate_range(start, periods=length))


def analyse(
    prices: pd.DataFrame,
    quantities: Mapping[str, float],
    cash: float = 0.0,
    benchmark: pd.Series | None = None,
    timeframe: Timeframe = Timeframe.MAX,
    **options: Any,
) -> PortfolioAnalysis:
    options.setdefault("include_benchmark", benchmark is not None)
    return analyze_holdings(
        prices,
        quantities,
        cash,
        benchmark,
        AnalysisOptions(**options),
        portfolio_id="pf_1",
        portfolio_name="Test",
        benchmark_symbol=None if benchmark is None else "SPY",
        analysis_type=AnalysisType.COMPREHENSIVE,
        timeframe=timeframe,
    )


def gbm(days: int, symbols: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0004, 0.02, size=(days, symbols))
    steps[0] = 0.0
    return pd.DataFrame(
        100.0 * np.exp(np.cumsum(steps, axis=0)),
        index=pd.bdate_range(MONDAY, periods=days),
        columns=[f"S{i}" for i in range(symbols)],
    )


# --- one instrument, every figure by hand -----------------------------------------------


def test_single_instrument_figures_by_hand() -> None:
    # 100 -> 110 -> 99 -> 108.9: returns +10 %, -10 %, +10 %.
    result = analyse(frame({"A": [100, 110, 99, 108.9]}), {"A": 1})
    rets = [0.1, -0.1, 0.1]
    mean = (0.1 - 0.1 + 0.1) / 3
    std = math.sqrt(((0.1 - mean) ** 2 + (-0.1 - mean) ** 2 + (0.1 - mean) ** 2) / 2)
    assert std == pytest.approx(statistics.stdev(rets))
    annual = 1.089 ** (252 / 3) - 1

    assert result.returns.total_return == pytest.approx(0.089)
    assert result.returns.annualized_return == pytest.approx(annual)
    assert result.returns.observations == 3
    risk = result.risk
    assert risk.volatility == pytest.approx(std * ROOT_252)
    assert risk.sharpe == pytest.approx(mean / std * ROOT_252)
    downside = math.sqrt((0 + 0.1**2 + 0) / 3)  # over all three periods
    assert risk.sortino == pytest.approx(mean / downside * ROOT_252)
    # Linear quantile at 5 % of [-0.1, 0.1, 0.1]: position 0.05 * 2 = 0.1 -> -0.1 + 0.1 * 0.2.
    assert risk.var_historical == pytest.approx(0.08)
    assert risk.cvar_historical == pytest.approx(0.1)  # the mean of the one return <= -0.08
    z = NormalDist().inv_cdf(0.05)
    assert risk.var_parametric == pytest.approx(-(mean + z * std))
    assert risk.cvar_parametric == pytest.approx(-(mean - std * NormalDist().pdf(z) / 0.05))
    assert risk.calmar == pytest.approx(annual / 0.1)
    assert risk.beta is None and risk.alpha is None  # no benchmark

    # 100, 110, 99, 108.9 against highs 100, 110, 110, 110.
    assert result.drawdown.max_drawdown == pytest.approx(-0.1)
    assert result.drawdown.peak_date == date(2024, 1, 2)
    assert result.drawdown.trough_date == date(2024, 1, 3)
    assert result.drawdown.recovery_date is None  # 108.9 < 110
    assert result.drawdown.duration_days == 2  # 2 Jan to the window's end, 4 Jan
    assert [p.drawdown for p in result.series] == pytest.approx([0, 0, -0.1, -0.01])


def test_sharpe_and_sortino_with_a_risk_free_rate() -> None:
    result = analyse(frame({"A": [100, 110, 99, 108.9]}), {"A": 1}, risk_free_rate=0.05)
    rf_daily = 1.05 ** (1 / 252) - 1
    excess = [0.1 - rf_daily, -0.1 - rf_daily, 0.1 - rf_daily]
    assert result.risk.sharpe == pytest.approx(
        statistics.fmean(excess) / statistics.stdev(excess) * ROOT_252
    )
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in excess) / 3)
    assert result.risk.sortino == pytest.approx(statistics.fmean(excess) / downside * ROOT_252)
    assert result.risk.risk_free_rate == 0.05


def test_only_the_requested_risk_metrics_are_filled() -> None:
    result = analyse(
        frame({"A": [100, 110, 99, 108.9]}), {"A": 1}, risk_metrics=frozenset({RiskMetric.SHARPE})
    )
    assert result.risk.sharpe is not None
    others = result.risk.model_dump(exclude={"sharpe", "risk_free_rate", "var_confidence"})
    assert set(others.values()) == {None}


# --- several instruments: weights, contributions, concentration, correlation ------------


def test_weights_contributions_and_concentration_by_hand() -> None:
    prices = frame({"A": [10, 12, 15], "B": [20, 18, 22]})
    result = analyse(prices, {"A": 10, "B": 5}, cash=200)
    # Values: A 100/120/150, B 100/90/110, + 200 cash -> 400, 410, 460.
    assert (result.start_value, result.end_value) == (400, 460)
    assert result.returns.total_return == pytest.approx(460 / 400 - 1)
    a, b = result.positions
    assert (a.symbol, a.market_value, a.price, a.period_return) == ("A", 150, 15, 0.5)
    assert b.period_return == pytest.approx(0.1)
    assert a.weight == pytest.approx(150 / 260) and b.weight == pytest.approx(110 / 260)
    # Start weights 100/400 each (cash in the denominator) x period returns.
    assert a.contribution == pytest.approx(0.25 * 0.5)
    assert b.contribution == pytest.approx(0.25 * 0.1)
    hhi = (150**2 + 110**2) / 260**2
    assert result.concentration.hhi == pytest.approx(hhi)
    assert result.concentration.effective_positions == pytest.approx(1 / hhi)
    assert result.concentration.top_symbol == "A"
    assert result.concentration.top_weight == pytest.approx(150 / 260)


def test_correlation_matrix_by_hand() -> None:
    a_prices, b_prices = [100, 102, 99, 104, 103], [50, 49, 51, 52, 50]
    result = analyse(frame({"A": a_prices, "B": b_prices}), {"A": 1, "B": 1})
    ra = [a_prices[i + 1] / a_prices[i] - 1 for i in range(4)]
    rb = [b_prices[i + 1] / b_prices[i] - 1 for i in range(4)]
    assert result.correlation is not None
    assert result.correlation.symbols == ["A", "B"]
    rho = statistics.correlation(ra, rb)
    assert result.correlation.matrix == [[1.0, pytest.approx(rho)], [pytest.approx(rho), 1.0]]


def test_no_correlation_for_one_symbol_or_when_not_asked() -> None:
    prices = frame({"A": [100, 101, 102], "B": [10, 12, 11]})
    assert analyse(prices[["A"]], {"A": 1}).correlation is None
    assert analyse(prices, {"A": 1, "B": 1}, include_correlation=False).correlation is None


def test_pairwise_correlation_with_gaps_matches_pandas() -> None:
    prices = gbm(80, 4)
    prices.iloc[:30, 1] = math.nan  # B lists on day 30
    prices.iloc[50:55, 2] = math.nan  # C has a gap, forward-filled
    result = analyse(prices, dict.fromkeys(prices.columns, 1.0))
    assert result.correlation is not None
    # pandas' corr (pairwise complete) is an independent implementation.
    expected = (prices.ffill() / prices.ffill().shift(1) - 1).iloc[1:].corr()
    assert np.allclose(result.correlation.matrix, expected.to_numpy(), atol=1e-12)


# --- invariants ---------------------------------------------------------------------------


def test_constant_prices_have_no_risk() -> None:
    """Zero volatility and drawdown; Sharpe and Calmar are None (undefined), not 0 or inf."""
    result = analyse(frame({"A": [50.0] * 10}), {"A": 3}, cash=10)
    assert result.returns.total_return == 0.0
    assert result.risk.volatility == 0.0
    assert result.risk.sharpe is None  # 0 / 0
    assert result.risk.sortino is None  # no downside at all
    assert result.risk.calmar is None  # no drawdown
    assert result.risk.var_historical == 0.0 and result.risk.cvar_parametric == 0.0
    assert result.drawdown.max_drawdown == 0.0
    assert result.drawdown.peak_date is None and result.drawdown.duration_days is None
    assert {p.drawdown for p in result.series} == {0.0}


def test_constant_prices_against_a_risk_free_rate() -> None:
    result = analyse(frame({"A": [50.0] * 10}), {"A": 3}, risk_free_rate=0.03)
    # Every excess return is -rf_daily: no deviation, so still no Sharpe ...
    assert result.risk.sharpe is None
    # ... but a defined Sortino: mean -rf_d over a downside deviation of rf_d.
    assert result.risk.sortino == pytest.approx(-ROOT_252)


def test_benchmark_against_itself() -> None:
    closes = [100, 103, 101, 106, 104, 108]
    result = analyse(frame({"SPY": closes}), {"SPY": 2}, benchmark=frame({"B": closes})["B"])
    assert result.risk.beta == pytest.approx(1.0)
    assert result.risk.alpha == pytest.approx(0.0, abs=1e-12)
    assert result.benchmark is not None
    assert result.benchmark.correlation == pytest.approx(1.0)
    assert result.benchmark.excess_annualized_return == pytest.approx(0.0, abs=1e-12)
    assert result.benchmark.tracking_error == 0.0
    assert result.benchmark.information_ratio is None  # no tracking error to divide by
    assert [p.benchmark_value for p in result.series] == pytest.approx(
        [p.value for p in result.series]
    )


def test_benchmark_figures_by_hand() -> None:
    portfolio, bench = [100, 102, 101, 105, 104], [200, 201, 203, 204, 202]
    result = analyse(
        frame({"A": portfolio}), {"A": 1}, benchmark=frame({"B": bench})["B"], risk_free_rate=0.02
    )
    rp = [portfolio[i + 1] / portfolio[i] - 1 for i in range(4)]
    rb = [bench[i + 1] / bench[i] - 1 for i in range(4)]
    rf_daily = 1.02 ** (1 / 252) - 1
    beta = statistics.covariance(rp, rb) / statistics.variance(rb)
    alpha = (statistics.fmean(rp) - rf_daily - beta * (statistics.fmean(rb) - rf_daily)) * 252
    assert result.risk.beta == pytest.approx(beta)
    assert result.risk.alpha == pytest.approx(alpha)
    stats = result.benchmark
    assert stats is not None and stats.symbol == "SPY"
    assert stats.total_return == pytest.approx(202 / 200 - 1)
    assert stats.annualized_return == pytest.approx((202 / 200) ** (252 / 4) - 1)
    assert stats.volatility == pytest.approx(statistics.stdev(rb) * ROOT_252)
    assert stats.max_drawdown == pytest.approx(202 / 204 - 1)
    active = [p - b for p, b in zip(rp, rb, strict=True)]
    tracking_error = statistics.stdev(active) * ROOT_252
    assert stats.tracking_error == pytest.approx(tracking_error)
    assert stats.information_ratio == pytest.approx(statistics.fmean(active) * 252 / tracking_error)
    assert stats.correlation == pytest.approx(statistics.correlation(rp, rb))


def test_contributions_sum_to_the_total_return() -> None:
    prices = gbm(300, 25, seed=3)
    quantities = {symbol: float(i + 1) for i, symbol in enumerate(prices.columns)}
    result = analyse(prices, quantities, cash=5_000)
    total = sum(p.contribution for p in result.positions)
    assert total == pytest.approx(result.returns.total_return, rel=1e-12)
    assert sum(p.weight for p in result.positions) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(
    quantities=st.lists(st.floats(0.1, 1e4), min_size=3, max_size=3),
    cash=st.floats(0, 1e6),
    seed=st.integers(0, 2**32 - 1),
)
def test_contributions_sum_property(quantities: list[float], cash: float, seed: int) -> None:
    prices = gbm(40, 3, seed=seed)
    result = analyse(prices, dict(zip(prices.columns, quantities, strict=True)), cash=cash)
    total = sum(p.contribution for p in result.positions)
    assert total == pytest.approx(result.returns.total_return, rel=1e-9, abs=1e-12)


def test_doubling_quantities_and_cash_changes_no_return_or_ratio() -> None:
    prices = gbm(260, 5, seed=9)
    base = {symbol: float(i + 1) for i, symbol in enumerate(prices.columns)}
    single = analyse(prices, base, cash=300)
    double = analyse(prices, {s: 2 * q for s, q in base.items()}, cash=600)
    assert double.end_value == pytest.approx(2 * single.end_value)
    for figures in ("returns", "risk", "drawdown", "concentration"):
        a, b = getattr(single, figures).model_dump(), getattr(double, figures).model_dump()
        assert a == {
            k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v for k, v in b.items()
        }
    assert [p.weight for p in single.positions] == pytest.approx(
        [p.weight for p in double.positions]
    )


@settings(max_examples=200, deadline=None)
@given(
    returns=st.lists(st.floats(-0.5, 0.5), min_size=2, max_size=300),
    confidence=st.floats(0.51, 0.999),
)
def test_historical_var_never_exceeds_cvar(returns: list[float], confidence: float) -> None:
    result = metrics.historical_var_cvar(returns, confidence)
    assert result is not None
    value_at_risk, expected_shortfall = result
    assert value_at_risk <= expected_shortfall
    assert expected_shortfall <= -min(returns)


def test_parametric_var_matches_normal_dist() -> None:
    rng = np.random.default_rng(5)
    sample = [float(x) for x in rng.normal(0.0005, 0.012, 500)]
    for confidence in (0.9, 0.95, 0.99):
        mu, sigma = statistics.fmean(sample), statistics.stdev(sample)
        z = NormalDist().inv_cdf(1 - confidence)
        result = metrics.parametric_var_cvar(sample, confidence)
        assert result is not None
        assert result[0] == pytest.approx(-(mu + z * sigma))
        assert result[1] == pytest.approx(-(mu - sigma * NormalDist().pdf(z) / (1 - confidence)))
        # The normal quantile of the fitted distribution is the same figure.
        assert result[0] == pytest.approx(-NormalDist(mu, sigma).inv_cdf(1 - confidence))


def test_drawdown_with_known_peak_trough_and_recovery() -> None:
    # Highs 100, 120, 120 (2 and 3 Jan), down to 60 on 5 Jan, back at 120 on 9 Jan.
    result = analyse(frame({"A": [100, 120, 120, 90, 60, 100, 120, 130]}), {"A": 1})
    drawdown = result.drawdown
    assert drawdown.max_drawdown == pytest.approx(60 / 120 - 1)
    assert drawdown.peak_date == date(2024, 1, 3)  # the last day at the high
    assert drawdown.trough_date == date(2024, 1, 5)
    assert drawdown.recovery_date == date(2024, 1, 9)
    assert drawdown.duration_days == 6


def test_output_has_no_nan_or_inf_even_when_degenerate() -> None:
    flat = frame({"A": [10.0] * 5, "B": [5.0] * 5})
    result = analyse(flat, {"A": 1, "B": 1}, benchmark=frame({"X": [7.0] * 5})["X"])
    text = result.model_dump_json()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)
    assert result.benchmark is not None and result.benchmark.correlation is None
    assert result.risk.beta is None  # the benchmark does not move


# --- missing data and quality ---------------------------------------------------------------


def test_a_clean_full_window_has_full_confidence() -> None:
    end = date(2024, 6, 28)
    dates = pd.bdate_range(window_start(end, Timeframe.THREE_MONTHS, end), end)
    prices = gbm(len(dates), 3).set_axis(dates)
    benchmark = gbm(len(dates), 1, seed=2).set_axis(dates)["S0"]
    result = analyse(prices, {"S0": 1, "S1": 2, "S2": 3}, 0, benchmark, Timeframe.THREE_MONTHS)
    assert result.quality.reasons == []
    assert result.quality.confidence == 1.0
    assert result.quality.missing_ratio == 0.0


def test_forward_fill_and_missing_ratio() -> None:
    # A misses 3 Jan: its 2 Jan price carries forward, so returns are 0 then 10 %.
    prices = frame({"A": [100, math.nan, 110], "B": [10, 10, 10]})
    result = analyse(prices, {"A": 1, "B": 0.0001})
    assert result.returns.total_return == pytest.approx((110 + 0.001) / (100 + 0.001) - 1)
    assert result.quality.missing_ratio == pytest.approx(1 / 6)
    assert any("missing" in reason for reason in result.quality.reasons)
    assert result.quality.confidence < 1.0


def test_short_history_lowers_confidence() -> None:
    result = analyse(gbm(11, 1), {"S0": 1})
    assert result.quality.observations == 10
    assert 0 < result.quality.confidence < 1
    assert any(reason.startswith("short history") for reason in result.quality.reasons)


def test_fewer_than_two_returns() -> None:
    one = analyse(frame({"A": [100, 105]}), {"A": 1})
    assert one.returns.total_return == pytest.approx(0.05)
    assert one.risk.volatility is None and one.risk.sharpe is None
    assert one.risk.var_historical is None and one.risk.calmar is None
    assert one.quality.confidence <= 0.1
    assert "daily return" in one.quality.reasons[0]
    none = analyse(frame({"A": [100]}), {"A": 1})
    assert (none.returns.total_return, none.returns.annualized_return) == (0.0, 0.0)
    assert none.returns.observations == 0 and none.quality.confidence <= 0.1


def test_missing_benchmark_lowers_confidence() -> None:
    prices = gbm(100, 2)
    with_benchmark = analyse(prices, {"S0": 1}, benchmark=gbm(100, 1, seed=4)["S0"])
    without = analyse(prices, {"S0": 1}, include_benchmark=True)
    assert without.benchmark is None and without.risk.beta is None
    assert without.quality.confidence < with_benchmark.quality.confidence
    assert any("no benchmark" in reason for reason in without.quality.reasons)
    not_asked = analyse(prices, {"S0": 1}, include_benchmark=False)
    assert not_asked.quality.confidence == with_benchmark.quality.confidence


def test_symbol_without_prices_is_left_out() -> None:
    prices = gbm(100, 2)
    prices["DEAD"] = math.nan
    result = analyse(prices, {"S0": 1, "S1": 1, "DEAD": 5, "GONE": 1})
    assert [p.symbol for p in result.positions] == ["S0", "S1"]
    assert any("DEAD, GONE" in reason for reason in result.quality.reasons)
    assert result.quality.confidence < 1.0


def test_late_listing_joins_as_an_inflow() -> None:
    # B is first priced on 3 Jan at 50: an inflow, not a 50 % gain.
    prices = frame({"A": [100, 100, 100, 100], "B": [math.nan, math.nan, 50, 55]})
    result = analyse(prices, {"A": 1, "B": 1})
    assert (result.start_value, result.end_value) == (100, 155)
    assert result.returns.total_return == pytest.approx(155 / 150 - 1)
    assert [p.value for p in result.series] == pytest.approx([100, 100, 100, 100 * 155 / 150])
    assert result.positions[1].period_return == pytest.approx(0.1)
    assert result.positions[1].contribution == pytest.approx((55 - 50) / 100)
    assert any("B" in r and "first price" in r for r in result.quality.reasons)
    assert result.quality.missing_ratio == pytest.approx(2 / 8)


def test_window_shorter_than_asked() -> None:
    result = analyse(gbm(70, 1), {"S0": 1}, timeframe=Timeframe.ONE_YEAR)
    assert any(reason.startswith("window starts") for reason in result.quality.reasons)
    assert result.quality.confidence < 0.8


def test_late_benchmark_is_compared_from_its_first_close() -> None:
    prices = gbm(100, 1)
    benchmark = gbm(100, 1, seed=8)["S0"]
    benchmark.iloc[:20] = math.nan
    result = analyse(prices, {"S0": 1}, benchmark=benchmark)
    assert result.benchmark is not None
    assert result.benchmark.total_return == pytest.approx(
        benchmark.iloc[-1] / benchmark.iloc[20] - 1
    )
    assert result.series[0].benchmark_value is None
    assert any(reason.startswith("benchmark SPY starts") for reason in result.quality.reasons)


def test_benchmark_gaps_are_forward_filled_and_reported() -> None:
    prices = frame({"A": [100, 101, 102, 103, 104]})
    # No close on 3 Jan; a close on Saturday 6 Jan, outside the portfolio's dates, is unused.
    closes = pd.Series(
        [50.0, 51.0, 52.0, 53.0, 99.0],
        index=pd.to_datetime(
            ["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05", "2024-01-06"]
        ),
    )
    result = analyse(prices, {"A": 1}, benchmark=closes)
    assert result.benchmark is not None
    assert result.benchmark.total_return == pytest.approx(53 / 50 - 1)
    rb = [51 / 50 - 1, 0.0, 52 / 51 - 1, 53 / 52 - 1]  # 3 Jan carries 2 Jan's close
    assert result.benchmark.volatility == pytest.approx(statistics.stdev(rb) * ROOT_252)
    assert "no close of its own on 1 day(s)" in " ".join(result.quality.reasons)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="no prices"):
        analyse(frame({"A": []}), {"A": 1})
    with pytest.raises(ValueError, match="no prices for any holding"):
        analyse(frame({"A": [1.0, 2.0]}), {"B": 1})
    with pytest.raises(TypeError, match="DatetimeIndex"):
        analyse(pd.DataFrame({"A": [1.0, 2.0]}), {"A": 1})
    with pytest.raises(ValueError, match="not positive"):
        analyse(frame({"A": [1.0, 2.0]}), {"A": 1}, cash=-5)
    with pytest.raises(ValueError, match="var_confidence"):
        AnalysisOptions(var_confidence=0.3)


# --- the chart series -------------------------------------------------------------------------


def test_series_downsampling_keeps_first_last_and_trough() -> None:
    prices = gbm(2000, 2, seed=11)
    result = analyse(prices, {"S0": 1, "S1": 1}, max_series_points=50)
    dates = [p.date for p in result.series]
    assert len(dates) <= 50
    assert dates == sorted(dates)
    assert dates[0] == prices.index[0].date() and dates[-1] == prices.index[-1].date()
    assert result.drawdown.trough_date in dates and result.drawdown.peak_date in dates
    trough = result.series[dates.index(result.drawdown.trough_date)]
    assert trough.drawdown == pytest.approx(result.drawdown.max_drawdown)


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(1, 3000),
    max_points=st.integers(5, 500),
    keep=st.sets(st.integers(0, 2999), max_size=3),
)
def test_downsample_indices_property(length: int, max_points: int, keep: set[int]) -> None:
    rows = metrics.downsample_indices(length, max_points, keep).tolist()
    assert len(rows) <= max_points
    assert rows == sorted(set(rows))
    assert {0, length - 1} | {k for k in keep if k < length} <= set(rows)


# --- the window -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "timeframe", "expected"),
    [
        (date(2024, 3, 31), Timeframe.ONE_MONTH, date(2024, 2, 29)),
        (date(2024, 3, 31), Timeframe.THREE_MONTHS, date(2023, 12, 31)),
        (date(2024, 3, 31), Timeframe.SIX_MONTHS, date(2023, 9, 30)),
        (date(2024, 3, 31), Timeframe.ONE_YEAR, date(2023, 3, 31)),
        (date(2024, 2, 29), Timeframe.ONE_YEAR, date(2023, 2, 28)),
        (date(2024, 3, 31), Timeframe.THREE_YEARS, date(2021, 3, 31)),
        (date(2024, 1, 15), Timeframe.FIVE_YEARS, date(2019, 1, 15)),
        (date(2024, 3, 31), Timeframe.MAX, date(2001, 7, 2)),
    ],
)
def test_window_start(as_of: date, timeframe: Timeframe, expected: date) -> None:
    assert window_start(as_of, timeframe, first_available=date(2001, 7, 2)) == expected
