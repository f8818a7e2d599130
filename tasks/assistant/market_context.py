"""Summarise RESEARCH_TOPIC's findings for ANALYZE_CONTEXT ``market_context``.

Pure: the research output in, a :class:`MarketContext` out. The market regime combines the
benchmark's trend (its last close against its moving average) with the research's
volatility regime; the watch list names what deserves attention next (a benchmark below
its average, high volatility, holdings that move together, sectors the portfolio leans
on, the weakest sector).
"""

from __future__ import annotations

from tasks.assistant.requirements_models import (
    DetailLevel,
    KeyFinding,
    MarketContext,
    MarketRegime,
    MarketTrend,
    RegimeAssessment,
    WatchItem,
)
from tasks.assistant.research_models import BenchmarkTrend, ResearchFindings, VolatilityRegime

#: Research findings quoted as key findings, by detail level (None: all of them).
KEY_FINDINGS: dict[DetailLevel, int | None] = {
    DetailLevel.SUMMARY: 3,
    DetailLevel.STANDARD: 5,
    DetailLevel.DETAILED: None,
}
#: A sector is on the watch list when the portfolio's weight in it exceeds its share of
#: the market proxy by at least this much (0.15 = 15 percentage points).
SECTOR_OVERWEIGHT_MIN = 0.15


def _trend(benchmark: BenchmarkTrend | None) -> MarketTrend:
    distance = benchmark.distance_from_sma if benchmark else None
    if distance is None or distance == 0:
        return MarketTrend.UNKNOWN
    return MarketTrend.UP if distance > 0 else MarketTrend.DOWN


def assess_regime(benchmark: BenchmarkTrend | None) -> RegimeAssessment:
    """Risk-on (uptrend, volatility not high), risk-off (downtrend, high), else mixed."""
    trend = _trend(benchmark)
    volatility = benchmark.regime if benchmark else VolatilityRegime.UNKNOWN
    figures: dict[str, float] = {}
    if benchmark is not None:
        named = {
            "total_return": benchmark.total_return,
            "distance_from_sma": benchmark.distance_from_sma,
            "recent_volatility": benchmark.recent_volatility,
            "baseline_volatility": benchmark.baseline_volatility,
        }
        figures = {k: float(v) for k, v in named.items() if v is not None}
    if benchmark is None:
        return RegimeAssessment(
            regime=MarketRegime.UNKNOWN,
            trend=trend,
            volatility=volatility,
            figures=figures,
            reason="the research has no benchmark trend",
        )
    high = volatility is VolatilityRegime.HIGH
    if trend is MarketTrend.UNKNOWN and volatility is VolatilityRegime.UNKNOWN:
        regime = MarketRegime.UNKNOWN
    elif trend is MarketTrend.UP and not high:
        regime = MarketRegime.RISK_ON
    elif trend is MarketTrend.DOWN and high:
        regime = MarketRegime.RISK_OFF
    else:
        regime = MarketRegime.MIXED
    where = (
        f"{benchmark.symbol} {trend.value}trend against its {benchmark.sma_days}-day average"
        if trend is not MarketTrend.UNKNOWN
        else f"{benchmark.symbol} trend unknown (too little history for its average)"
    )
    return RegimeAssessment(
        regime=regime,
        trend=trend,
        volatility=volatility,
        figures=figures,
        reason=f"{where}; volatility regime {volatility.value}",
    )


def watch_list(research: ResearchFindings) -> list[WatchItem]:
    """What to keep an eye on, most market-wide first."""
    items: list[WatchItem] = []
    bench = research.benchmark
    if bench is not None and bench.distance_from_sma is not None and bench.distance_from_sma < 0:
        items.append(
            WatchItem(
                subject=bench.symbol,
                reason=f"{abs(bench.distance_from_sma):.1%} below its {bench.sma_days}-day average",
                figures={"distance_from_sma": bench.distance_from_sma},
            )
        )
    if bench is not None and bench.regime is VolatilityRegime.HIGH:
        figures = {
            k: float(v)
            for k, v in {
                "recent_volatility": bench.recent_volatility,
                "baseline_volatility": bench.baseline_volatility,
            }.items()
            if v is not None
        }
        items.append(
            WatchItem(subject=bench.symbol, reason="volatility regime high", figures=figures)
        )
    for pair in research.correlations.high_pairs:
        items.append(
            WatchItem(
                subject=f"{pair.first}/{pair.second}",
                reason=f"move together (correlation {pair.correlation:.2f}): "
                "less diversification than two holdings suggest",
                figures={"correlation": pair.correlation},
            )
        )
    for sector in research.sector_facts:
        lean = sector.holdings_weight - sector.universe_share
        # Index funds and unclassified holdings have no share of the market to lean against.
        if sector.market_sector and lean >= SECTOR_OVERWEIGHT_MIN:
            items.append(
                WatchItem(
                    subject=sector.sector,
                    reason=f"{sector.holdings_weight:.1%} of the portfolio against "
                    f"{sector.universe_share:.1%} of the market proxy",
                    figures={
                        "holdings_weight": sector.holdings_weight,
                        "universe_share": sector.universe_share,
                    },
                )
            )
    priced = [s for s in research.sector_facts if s.total_return is not None and s.market_sector]
    if priced:
        weakest = min(priced, key=lambda s: (s.total_return or 0.0, s.sector))
        if weakest.total_return is not None and weakest.total_return < 0:
            items.append(
                WatchItem(
                    subject=weakest.sector,
                    reason=f"weakest sector: {weakest.total_return:.1%} over the window",
                    figures={"total_return": weakest.total_return},
                )
            )
    return items


def summarise_research(
    research_task_id: str, research: ResearchFindings, level: DetailLevel
) -> MarketContext:
    """The research in short: key findings, the regime, what to watch."""
    limit = KEY_FINDINGS[level]
    findings = research.findings if limit is None else research.findings[:limit]
    reasons = list(research.confidence_reasons)
    if len(findings) < len(research.findings):
        reasons.append(
            f"{len(findings)} of {len(research.findings)} findings kept at {level.value} detail"
        )
    return MarketContext(
        research_task_id=research_task_id,
        start=research.timeframe.start,
        end=research.timeframe.end,
        key_findings=[
            KeyFinding(kind=f.kind, statement=f.statement, figures=dict(f.figures))
            for f in findings
        ],
        regime=assess_regime(research.benchmark),
        watch=watch_list(research),
        detail_level=level,
        confidence=research.confidence,
        confidence_reasons=reasons,
    )
