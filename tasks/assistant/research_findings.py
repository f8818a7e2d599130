"""Findings from market facts, each citing the prices and knowledge items it rests on.

Pure: facts and knowledge hits in, :class:`Finding` models out. A statement is rendered from
a template whose numeric placeholders are filled from the finding's own ``figures`` (and
whose text placeholders only take symbols and sector names), so every number a reader sees
is one of the figures next to it, and the citation says how it was computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tasks.assistant.research_models import (
    BenchmarkTrend,
    Citation,
    Correlations,
    Finding,
    FindingKind,
    InstrumentFacts,
    KnowledgeCitation,
    KnowledgeRef,
    MarketDataCitation,
    ResearchWindow,
    SectorFacts,
)
from tasks.portfolio.regime import REGIME_HIGH_RATIO, REGIME_LOW_RATIO

#: Knowledge items cited per finding (the best hits of its kind's search, KIND_QUERIES).
CITED_ITEMS_PER_FINDING = 2
#: Topic of the findings about the portfolio's holdings.
HOLDINGS_TOPIC = "portfolio_holdings"
#: Topic of the general market findings when no requested topic asks for them.
MARKET_CONTEXT_TOPIC = "market_context"
#: Which requested topics produce which market findings.
TOPIC_FINDINGS: dict[str, tuple[FindingKind, ...]] = {
    "market_trends": (FindingKind.BENCHMARK_TREND, FindingKind.VOLATILITY_REGIME),
    "sector_performance": (FindingKind.SECTOR_LEADERS, FindingKind.INSTRUMENT_EXTREMES),
}
#: The market findings every research has, under MARKET_CONTEXT_TOPIC, when none was asked for.
DEFAULT_MARKET_FINDINGS = (FindingKind.BENCHMARK_TREND, FindingKind.SECTOR_LEADERS)
#: The findings about the holdings (when research is correlated with a portfolio).
HOLDINGS_FINDINGS = (
    FindingKind.SECTOR_EXPOSURE,
    FindingKind.HOLDINGS_CORRELATION,
    FindingKind.CORRELATED_PAIRS,
)
#: What the knowledge base is asked for the items a finding of each kind cites: the
#: concept the finding's figures apply, so its citations explain how to read them.
KIND_QUERIES: dict[FindingKind, str] = {
    FindingKind.BENCHMARK_TREND: "price versus moving average trend benchmark",
    FindingKind.VOLATILITY_REGIME: "volatility regime targeting annualised volatility",
    FindingKind.SECTOR_LEADERS: "sector performance sectors",
    FindingKind.INSTRUMENT_EXTREMES: "benchmark excess return",
    FindingKind.SECTOR_EXPOSURE: "sector weights concentration",
    FindingKind.HOLDINGS_CORRELATION: "correlation",
    FindingKind.CORRELATED_PAIRS: "correlation diversification",
}

RETURN_METHOD = "total return = last close / first close - 1 (adjusted closes, forward-filled)"
RISK_METHOD = (
    "annualised volatility = std(simple daily returns, ddof=1) x sqrt(252); "
    "max drawdown = min(close / running maximum - 1)"
)
SMA_METHOD = "moving average = mean of the last {days} closes; distance = last close / average - 1"
REGIME_METHOD = (
    "annualised volatility of the last {recent} daily returns vs the last {baseline}; "
    f"high at >= {REGIME_HIGH_RATIO}x the baseline, low at <= {REGIME_LOW_RATIO}x"
)
BASKET_METHOD = (
    "sector = equal-weight buy-and-hold basket of its instruments priced from the window "
    "start (its return is the mean of theirs); sectors from the shipped GICS map (index "
    "funds and unclassified instruments are no sector of the market)"
)
EXPOSURE_METHOD = (
    "holdings' sector weight = sum of position weights (upstream analysis, end of window) "
    "per sector; market share = share of the priced instruments in that sector"
)
CORRELATION_METHOD = (
    "Pearson correlation of simple daily returns, each pair on the days both have one "
    "(holdings with fewer than 20 left out); rest of the portfolio = the other holdings "
    "priced that day at their renormalised weights"
)


class FindingBuilder:
    """Builds the findings of one research: the window, and knowledge hits by finding kind."""

    def __init__(
        self,
        window: ResearchWindow,
        knowledge_by_kind: Mapping[FindingKind, Sequence[KnowledgeRef]],
    ) -> None:
        self.window = window
        self.knowledge_by_kind = knowledge_by_kind

    def market(self, symbols: Sequence[str], method: str) -> MarketDataCitation:
        """A citation of the closes of ``symbols`` over the research window."""
        return MarketDataCitation(
            symbols=sorted(set(symbols)),
            start=self.window.start,
            end=self.window.end,
            method=method,
        )

    def finding(
        self,
        kind: FindingKind,
        topic: str,
        template: str,
        figures: dict[str, float],
        market: Sequence[MarketDataCitation],
        **names: str,
    ) -> Finding:
        """``template`` filled from ``figures`` (numbers) and ``names`` (text only)."""
        values: dict[str, Any] = {**figures, **names}
        knowledge: list[Citation] = [
            KnowledgeCitation(item_id=hit.item_id, title=hit.title)
            for hit in self.knowledge_by_kind.get(kind, ())[:CITED_ITEMS_PER_FINDING]
        ]
        return Finding(
            kind=kind,
            topic=topic,
            statement=template.format(**values),
            figures=figures,
            citations=[*market, *knowledge],
        )


def benchmark_findings(
    b: FindingBuilder, trend: BenchmarkTrend, kinds: Sequence[FindingKind], topic: str
) -> list[Finding]:
    """The benchmark's trend and volatility regime, those of ``kinds`` that apply."""
    found: list[Finding] = []
    if FindingKind.BENCHMARK_TREND in kinds:
        figures = {"total_return": trend.total_return, "max_drawdown": trend.max_drawdown}
        text = (
            "{symbol} returned {total_return:+.1%} over the window (max drawdown {max_drawdown:.1%}"
        )
        citations = [b.market([trend.symbol], f"{RETURN_METHOD}; {RISK_METHOD}")]
        if trend.annualized_volatility is not None:
            figures["annualized_volatility"] = trend.annualized_volatility
            text += ", annualised volatility {annualized_volatility:.1%}"
        text += ")"
        distance, sma_start = trend.distance_from_sma, trend.sma_start
        if distance is not None and sma_start is not None:
            figures |= {"sma_days": float(trend.sma_days), "distance_from_sma": distance}
            text += (
                "; its last close is {distance_from_sma:+.1%} from its {sma_days:.0f}-day "
                "average: {trend_word} by that rule"
            )
            method = SMA_METHOD.format(days=trend.sma_days)
            citations.append(
                b.market([trend.symbol], method).model_copy(update={"start": sma_start})
            )
        found.append(
            b.finding(
                FindingKind.BENCHMARK_TREND,
                topic,
                text + ".",
                figures,
                citations,
                symbol=trend.symbol,
                trend_word="an uptrend" if (distance or 0.0) >= 0 else "a downtrend",
            )
        )
    recent, baseline, since = (
        trend.recent_volatility,
        trend.baseline_volatility,
        trend.baseline_start,
    )
    if (
        FindingKind.VOLATILITY_REGIME in kinds
        and recent is not None
        and baseline is not None
        and since is not None
    ):
        method = REGIME_METHOD.format(
            recent=trend.recent_vol_days, baseline=trend.baseline_vol_days
        )
        found.append(
            b.finding(
                FindingKind.VOLATILITY_REGIME,
                topic,
                "{symbol}'s volatility over its last {recent_days:.0f} trading days was "
                "{recent_volatility:.1%} annualised against {baseline_volatility:.1%} over its "
                "last {baseline_days:.0f}: a {regime} volatility regime.",
                {
                    "recent_days": float(trend.recent_vol_days),
                    "recent_volatility": recent,
                    "baseline_days": float(trend.baseline_vol_days),
                    "baseline_volatility": baseline,
                },
                [b.market([trend.symbol], method).model_copy(update={"start": since})],
                symbol=trend.symbol,
                regime=trend.regime.value,
            )
        )
    return found


