"""The output of RESEARCH_TOPIC: market facts, knowledge hits and findings that cite both.

Figures follow the portfolio analysis's conventions (``tasks.portfolio.analysis_models.
Conventions``): plain fractions (0.12 = 12 %), simple daily returns, sample deviations
annualised with sqrt(252), drawdowns as negative fractions. This module imports no pandas,
so consumers (ANALYZE_CONTEXT, UPDATE_KNOWLEDGE, generated code) can read the model cheaply.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from orchestrator.models.base import StrictModel
from orchestrator.models.params import Timeframe

# Re-exported: the research's volatility regime is the one the insights use too.
from tasks.portfolio.analysis_models import VolatilityRegime as VolatilityRegime


class CorrelationTarget(StrEnum):
    """What ``correlate_with`` may name."""

    PORTFOLIO_HOLDINGS = "portfolio_holdings"


class FindingKind(StrEnum):
    BENCHMARK_TREND = "benchmark_trend"
    VOLATILITY_REGIME = "volatility_regime"
    SECTOR_LEADERS = "sector_leaders"
    INSTRUMENT_EXTREMES = "instrument_extremes"
    SECTOR_EXPOSURE = "sector_exposure"
    HOLDINGS_CORRELATION = "holdings_correlation"
    CORRELATED_PAIRS = "correlated_pairs"


class ResearchWindow(StrictModel):
    """The dates the market facts cover (both inclusive) and why these."""

    start: date
    end: date
    #: The enum the window was derived from; None when it is an upstream analysis's window.
    timeframe: Timeframe | None = None
    #: Where the window comes from, in words ("the window of task_001's analysis", ...).
    source: str


class TopicQuery(StrictModel):
    """One knowledge-base search: for a topic, or for a finding kind's citations."""

    #: The topic slug, or ``finding:<kind>`` for the search whose hits that kind cites.
    topic: str
    query: str
    hit_ids: list[int]


class KnowledgeRef(StrictModel):
    """One knowledge-base item found by the topic searches."""

    item_id: int
    title: str
    snippet: str
    #: 1 = most relevant; searches are merged by interleaving their ranked lists, because
    #: the knowledge base's scores are only comparable within one search.
    rank: int = Field(ge=1)
    #: The knowledge base's own score in the first search that found it.
    score: float
    tags: list[str]
    source: str
    #: The searches (TopicQuery.topic) that found it.
    topics: list[str]


class InstrumentFacts(StrictModel):
    symbol: str
    name: str
    sector: str
    first_date: date
    last_date: date
    #: Daily returns the figures rest on.
    observations: int = Field(ge=0)
    #: False when the first price in the window comes after its start (a later listing).
    full_window: bool
    start_price: float
    end_price: float
    total_return: float
    annualized_volatility: float | None
    max_drawdown: float = Field(le=0.0)
    #: total_return minus the benchmark's over the same window; None without a benchmark.
    excess_return: float | None = None
    #: Its weight in the upstream portfolio analysis; None when not held.
    portfolio_weight: float | None = None


class SectorFacts(StrictModel):
    """A sector as an equal-weight buy-and-hold basket of its instruments."""

    sector: str
    #: Members priced from the window start: the basket's constituents.
    symbols: list[str]
    #: Members listed inside the window: not in the basket (no start price).
    partial_symbols: list[str] = Field(default_factory=list)
    total_return: float | None
    annualized_volatility: float | None
    max_drawdown: float | None
    best_symbol: str | None
    worst_symbol: str | None
    #: Sum of the portfolio weights of its holdings (0 without a portfolio).
    holdings_weight: float
    #: Its share of the priced instruments of market sectors (the market proxy: those
    #: instruments equally weighted); 0 for a sector that is not a market sector.
    universe_share: float
    #: False for index funds and unclassified instruments: not one of the market's sectors.
    market_sector: bool = True


class BenchmarkTrend(StrictModel):
    symbol: str
    total_return: float
    annualized_volatility: float | None
    max_drawdown: float = Field(le=0.0)
    last_close: float
    sma_days: int
    #: Mean of the last ``sma_days`` closes up to the window end; None with less history.
    sma: float | None
    #: Date of the first close in that average (None with it).
    sma_start: date | None
    #: last_close / sma - 1.
    distance_from_sma: float | None
    recent_vol_days: int
    recent_volatility: float | None
    baseline_vol_days: int
    baseline_volatility: float | None
    #: Date of the first close the baseline volatility uses (None with it).
    baseline_start: date | None
    regime: VolatilityRegime


class HoldingCorrelation(StrictModel):
    symbol: str
    weight: float
    #: With the weighted returns of the portfolio's other holdings (weights renormalised).
    with_portfolio: float | None
    with_benchmark: float | None


class CorrelatedPair(StrictModel):
    first: str
    second: str
    correlation: float


class Correlations(StrictModel):
    target: CorrelationTarget | None
    computed: bool
    #: Why nothing (or not everything) was computed; None when all was.
    skipped_reason: str | None = None
    #: Days on which at least one correlated holding has a return (each figure uses the
    #: days both of its sides have one).
    observations: int = Field(ge=0, default=0)
    threshold: float
    average_pairwise: float | None = None
    holdings: list[HoldingCorrelation] = Field(default_factory=list)
    #: Pairs at or above ``threshold``, most correlated first.
    high_pairs: list[CorrelatedPair] = Field(default_factory=list)
    #: The most correlated pair, whether or not it reaches the threshold.
    top_pair: CorrelatedPair | None = None


class KnowledgeCitation(StrictModel):
    kind: Literal["knowledge"] = "knowledge"
    item_id: int
    title: str


class MarketDataCitation(StrictModel):
    kind: Literal["market_data"] = "market_data"
    symbols: list[str] = Field(min_length=1)
    start: date
    end: date
    #: How the cited figures were computed from these closes.
    method: str


Citation = Annotated[KnowledgeCitation | MarketDataCitation, Field(discriminator="kind")]


class Finding(StrictModel):
    """One statement; every number in it is one of ``figures``, formatted."""

    kind: FindingKind
    #: The topic it answers (a requested topic slug, or "portfolio_holdings").
    topic: str
    statement: str
    figures: dict[str, float]
    citations: list[Citation] = Field(min_length=1)


class ResearchFindings(StrictModel):
    """RESEARCH_TOPIC's output."""

    timeframe: ResearchWindow
    topics: list[str]
    queries: list[TopicQuery]
    benchmark_symbol: str | None
    #: The upstream analysis's portfolio, when research was correlated with one.
    portfolio_id: str | None = None
    knowledge: list[KnowledgeRef]
    benchmark: BenchmarkTrend | None
    instrument_facts: list[InstrumentFacts]
    sector_facts: list[SectorFacts]
    correlations: Correlations
    findings: list[Finding]
    confidence: float = Field(ge=0.0, le=1.0)
    confidence_reasons: list[str]
    #: Instruments asked about that have no price in the window.
    unpriced_symbols: list[str] = Field(default_factory=list)
