"""The rules GENERATE_INSIGHTS applies to a portfolio analysis. Pure: no I/O.

One function per :class:`InsightKind`; each returns whether it could be evaluated on this
analysis, whether it fired, and its insights. Thresholds are the module constants below
(fractions: 0.25 = 25 %). Statements print only figures from their ``evidence``.

* concentration: the largest weight and the effective number of positions (1 / HHI);
* drawdown: the window's maximum drawdown and the current one (the series' last point);
* volatility regime: :func:`tasks.portfolio.regime.volatility_regime` of the value
  series' daily returns (needs the daily, not downsampled, series) -- the same definition
  the research applies to the benchmark;
* relative performance: annualised excess return over the benchmark, with tracking error
  and information ratio; never high on fewer than ``FEW_OBSERVATIONS`` daily returns,
  where annualising turns a small shortfall into a large one;
* correlated clusters: groups of holdings whose every pairwise correlation reaches
  ``CLUSTER_CORRELATION_MIN`` (complete linkage), with their combined weight.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from itertools import pairwise

from tasks.assistant.insight_models import Insight, InsightKind, RuleOutcome, Severity
from tasks.portfolio import regime as vol
from tasks.portfolio.analysis_models import FEW_OBSERVATIONS, PortfolioAnalysis, VolatilityRegime

# --- thresholds ------------------------------------------------------------------------
#: Largest weight from which a portfolio counts as concentrated (medium), and high.
TOP_WEIGHT_MEDIUM = 0.25
TOP_WEIGHT_HIGH = 0.40
#: Effective positions (1 / HHI) below which it counts as concentrated (medium), and high.
#: HHI <= largest weight, so these fire on portfolios the top-weight test lets pass
#: (four holdings of 24 % and one of 4 % are worth only 4.3 equal positions).
EFFECTIVE_POSITIONS_MEDIUM = 5.0
EFFECTIVE_POSITIONS_HIGH = 3.0
#: Maximum drawdown (negative) at or below which the drawdown rule fires, and is high.
MAX_DRAWDOWN_MEDIUM = -0.15
MAX_DRAWDOWN_HIGH = -0.30
#: Current drawdown at or below which the drawdown rule fires, and is high.
CURRENT_DRAWDOWN_MEDIUM = -0.10
CURRENT_DRAWDOWN_HIGH = -0.20
#: A high volatility regime (``tasks.portfolio.regime``) is a medium insight, and a high
#: one from this recent / baseline ratio on; a low regime is calmer than usual (info).
SEVERE_REGIME_RATIO = 1.75
#: Annualised excess return (either way) from which relative performance is reported.
EXCESS_RETURN_MIN = 0.02
#: Under-performance at or below which it is high, or information ratio at or below.
UNDERPERFORMANCE_HIGH = -0.10
INFORMATION_RATIO_HIGH = -0.5
#: Pairwise correlation every member of a cluster reaches with every other member.
CLUSTER_CORRELATION_MIN = 0.70
#: Combined weight of a cluster from which it is medium, and high (below: low).
CLUSTER_WEIGHT_MEDIUM = 0.30
CLUSTER_WEIGHT_HIGH = 0.50
#: Figures carry rounding error (5 x 0.2^2 is not exactly 0.2): a figure within this of a
#: threshold counts as on it.
EPSILON = 1e-9
#: How much of the confidence rests on the share of rules that could be evaluated.
COVERAGE_WEIGHT = 0.5

#: Focus words a task may give, and the kinds each selects.
FOCUS_KINDS: dict[str, tuple[InsightKind, ...]] = {
    **{kind.value: (kind,) for kind in InsightKind},
    "risk": (
        InsightKind.CONCENTRATION,
        InsightKind.DRAWDOWN,
        InsightKind.VOLATILITY_REGIME,
        InsightKind.CORRELATED_CLUSTER,
    ),
    "diversification": (InsightKind.CONCENTRATION, InsightKind.CORRELATED_CLUSTER),
    "performance": (InsightKind.RELATIVE_PERFORMANCE, InsightKind.DRAWDOWN),
    "benchmark": (InsightKind.RELATIVE_PERFORMANCE,),
    "volatility": (InsightKind.VOLATILITY_REGIME,),
    "correlation": (InsightKind.CORRELATED_CLUSTER,),
}

RuleResult = tuple[RuleOutcome, list[Insight]]


def resolve_focus(focus: Sequence[str]) -> list[InsightKind]:
    """The kinds a focus selects, in InsightKind order; empty focus = all.

    ValueError naming the known focus words for an unknown one.
    """
    if not focus:
        return list(InsightKind)
    unknown = sorted({f for f in focus if f not in FOCUS_KINDS})
    if unknown:
        raise ValueError(
            f"unknown focus {', '.join(unknown)}; known: {', '.join(sorted(FOCUS_KINDS))}"
        )
    wanted = {kind for f in focus for kind in FOCUS_KINDS[f]}
    return [kind for kind in InsightKind if kind in wanted]


def _outcome(kind: InsightKind, evaluated: bool, fired: bool, reason: str) -> RuleOutcome:
    return RuleOutcome(kind=kind, evaluated=evaluated, fired=fired, reason=reason)


def concentration_rule(a: PortfolioAnalysis) -> RuleResult:
    kind, c = InsightKind.CONCENTRATION, a.concentration
    if c.top_symbol is None or not a.positions:
        return _outcome(kind, False, False, "the analysis has no positions"), []
    top, eff = c.top_weight, c.effective_positions
    fired = top >= TOP_WEIGHT_MEDIUM - EPSILON or eff < EFFECTIVE_POSITIONS_MEDIUM - EPSILON
    if not fired:
        reason = f"largest weight {top:.1%}, {eff:.1f} effective positions: diversified enough"
        return _outcome(kind, True, False, reason), []
    high = top >= TOP_WEIGHT_HIGH - EPSILON or eff < EFFECTIVE_POSITIONS_HIGH - EPSILON
    insight = Insight(
        kind=kind,
        title=f"Concentrated in {c.top_symbol}",
        statement=f"{c.top_symbol} is {top:.1%} of the invested value; the holdings are worth "
        f"{eff:.1f} equal positions (HHI {c.hhi:.3f}).",
        evidence={
            "top_weight": top,
            "hhi": c.hhi,
            "effective_positions": eff,
            "positions": float(len(a.positions)),
        },
        severity=Severity.HIGH if high else Severity.MEDIUM,
        suggested_action=f"Trim {c.top_symbol} towards {TOP_WEIGHT_MEDIUM:.0%} of the portfolio "
        "or add holdings that move differently; set a maximum position weight.",
        subjects=[c.top_symbol],
    )
    return _outcome(kind, True, True, "largest weight or effective positions past threshold"), [
        insight
    ]


def drawdown_rule(a: PortfolioAnalysis) -> RuleResult:
    kind, d = InsightKind.DRAWDOWN, a.drawdown
    if not a.series:
        return _outcome(kind, False, False, "the analysis has no value series"), []
    worst, current = d.max_drawdown, min(a.series[-1].drawdown, 0.0)
    fired = worst <= MAX_DRAWDOWN_MEDIUM or current <= CURRENT_DRAWDOWN_MEDIUM
    if not fired:
        reason = f"max drawdown {worst:.1%}, now {current:.1%}: within thresholds"
        return _outcome(kind, True, False, reason), []
    recovered = d.recovery_date is not None
    evidence = {
        "max_drawdown": worst,
        "current_drawdown": current,
        "recovered": 1.0 if recovered else 0.0,
    }
    span = ""
    if d.duration_days is not None:
        evidence["duration_days"] = float(d.duration_days)
        span = f" over {d.duration_days} days"
    state = "and recovered" if recovered else "and has not recovered"
    now = "it is at its peak now" if current == 0 else f"it is {current:.1%} from its peak now"
    high = worst <= MAX_DRAWDOWN_HIGH or current <= CURRENT_DRAWDOWN_HIGH
    insight = Insight(
        kind=kind,
        title="Deep drawdown" if high else "Notable drawdown",
        statement=f"The value fell {worst:.1%} from its peak{span} {state}; {now}.",
        evidence=evidence,
        severity=Severity.HIGH if high else Severity.MEDIUM,
        suggested_action="Check that a fall of this size fits your risk tolerance; size "
        "positions or set drawdown alerts so the next one is caught earlier.",
    )
    return _outcome(kind, True, True, "max or current drawdown past threshold"), [insight]


def volatility_regime_rule(a: PortfolioAnalysis) -> RuleResult:
    kind = InsightKind.VOLATILITY_REGIME
    values = [p.value for p in a.series]
    if len(values) != a.returns.observations + 1:
        reason = "the value series is downsampled: daily returns are not available"
        return _outcome(kind, False, False, reason), []
    returns = [now / before - 1.0 for before, now in pairwise(values)]
    reading = vol.volatility_regime(returns, a.conventions.periods_per_year)
    recent, baseline, ratio = reading.recent, reading.baseline, reading.ratio
    if recent is None or baseline is None:
        reason = f"{len(returns)} daily returns: fewer than {vol.REGIME_MIN_BASELINE_DAYS} needed"
        return _outcome(kind, False, False, reason), []
    if ratio is None:
        return _outcome(kind, False, False, "the value never moved: no volatility"), []
    evidence = {
        "recent_volatility": recent,
        "baseline_volatility": baseline,
        "ratio": ratio,
        "recent_days": float(vol.REGIME_RECENT_DAYS),
        "baseline_days": float(reading.baseline_days),
    }
    statement = (
        f"Over the last {vol.REGIME_RECENT_DAYS} trading days volatility was {recent:.1%} a "
        f"year, {ratio:.2f} times the {baseline:.1%} of the last {reading.baseline_days}."
    )
    if reading.regime is VolatilityRegime.HIGH:
        insight = Insight(
            kind=kind,
            title="Volatility is elevated",
            statement=statement,
            evidence=evidence,
            severity=Severity.HIGH if ratio >= SEVERE_REGIME_RATIO else Severity.MEDIUM,
            suggested_action="Expect wider swings than the window's figures suggest; consider "
            "reducing exposure or sizing positions to the recent volatility.",
        )
    elif reading.regime is VolatilityRegime.LOW:
        insight = Insight(
            kind=kind,
            title="Volatility is calmer than usual",
            statement=statement,
            evidence=evidence,
            severity=Severity.INFO,
            suggested_action="Calm spells end; keep position sizes based on the longer "
            "baseline's volatility rather than the recent lull.",
        )
    else:
        reason = f"recent / baseline volatility {ratio:.2f}: a normal regime"
        return _outcome(kind, True, False, reason), []
    return _outcome(kind, True, True, f"recent / baseline volatility {ratio:.2f}"), [insight]


def relative_performance_rule(a: PortfolioAnalysis) -> RuleResult:
    kind, b = InsightKind.RELATIVE_PERFORMANCE, a.benchmark
    if b is None:
        return _outcome(kind, False, False, "the analysis has no benchmark"), []
    excess = b.excess_annualized_return
    if abs(excess) < EXCESS_RETURN_MIN:
        reason = f"excess return {excess:.1%} a year: in line with {b.symbol}"
        return _outcome(kind, True, False, reason), []
    evidence = {
        "excess_annualized_return": excess,
        "annualized_return": a.returns.annualized_return,
        "benchmark_annualized_return": b.annualized_return,
    }
    extra = []
    if b.tracking_error is not None:
        evidence["tracking_error"] = b.tracking_error
        extra.append(f"tracking error {b.tracking_error:.1%}")
    if b.information_ratio is not None:
        evidence["information_ratio"] = b.information_ratio
        extra.append(f"information ratio {b.information_ratio:.2f}")
    under = excess < 0
    statement = (
        f"The portfolio returned {a.returns.annualized_return:.1%} a year against "
        f"{b.annualized_return:.1%} for {b.symbol}: {abs(excess):.1%} a year "
        f"{'below' if under else 'above'} it" + (f" ({', '.join(extra)})." if extra else ".")
    )
    ir = b.information_ratio
    # On a short window annualising turns a small shortfall into a large one: never high.
    short = a.returns.observations < FEW_OBSERVATIONS
    evidence["observations"] = float(a.returns.observations)
    if under:
        high = not short and (
            excess <= UNDERPERFORMANCE_HIGH or (ir is not None and ir <= INFORMATION_RATIO_HIGH)
        )
        insight = Insight(
            kind=kind,
            title=f"Under-performing {b.symbol}",
            statement=statement,
            evidence=evidence,
            severity=Severity.HIGH if high else Severity.MEDIUM,
            suggested_action=f"Find the positions behind the gap (see their contributions); "
            f"consider whether an index fund tracking {b.symbol} would serve better.",
            subjects=[b.symbol],
        )
    else:
        insight = Insight(
            kind=kind,
            title=f"Out-performing {b.symbol}",
            statement=statement,
            evidence=evidence,
            severity=Severity.INFO,
            suggested_action="Check that the out-performance is not just extra risk "
            "(compare the tracking error and the drawdown with the benchmark's).",
            subjects=[b.symbol],
        )
    return _outcome(kind, True, True, f"excess return {excess:.1%} a year"), [insight]


def correlated_clusters(
    symbols: Sequence[str], matrix: Sequence[Sequence[float]], threshold: float
) -> list[list[int]]:
    """Groups (of row indices, two or more) whose every pair correlates at ``threshold``.

    Complete-linkage agglomeration: repeatedly merge the two groups whose least correlated
    cross pair is the most correlated, while that correlation reaches ``threshold``. Ties
    go to the groups first in ``symbols`` order, so the result is deterministic.
    """
    groups = [[i] for i in range(len(symbols))]
    while True:
        best: tuple[float, int, int] | None = None
        for x in range(len(groups)):
            for y in range(x + 1, len(groups)):
                link = min(matrix[i][j] for i in groups[x] for j in groups[y])
                if link >= threshold and (best is None or link > best[0]):
                    best = (link, x, y)
        if best is None:
            break
        _, x, y = best
        groups[x] = sorted(groups[x] + groups[y])
        del groups[y]
    return [g for g in groups if len(g) >= 2]


def correlated_cluster_rule(a: PortfolioAnalysis) -> RuleResult:
    kind, corr = InsightKind.CORRELATED_CLUSTER, a.correlation
    if corr is None or len(corr.symbols) < 2:
        return _outcome(kind, False, False, "the analysis has no correlation matrix"), []
    weights = a.weights_by_symbol()
    insights = []
    for group in correlated_clusters(corr.symbols, corr.matrix, CLUSTER_CORRELATION_MIN):
        names = [corr.symbols[i] for i in group]
        pairs = [corr.matrix[i][j] for n, i in enumerate(group) for j in group[n + 1 :]]
        combined = sum(weights.get(s, 0.0) for s in names)
        low, mean = min(pairs), statistics.fmean(pairs)
        severity = (
            Severity.HIGH
            if combined >= CLUSTER_WEIGHT_HIGH
            else Severity.MEDIUM
            if combined >= CLUSTER_WEIGHT_MEDIUM
            else Severity.LOW
        )
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
        insights.append(
            Insight(
                kind=kind,
                title=f"{listed} move together",
                statement=f"{listed} move together (every pairwise correlation at least "
                f"{low:.2f}, mean {mean:.2f}) and are {combined:.1%} of the invested value.",
                evidence={
                    "combined_weight": combined,
                    "min_correlation": low,
                    "mean_correlation": mean,
                    "holdings": float(len(names)),
                },
                severity=severity,
                suggested_action="Treat them as one position when sizing and judging "
                "diversification; add holdings that move differently.",
                subjects=names,
            )
        )
    if not insights:
        reason = f"no two holdings correlate at {CLUSTER_CORRELATION_MIN:.2f} or more"
        return _outcome(kind, True, False, reason), []
    return _outcome(kind, True, True, f"{len(insights)} correlated group(s)"), insights


RULES: dict[InsightKind, Callable[[PortfolioAnalysis], RuleResult]] = {
    InsightKind.CONCENTRATION: concentration_rule,
    InsightKind.DRAWDOWN: drawdown_rule,
    InsightKind.VOLATILITY_REGIME: volatility_regime_rule,
    InsightKind.RELATIVE_PERFORMANCE: relative_performance_rule,
    InsightKind.CORRELATED_CLUSTER: correlated_cluster_rule,
}


def evaluate(
    analysis: PortfolioAnalysis, kinds: Sequence[InsightKind]
) -> tuple[list[Insight], list[RuleOutcome]]:
    """Apply the rules of ``kinds``: insights most severe first, and every rule's outcome."""
    insights: list[Insight] = []
    outcomes: list[RuleOutcome] = []
    for kind in kinds:
        outcome, found = RULES[kind](analysis)
        outcomes.append(outcome)
        insights.extend(found)
    order = list(InsightKind)
    insights.sort(key=lambda i: (-i.severity.rank, order.index(i.kind), i.title))
    return insights, outcomes


def insight_confidence(
    analysis: PortfolioAnalysis, outcomes: Sequence[RuleOutcome]
) -> tuple[float, list[str]]:
    """The analysis's data confidence, scaled by the share of rules that could be evaluated."""
    base = analysis.quality.confidence
    reasons = [f"analysis data confidence {base:.0%}", *analysis.quality.reasons]
    evaluated = sum(1 for o in outcomes if o.evaluated)
    coverage = evaluated / len(outcomes) if outcomes else 0.0
    reasons.append(f"{evaluated} of {len(outcomes)} rule(s) could be evaluated")
    reasons += [f"{o.kind.value} not evaluated: {o.reason}" for o in outcomes if not o.evaluated]
    confidence = base * ((1.0 - COVERAGE_WEIGHT) + COVERAGE_WEIGHT * coverage)
    return round(min(1.0, max(0.0, confidence)), 4), reasons
