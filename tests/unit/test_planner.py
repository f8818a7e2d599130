"""The template planner: spec examples, paraphrases, context filling, estimates, rewrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.dag import Graph, validate_chain
from orchestrator.models import (
    DependencyType,
    GoalContext,
    Module,
    Priority,
    RiskLevel,
    TaskChain,
    TaskDependency,
    TaskType,
    UserGoal,
)
from orchestrator.planner import (
    LearnedEstimate,
    MissingGoalContext,
    NoMatchingWorkflow,
    PlanConstraints,
    TaskPlanner,
    TemplatePlanner,
    WorkflowLoadError,
    confidence_score,
    estimated_duration_ms,
    normalise,
)
from orchestrator.planner.optimize import width
from tasks.builtin import default_registry
from tasks.registry import TaskRegistry

TRADING_GOAL = "Create a new trading bot for my portfolio"
REPORT_GOAL = "Analyze my portfolio performance and create a custom report generator"
SPEC1_CONTEXT = GoalContext(
    portfolio_id="portfolio_123",
    current_module="workspace",
    user_preferences={"language": "typescript", "framework": "node"},
)
SPEC2_CONTEXT = GoalContext(
    portfolio_id="port_123",
    project_id="proj_456",
    current_module="dashboard",
    user_preferences={"reportFormat": "pdf", "language": "typescript", "chartLibrary": "recharts"},
)


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return default_registry()


@pytest.fixture(scope="module")
def planner(registry: TaskRegistry) -> TemplatePlanner:
    return TemplatePlanner(registry)


def plan(planner: TemplatePlanner, text: str, ctx: GoalContext = SPEC2_CONTEXT) -> TaskChain:
    return planner.create_task_chain(UserGoal(description=text, context=ctx))


def edges(chain: TaskChain) -> set[tuple[str, str, str]]:
    return {(d.from_task, d.to_task, d.type.value) for d in chain.dependencies}


def shape(chain: TaskChain) -> list[tuple[str, str, str]]:
    return [(t.id, str(t.type), t.module.value) for t in chain.tasks]


# --- the two examples of the specification --------------------------------------------------


def test_trading_bot_is_the_spec_example(planner: TemplatePlanner) -> None:
    chain = planner.create_task_chain(
        UserGoal(
            id="goal_001", description=TRADING_GOAL, priority=Priority.HIGH, context=SPEC1_CONTEXT
        )
    )
    assert shape(chain) == [
        ("task_001", "analyze_portfolio", "portfolio"),
        ("task_002", "create_project", "workspace"),
        ("task_003", "generate_code", "workspace"),
        ("task_004", "validate_data", "system"),
    ]
    assert edges(chain) == {
        ("task_001", "task_003", "data_flow"),
        ("task_002", "task_003", "prerequisite"),
        ("task_003", "task_004", "validation"),
    }
    params = {t.id: t.parameters for t in chain.tasks}
    assert params == {
        "task_001": {"portfolio_id": "portfolio_123", "analysis_depth": "detailed"},
        "task_002": {
            "template": "nodejs-trading-bot",
            "name": "my-trading-bot",
            "dependencies": ["trading-api", "portfolio-analytics"],
        },
        "task_003": {
            "file_type": "typescript",
            "code_type": "trading-bot",
            "context_data": "task_001_results",
        },
        "task_004": {"test_type": "simulation", "data_source": "historical_market_data"},
    }
    descriptions = [t.description for t in chain.tasks]
    assert descriptions == [
        "Analyze current portfolio to understand trading patterns",
        "Create new Node.js project for trading bot",
        "Generate trading bot code based on portfolio analysis",
        "Test trading bot with simulated data",
    ]
    gen = chain.task("task_003")
    assert any(c.critical for c in gen.preconditions)
    assert chain.goal.id == "goal_001"
    assert all(t.timeout_s == 300.0 for t in chain.tasks)  # the registry's default_timeout_s


def test_report_generator_is_the_spec_complex_example(planner: TemplatePlanner) -> None:
    chain = plan(planner, REPORT_GOAL)
    assert shape(chain) == [
        ("task_001", "analyze_portfolio", "portfolio"),
        ("task_002", "research_topic", "ai-assistant"),
        ("task_003", "analyze_context", "ai-assistant"),
        ("task_004", "create_project", "workspace"),
        ("task_005", "generate_code", "workspace"),
        ("task_006", "validate_data", "system"),
        ("task_007", "generate_code", "workspace"),
    ]
    assert edges(chain) == {
        ("task_001", "task_002", "data_flow"),
        ("task_001", "task_003", "data_flow"),
        ("task_002", "task_003", "data_flow"),
        ("task_003", "task_004", "prerequisite"),
        ("task_003", "task_005", "data_flow"),
        ("task_004", "task_005", "prerequisite"),
        ("task_005", "task_006", "validation"),
        ("task_005", "task_007", "data_flow"),
    }
    p = {t.id: t.parameters for t in chain.tasks}
    assert p["task_001"] == {
        "portfolio_id": "port_123",
        "analysis_type": "comprehensive",
        "timeframe": "1year",
        "include_benchmarks": True,
        "risk_metrics": ["sharpe", "volatility", "beta", "var"],
        "performance_metrics": ["total_return", "annualized_return", "drawdown"],
    }
    assert p["task_002"] == {
        "topics": ["market_trends", "sector_performance"],
        "timeframe": "task_001_timeframe",
        "correlate_with": "portfolio_holdings",
    }
    assert p["task_003"] == {
        "analysis_type": "report_requirements",
        "user_preferences": "from_context",
        "portfolio_data": "task_001_results",
        "market_data": "task_002_results",
    }
    assert p["task_004"] == {
        "template": "report_generator",
        "name": "portfolio-report-generator",
        "dependencies": ["recharts", "jspdf", "portfolio-api"],
        "structure": "task_003_structure",
    }
    assert p["task_005"]["report_structure"] == "task_003_structure"
    assert p["task_005"]["portfolio_schema"] == "task_001_schema"
    assert p["task_005"]["features"] == ["chart_generation", "pdf_export", "data_visualization"]
    assert p["task_006"] == {
        "test_type": "integration",
        "data_source": "task_001_data",
        "validation_criteria": ["chart_accuracy", "pdf_generation", "data_integrity"],
    }
    assert p["task_007"] == {
        "code_type": "documentation",
        "document_types": ["readme", "api_docs", "user_guide"],
        "code_context": "task_005_code",
    }


# --- intent matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "workflow"),
    [
        (TRADING_GOAL, "trading_bot"),
        ("Build me an automated trading system for my holdings", "trading_bot"),
        ("Make an algo trader that trades my portfolio", "trading_bot"),
        ("I want a robot that trades my investments automatically", "trading_bot"),
        ("develop trading bots for my stocks", "trading_bot"),
        (REPORT_GOAL, "portfolio_report_generator"),
        (
            "Review how my investments performed and build a tool that generates custom reports",
            "portfolio_report_generator",
        ),
        (
            "Evaluate my portfolio's returns and develop a report generator",
            "portfolio_report_generator",
        ),
        (
            "Assess my holdings' performance and make an app producing PDF reports",
            "portfolio_report_generator",
        ),
        ("Check system health and back up my workspace state", "system_health_backup"),
        ("Check system health and back up my state", "system_health_backup"),
        ("Check the health of the system", "system_health_check"),
        ("Analyze my portfolio", "portfolio_risk_insights"),
        ("Analyse the risk in my portfolio and give me insights", "portfolio_risk_insights"),
        ("Set up alerts for big moves in my portfolio", "price_alerts"),
        ("Notify me when my stocks drop sharply", "price_alerts"),
        ("Research the current market trends and remember what you find", "market_research"),
        ("Start a new Python project with git", "project_bootstrap"),
        ("Generate a performance report for my portfolio", "portfolio_report"),
    ],
)
def test_goals_and_paraphrases_match_their_workflow(
    planner: TemplatePlanner, text: str, workflow: str
) -> None:
    assert planner.analyze_goal(UserGoal(description=text)).workflow_id == workflow


def test_every_template_example_plans_its_own_workflow(planner: TemplatePlanner) -> None:
    for wid, wf in planner.workflows.items():
        for text in (wf.template.example, *wf.template.examples):
            assert planner.match(text)[0].id == wid, text


def test_normalise_stems_plurals_and_verb_forms() -> None:
    assert normalise("Trading bots") == normalise("trade bot")
    assert normalise("created reports") == normalise("create report")
    assert normalise("Analyzing my portfolio's summaries") == [
        "analyz",
        "my",
        "portfolio",
        "summary",
    ]


@pytest.mark.parametrize("text", ["bake a chocolate cake", "Rebalance my portfolio", "hello"])
def test_unmatched_goal_lists_the_workflows(planner: TemplatePlanner, text: str) -> None:
    with pytest.raises(NoMatchingWorkflow) as info:
        plan(planner, text)
    message = str(info.value)
    for wid, wf in planner.workflows.items():
        assert wid in message
        assert wf.template.example in message
    assert len(info.value.workflows) == len(planner.workflows) >= 6


# --- filling parameters from the goal's context ----------------------------------------------


@pytest.mark.parametrize(
    ("prefs", "template", "file_type", "runtime"),
    [
        (
            {"language": "typescript", "framework": "node"},
            "nodejs-trading-bot",
            "typescript",
            "Node.js",
        ),
        ({"framework": "node"}, "nodejs-trading-bot", "typescript", "Node.js"),
        ({"language": "javascript"}, "nodejs-trading-bot", "javascript", "Node.js"),
        ({"language": "python"}, "python-trading-bot", "python", "Python"),
        ({}, "python-trading-bot", "python", "Python"),
    ],
)
def test_preferences_choose_the_project_template(
    planner: TemplatePlanner, prefs: dict[str, str], template: str, file_type: str, runtime: str
) -> None:
    ctx = GoalContext(portfolio_id="p_9", user_preferences=dict(prefs))
    chain = plan(planner, TRADING_GOAL, ctx)
    assert chain.task("task_002").parameters["template"] == template
    assert chain.task("task_002").description == f"Create new {runtime} project for trading bot"
    assert chain.task("task_003").parameters["file_type"] == file_type
    assert chain.task("task_001").parameters["portfolio_id"] == "p_9"


def test_project_id_is_filled_and_optional(planner: TemplatePlanner) -> None:
    text = "Start a new Python project with git"
    with_id = plan(planner, text, GoalContext(project_id="proj_777"))
    assert {t.parameters.get("project_id") for t in with_id.tasks} == {"proj_777"}
    assert with_id.task("task_003").parameters["argv"] == ["python", "-m", "pytest"]
    assert with_id.task("task_002").parameters["operation"] == "status"
    without = plan(planner, text, GoalContext())
    assert all("project_id" not in t.parameters for t in without.tasks)


def test_missing_portfolio_id_names_the_flag(planner: TemplatePlanner) -> None:
    with pytest.raises(MissingGoalContext) as info:
        plan(planner, TRADING_GOAL, GoalContext())
    assert info.value.fields == ["portfolio_id"]
    assert "portfolio_id" in str(info.value)
    assert "--portfolio" in str(info.value)
    analysis = planner.analyze_goal(UserGoal(description=TRADING_GOAL))
    assert analysis.missing_context == ["portfolio_id"]


def test_demo_goal_needs_no_ids(planner: TemplatePlanner) -> None:
    chain = plan(planner, "Check system health and back up my workspace state", GoalContext())
    assert [t.type for t in chain.tasks] == [TaskType.MONITOR_HEALTH, TaskType.BACKUP_STATE]
    assert {t.module for t in chain.tasks} == {Module.SYSTEM}


def test_preference_choices_fill_typed_values(planner: TemplatePlanner) -> None:
    ctx = GoalContext(portfolio_id="p1", user_preferences={"alert_sensitivity": "high"})
    rules = (
        plan(planner, "Set up alerts for big moves in my portfolio", ctx)
        .task("task_002")
        .parameters["rules"]
    )
    assert rules == [
        {"kind": "percent_move", "threshold": 0.025},
        {"kind": "drawdown", "threshold": 0.05},
    ]
    report = plan(planner, "Generate a performance report for my portfolio", SPEC2_CONTEXT)
    assert report.task("task_002").parameters["formats"] == ["html", "json", "markdown", "pdf"]


def test_analyze_goal(planner: TemplatePlanner) -> None:
    analysis = planner.analyze_goal(UserGoal(description=REPORT_GOAL, context=SPEC2_CONTEXT))
    assert analysis.workflow_id == "portfolio_report_generator"
    assert analysis.score == 1.0
    assert {"portfolio", "report"} <= set(analysis.matched_concepts)
    assert "generator" in analysis.matched_terms
    assert analysis.entities == {"portfolio_id": "port_123", "project_id": "proj_456"}
    assert set(analysis.modules) == {"portfolio", "ai-assistant", "workspace", "system"}
    assert analysis.estimated_complexity is RiskLevel.HIGH


# --- every workflow validates; estimates are computed ----------------------------------------


def test_every_workflow_validates(planner: TemplatePlanner, registry: TaskRegistry) -> None:
    assert len(planner.workflows) >= 6
    for wf in planner.workflows.values():
        chain = plan(planner, wf.template.example)
        validate_chain(chain, registry)
        assert isinstance(planner, TaskPlanner)


def test_estimates_are_the_critical_path_and_differ(
    planner: TemplatePlanner, registry: TaskRegistry
) -> None:
    bot = plan(planner, TRADING_GOAL)
    report = plan(planner, REPORT_GOAL)
    # analyze_portfolio 8s -> generate_code 20s -> validate_data 30s
    assert bot.estimated_duration_ms == 58_000
    # 8s -> research 15s -> context 5s -> project 4s -> code 20s -> validate 30s
    assert report.estimated_duration_ms == 82_000
    for chain in (bot, report):
        graph = Graph.build(
            [t.id for t in chain.tasks], [(d.from_task, d.to_task) for d in chain.dependencies]
        )
        durations = {t.id: registry.get(str(t.type)).expected_duration_ms for t in chain.tasks}
        assert chain.estimated_duration_ms == graph.critical_path_ms(durations)
    assert 0 < report.confidence_score < bot.confidence_score < 1
    assert bot.confidence_score == confidence_score(bot, registry, 1.0)
    assert confidence_score(bot, registry, 0.6) < bot.confidence_score


def test_learned_estimates_override_registry(registry: TaskRegistry) -> None:
    planner = TemplatePlanner(
        registry, learned={"validate_data": LearnedEstimate(duration_ms=1_000, confidence=0.99)}
    )
    chain = plan(planner, TRADING_GOAL)
    assert chain.estimated_duration_ms == 8_000 + 20_000 + 1_000
    assert estimated_duration_ms(chain, registry) == 58_000
    assert chain.confidence_score > confidence_score(chain, registry, 1.0)


# --- optimize_plan and adapt_plan --------------------------------------------------------------


def test_optimize_drops_implied_prerequisites_only(
    planner: TemplatePlanner, registry: TaskRegistry
) -> None:
    chain = plan(planner, REPORT_GOAL)
    extra = chain.model_copy(deep=True)
    extra.dependencies += [
        TaskDependency.model_validate({"from": a, "to": b, "type": t})
        for a, b, t in [
            ("task_001", "task_004", "prerequisite"),
            ("task_002", "task_006", "prerequisite"),
            ("task_001", "task_006", "validation"),
        ]
    ]
    optimized = planner.optimize_plan(extra, PlanConstraints())
    assert edges(optimized) == edges(chain) | {("task_001", "task_006", "validation")}
    assert optimized.estimated_duration_ms == chain.estimated_duration_ms
    validate_chain(optimized, registry)


def test_optimize_caps_timeouts_and_parallelism(planner: TemplatePlanner) -> None:
    chain = plan(planner, REPORT_GOAL)
    graph = Graph.build(
        [t.id for t in chain.tasks], [(d.from_task, d.to_task) for d in chain.dependencies]
    )
    assert width(graph) == 2
    optimized = planner.optimize_plan(
        chain,
        PlanConstraints(
            max_parallel_tasks=1, max_execution_time_s=120, risk_tolerance=RiskLevel.LOW
        ),
    )
    new_graph = Graph.build(
        [t.id for t in optimized.tasks], [(d.from_task, d.to_task) for d in optimized.dependencies]
    )
    assert width(new_graph) == 1
    assert edges(chain) <= edges(optimized)
    assert all(t.timeout_s == 120 for t in optimized.tasks)
    # serialised: every task's duration adds up
    serial_ms = 8_000 + 15_000 + 5_000 + 4_000 + 20_000 + 30_000 + 20_000
    assert optimized.estimated_duration_ms == serial_ms
    assert optimized.id == chain.id
    assert chain.tasks[0].timeout_s == 300.0  # the input is not modified
    unchanged = planner.optimize_plan(chain, PlanConstraints(max_parallel_tasks=2))
    assert edges(unchanged) == edges(chain)


def test_optimize_drops_fallbacks_riskier_than_tolerated(planner: TemplatePlanner) -> None:
    chain = plan(planner, TRADING_GOAL)
    assert {f.risk_level for f in chain.fallback_strategies} == {RiskLevel.MEDIUM}
    low = planner.optimize_plan(chain, PlanConstraints(risk_tolerance=RiskLevel.LOW))
    assert low.fallback_strategies == []
    high = planner.optimize_plan(chain, PlanConstraints(risk_tolerance=RiskLevel.HIGH))
    assert len(high.fallback_strategies) == 1


def test_adapt_plan_refills_from_new_context(planner: TemplatePlanner) -> None:
    chain = plan(planner, TRADING_GOAL, SPEC1_CONTEXT)
    new_ctx = GoalContext(portfolio_id="portfolio_999", user_preferences={"language": "python"})
    adapted = planner.adapt_plan(chain, new_ctx)
    assert adapted.id == chain.id
    assert [t.id for t in adapted.tasks] == [t.id for t in chain.tasks]
    assert edges(adapted) == edges(chain)
    assert adapted.task("task_001").parameters["portfolio_id"] == "portfolio_999"
    assert adapted.task("task_002").parameters["template"] == "python-trading-bot"
    assert adapted.goal.context == new_ctx
    assert chain.task("task_001").parameters["portfolio_id"] == "portfolio_123"
    with pytest.raises(MissingGoalContext):
        planner.adapt_plan(chain, GoalContext())


def test_adapt_plan_keeps_optimized_edges(planner: TemplatePlanner) -> None:
    chain = planner.optimize_plan(plan(planner, REPORT_GOAL), PlanConstraints(max_parallel_tasks=1))
    adapted = planner.adapt_plan(chain, GoalContext(portfolio_id="other"))
    assert edges(adapted) == edges(chain)
    assert adapted.estimated_duration_ms == chain.estimated_duration_ms
    assert adapted.task("task_001").parameters["portfolio_id"] == "other"


# --- loading -------------------------------------------------------------------------------------


def test_bad_workflow_file_is_named(tmp_path: Path, registry: TaskRegistry) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\ntitle: x\nunknown_field: 1\n")
    with pytest.raises(WorkflowLoadError, match=r"broken\.yaml"):
        TemplatePlanner(registry, tmp_path)


def test_invalid_parameters_fail_at_load(tmp_path: Path, registry: TaskRegistry) -> None:
    (tmp_path / "bad_params.yaml").write_text(
        "id: bad_params\ntitle: Bad\nexample: back up my state\n"
        "intent: {concepts: [{name: b, terms: [back up]}]}\n"
        "tasks:\n  - {id: t1, type: backup_state, module: system, parameters: {nope: 1}}\n"
    )
    with pytest.raises(WorkflowLoadError, match=r"(?s)bad_params\.yaml.*nope"):
        TemplatePlanner(registry, tmp_path)


def test_unknown_placeholder_fails_at_load(tmp_path: Path, registry: TaskRegistry) -> None:
    (tmp_path / "typo.yaml").write_text(
        "id: typo\ntitle: Typo\nexample: analyse my portfolio\n"
        "intent: {concepts: [{name: p, terms: [portfolio]}]}\n"
        "tasks:\n  - {id: t1, type: analyze_portfolio, module: portfolio,\n"
        "     parameters: {portfolio_id: '{portfolio}'}}\n"
    )
    with pytest.raises(WorkflowLoadError, match=r"typo\.yaml.*\{portfolio\}"):
        TemplatePlanner(registry, tmp_path)


def test_equal_matches_are_ambiguous(tmp_path: Path, registry: TaskRegistry) -> None:
    for wid in ("first", "second"):
        (tmp_path / f"{wid}.yaml").write_text(
            f"id: {wid}\ntitle: {wid}\nexample: back up my state\n"
            "intent: {concepts: [{name: b, terms: [back up]}]}\n"
            "tasks:\n  - {id: t1, type: backup_state, module: system}\n"
        )
    planner = TemplatePlanner(registry, tmp_path)
    with pytest.raises(NoMatchingWorkflow, match="could mean any of first, second"):
        planner.match("please back up everything")


def test_dependency_types_in_templates_are_typed(planner: TemplatePlanner) -> None:
    for wf in planner.workflows.values():
        assert all(isinstance(d.type, DependencyType) for d in wf.template.dependencies)
