"""validate_chain: every rule, each problem naming the task(s) a backend has to fix."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.dag import ChainValidationError, Graph, Problem, validate_chain
from orchestrator.models import AITask, TaskChain, TaskDependency, UserGoal
from tasks.builtin import default_registry
from tasks.registry import TaskRegistry

REGISTRY: TaskRegistry = default_registry()

HEALTH: dict[str, Any] = {"type": "monitor_health", "module": "system"}


def task(task_id: str, **fields: Any) -> AITask:
    data = {**HEALTH, **fields, "id": task_id}
    return AITask.model_validate(data)


def dep(src: str, dst: str, kind: str = "prerequisite") -> TaskDependency:
    return TaskDependency.model_validate({"from": src, "to": dst, "type": kind})


def chain(
    tasks: list[AITask], deps: list[TaskDependency] | None = None, chain_id: str = "chain_test"
) -> TaskChain:
    return TaskChain(
        id=chain_id,
        goal=UserGoal(description="test the validator"),
        tasks=tasks,
        dependencies=deps or [],
    )


def problems_of(task_chain: TaskChain) -> tuple[list[Problem], str]:
    with pytest.raises(ChainValidationError) as info:
        validate_chain(task_chain, REGISTRY)
    assert info.value.chain_id == task_chain.id
    assert task_chain.id in str(info.value)
    return info.value.problems, str(info.value)


def only_problem(task_chain: TaskChain) -> tuple[Problem, str]:
    problems, text = problems_of(task_chain)
    assert len(problems) == 1, problems
    return problems[0], text


# --- structure -----------------------------------------------------------------------------


def test_valid_chain_returns_its_graph() -> None:
    graph = validate_chain(chain([task("a"), task("b")], [dep("a", "b")]), REGISTRY)
    assert isinstance(graph, Graph)
    assert graph.parents["b"] == frozenset({"a"})
    assert graph.parents["a"] == frozenset()


def test_duplicate_task_ids_are_named() -> None:
    problem, text = only_problem(chain([task("a"), task("dup"), task("dup")]))
    assert problem.task_ids == ("dup",)
    assert "2 times" in problem.message
    assert "[dup]" in text


def test_dependency_on_unknown_task_is_named() -> None:
    problem, text = only_problem(chain([task("a")], [dep("a", "ghost")]))
    assert problem.task_ids == ("a", "ghost")
    assert "unknown task(s): ghost" in problem.message
    assert "ghost" in text


def test_self_dependency_is_named() -> None:
    problem, text = only_problem(chain([task("a"), task("loop")], [dep("loop", "loop")]))
    assert problem.task_ids == ("loop",)
    assert "itself" in problem.message
    assert "[loop]" in text


def test_repeated_dependency_is_named() -> None:
    problem, _ = only_problem(chain([task("a"), task("b")], [dep("a", "b"), dep("a", "b")]))
    assert problem.task_ids == ("a", "b")
    assert "repeated" in problem.message


def test_cycle_names_exactly_the_tasks_on_the_cycle() -> None:
    tasks = [task("start"), task("x"), task("y"), task("z"), task("end")]
    deps = [dep("start", "x"), dep("x", "y"), dep("y", "z"), dep("z", "x"), dep("z", "end")]
    problem, text = only_problem(chain(tasks, deps))
    assert set(problem.task_ids) == {"x", "y", "z"}
    assert len(problem.task_ids) == 3
    assert "cycle" in problem.message
    for name in ("x", "y", "z"):
        assert name in text
    assert "start" not in problem.task_ids
    assert "end" not in problem.task_ids


# --- per task ------------------------------------------------------------------------------


def test_module_not_matching_type_is_named() -> None:
    bad = task(
        "analysis", type="analyze_portfolio", module="system", parameters={"portfolio_id": "p1"}
    )
    problem, text = only_problem(chain([task("a"), bad]))
    assert problem.task_ids == ("analysis",)
    assert "portfolio" in problem.message
    assert "system" in problem.message
    assert "[analysis]" in text


def test_invalid_parameters_are_named_with_each_field() -> None:
    bad = task(
        "trade",
        type="execute_trade",
        module="portfolio",
        parameters={"symbol": "AAPL", "side": "buy", "quantity": -1},
    )
    problem, text = only_problem(chain([task("a"), bad]))
    assert problem.task_ids == ("trade",)
    assert "quantity" in problem.message
    assert "portfolio_id" in problem.message
    assert "[trade]" in text


def test_unknown_parameter_name_is_named() -> None:
    bad = task("h", parameters={"checks": ["redis"], "verbose": True})
    problem, _ = only_problem(chain([bad]))
    assert problem.task_ids == ("h",)
    assert "verbose" in problem.message


def test_unknown_task_type_is_named_and_lists_known_types() -> None:
    bad = task("mystery", type="fetch_quotes", module="portfolio")
    problem, text = only_problem(chain([task("a"), bad]))
    assert problem.task_ids == ("mystery",)
    assert "fetch_quotes" in problem.message
    assert "monitor_health" in problem.message
    assert "[mystery]" in text


def test_custom_type_validates_once_registered() -> None:
    from pydantic import BaseModel, ConfigDict

    class QuotesParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        symbols: list[str]

    registry = default_registry()
    registry.register(
        "fetch_quotes",
        module=registry.get("analyze_portfolio").module,
        params=QuotesParams,
        handler=lambda p, i, c: p,
    )
    ok = chain(
        [task("q", type="fetch_quotes", module="portfolio", parameters={"symbols": ["AAPL"]})]
    )
    validate_chain(ok, registry)
    with pytest.raises(ChainValidationError) as info:
        validate_chain(chain([task("q", type="fetch_quotes", module="portfolio")]), registry)
    assert info.value.problems[0].task_ids == ("q",)


def test_output_ref_to_task_not_upstream_names_both_and_suggests_the_dependency() -> None:
    consumer = task(
        "code",
        type="generate_code",
        module="workspace",
        parameters={"code_type": "bot", "context_data": "sibling_results"},
    )
    problem, text = only_problem(
        chain(
            [task("root"), task("sibling"), consumer], [dep("root", "sibling"), dep("root", "code")]
        )
    )
    assert problem.task_ids == ("code", "sibling")
    assert "not upstream" in problem.message
    assert "add a dependency sibling -> code" in problem.message
    assert "sibling -> code" in text


def test_output_ref_to_downstream_task_is_not_upstream() -> None:
    consumer = task(
        "code",
        type="generate_code",
        module="workspace",
        parameters={"code_type": "bot", "context_data": "later_results"},
    )
    problem, _ = only_problem(chain([consumer, task("later")], [dep("code", "later")]))
    assert problem.task_ids == ("code", "later")


def test_output_ref_to_transitive_ancestor_is_accepted() -> None:
    consumer = task(
        "code",
        type="generate_code",
        module="workspace",
        parameters={"code_type": "bot", "context_data": "first_results"},
    )
    validate_chain(
        chain([task("first"), task("mid"), consumer], [dep("first", "mid"), dep("mid", "code")]),
        REGISTRY,
    )


def test_output_ref_to_nonexistent_task_is_named() -> None:
    consumer = task(
        "code",
        type="generate_code",
        module="workspace",
        parameters={"code_type": "bot", "context_data": "nobody_results"},
    )
    problem, text = only_problem(chain([task("a"), consumer], [dep("a", "code")]))
    assert problem.task_ids == ("code",)
    assert "no task 'nobody'" in problem.message
    assert "nobody_results" in text


def test_condition_naming_unknown_task_is_named() -> None:
    bad = task("b", preconditions=[{"kind": "output_present", "task_id": "phantom"}])
    problem, _ = only_problem(chain([task("a"), bad]))
    assert problem.task_ids == ("b",)
    assert "phantom" in problem.message


def test_validate_data_source_naming_a_task_that_is_not_upstream_is_reported() -> None:
    checker = task(
        "check",
        type="validate_data",
        module="system",
        parameters={"test_type": "integration", "data_source": "producer_data"},
    )
    problems, _ = problems_of(chain([task("producer"), checker]))  # no producer -> check edge
    assert any(set(p.task_ids) == {"check", "producer"} for p in problems)


def test_output_present_precondition_on_a_task_that_is_not_upstream_is_reported() -> None:
    gated = task("gated", preconditions=[{"kind": "output_present", "task_id": "other"}])
    problems, _ = problems_of(chain([task("other"), gated]))  # no other -> gated edge
    assert any("gated" in p.task_ids and "other" in p.task_ids for p in problems)


# --- all at once -----------------------------------------------------------------------------


def test_all_problems_are_collected_in_one_error() -> None:
    tasks = [
        task("ok"),
        task(
            "wrong_module",
            type="analyze_portfolio",
            module="workspace",
            parameters={"portfolio_id": "p"},
        ),
        task(
            "bad_params",
            type="execute_trade",
            module="portfolio",
            parameters={"portfolio_id": "p", "symbol": "aapl", "side": "hold", "quantity": 1},
        ),
        task("unknown", type="teleport", module="system"),
    ]
    problems, text = problems_of(chain(tasks, [dep("ok", "missing")]))
    named = [p.task_ids for p in problems]
    assert ("ok", "missing") in named
    assert ("wrong_module",) in named
    assert ("bad_params",) in named
    assert ("unknown",) in named
    assert len(problems) == 4
    assert "4 problem(s)" in text
    bad_params = next(p for p in problems if p.task_ids == ("bad_params",))
    assert "symbol" in bad_params.message
    assert "side" in bad_params.message


def test_cycle_and_task_problems_are_reported_together() -> None:
    tasks = [
        task("a"),
        task("b"),
        task("c", type="execute_trade", module="portfolio", parameters={}),
    ]
    problems, _ = problems_of(chain(tasks, [dep("a", "b"), dep("b", "a")]))
    assert {frozenset(p.task_ids) for p in problems} == {frozenset({"a", "b"}), frozenset({"c"})}


# --- the specification's examples --------------------------------------------------------------


def _spec_example_1() -> TaskChain:
    return TaskChain.model_validate(
        {
            "id": "chain_001",
            "goal": {
                "id": "goal_001",
                "description": "Create a new trading bot for my portfolio",
                "priority": "high",
                "context": {
                    "portfolio_id": "portfolio_123",
                    "current_module": "workspace",
                    "user_preferences": {"language": "typescript", "framework": "node"},
                },
            },
            "tasks": [
                {
                    "id": "task_001",
                    "type": "analyze_portfolio",
                    "module": "portfolio",
                    "parameters": {"portfolio_id": "portfolio_123", "analysis_depth": "detailed"},
                },
                {
                    "id": "task_002",
                    "type": "create_project",
                    "module": "workspace",
                    "parameters": {
                        "template": "nodejs-trading-bot",
                        "name": "my-trading-bot",
                        "dependencies": ["trading-api", "portfolio-analytics"],
                    },
                },
                {
                    "id": "task_003",
                    "type": "generate_code",
                    "module": "workspace",
                    "parameters": {
                        "file_type": "typescript",
                        "code_type": "trading-bot",
                        "context_data": "task_001_results",
                    },
                },
                {
                    "id": "task_004",
                    "type": "validate_data",
                    "module": "system",
                    "parameters": {
                        "test_type": "simulation",
                        "data_source": "historical_market_data",
                    },
                },
            ],
            "dependencies": [
                {"from": "task_001", "to": "task_003", "type": "data_flow"},
                {"from": "task_002", "to": "task_003", "type": "prerequisite"},
                {"from": "task_003", "to": "task_004", "type": "validation"},
            ],
            "estimated_duration_ms": 300000,
            "confidence_score": 0.85,
        }
    )


def _spec_example_2() -> TaskChain:
    return TaskChain.model_validate(
        {
            "id": "complex_chain_001",
            "goal": {
                "id": "complex_001",
                "description": "Analyze my portfolio performance and create a custom "
                "report generator",
                "priority": "high",
                "context": {
                    "portfolio_id": "port_123",
                    "project_id": "proj_456",
                    "current_module": "dashboard",
                    "user_preferences": {
                        "report_format": "pdf",
                        "language": "typescript",
                        "chart_library": "recharts",
                    },
                },
            },
            "tasks": [
                {
                    "id": "task_001",
                    "type": "analyze_portfolio",
                    "module": "portfolio",
                    "parameters": {
                        "portfolio_id": "port_123",
                        "analysis_type": "comprehensive",
                        "timeframe": "1year",
                        "include_benchmarks": True,
                        "risk_metrics": ["sharpe", "volatility", "beta", "var"],
                        "performance_metrics": ["total_return", "annualized_return", "drawdown"],
                    },
                },
                {
                    "id": "task_002",
                    "type": "research_topic",
                    "module": "ai-assistant",
                    "parameters": {
                        "topics": ["market_trends", "sector_performance"],
                        "timeframe": "task_001_timeframe",
                        "correlate_with": "portfolio_holdings",
                    },
                },
                {
                    "id": "task_003",
                    "type": "analyze_context",
                    "module": "ai-assistant",
                    "parameters": {
                        "analysis_type": "report_requirements",
                        "user_preferences": "from_context",
                        "portfolio_data": "task_001_results",
                        "market_data": "task_002_results",
                    },
                },
                {
                    "id": "task_004",
                    "type": "create_project",
                    "module": "workspace",
                    "parameters": {
                        "template": "report_generator",
                        "name": "portfolio-report-generator",
                        "dependencies": ["recharts", "jspdf", "portfolio-api"],
                        "structure": "task_003_structure",
                    },
                },
                {
                    "id": "task_005",
                    "type": "generate_code",
                    "module": "workspace",
                    "parameters": {
                        "code_type": "report_generator",
                        "features": ["chart_generation", "pdf_export", "data_visualization"],
                        "portfolio_schema": "task_001_schema",
                        "report_structure": "task_003_structure",
                    },
                },
                {
                    "id": "task_006",
                    "type": "validate_data",
                    "module": "system",
                    "parameters": {
                        "test_type": "integration",
                        "data_source": "task_001_data",
                        "validation_criteria": [
                            "chart_accuracy",
                            "pdf_generation",
                            "data_integrity",
                        ],
                    },
                },
                {
                    "id": "task_007",
                    "type": "generate_code",
                    "module": "workspace",
                    "parameters": {
                        "code_type": "documentation",
                        "document_types": ["readme", "api_docs", "user_guide"],
                        "code_context": "task_005_code",
                    },
                },
            ],
            "dependencies": [
                {"from": "task_001", "to": "task_002", "type": "data_flow"},
                {"from": "task_001", "to": "task_003", "type": "data_flow"},
                {"from": "task_002", "to": "task_003", "type": "data_flow"},
                {"from": "task_003", "to": "task_004", "type": "prerequisite"},
                {"from": "task_003", "to": "task_005", "type": "data_flow"},
                {"from": "task_004", "to": "task_005", "type": "prerequisite"},
                {"from": "task_005", "to": "task_006", "type": "validation"},
                {"from": "task_005", "to": "task_007", "type": "data_flow"},
            ],
            "estimated_duration_ms": 600000,
            "confidence_score": 0.82,
        }
    )


def test_spec_example_1_trading_bot_validates() -> None:
    graph = validate_chain(_spec_example_1(), REGISTRY)
    assert graph.parents["task_003"] == frozenset({"task_001", "task_002"})
    assert graph.levels() == [["task_001", "task_002"], ["task_003"], ["task_004"]]


def test_spec_example_2_report_generator_validates() -> None:
    graph = validate_chain(_spec_example_2(), REGISTRY)
    assert graph.ancestors("task_007") == {
        "task_001",
        "task_002",
        "task_003",
        "task_004",
        "task_005",
    }


def test_spec_example_2_breaks_when_a_referenced_dependency_is_removed() -> None:
    broken = _spec_example_2()
    broken.dependencies = [
        d for d in broken.dependencies if (d.from_task, d.to_task) != ("task_005", "task_007")
    ]
    problems, _ = problems_of(broken)
    assert [p.task_ids for p in problems] == [("task_007", "task_005")]
