"""RESEARCH_TOPIC: knowledge-base hits plus market facts, as findings that cite both.

The handler only gathers: the upstream portfolio analysis (when there is one), prices from
the market data provider, hits from the knowledge base. Every decision and figure comes
from the pure modules ``research_plan``, ``market_facts`` and ``research_findings``.

The market is every instrument with prices (plus the holdings), the benchmark reported on
its own. Without a portfolio upstream the research still runs; correlation is then skipped,
with the reason in the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pandas as pd

from orchestrator.knowledge import KnowledgeBase
from orchestrator.models.params import ResearchTopicParams, Timeframe
from orchestrator.models.refs import OutputRef
from orchestrator.portfolio.sectors import classify
from tasks.assistant import market_facts as mf
from tasks.assistant import research_findings as rf
from tasks.assistant import research_plan as plan
from tasks.assistant.research_models import (
    Correlations,
    CorrelationTarget,
    Finding,
    FindingKind,
    KnowledgeRef,
    ResearchFindings,
    ResearchWindow,
    TopicQuery,
)
from tasks.assistant.upstream import referenced_output, upstream_model
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, ResourceUnavailableError
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.registry import Inputs

#: Hits kept per search.
HITS_PER_TOPIC = 5
#: Label of the search made for a finding kind's citations (``finding:benchmark_trend``).
FINDING_SEARCH = "finding:"
#: Calendar days of benchmark history before the window end: enough for a 200-day average
#: and a year of daily returns (252 trading days are about 365 calendar days).
BENCHMARK_LOOKBACK_DAYS = 400


def _target(correlate_with: str | None) -> CorrelationTarget | None:
    if correlate_with is None:
        return None
    try:
        return CorrelationTarget(correlate_with)
    except ValueError:
        valid = [t.value for t in CorrelationTarget]
        raise InvalidInputError(
            f"unknown correlate_with {correlate_with!r}; valid: {', '.join(valid)}",
            correlate_with=correlate_with,
            valid=valid,
        ) from None


def _window(
    timeframe: Timeframe | OutputRef,
    inputs: Inputs,
    ctx: HandlerContext,
    studied: list[str],
) -> ResearchWindow:
    if not isinstance(timeframe, Timeframe):
        # Over a data_flow edge from the inputs, over a prerequisite from the live context.
        return plan.referenced_window(timeframe, referenced_output(timeframe, inputs, ctx))
    market = ctx.runtime.portfolio.market
    end = market.latest_date(studied)
    if end is None:
        raise ResourceUnavailableError(
            f"no market data for {', '.join(studied)}: import prices first "
            "(orchestrator market import FILE, or orchestrator portfolio seed-demo)",
            symbols=studied,
        )
    first = end
    if timeframe is Timeframe.MAX:
        history = market.closes(studied, end=end)
        first = history.index.min().date() if not history.empty else end
    return plan.relative_window(timeframe, end, first)


def _correlations(
    target: CorrelationTarget | None,
    analysis: PortfolioAnalysis | None,
    closes: pd.DataFrame,
    benchmark: pd.Series | None,
) -> Correlations:
    skipped = plan.correlations_skipped(target, analysis is not None, mf.HIGH_CORRELATION)
    if skipped is not None or analysis is None:
        return skipped or Correlations(target=target, computed=False, threshold=0.0)
    return mf.holdings_correlations(closes, analysis.weights_by_symbol(), benchmark)


def _search(
    ctx: HandlerContext,
    topics: Sequence[str],
    kinds: Sequence[FindingKind],
    sectors: Sequence[str],
) -> tuple[list[KnowledgeRef], list[TopicQuery], dict[FindingKind, list[KnowledgeRef]]]:
    """Search each topic, and each finding kind's concept (what its findings will cite)."""
    kb = KnowledgeBase(ctx.runtime.history.engine)
    kb.ensure_starter()
    queries = [(topic, plan.topic_query(topic, sectors)) for topic in topics]
    queries += [(f"{FINDING_SEARCH}{kind.value}", rf.KIND_QUERIES[kind]) for kind in kinds]
    results = [
        (label, kb.search(query, user_id=ctx.user_id, limit=HITS_PER_TOPIC))
        for label, query in queries
    ]
    knowledge = plan.merge_hits(results)
    by_id = {ref.item_id: ref for ref in knowledge}
    by_kind = {
        kind: [by_id[hit.item_id] for hit in hits]
        for kind, (_, hits) in zip(kinds, results[len(topics) :], strict=True)
    }
    asked = [
        TopicQuery(topic=label, query=query, hit_ids=[h.item_id for h in hits])
        for (label, query), (_, hits) in zip(queries, results, strict=True)
    ]
    return knowledge, asked, by_kind


