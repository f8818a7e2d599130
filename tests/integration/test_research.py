"""RESEARCH_TOPIC on real prices and the real knowledge base.

Runs on the prefork workers with Redis and Postgres (after analyze_portfolio, as the spec's
report-generator example does, and alone, as market research does), handler calls for the
refusals, and one run in the embedded default (SQLite, in-process workers).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.history.portfolio_tables import MarketPriceRow
from orchestrator.knowledge import KnowledgeBase
from orchestrator.models import (
    AITask,
    DependencyType,
    Module,
    RunStatus,
    TaskChain,
    TaskDependency,
    UserGoal,
)
from orchestrator.models.params import ResearchTopicParams
from orchestrator.portfolio.demo import load_demo_prices
from tasks.assistant.research_topic import research_topic
from tasks.builtin import default_registry
from tasks.context import HandlerContext
from tasks.errors import DependencyFailureError, InvalidInputError
from tests.support.portfolios import new_portfolio

TIMEOUT_S = 90
HOLDINGS: dict[str, tuple[float, float]] = {
    "AAPL": (30, 150.0),
    "JPM": (40, 90.0),
    "BAC": (200, 25.0),
    "XOM": (45, 80.0),
}


def analysis_then_research(portfolio_id: str) -> TaskChain:
    """The spec's task_001 -> task_002 of the report-generator example."""
    return TaskChain(
        goal=UserGoal(description="Analyze my portfolio and research its market"),
        tasks=[
            AITask(
                id="task_001",
                type="analyze_portfolio",
                module=Module.PORTFOLIO,
                parameters={
                    "portfolio_id": portfolio_id,
                    "analysis_type": "comprehensive",
                    "timeframe": "1year",
                },
            ),
            AITask(
                id="task_002",
                type="research_topic",
                module=Module.AI_ASSISTANT,
                parameters={
                    "topics": ["market_trends", "sector_performance"],
                    "timeframe": "task_001_timeframe",
                    "correlate_with": "portfolio_holdings",
                },
            ),
        ],
        dependencies=[
            TaskDependency(from_task="task_001", to_task="task_002", type=DependencyType.DATA_FLOW)
        ],
    )


def closes_of(engine: Engine, symbol: str, start: str, end: str) -> list[float]:
    """The stored closes of ``symbol`` in [start, end], read straight from the table."""
    query = (
        select(MarketPriceRow.close)
        .where(MarketPriceRow.symbol == symbol)
        .where(MarketPriceRow.date >= date.fromisoformat(start))
        .where(MarketPriceRow.date <= date.fromisoformat(end))
        .order_by(MarketPriceRow.date)
    )
    with engine.connect() as conn:
        return [float(c) for c in conn.execute(query).scalars()]


