"""ANALYZE_CONTEXT and GENERATE_INSIGHTS in real runs: prefork workers, Redis, Postgres.

The analysis comes from the shipped demo prices; the report, the generator project and
the insights are checked against that run's own analysis output, figures recomputed here
from the analysis's series where a rule derives them.
"""

from __future__ import annotations

import ast
import json
import math
import statistics
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from orchestrator import Orchestrator
from orchestrator.models import (
    AITask,
    ExecutionResult,
    GoalContext,
    Module,
    RunStatus,
    TaskChain,
    TaskDependency,
    UserGoal,
)
from tasks.assistant import insight_rules as rules
from tasks.assistant.insight_models import Insight, InsightKind
from tests.support.analyses import assert_statement_numbers_from_evidence
from tests.support.portfolios import new_portfolio

TIMEOUT_S = 90


def analysis_task(portfolio_id: str) -> AITask:
    return AITask(
        id="t1",
        type="analyze_portfolio",
        module=Module.PORTFOLIO,
        parameters={
            "portfolio_id": portfolio_id,
            "analysis_type": "comprehensive",
            "timeframe": "1year",
            "risk_metrics": ["sharpe", "volatility", "beta"],
        },
    )


def flow(source: str, target: str, kind: str = "data_flow") -> TaskDependency:
    return TaskDependency.model_validate({"from": source, "to": target, "type": kind})


def run(orch: Orchestrator, chain: TaskChain) -> tuple[ExecutionResult, dict[str, Any]]:
    result = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    outputs = {t.task_id: t.output for t in result.completed_tasks}
    return result, outputs


