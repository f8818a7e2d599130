"""GENERATE_INSIGHTS' rules: each fires, or not, on its side of its thresholds.

Analyses are built by hand (no pandas); every expected figure is recomputed here from the
weights, values and matrices the test writes down, with plain arithmetic and
``statistics``, never with the rule code.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from typing import Any

import pytest

from tasks.assistant import insight_rules as rules
from tasks.assistant.insight_models import Insight, InsightKind, Severity
from tasks.portfolio import regime as vol
from tasks.portfolio.analysis_models import CorrelationMatrix, PortfolioAnalysis, VolatilityRegime
from tests.support.analyses import assert_statement_numbers_from_evidence, bench, build


def only(kind: InsightKind, analysis: PortfolioAnalysis) -> tuple[Any, list[Insight]]:
    outcome, found = rules.RULES[kind](analysis)
    for insight in found:
        assert insight.kind is kind
        assert_statement_numbers_from_evidence(insight)
    return outcome, found


# --- concentration ---------------------------------------------------------------------


def test_concentration_fires_on_the_top_weight() -> None:
    weights = {"A": 0.26, **{f"S{i}": 0.74 / 10 for i in range(10)}}
    outcome, (insight,) = only(InsightKind.CONCENTRATION, build(weights))
    hhi = 0.26**2 + 10 * (0.074**2)
    assert outcome.fired and insight.severity is Severity.MEDIUM
    assert insight.evidence["top_weight"] == pytest.approx(0.26)
    assert insight.evidence["effective_positions"] == pytest.approx(1 / hhi)
    assert insight.subjects == ["A"] and "26.0%" in insight.statement


def test_concentration_fires_on_few_effective_positions_below_the_top_weight() -> None:
    # Four of 24 % and one of 4 %: the top weight passes, 1 / HHI = 4.31 < 5 does not.
    weights = {"A": 0.24, "B": 0.24, "C": 0.24, "D": 0.24, "E": 0.04}
    assert 1 / sum(w * w for w in weights.values()) < rules.EFFECTIVE_POSITIONS_MEDIUM
    _outcome, (insight,) = only(InsightKind.CONCENTRATION, build(weights))
    assert insight.severity is Severity.MEDIUM


def test_concentration_high_past_the_high_thresholds() -> None:
    _, (by_top,) = only(InsightKind.CONCENTRATION, build({"A": 0.41, "B": 0.3, "C": 0.29}))
    # 39 / 39 / 22: top below 40 %, but 1 / HHI = 2.84 < 3.
    _, (by_eff,) = only(InsightKind.CONCENTRATION, build({"A": 0.39, "B": 0.39, "C": 0.22}))
    assert by_top.severity is Severity.HIGH and by_eff.severity is Severity.HIGH


def test_five_equal_positions_are_not_concentrated() -> None:
    outcome, found = only(InsightKind.CONCENTRATION, build(dict.fromkeys("ABCDE", 0.2)))
    assert outcome.evaluated and not outcome.fired and found == []


# --- drawdown --------------------------------------------------------------------------


def test_drawdown_fires_past_the_max_drawdown_threshold() -> None:
    outcome, (insight,) = only(InsightKind.DRAWDOWN, build(max_drawdown=-0.151))
    assert outcome.fired and insight.severity is Severity.MEDIUM
    assert insight.evidence["max_drawdown"] == -0.151
    quiet, found = only(InsightKind.DRAWDOWN, build(max_drawdown=-0.149))
    assert quiet.evaluated and not quiet.fired and found == []


def test_current_drawdown_comes_from_the_series() -> None:
    values = [100.0, 120.0, 110.0, 107.0]  # now 107 / 120 - 1 = -10.8 % below the peak
    _outcome, (insight,) = only(
        InsightKind.DRAWDOWN, build(values=values, max_drawdown=-0.108, recovered=False)
    )
    current = values[-1] / max(values) - 1
    assert insight.evidence["current_drawdown"] == pytest.approx(current)
    assert insight.evidence["recovered"] == 0.0
    assert "has not recovered" in insight.statement
    assert insight.severity is Severity.MEDIUM
    deep = [100.0, 120.0, 95.0]  # -20.8 % now: high
    _, (high,) = only(InsightKind.DRAWDOWN, build(values=deep, max_drawdown=-0.21))
    assert high.severity is Severity.HIGH


def test_max_drawdown_past_the_high_threshold_is_high() -> None:
    _, (insight,) = only(InsightKind.DRAWDOWN, build(max_drawdown=-0.31))
    assert insight.severity is Severity.HIGH


# --- volatility regime ------------------------------------------------------------------


def values_from(returns: Sequence[float]) -> list[float]:
    values = [100.0]
    for r in returns:
        values.append(values[-1] * (1 + r))
    return values


def alternating(n: int, size: float) -> list[float]:
    return [size if i % 2 == 0 else -size for i in range(n)]


def test_volatility_regime_elevated_when_recent_volatility_jumps() -> None:
    returns = alternating(200, 0.01) + alternating(21, 0.04)
    _outcome, (insight,) = only(InsightKind.VOLATILITY_REGIME, build(values=values_from(returns)))
    # Recomputed from the values: the last 21 daily returns against the last 252.
    vals = values_from(returns)
    daily = [b / a - 1 for a, b in itertools.pairwise(vals)]
    recent = statistics.stdev(daily[-21:]) * math.sqrt(252)
    baseline = statistics.stdev(daily[-252:]) * math.sqrt(252)
    assert insight.evidence["recent_volatility"] == pytest.approx(recent)
    assert insight.evidence["baseline_volatility"] == pytest.approx(baseline)
    assert insight.evidence["baseline_days"] == 221
    assert recent / baseline >= rules.SEVERE_REGIME_RATIO
    assert insight.severity is Severity.HIGH
    milder = alternating(300, 0.01) + alternating(21, 0.013)  # ratio about 1.27: high regime
    _, (medium,) = only(InsightKind.VOLATILITY_REGIME, build(values=values_from(milder)))
    assert medium.severity is Severity.MEDIUM and medium.evidence["baseline_days"] == 252


def test_the_insight_and_the_research_share_one_regime_definition() -> None:
    # Given returns whose recent month is 1.25x its year (the research's HIGH threshold)
    returns = alternating(231, 0.01) + alternating(21, 0.0135)
    reading = vol.volatility_regime(returns, 252)
    assert reading.regime is VolatilityRegime.HIGH
    # Then the insight calls it elevated, not "normal" or "calmer than usual"
    outcome, (insight,) = only(InsightKind.VOLATILITY_REGIME, build(values=values_from(returns)))
    assert outcome.fired and insight.title == "Volatility is elevated"
    assert insight.evidence["ratio"] == pytest.approx(reading.ratio)


def test_volatility_regime_calm_and_normal() -> None:
    calm = alternating(200, 0.02) + alternating(21, 0.005)
    _, (insight,) = only(InsightKind.VOLATILITY_REGIME, build(values=values_from(calm)))
    assert insight.severity is Severity.INFO and insight.title.startswith("Volatility is calmer")
    normal = alternating(263, 0.01)
    outcome, found = only(InsightKind.VOLATILITY_REGIME, build(values=values_from(normal)))
    assert outcome.evaluated and not outcome.fired and found == []
    flat = build(values=[100.0] * 100)
    still, _ = only(InsightKind.VOLATILITY_REGIME, flat)
    assert not still.evaluated and "never moved" in still.reason


def test_volatility_regime_needs_a_daily_series_long_enough() -> None:
    short, _ = only(InsightKind.VOLATILITY_REGIME, build(values=values_from(alternating(50, 0.01))))
    assert not short.evaluated and "fewer than 63" in short.reason
    sampled = build(values=values_from(alternating(300, 0.01)), observations=700)
    downsampled, _ = only(InsightKind.VOLATILITY_REGIME, sampled)
    assert not downsampled.evaluated and "downsampled" in downsampled.reason


# --- relative performance --------------------------------------------------------------


@pytest.mark.parametrize(
    ("excess", "ir", "severity"),
    [
        (-0.03, -0.2, Severity.MEDIUM),
        (-0.11, -0.2, Severity.HIGH),
        (-0.03, -0.6, Severity.HIGH),
        (0.03, 0.6, Severity.INFO),
    ],
)
def test_relative_performance_past_the_excess_threshold(
    excess: float, ir: float, severity: Severity
) -> None:
    year = [100.0 + i for i in range(253)]
    _outcome, (insight,) = only(
        InsightKind.RELATIVE_PERFORMANCE, build(values=year, benchmark=bench(excess, ir))
    )
    assert insight.severity is severity
    assert insight.evidence["excess_annualized_return"] == excess
    assert ("below" if excess < 0 else "above") in insight.statement


def test_a_short_window_shortfall_is_never_rated_high() -> None:
    # A month of 21 daily returns: -0.9 % over the month annualises to about -11 %
    month = [100.0 + i for i in range(22)]
    analysis = build(values=month, benchmark=bench(-0.11))
    _, (insight,) = only(InsightKind.RELATIVE_PERFORMANCE, analysis)
    assert insight.severity is Severity.MEDIUM and insight.evidence["observations"] == 21
    _, (weak_ir,) = only(
        InsightKind.RELATIVE_PERFORMANCE, build(values=month, benchmark=bench(-0.03, -0.6))
    )
    assert weak_ir.severity is Severity.MEDIUM


def test_relative_performance_in_line_or_without_benchmark() -> None:
    inline, found = only(InsightKind.RELATIVE_PERFORMANCE, build(benchmark=bench(0.019)))
    assert inline.evaluated and not inline.fired and found == []
    missing, _ = only(InsightKind.RELATIVE_PERFORMANCE, build())
    assert not missing.evaluated


# --- correlated clusters ---------------------------------------------------------------


def matrix(symbols: str, pairs: dict[str, float]) -> CorrelationMatrix:
    rows = [
        [1.0 if a == b else pairs.get(a + b, pairs.get(b + a, 0.1)) for b in symbols]
        for a in symbols
    ]
    return CorrelationMatrix(symbols=list(symbols), matrix=rows)


def test_a_correlated_group_is_found_with_its_combined_weight() -> None:
    corr = matrix("ABCD", {"AB": 0.9, "AC": 0.8, "BC": 0.75})
    weights = {"A": 0.3, "B": 0.2, "C": 0.1, "D": 0.4}
    _outcome, (insight,) = only(InsightKind.CORRELATED_CLUSTER, build(weights, correlation=corr))
    assert insight.subjects == ["A", "B", "C"]
    assert insight.evidence["combined_weight"] == pytest.approx(0.3 + 0.2 + 0.1)
    assert insight.evidence["min_correlation"] == 0.75
    assert insight.evidence["mean_correlation"] == pytest.approx((0.9 + 0.8 + 0.75) / 3)
    assert insight.severity is Severity.HIGH  # 60 % >= 50 %


def test_every_pair_of_a_group_reaches_the_threshold() -> None:
    # A-B and B-C correlate, A-C does not: a chain is not a group.
    corr = matrix("ABC", {"AB": 0.9, "BC": 0.85, "AC": 0.5})
    _, (insight,) = only(
        InsightKind.CORRELATED_CLUSTER, build({"A": 0.1, "B": 0.1, "C": 0.8}, correlation=corr)
    )
    assert insight.subjects == ["A", "B"]
    assert insight.severity is Severity.LOW  # 20 % < 30 %


def test_no_group_below_the_threshold() -> None:
    corr = matrix("AB", {"AB": 0.69})
    outcome, found = only(
        InsightKind.CORRELATED_CLUSTER, build({"A": 0.5, "B": 0.5}, correlation=corr)
    )
    assert outcome.evaluated and not outcome.fired and found == []
    assert not only(InsightKind.CORRELATED_CLUSTER, build())[0].evaluated


# --- focus, order, confidence ----------------------------------------------------------


def test_focus_narrows_the_kinds_and_unknown_focus_names_the_known() -> None:
    assert rules.resolve_focus(["diversification"]) == [
        InsightKind.CONCENTRATION,
        InsightKind.CORRELATED_CLUSTER,
    ]
    assert InsightKind.RELATIVE_PERFORMANCE not in rules.resolve_focus(["risk"])
    assert rules.resolve_focus([]) == list(InsightKind)
    with pytest.raises(ValueError, match=r"known: .*diversification"):
        rules.resolve_focus(["astrology"])


def test_insights_are_most_severe_first_and_confidence_reflects_coverage() -> None:
    analysis = build(
        {"A": 0.5, "B": 0.5},
        max_drawdown=-0.2,
        benchmark=bench(0.05),
        confidence=0.8,
    )
    insights, outcomes = rules.evaluate(analysis, list(InsightKind))
    severities = [i.severity.rank for i in insights]
    assert severities == sorted(severities, reverse=True)
    assert insights[0].severity is Severity.HIGH  # 50 % in one holding
    confidence, reasons = rules.insight_confidence(analysis, outcomes)
    # Volatility (10 values) and clusters (no matrix) cannot be evaluated: 3 of 5.
    assert confidence == pytest.approx(0.8 * (0.5 + 0.5 * 3 / 5))
    assert "3 of 5 rule(s) could be evaluated" in reasons