def finding(research: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(f for f in research["findings"] if f["kind"] == kind)


def test_research_after_the_analysis_cites_real_items_and_real_prices(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given a portfolio with two banks, and the analysis -> research chain
    portfolio = new_portfolio(market_engine, cash=5_000, positions=HOLDINGS)
    result = orch.wait(orch.submit(analysis_then_research(portfolio.id)), timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    outputs = {t.task_id: t.output for t in result.completed_tasks}
    analysis, research = outputs["task_001"], outputs["task_002"]
    assert analysis is not None and research is not None
    # Then the research covers exactly the analysis's window, for this portfolio
    window = research["timeframe"]
    assert (window["start"], window["end"]) == (analysis["start"], analysis["end"])
    assert research["portfolio_id"] == portfolio.id
    # Its knowledge citations name real items of the knowledge base, with their titles
    kb = KnowledgeBase(market_engine)
    cited = [c for f in research["findings"] for c in f["citations"] if c["kind"] == "knowledge"]
    assert cited, "no finding cites the knowledge base"
    for citation in cited:
        item = kb.get(citation["item_id"], user_id="demo")
        assert item is not None and item.title == citation["title"]
    # SPY's return in the trend finding is the one the stored closes give
    spy = closes_of(market_engine, "SPY", window["start"], window["end"])
    trend = finding(research, "benchmark_trend")
    assert trend["figures"]["total_return"] == pytest.approx(spy[-1] / spy[0] - 1, rel=1e-9)
    assert f"{spy[-1] / spy[0] - 1:+.1%}" in trend["statement"]
    # and the banks' correlation is the one their stored closes give
    jpm = closes_of(market_engine, "JPM", window["start"], window["end"])
    bac = closes_of(market_engine, "BAC", window["start"], window["end"])
    correlation = statistics.correlation(
        [b / a - 1 for a, b in itertools.pairwise(jpm)],
        [b / a - 1 for a, b in itertools.pairwise(bac)],
    )
    assert len(jpm) == len(bac) == research["correlations"]["observations"] + 1
    pairs = {
        (p["first"], p["second"]): p["correlation"] for p in research["correlations"]["high_pairs"]
    }
    assert pairs[("BAC", "JPM")] == pytest.approx(correlation, rel=1e-9)
    assert {h["symbol"] for h in research["correlations"]["holdings"]} == set(HOLDINGS)
    # The holdings' sector exposure: both banks are Financials
    financials = next(s for s in research["sector_facts"] if s["sector"] == "Financials")
    held = {p["symbol"]: p["weight"] for p in analysis["positions"]}
    assert financials["holdings_weight"] == pytest.approx(held["JPM"] + held["BAC"])
    assert finding(research, "sector_exposure")["topic"] == "portfolio_holdings"
    assert 0.0 < research["confidence"] <= 1.0


def test_a_timeframe_reference_over_a_prerequisite_edge_reads_the_live_context(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given the analysis -> research chain with a prerequisite edge (no data passed)
    portfolio = new_portfolio(market_engine, cash=1_000, positions={"XOM": (10, 80.0)})
    chain = analysis_then_research(portfolio.id)
    edge = TaskDependency(
        from_task="task_001", to_task="task_002", type=DependencyType.PREREQUISITE
    )
    chain = chain.model_copy(update={"dependencies": [edge]})
    result = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    outputs = {t.task_id: t.output for t in result.completed_tasks}
    analysis, research = outputs["task_001"], outputs["task_002"]
    assert analysis is not None and research is not None
    # Then the window is still the analysis's own
    window = research["timeframe"]
    assert (window["start"], window["end"]) == (analysis["start"], analysis["end"])
    assert "task_001_timeframe" in window["source"]


def test_market_research_without_a_portfolio_skips_correlation_and_says_why(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # The market_research workflow's research step: no portfolio upstream
    task = AITask(
        id="task_001",
        type="research_topic",
        module=Module.AI_ASSISTANT,
        parameters={"topics": ["market_trends", "sector_performance"], "timeframe": "3months"},
    )
    chain = TaskChain(goal=UserGoal(description="Research the market"), tasks=[task])
    result = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    research = result.completed_tasks[0].output
    assert research is not None
    # Three months up to the stocks' last close (SPY's prices run on to 2019)
    assert research["timeframe"]["end"] == "2018-04-11"
    assert research["timeframe"]["start"] == "2018-01-11"
    # The whole market: every shipped stock, the benchmark reported on its own
    symbols = {f["symbol"] for f in research["instrument_facts"]}
    assert len(symbols) == 20 and "SPY" not in symbols
    assert research["benchmark"]["symbol"] == "SPY"
    correlations = research["correlations"]
    assert correlations["computed"] is False and "correlate_with" in correlations["skipped_reason"]
    assert {"benchmark_trend", "sector_leaders"} <= {f["kind"] for f in research["findings"]}
    # The best instrument of the finding is the best of the stored closes
    extremes = finding(research, "instrument_extremes")
    returns = {}
    for symbol in symbols:
        closes = closes_of(market_engine, symbol, "2018-01-11", "2018-04-11")
        returns[symbol] = closes[-1] / closes[0] - 1
    best = max(returns, key=lambda s: returns[s])
    assert extremes["statement"].startswith(best)
    assert extremes["figures"]["best_return"] == pytest.approx(returns[best], rel=1e-9)
    assert research["knowledge"] and research["knowledge"][0]["rank"] == 1


def direct_ctx(orch: Orchestrator, parameters: dict[str, Any]) -> HandlerContext:
    task = AITask(id="r", type="research_topic", module=Module.AI_ASSISTANT, parameters=parameters)
    return HandlerContext(
        run_id="run_research_direct",
        task_id="r",
        user_id="demo",
        attempt=1,
        chain=TaskChain(goal=UserGoal(description="direct call"), tasks=[task]),
        task=task,
        runtime=orch.runtime,
    )


def test_refusals_name_what_is_wrong(orch: Orchestrator, market_engine: Engine) -> None:
    unknown = {"topics": ["market_trends"], "correlate_with": "my_cat"}
    with pytest.raises(InvalidInputError, match="unknown correlate_with 'my_cat'"):
        research_topic(ResearchTopicParams.model_validate(unknown), {}, direct_ctx(orch, unknown))
    dangling = {"topics": ["market_trends"], "timeframe": "task_009_timeframe"}
    with pytest.raises(DependencyFailureError, match="task_009"):
        research_topic(ResearchTopicParams.model_validate(dangling), {}, direct_ctx(orch, dangling))
    # Correlation asked for without a portfolio: done without it, and the confidence says so
    alone = {
        "topics": ["volatility"],
        "timeframe": "1month",
        "correlate_with": "portfolio_holdings",
    }
    output = research_topic(ResearchTopicParams.model_validate(alone), {}, direct_ctx(orch, alone))
    assert not output.correlations.computed
    assert "no portfolio analysis" in (output.correlations.skipped_reason or "")
    assert any("correlations not computed" in r for r in output.confidence_reasons)
    assert output.confidence < 1.0
    # An unknown topic still gets general market findings
    assert {f.topic for f in output.findings} == {"market_context"}


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Orchestrator]:
    with Orchestrator.from_settings(
        Settings(data_dir=tmp_path / "data"), default_registry()
    ) as orch:
        yield orch


def test_research_runs_in_the_embedded_default(embedded: Orchestrator) -> None:
    engine = embedded.runtime.history.engine
    assert engine.dialect.name == "sqlite"
    load_demo_prices(engine)
    portfolio = new_portfolio(engine, cash=1_000, positions={"XOM": (10, 80.0), "PFE": (50, 30.0)})
    result = embedded.wait(
        embedded.submit(analysis_then_research(portfolio.id)), timeout_s=TIMEOUT_S
    )
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    research = next(t.output for t in result.completed_tasks if t.task_id == "task_002")
    assert research is not None and research["knowledge"], "SQLite search found nothing"
    xom = next(f for f in research["instrument_facts"] if f["symbol"] == "XOM")
    closes = closes_of(engine, "XOM", research["timeframe"]["start"], research["timeframe"]["end"])
    assert xom["total_return"] == pytest.approx(closes[-1] / closes[0] - 1, rel=1e-9)
    assert not math.isnan(research["correlations"]["holdings"][0]["with_portfolio"])
