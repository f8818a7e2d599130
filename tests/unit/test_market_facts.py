"""Research market facts and findings against hand-computed figures (no broker, no database).

Expected values come from the literal prices in each test with plain arithmetic and the
``statistics`` module, never from the pandas/numpy code under test.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd
import pytest

from orchestrator.knowledge import KnowledgeHit
from orchestrator.models.params import Timeframe
from orchestrator.models.refs import OutputRef
from orchestrator.portfolio.sectors import UNCLASSIFIED, classify, parse_sectors, sector_map
from tasks.assistant import market_facts as mf
from tasks.assistant import research_findings as rf
from tasks.assistant import research_plan as plan
from tasks.assistant.research_models import (
    Correlations,
    CorrelationTarget,
    Finding,
    FindingKind,
    KnowledgeCitation,
    KnowledgeRef,
    MarketDataCitation,
    ResearchWindow,
    VolatilityRegime,
)
from tasks.errors import DependencyFailureError, InvalidInputError
from tasks.portfolio import regime as vol

ROOT_252 = math.sqrt(252)
MONDAY = "2024-01-01"


def frame(columns: Mapping[str, Sequence[float]], start: str = MONDAY) -> pd.DataFrame:
    """Business-day closes from ``start``; ``math.nan`` marks a missing price."""
    length = len(next(iter(columns.values())))
    return pd.DataFrame(dict(columns), index=pd.bdate_range(start, periods=length))


def simple_returns(prices: Sequence[float]) -> list[float]:
    return [b / a - 1 for a, b in itertools.pairwise(prices)]


def prices_from(returns: Sequence[float], first: float = 100.0) -> list[float]:
    out = [first]
    for r in returns:
        out.append(out[-1] * (1 + r))
    return out


# --- sectors ---------------------------------------------------------------------------


def test_every_shipped_ticker_has_a_sector_and_unknown_symbols_are_unclassified() -> None:
    shipped = "GOOG AAPL FB BABA AMZN GE AMD WMT BAC GM T UAA SHLD XOM RRC BBY MA PFE JPM SBUX SPY"
    assert set(shipped.split()) <= set(sector_map())
    assert classify("JPM").sector == "Financials" and classify("XOM").sector == "Energy"
    assert classify("AAPL").name == "Apple Inc."
    assert classify("ZZZZ").sector == UNCLASSIFIED


def test_a_repeated_symbol_in_the_sector_file_is_refused() -> None:
    with pytest.raises(ValueError, match="line 3"):
        parse_sectors(["symbol,sector,name", "A,Energy,a", "A,Energy,b"])


# --- instruments ---------------------------------------------------------------------------


def test_instrument_figures_match_hand_computed_values() -> None:
    a = [100.0, 110.0, 99.0, 121.0]
    closes = frame({"AAA": a, "LATE": [math.nan, 50.0, 55.0, 60.0], "GAP": [10, math.nan, 12, 12]})
    known = {"AAA": classify("AAPL").model_copy(update={"symbol": "AAA", "name": "Triple A"})}
    facts = {
        f.symbol: f
        for f in mf.instrument_facts(closes, known, benchmark_return=0.05, weights={"AAA": 0.4})
    }
    aaa = facts["AAA"]
    assert aaa.total_return == pytest.approx(0.21)
    assert aaa.annualized_volatility == pytest.approx(
        statistics.stdev(simple_returns(a)) * ROOT_252
    )
    assert aaa.max_drawdown == pytest.approx(99 / 110 - 1)
    assert aaa.excess_return == pytest.approx(0.21 - 0.05)
    assert (aaa.sector, aaa.name, aaa.portfolio_weight) == (
        "Information Technology",
        "Triple A",
        0.4,
    )
    assert aaa.observations == 3 and aaa.full_window
    # A later listing starts at its first price and says so
    late = facts["LATE"]
    assert not late.full_window and late.first_date == date(2024, 1, 2)
    assert late.total_return == pytest.approx(0.2) and late.observations == 2
    assert late.sector == UNCLASSIFIED and late.portfolio_weight is None
    # A day without a close is not one of its trading days: 10 -> 12 -> 12, not 10 -> 10
    assert facts["GAP"].total_return == pytest.approx(0.2) and facts["GAP"].observations == 2
    assert facts["GAP"].annualized_volatility == pytest.approx(
        statistics.stdev([0.2, 0.0]) * ROOT_252
    )


def test_instruments_of_other_calendars_get_no_returns_from_each_others_days() -> None:
    # Given a US stock and one of another exchange, each closed on days the other trades
    us = [100.0, 102.0, math.nan, 99.0, 101.0, math.nan, 104.0]
    eu = [50.0, math.nan, 51.0, 52.0, math.nan, 50.0, 53.0]
    closes = frame({"US": us, "EU": eu})
    facts = {f.symbol: f for f in mf.instrument_facts(closes, {})}
    # Then each one's figures rest on its own closes only (no 0 % returns on the others')
    for symbol, prices in (("US", us), ("EU", eu)):
        own = [p for p in prices if not math.isnan(p)]
        assert facts[symbol].observations == len(own) - 1
        assert facts[symbol].annualized_volatility == pytest.approx(
            statistics.stdev(simple_returns(own)) * ROOT_252
        )
    # and a day only an instrument outside the holdings traded adds no (0, 0) point
    a = prices_from(A_RETURNS)
    b = prices_from(C_RETURNS)
    other = [math.nan] * len(a)
    a.insert(10, math.nan)
    b.insert(10, math.nan)
    other.insert(10, 7.0)
    result = mf.holdings_correlations(frame({"A": a, "B": b, "Z": other}), {"A": 0.5, "B": 0.5})
    assert result.observations == len(A_RETURNS)
    assert result.top_pair is not None
    assert result.top_pair.correlation == pytest.approx(
        statistics.correlation(A_RETURNS, C_RETURNS)
    )


def test_sectors_are_equal_weight_baskets_ranked_by_return() -> None:
    closes = frame(
        {
            "JPM": [100.0, 90.0, 120.0],  # +20 %
            "BAC": [50.0, 60.0, 55.0],  # +10 %
            "XOM": [10.0, 9.0, 8.0],  # -20 %
            "MA": [math.nan, 10.0, 30.0],  # listed inside the window
        }
    )
    weights = {"JPM": 0.6, "XOM": 0.4}
    facts = mf.instrument_facts(closes, sector_map(), weights=weights)
    sectors = {s.sector: s for s in mf.sector_facts(closes, facts, weights)}
    ranked = [s.sector for s in mf.sector_facts(closes, facts, weights)]
    assert ranked == ["Financials", "Energy", "Information Technology"]
    fin = sectors["Financials"]
    assert fin.total_return == pytest.approx((0.2 + 0.1) / 2)
    basket = [1.0, (0.9 + 1.2) / 2, (1.2 + 1.1) / 2]
    assert fin.max_drawdown == pytest.approx(0.0)
    assert fin.annualized_volatility == pytest.approx(
        statistics.stdev(simple_returns(basket)) * ROOT_252
    )
    assert (fin.best_symbol, fin.worst_symbol) == ("JPM", "BAC")
    assert fin.holdings_weight == pytest.approx(0.6) and fin.universe_share == pytest.approx(0.5)
    assert sectors["Energy"].max_drawdown == pytest.approx(-0.2)
    # The late listing is named, not in a basket: its sector has no basket return
    tech = sectors["Information Technology"]
    assert tech.symbols == [] and tech.partial_symbols == ["MA"] and tech.total_return is None


# --- the benchmark -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recent", "baseline", "regime"),
    [
        (0.25, 0.20, VolatilityRegime.HIGH),
        (0.2499, 0.20, VolatilityRegime.NORMAL),
        (0.16, 0.20, VolatilityRegime.LOW),
        (0.1601, 0.20, VolatilityRegime.NORMAL),
        (None, 0.20, VolatilityRegime.UNKNOWN),
    ],
)
def test_volatility_regime_thresholds(
    recent: float | None, baseline: float, regime: VolatilityRegime
) -> None:
    assert vol.regime_of(recent, baseline) is regime


def test_benchmark_trend_average_distance_and_regime() -> None:
    # 300 days: calm +/-0.1 % moves, then 21 days of +/-3 %
    calm = [0.001 if i % 2 else -0.001 for i in range(278)]
    storm = [0.03 if i % 2 else -0.03 for i in range(21)]
    returns = calm + storm
    closes = prices_from(returns)
    series = pd.Series(closes, index=pd.bdate_range(MONDAY, periods=len(closes)))
    start = series.index[200].date()
    trend = mf.benchmark_trend("SPY", series, start)
    assert trend is not None
    window = closes[200:]
    assert trend.total_return == pytest.approx(window[-1] / window[0] - 1)
    sma = statistics.fmean(closes[-200:])
    assert trend.sma == pytest.approx(sma) and trend.sma_start == series.index[-200].date()
    assert trend.distance_from_sma == pytest.approx(closes[-1] / sma - 1)
    assert trend.recent_volatility == pytest.approx(statistics.stdev(storm) * ROOT_252)
    assert trend.baseline_volatility == pytest.approx(statistics.stdev(returns[-252:]) * ROOT_252)
    assert trend.regime is VolatilityRegime.HIGH
    # Too little history for the average: no trend line, not a made-up one
    short = mf.benchmark_trend("SPY", series.iloc[:150], series.index[100].date())
    assert short is not None and short.sma is None and short.distance_from_sma is None


# --- correlations ------------------------------------------------------------------------------

A_RETURNS = [0.01, -0.02, 0.015, 0.0, -0.01] * 6
C_RETURNS = [0.0, 0.01, -0.005, 0.02, -0.01, 0.004] * 5


def test_holdings_correlations_with_the_rest_of_the_portfolio_and_pairs() -> None:
    closes = frame(
        {
            "A": prices_from(A_RETURNS),
            "B": prices_from(A_RETURNS, 40.0),  # moves exactly like A
            "C": prices_from(C_RETURNS),
        }
    )
    bench = pd.Series(prices_from(C_RETURNS), index=closes.index)
    weights = {"A": 0.5, "B": 0.3, "C": 0.2}
    result = mf.holdings_correlations(closes, weights, bench)
    assert result.computed and result.skipped_reason is None and result.observations == 30
    by = {h.symbol: h for h in result.holdings}
    # A against 0.6 B + 0.4 C (0.3 and 0.2 renormalised)
    rest = [0.6 * b + 0.4 * c for b, c in zip(A_RETURNS, C_RETURNS, strict=True)]
    assert by["A"].with_portfolio == pytest.approx(statistics.correlation(A_RETURNS, rest))
    assert by["A"].with_benchmark == pytest.approx(statistics.correlation(A_RETURNS, C_RETURNS))
    assert by["C"].with_benchmark == pytest.approx(1.0)
    (pair,) = result.high_pairs
    assert (pair.first, pair.second) == ("A", "B") and pair.correlation == pytest.approx(1.0)
    assert result.top_pair == pair
    ac = statistics.correlation(A_RETURNS, C_RETURNS)
    assert result.average_pairwise == pytest.approx((1.0 + ac + ac) / 3)


def test_correlations_are_skipped_with_a_reason_on_too_few_days_or_one_holding() -> None:
    few = mf.holdings_correlations(frame({"A": [1.0, 2, 3], "B": [3.0, 2, 1]}), {"A": 1, "B": 1})
    assert not few.computed and "only 2 daily returns" in (few.skipped_reason or "")
    one = mf.holdings_correlations(frame({"A": prices_from(A_RETURNS)}), {"A": 1.0, "Z": 0.1})
    assert one.computed and one.holdings[0].with_portfolio is None
    assert "no prices in the window for Z" in (one.skipped_reason or "")


def test_a_late_listed_holding_is_left_out_not_every_correlation() -> None:
    # Given A and B over the whole window and C listed 10 closes before its end
    b_returns = [0.5 * a + 0.5 * c for a, c in zip(A_RETURNS, C_RETURNS, strict=True)]
    late = [math.nan] * 21 + prices_from(C_RETURNS[-9:], 20.0)
    closes = frame({"A": prices_from(A_RETURNS), "B": prices_from(b_returns), "C": late})
    result = mf.holdings_correlations(closes, {"A": 0.4, "B": 0.4, "C": 0.2})
    # Then A and B are still correlated, over their 30 common returns
    assert result.computed and result.observations == 30
    assert [h.symbol for h in result.holdings] == ["A", "B"]
    ab = statistics.correlation(A_RETURNS, b_returns)
    assert result.top_pair is not None and result.top_pair.correlation == pytest.approx(ab)
    by = {h.symbol: h for h in result.holdings}
    assert by["A"].with_portfolio == pytest.approx(ab)
    # and C is named as left out, with why
    assert "left out: C" in (result.skipped_reason or "")
    assert "fewer than 20 daily returns" in (result.skipped_reason or "")


def test_a_holding_listed_inside_the_window_joins_the_rest_from_its_first_return() -> None:
    # B is listed after A's 5th close; A's rest of the portfolio is B then, C throughout
    b_late = [math.nan] * 5 + prices_from(C_RETURNS[5:], 30.0)
    neg = [-r for r in A_RETURNS]
    closes = frame({"A": prices_from(A_RETURNS), "B": b_late, "C": prices_from(neg)})
    result = mf.holdings_correlations(closes, {"A": 0.5, "B": 0.25, "C": 0.25})
    by = {h.symbol: h for h in result.holdings}
    pairs_of_returns = enumerate(zip(C_RETURNS, neg, strict=True))
    rest = [n if i < 5 else 0.5 * c + 0.5 * n for i, (c, n) in pairs_of_returns]
    assert by["A"].with_portfolio == pytest.approx(statistics.correlation(A_RETURNS, rest))
    pairs = {(p.first, p.second) for p in result.high_pairs}
    assert result.skipped_reason is None and ("A", "C") not in pairs


# --- findings ---------------------------------------------------------------------------------

WINDOW = ResearchWindow(start=date(2024, 1, 1), end=date(2024, 2, 9), source="test")


def numbers_in(statement: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", statement)


def assert_numbers_from_figures(finding: Finding) -> None:
    shown = set()
    for value in finding.figures.values():
        shown |= {f"{abs(value) * 100:.1f}", f"{abs(value):.2f}", f"{abs(value):.0f}"}
    for number in numbers_in(finding.statement):
        assert number in shown, f"{number} in {finding.statement!r} is not in {finding.figures}"


def ref(item_id: int, topic: str) -> KnowledgeRef:
    return KnowledgeRef(
        item_id=item_id,
        title=f"item {item_id}",
        snippet="...",
        rank=item_id,
        score=1.0,
        tags=[],
        source="starter:x",
        topics=[topic],
    )


def test_findings_quote_only_their_figures_and_cite_prices_and_knowledge() -> None:
    closes = frame(
        {
            "A": prices_from(A_RETURNS),
            "B": prices_from(A_RETURNS, 40.0),
            "XOM": prices_from(C_RETURNS),
            "JPM": prices_from([-r for r in C_RETURNS]),
        }
    )
    weights = {"A": 0.5, "B": 0.3, "XOM": 0.2}
    series = pd.Series(
        prices_from([0.001, -0.002] * 150), index=pd.bdate_range("2022-11-01", periods=301)
    )
    trend = mf.benchmark_trend("SPY", series, series.index[-30].date())
    assert trend is not None
    facts = mf.instrument_facts(
        closes, sector_map(), benchmark_return=trend.total_return, weights=weights
    )
    sectors = mf.sector_facts(closes, facts, weights)
    correlations = mf.holdings_correlations(closes, weights)
    trend_hits = [ref(1, "market_trends"), ref(2, "market_trends"), ref(3, "market_trends")]
    builder = rf.FindingBuilder(WINDOW, {FindingKind.BENCHMARK_TREND: trend_hits})
    kinds = list(FindingKind)
    findings = [
        *rf.benchmark_findings(builder, trend, kinds, "market_trends"),
        *rf.sector_findings(builder, sectors, facts, kinds, "sector_performance", trend),
        *rf.holdings_findings(builder, sectors, correlations, sorted(weights), "SPY"),
    ]
    assert {f.kind for f in findings} == set(FindingKind)
    for finding in findings:
        assert_numbers_from_figures(finding)
        market = [c for c in finding.citations if isinstance(c, MarketDataCitation)]
        assert market and all(c.end == WINDOW.end for c in market)
    trend_finding = next(f for f in findings if f.kind is FindingKind.BENCHMARK_TREND)
    # The two best hits of its kind's search, not the third; other kinds had no hits
    cited = [c.item_id for c in trend_finding.citations if isinstance(c, KnowledgeCitation)]
    assert cited == [1, 2]
    pairs_citations = next(f for f in findings if f.kind is FindingKind.CORRELATED_PAIRS).citations
    assert all(isinstance(c, MarketDataCitation) for c in pairs_citations)
    assert f"{trend.total_return:+.1%}" in trend_finding.statement
    pairs = next(f for f in findings if f.kind is FindingKind.CORRELATED_PAIRS)
    assert pairs.statement.startswith("1 pair(s)") and "A and B (1.00)" in pairs.statement
    extremes = next(f for f in findings if f.kind is FindingKind.INSTRUMENT_EXTREMES)
    assert extremes.figures["beat_benchmark"] == sum(
        f.total_return > trend.total_return for f in facts
    )


def test_only_whole_window_instruments_of_market_sectors_are_ranked_against_the_market() -> None:
    # Given two stocks over the whole window, a late listing that rose most, an index
    # fund and an unclassified instrument
    closes = frame(
        {
            "JPM": [100.0, 101.0, 103.0],  # +3 %
            "XOM": [100.0, 99.0, 98.0],  # -2 %
            "MA": [math.nan, 10.0, 13.0],  # +30 % since its listing inside the window
            "SPY": [100.0, 105.0, 110.0],  # an index fund: +10 %
            "ZZZ": [100.0, 120.0, 150.0],  # unclassified: +50 %
        }
    )
    facts = mf.instrument_facts(closes, sector_map(), benchmark_return=0.01)
    ranked = mf.sector_facts(closes, facts)
    sectors = {s.sector: s for s in ranked}
    # Then the index fund and the unclassified instrument are no sector of the market
    assert not sectors[UNCLASSIFIED].market_sector and sectors[UNCLASSIFIED].universe_share == 0
    market = [s for s in sectors.values() if s.market_sector]
    assert sum(s.universe_share for s in market) == pytest.approx(1.0)
    assert sectors["Financials"].universe_share == pytest.approx(1 / 3)
    builder = rf.FindingBuilder(WINDOW, {})
    bench_trend = mf.benchmark_trend("SPY", closes["SPY"], WINDOW.start)
    assert bench_trend is not None
    trend = bench_trend.model_copy(update={"total_return": 0.01})
    kinds = [FindingKind.SECTOR_LEADERS, FindingKind.INSTRUMENT_EXTREMES]
    leaders, extremes = rf.sector_findings(builder, ranked, facts, kinds, "t", trend)
    assert leaders.statement.startswith("Financials was the strongest of 2 sectors")
    # and MA is not counted as beating the benchmark: its +30 % covers a shorter span
    assert extremes.figures["beat_benchmark"] == 3  # JPM, SPY and ZZZ, not XOM
    assert extremes.figures["full_window"] == 4
    assert_numbers_from_figures(extremes)


# --- plan: window, queries, knowledge merge, confidence --------------------------------------


def test_referenced_window_reads_the_upstream_dates_or_says_what_is_missing() -> None:
    ref_ = OutputRef("task_001_timeframe")
    output = {"start": "2017-04-11", "end": "2018-04-11", "positions": []}
    window = plan.referenced_window(ref_, output)
    assert (window.start, window.end, window.timeframe) == (
        date(2017, 4, 11),
        date(2018, 4, 11),
        None,
    )
    with pytest.raises(DependencyFailureError, match="task_001"):
        plan.referenced_window(ref_, None)
    with pytest.raises(InvalidInputError, match="no valid start and end"):
        plan.referenced_window(ref_, {"start": "2018-04-11", "end": "2017-01-01"})


def test_relative_window_counts_back_from_the_last_price() -> None:
    window = plan.relative_window(Timeframe.THREE_MONTHS, date(2018, 4, 11), date(1990, 1, 1))
    assert (window.start, window.end) == (date(2018, 1, 11), date(2018, 4, 11))


def test_topic_queries_and_the_merge_of_ranked_hits() -> None:
    sectors = ["Energy", UNCLASSIFIED, "Financials"]
    query = plan.topic_query("sector_performance", sectors)
    assert query == "sector performance diversification Energy Financials"
    # Sector names would outrank a trend query's own words: not added there
    assert plan.topic_query("market_trends", sectors) == "market trend moving average benchmark"
    assert plan.topic_query("crypto_winter") == "crypto winter"

    def hit(item_id: int) -> KnowledgeHit:
        return KnowledgeHit(
            item_id=item_id, title=f"t{item_id}", snippet="", rank=9.0, tags=[], source="s"
        )

    merged = plan.merge_hits([("a", [hit(1), hit(2), hit(3)]), ("b", [hit(2), hit(4)])])
    assert [(r.item_id, r.rank) for r in merged] == [(1, 1), (2, 2), (4, 3), (3, 4)]
    # item 2 was first found by b's first hit, then by a's second
    assert merged[1].topics == ["b", "a"]


def test_confidence_names_every_reason_it_drops() -> None:
    full, reasons = plan.research_confidence(
        observations=250,
        unpriced=[],
        late_listed=[],
        has_benchmark=True,
        knowledge_hits=3,
        topics=["market_trends"],
        correlations=Correlations(target=None, computed=False, threshold=0.7),
    )
    assert (full, reasons) == (1.0, [])
    low, reasons = plan.research_confidence(
        observations=10,
        unpriced=["ZZZ"],
        late_listed=[],
        has_benchmark=False,
        knowledge_hits=0,
        topics=["market_trends"],
        correlations=Correlations(
            target=CorrelationTarget.PORTFOLIO_HOLDINGS,
            computed=False,
            skipped_reason="no portfolio analysis",
            threshold=0.7,
        ),
    )
    assert low < 0.2 and len(reasons) == 5
    assert any("nothing on market_trends" in r for r in reasons)
    assert any("no portfolio analysis" in r for r in reasons)