def sector_findings(
    b: FindingBuilder,
    sectors: Sequence[SectorFacts],
    instruments: Sequence[InstrumentFacts],
    kinds: Sequence[FindingKind],
    topic: str,
    benchmark: BenchmarkTrend | None,
) -> list[Finding]:
    """The strongest and weakest sectors and instruments, those of ``kinds`` that apply."""
    found: list[Finding] = []
    baskets = [s for s in sectors if s.total_return is not None and s.market_sector]
    if FindingKind.SECTOR_LEADERS in kinds and baskets:
        best, worst = baskets[0], baskets[-1]
        figures = {
            "best_return": best.total_return or 0.0,
            "best_instruments": float(len(best.symbols)),
            "sectors": float(len(baskets)),
        }
        text = (
            "{best} was the strongest of {sectors:.0f} sectors over the window "
            "({best_return:+.1%}, {best_instruments:.0f} instrument(s))"
        )
        if worst is not best:
            figures |= {
                "worst_return": worst.total_return or 0.0,
                "worst_instruments": float(len(worst.symbols)),
            }
            text += " and {worst} the weakest ({worst_return:+.1%}, {worst_instruments:.0f} "
            text += "instrument(s))"
        members = [*best.symbols, *worst.symbols]
        found.append(
            b.finding(
                FindingKind.SECTOR_LEADERS,
                topic,
                text + ".",
                figures,
                [b.market(members, f"{BASKET_METHOD}; {RETURN_METHOD}")],
                best=best.sector,
                worst=worst.sector,
            )
        )
    if FindingKind.INSTRUMENT_EXTREMES in kinds and instruments:
        ranked = sorted(instruments, key=lambda f: (-f.total_return, f.symbol))
        top, bottom = ranked[0], ranked[-1]
        figures = {
            "best_return": top.total_return,
            "worst_return": bottom.total_return,
            "instruments": float(len(ranked)),
        }
        text = (
            "{best} had the highest return ({best_return:+.1%}) and {worst} the lowest "
            "({worst_return:+.1%}) of {instruments:.0f} instruments with prices in the window"
        )
        symbols = [top.symbol, bottom.symbol]
        # Only an instrument priced over the whole window is compared with the benchmark's
        # whole-window return: a later listing's return covers a shorter span.
        full = [f for f in ranked if f.full_window]
        if benchmark is not None and full:
            figures["beat_benchmark"] = float(
                sum(f.total_return > benchmark.total_return for f in full)
            )
            figures["full_window"] = float(len(full))
            text += "; {beat_benchmark:.0f} of the {full_window:.0f} priced over the whole "
            text += "window beat {benchmark}"
            symbols = [*(f.symbol for f in ranked), benchmark.symbol]
        found.append(
            b.finding(
                FindingKind.INSTRUMENT_EXTREMES,
                topic,
                text + ".",
                figures,
                [
                    b.market(
                        symbols,
                        RETURN_METHOD + " per instrument, from its first close in the window",
                    )
                ],
                best=top.symbol,
                worst=bottom.symbol,
                benchmark=benchmark.symbol if benchmark else "",
            )
        )
    return found