def test_report_sections_and_formats_follow_the_requirements(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given a board-level reader who wants PDF, and analysis -> requirements -> report
    portfolio = new_portfolio(
        market_engine, cash=5_000, positions={"AAPL": (30, 150.0), "JPM": (40, 90.0)}
    )
    goal = UserGoal(
        description="Report on my portfolio for the board",
        context=GoalContext(
            portfolio_id=portfolio.id,
            user_preferences={"reportFormat": "pdf", "audience": "board"},
        ),
    )
    chain = TaskChain(
        goal=goal,
        tasks=[
            analysis_task(portfolio.id),
            AITask(
                id="t2",
                type="analyze_context",
                module=Module.AI_ASSISTANT,
                parameters={
                    "analysis_type": "report_requirements",
                    "user_preferences": "from_context",
                    "portfolio_data": "t1_results",
                },
            ),
            AITask(
                id="t3",
                type="generate_report",
                module=Module.PORTFOLIO,
                parameters={"portfolio_id": portfolio.id, "analysis": "t1_results"},
            ),
        ],
        dependencies=[flow("t1", "t2"), flow("t1", "t3"), flow("t2", "t3")],
    )
    _, outputs = run(orch, chain)
    analysis, requirements, report = outputs["t1"], outputs["t2"], outputs["t3"]
    # Then the requirements read the goal's preferences and the analysis
    assert requirements["audience"]["audience"] == "executive"
    assert requirements["audience"]["detail_level"] == "summary"
    sections = [s["section"] for s in requirements["sections"]]
    assert sections[:5] == ["summary", "performance", "risk", "drawdown", "benchmark"]
    assert "positions" not in sections  # a summary leaves the table out
    metrics = {m["metric"]: m["value"] for m in requirements["metrics"]}
    assert metrics["returns.total_return"] == analysis["returns"]["total_return"]
    assert metrics["risk.sharpe"] == analysis["risk"]["sharpe"]
    assert "risk.sortino" not in metrics  # not computed by this analysis
    assert [f["format"] for f in requirements["formats"]] == ["pdf", "html", "json"]
    # and the report has exactly those sections, in those formats
    assert report["requirements_task_id"] == "t2"
    files = report["files"]
    assert files["pdf"] and Path(files["pdf"]).read_bytes().startswith(b"%PDF")
    assert files["markdown"] is None
    document = json.loads(Path(files["json_path"]).read_text())
    assert document["report"]["sections"] == sections
    html = Path(files["html"]).read_text()
    assert 'data-section="benchmark"' in html and 'data-section="positions"' not in html


def test_requirements_of_another_portfolio_are_refused_only_when_used(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given requirements derived for portfolio B upstream of a report on portfolio A
    mine = new_portfolio(market_engine, cash=1_000, positions={"AAPL": (10, 150.0)})
    other = new_portfolio(market_engine, cash=1_000, positions={"JPM": (10, 90.0)})
    other_analysis = analysis_task(other.id).model_copy(update={"id": "t0"})

    def chain(report: dict[str, Any]) -> TaskChain:
        return TaskChain(
            goal=UserGoal(description="Report on my portfolio"),
            tasks=[
                analysis_task(mine.id),
                other_analysis,
                AITask(
                    id="t2",
                    type="analyze_context",
                    module=Module.AI_ASSISTANT,
                    parameters={
                        "analysis_type": "report_requirements",
                        "portfolio_data": "t0_results",
                    },
                ),
                AITask(
                    id="t3",
                    type="generate_report",
                    module=Module.PORTFOLIO,
                    parameters={"portfolio_id": mine.id, "analysis": "t1_results", **report},
                ),
            ],
            dependencies=[flow("t0", "t2"), flow("t1", "t3"), flow("t2", "t3")],
        )

    # When the report names its own sections and formats, the requirements are not used
    own = {"sections": ["summary", "performance"], "formats": ["json"]}
    _, outputs = run(orch, chain(own))
    assert outputs["t3"]["requirements_task_id"] is None
    assert outputs["t3"]["sections"] == own["sections"] and outputs["t3"]["formats"] == ["json"]
    # and when it leaves them to the requirements, they are refused as another portfolio's
    result = orch.wait(orch.submit(chain({})), timeout_s=TIMEOUT_S)
    assert result.status is not RunStatus.COMPLETED
    failure = next(f for f in result.failed_tasks if f.task_id == "t3")
    assert f"portfolio {other.id}, not {mine.id}" in str(failure)


def test_the_generator_project_follows_the_requirements_structure(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given the spec's middle steps: requirements, a project with their structure, the code
    portfolio = new_portfolio(
        market_engine, cash=1_000, positions={"AAPL": (30, 150.0), "XOM": (40, 80.0)}
    )
    name = f"rg-{uuid.uuid4().hex[:8]}"
    goal = UserGoal(
        description="Analyze my portfolio performance and create a custom report generator",
        context=GoalContext(portfolio_id=portfolio.id, user_preferences={"reportFormat": "pdf"}),
    )
    chain = TaskChain(
        goal=goal,
        tasks=[
            analysis_task(portfolio.id),
            AITask(
                id="t2",
                type="analyze_context",
                module=Module.AI_ASSISTANT,
                parameters={"analysis_type": "report_requirements", "portfolio_data": "t1_results"},
            ),
            AITask(
                id="t3",
                type="create_project",
                module=Module.WORKSPACE,
                parameters={
                    "template": "report_generator",
                    "name": name,
                    "structure": "t2_structure",
                },
            ),
            AITask(
                id="t4",
                type="generate_code",
                module=Module.WORKSPACE,
                parameters={
                    "code_type": "report_generator",
                    "project_id": name,
                    "features": ["chart_generation"],
                    "report_structure": "t2_structure",
                },
            ),
        ],
        dependencies=[
            flow("t1", "t2"),
            flow("t2", "t3", "prerequisite"),  # as in the spec: the structure is read, not passed
            flow("t1", "t4"),
            flow("t2", "t4"),
            flow("t3", "t4", "prerequisite"),
        ],
    )
    _, outputs = run(orch, chain)
    requirements, project, code = outputs["t2"], outputs["t3"], outputs["t4"]
    # Then the project records the structure it was made for
    assert project["structure_source"] == "t2"
    readme = (Path(project["path"]) / "README.md").read_text()
    structure = requirements["structure"]
    assert ", ".join(structure["sections"]) in readme
    # and the generated code is built with what the requirements need
    config_py = (Path(project["path"]) / "src" / name.replace("-", "_") / "config.py").read_text()
    config = {
        node.target.id: ast.literal_eval(node.value)
        for node in ast.parse(config_py).body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value
    }
    assert config["REQUIREMENTS_SOURCE"] == "t2"
    assert set(config["FEATURES"]) == {"chart_generation", *structure_features(structure)}
    assert any(f.endswith("/pdf.py") for f in code["files"])


def structure_features(structure: dict[str, Any]) -> set[str]:
    return {f["feature"] for f in structure["features"]}


def _insights(output: dict[str, Any], kind: InsightKind) -> list[Insight]:
    return [Insight.model_validate(i) for i in output["insights"] if i["kind"] == kind.value]


def test_insights_carry_the_analysis_figures_as_evidence(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given two correlated banks and GE (which fell most of the year): on the demo prices
    # every rule fires on this portfolio, so each one's evidence is checked below
    portfolio = new_portfolio(
        market_engine, cash=0, positions={"JPM": (40, 90.0), "BAC": (200, 25.0), "GE": (300, 20.0)}
    )
    chain = TaskChain(
        goal=UserGoal(description="Analyze the risk in my portfolio and give me insights"),
        tasks=[
            analysis_task(portfolio.id),
            AITask(
                id="t2",
                type="generate_insights",
                module=Module.AI_ASSISTANT,
                parameters={"source": "t1_results"},
            ),
        ],
        dependencies=[flow("t1", "t2")],
    )
    _, outputs = run(orch, chain)
    analysis, report = outputs["t1"], outputs["t2"]
    assert report["analysis_task_id"] == "t1" and report["portfolio_id"] == portfolio.id
    assert {r["kind"]: r["fired"] for r in report["rules"]} == {k.value: True for k in InsightKind}
    for insight in report["insights"]:
        assert_statement_numbers_from_evidence(Insight.model_validate(insight))
    # Concentration: with the analysis's figures
    (concentration,) = _insights(report, InsightKind.CONCENTRATION)
    assert concentration.evidence["top_weight"] == analysis["concentration"]["top_weight"]
    assert concentration.evidence["hhi"] == analysis["concentration"]["hhi"]
    assert concentration.subjects == [analysis["concentration"]["top_symbol"]]
    # Volatility regime: the last 21 daily returns of the value series against the last 252
    values = [p["value"] for p in analysis["series"]]
    daily = [b / a - 1 for a, b in pairwise(values)]
    assert len(daily) == analysis["returns"]["observations"]
    recent = statistics.stdev(daily[-21:]) * math.sqrt(252)
    baseline = statistics.stdev(daily[-252:]) * math.sqrt(252)
    (regime,) = _insights(report, InsightKind.VOLATILITY_REGIME)
    assert math.isclose(regime.evidence["recent_volatility"], recent, rel_tol=1e-9)
    assert math.isclose(regime.evidence["baseline_volatility"], baseline, rel_tol=1e-9)
    assert recent / baseline >= 1.25 and regime.title == "Volatility is elevated"
    # Drawdown: past its threshold, with the analysis's figures
    (drawdown,) = _insights(report, InsightKind.DRAWDOWN)
    current = values[-1] / max(values) - 1
    assert (
        analysis["drawdown"]["max_drawdown"] <= rules.MAX_DRAWDOWN_MEDIUM
        or current <= rules.CURRENT_DRAWDOWN_MEDIUM
    )
    assert drawdown.evidence["max_drawdown"] == analysis["drawdown"]["max_drawdown"]
    assert math.isclose(drawdown.evidence["current_drawdown"], current, abs_tol=1e-12)
    # Relative performance: the analysis's excess return, a full year so it may be high
    excess = analysis["benchmark"]["excess_annualized_return"]
    (relative,) = _insights(report, InsightKind.RELATIVE_PERFORMANCE)
    assert relative.evidence["excess_annualized_return"] == excess <= -rules.EXCESS_RETURN_MIN
    assert relative.title == "Under-performing SPY"
    # Correlated cluster: the two banks, with the analysis's correlation and weights
    (cluster,) = _insights(report, InsightKind.CORRELATED_CLUSTER)
    assert cluster.subjects == ["BAC", "JPM"]
    matrix = analysis["correlation"]
    pair = matrix["matrix"][matrix["symbols"].index("BAC")][matrix["symbols"].index("JPM")]
    assert cluster.evidence["min_correlation"] == pair >= rules.CLUSTER_CORRELATION_MIN
    held = {p["symbol"]: p["weight"] for p in analysis["positions"]}
    assert math.isclose(cluster.evidence["combined_weight"], held["BAC"] + held["JPM"])
    # Confidence never exceeds the analysis's own
    assert 0 < report["confidence"] <= analysis["quality"]["confidence"]