def research_topic(
    params: ResearchTopicParams, inputs: Inputs, ctx: HandlerContext
) -> ResearchFindings:
    """Research ``params.topics`` over the window: knowledge hits, market facts, findings.

    Raises InvalidInputError for an unknown ``correlate_with``, DependencyFailureError when
    the timeframe names an upstream task whose output is missing, ResourceUnavailableError
    when there are no prices at all for the window.
    """
    target = _target(params.correlate_with)
    market = ctx.runtime.portfolio.market
    upstream = upstream_model(PortfolioAnalysis, None, inputs, ctx, what="a portfolio analysis")
    analysis = upstream[1] if upstream else None
    weights = analysis.weights_by_symbol() if analysis else {}
    bench_symbol = (
        analysis.benchmark.symbol
        if analysis and analysis.benchmark
        else ctx.runtime.settings.benchmark_symbol
    )
    # A held benchmark (someone owns SPY) stays in: it is one of the holdings then.
    universe = sorted((set(market.symbols()) - {bench_symbol}) | set(weights))
    # The window ends where the instruments studied have prices (the benchmark may run on).
    studied = sorted(weights) or universe or [bench_symbol]
    window = _window(params.timeframe, inputs, ctx, studied)
    closes = market.closes(universe, start=window.start, end=window.end)
    lookback = min(window.start, window.end - timedelta(days=BENCHMARK_LOOKBACK_DAYS))
    bench = market.closes([bench_symbol], start=lookback, end=window.end).get(bench_symbol)
    trend = mf.benchmark_trend(bench_symbol, bench, window.start) if bench is not None else None
    if closes.empty and trend is None:
        raise ResourceUnavailableError(
            f"no prices between {window.start} and {window.end} for the market "
            f"({len(universe)} instruments) or the benchmark {bench_symbol}",
            start=str(window.start),
            end=str(window.end),
        )
    classes = {symbol: classify(symbol) for symbol in universe}
    facts = mf.instrument_facts(
        closes, classes, benchmark_return=trend.total_return if trend else None, weights=weights
    )
    sectors = mf.sector_facts(closes, facts, weights)
    window_bench = bench[bench.index >= pd.Timestamp(window.start)] if bench is not None else None
    correlations = _correlations(target, analysis, closes, window_bench)

    # Findings per requested topic; general market findings when no topic asks for any.
    kinds = {t: rf.TOPIC_FINDINGS[t] for t in params.topics if t in rf.TOPIC_FINDINGS}
    if not kinds:
        kinds = {rf.MARKET_CONTEXT_TOPIC: rf.DEFAULT_MARKET_FINDINGS}
    held = target is not None and analysis is not None
    search_topics = list(dict.fromkeys([*params.topics, *kinds, *([rf.HOLDINGS_TOPIC] * held)]))
    held_kinds = rf.HOLDINGS_FINDINGS if held else ()
    produced = list(dict.fromkeys([*(k for v in kinds.values() for k in v), *held_kinds]))
    held_sectors = sorted({classify(s).sector for s in weights})
    knowledge, queries, by_kind = _search(ctx, search_topics, produced, held_sectors)

    builder = rf.FindingBuilder(window, by_kind)
    findings: list[Finding] = []
    for topic, wanted in kinds.items():
        if trend is not None:
            findings += rf.benchmark_findings(builder, trend, wanted, topic)
        findings += rf.sector_findings(builder, sectors, facts, wanted, topic, trend)
    if held:
        findings += rf.holdings_findings(
            builder, sectors, correlations, sorted(weights), bench_symbol
        )

    priced = {f.symbol: f for f in facts}
    confidence, reasons = plan.research_confidence(
        observations=plan.research_observations(
            facts, weights, plan.trend_observations(bench, window)
        ),
        unpriced=[s for s in weights if s not in priced],
        late_listed=[s for s in weights if s in priced and not priced[s].full_window],
        has_benchmark=trend is not None,
        knowledge_hits=len(knowledge),
        topics=search_topics,
        correlations=correlations,
    )
    return ResearchFindings(
        timeframe=window,
        topics=list(params.topics),
        queries=queries,
        benchmark_symbol=bench_symbol if trend else None,
        portfolio_id=analysis.portfolio_id if analysis else None,
        knowledge=knowledge,
        benchmark=trend,
        instrument_facts=facts,
        sector_facts=sectors,
        correlations=correlations,
        findings=findings,
        confidence=confidence,
        confidence_reasons=reasons,
        unpriced_symbols=[s for s in universe if s not in priced],
    )