def holdings_findings(
    b: FindingBuilder,
    sectors: Sequence[SectorFacts],
    correlations: Correlations,
    holdings: Sequence[str],
    benchmark_symbol: str | None,
) -> list[Finding]:
    """Sector exposure of the holdings against the market, and their correlations."""
    topic = HOLDINGS_TOPIC
    found: list[Finding] = []
    held = sorted((s for s in sectors if s.holdings_weight > 0), key=lambda s: -s.holdings_weight)
    if held:
        top = held[0]
        # Overweight against the market: only market sectors have a share of it.
        market = [s for s in held if s.market_sector] or held
        overweight = max(market, key=lambda s: s.holdings_weight - s.universe_share)
        found.append(
            b.finding(
                FindingKind.SECTOR_EXPOSURE,
                topic,
                "The holdings put {weight:.1%} of the invested value in {sector}, their largest "
                "sector, which has {share:.1%} of the priced instruments; they span "
                "{held_sectors:.0f} of {sectors:.0f} sectors, most overweight in {over} "
                "({over_weight:.1%} against {over_share:.1%}).",
                {
                    "weight": top.holdings_weight,
                    "share": top.universe_share,
                    "held_sectors": float(len(held)),
                    "sectors": float(len(sectors)),
                    "over_weight": overweight.holdings_weight,
                    "over_share": overweight.universe_share,
                },
                [b.market(holdings, EXPOSURE_METHOD)],
                sector=top.sector,
                over=overweight.sector,
            )
        )
    if not correlations.computed:
        return found
    bench = [h.with_benchmark for h in correlations.holdings if h.with_benchmark is not None]
    rest = [h for h in correlations.holdings if h.with_portfolio is not None]
    if correlations.average_pairwise is not None and rest:
        most = max(rest, key=lambda h: h.with_portfolio or 0.0)
        figures = {
            "observations": float(correlations.observations),
            "average_pairwise": correlations.average_pairwise,
            "most_with_rest": most.with_portfolio or 0.0,
        }
        text = (
            "Over {observations:.0f} trading days (each pair on the days both were priced) "
            "the holdings' average pairwise correlation was {average_pairwise:.2f}; {most} "
            "moved most with the rest of the portfolio ({most_with_rest:.2f})"
        )
        symbols = list(holdings)
        if bench and benchmark_symbol:
            figures["average_with_benchmark"] = sum(bench) / len(bench)
            text += (
                " and the holdings' average correlation with {benchmark} was "
                "{average_with_benchmark:.2f}"
            )
            symbols.append(benchmark_symbol)
        found.append(
            b.finding(
                FindingKind.HOLDINGS_CORRELATION,
                topic,
                text + ".",
                figures,
                [b.market(symbols, CORRELATION_METHOD)],
                most=most.symbol,
                benchmark=benchmark_symbol or "",
            )
        )
    pair = correlations.top_pair
    if pair is not None:
        figures = {"threshold": correlations.threshold, "correlation": pair.correlation}
        if correlations.high_pairs:
            figures["pairs"] = float(len(correlations.high_pairs))
            text = (
                "{pairs:.0f} pair(s) of holdings correlate at {threshold:.2f} or more; the "
                "closest, {first} and {second} ({correlation:.2f}), diversify each other little."
            )
        else:
            text = (
                "No two holdings correlate at {threshold:.2f} or more; the closest pair is "
                "{first} and {second} ({correlation:.2f})."
            )
        found.append(
            b.finding(
                FindingKind.CORRELATED_PAIRS,
                topic,
                text,
                figures,
                [b.market([pair.first, pair.second], CORRELATION_METHOD)],
                first=pair.first,
                second=pair.second,
            )
        )
    return found
