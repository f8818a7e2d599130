"""The request models: strict, enum-checked, spec-shaped JSON, and self-describing schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from orchestrator.models import (
    MODULE_OF,
    PARAMS_OF,
    AITask,
    DependencyType,
    GoalConstraints,
    GoalContext,
    Module,
    OutputRef,
    Priority,
    RiskLevel,
    TaskChain,
    TaskDependency,
    TaskType,
    UserGoal,
    output_refs,
)
from orchestrator.schema import chain_schema, goal_schema

GOAL = {"description": "Check that the system is healthy"}
TASK = {"id": "t1", "type": "monitor_health", "module": "system"}


def _error_types(exc: ValidationError) -> set[tuple[str, tuple[Any, ...]]]:
    return {(e["type"], tuple(e["loc"])) for e in exc.errors()}


def _assert_extra_rejected(model: type[BaseModel], data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate({**data, "surprise": 1})
    assert ("extra_forbidden", ("surprise",)) in _error_types(info.value)


# --- strictness --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (UserGoal, GOAL),
        (GoalContext, {}),
        (GoalConstraints, {}),
        (AITask, TASK),
        (TaskDependency, {"from": "a", "to": "b"}),
        (TaskChain, {"goal": GOAL, "tasks": [TASK]}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_unknown_fields_are_rejected_by_request_models(
    model: type[BaseModel], data: dict[str, Any]
) -> None:
    model.model_validate(data)  # valid without the extra field
    _assert_extra_rejected(model, data)


def test_unknown_field_nested_inside_a_chain_is_rejected_with_its_location() -> None:
    data = {"goal": {**GOAL, "context": {"portfolioId": "p1"}}, "tasks": [TASK]}
    with pytest.raises(ValidationError) as info:
        TaskChain.model_validate(data)
    assert ("extra_forbidden", ("goal", "context", "portfolioId")) in _error_types(info.value)


@pytest.mark.parametrize("task_type", list(TaskType), ids=str)
def test_unknown_parameters_are_rejected_for_every_builtin_type(task_type: TaskType) -> None:
    with pytest.raises(ValidationError) as info:
        PARAMS_OF[task_type].model_validate({"surprise": 1})
    assert ("extra_forbidden", ("surprise",)) in _error_types(info.value)


def test_every_builtin_type_has_a_module_and_a_parameters_model() -> None:
    assert set(MODULE_OF) == set(TaskType)
    assert set(PARAMS_OF) == set(TaskType)
    assert len(TaskType) == 17


# --- enums -------------------------------------------------------------------------------


def test_priority_is_an_enum() -> None:
    assert UserGoal.model_validate({**GOAL, "priority": "high"}).priority is Priority.HIGH
    with pytest.raises(ValidationError) as info:
        UserGoal.model_validate({**GOAL, "priority": "urgent"})
    assert ("enum", ("priority",)) in _error_types(info.value)


def test_risk_tolerance_is_an_enum() -> None:
    ok = GoalConstraints.model_validate({"risk_tolerance": "low"})
    assert ok.risk_tolerance is RiskLevel.LOW
    with pytest.raises(ValidationError):
        GoalConstraints.model_validate({"risk_tolerance": "reckless"})


def test_module_is_an_enum_and_ai_assistant_uses_the_assistant_queue() -> None:
    task = AITask.model_validate({**TASK, "type": "research_topic", "module": "ai-assistant"})
    assert task.module is Module.AI_ASSISTANT
    assert task.module.queue == "assistant"
    assert Module.PORTFOLIO.queue == "portfolio"
    with pytest.raises(ValidationError) as info:
        AITask.model_validate({**TASK, "module": "trading"})
    assert ("enum", ("module",)) in _error_types(info.value)


def test_dependency_type_is_an_enum() -> None:
    dep = TaskDependency.model_validate({"from": "a", "to": "b", "type": "validation"})
    assert dep.type is DependencyType.VALIDATION
    with pytest.raises(ValidationError):
        TaskDependency.model_validate({"from": "a", "to": "b", "type": "eventually"})


# --- field shapes ------------------------------------------------------------------------


def test_dependency_json_uses_from_and_to() -> None:
    dep = TaskDependency.model_validate({"from": "task_001", "to": "task_003", "type": "data_flow"})
    assert (dep.from_task, dep.to_task) == ("task_001", "task_003")
    dumped = json.loads(dep.model_dump_json(by_alias=True))
    assert dumped == {"from": "task_001", "to": "task_003", "type": "data_flow"}


def test_chain_schema_spells_dependency_ends_from_and_to() -> None:
    dep_schema = chain_schema()["$defs"]["TaskDependency"]
    assert {"from", "to"} <= set(dep_schema["properties"])
    assert "from_task" not in dep_schema["properties"]


def test_builtin_task_type_parses_to_the_enum() -> None:
    task = AITask.model_validate({**TASK, "type": "analyze_portfolio", "module": "portfolio"})
    assert task.type is TaskType.ANALYZE_PORTFOLIO


def test_custom_lower_snake_case_task_type_is_accepted_as_a_string() -> None:
    task = AITask.model_validate({**TASK, "type": "fetch_quotes", "module": "portfolio"})
    assert task.type == "fetch_quotes"
    assert not isinstance(task.type, TaskType)


@pytest.mark.parametrize("bad", ["FetchQuotes", "fetch-quotes", "1fetch", "", "fetch quotes"])
def test_task_type_that_is_not_lower_snake_case_is_rejected(bad: str) -> None:
    with pytest.raises(ValidationError):
        AITask.model_validate({**TASK, "type": bad})


@pytest.mark.parametrize("bad", ["", "has space", "_leading", "a/b", "x" * 65])
def test_task_ids_are_restricted(bad: str) -> None:
    with pytest.raises(ValidationError):
        AITask.model_validate({**TASK, "id": bad})


def test_chain_needs_at_least_one_task() -> None:
    with pytest.raises(ValidationError):
        TaskChain.model_validate({"goal": GOAL, "tasks": []})


# --- output references ---------------------------------------------------------------------


REF = TypeAdapter(OutputRef)


@pytest.mark.parametrize(
    ("text", "task_id", "part"),
    [
        ("task_001_results", "task_001", "results"),
        ("task_003_structure", "task_003", "structure"),
        ("load_data_results", "load_data", "results"),
        ("a_results_results", "a_results", "results"),
        ("step-2_code", "step-2", "code"),
    ],
)
def test_output_ref_splits_task_id_and_part(text: str, task_id: str, part: str) -> None:
    ref = REF.validate_python(text)
    assert isinstance(ref, OutputRef)
    assert (ref.task_id, ref.part) == (task_id, part)
    assert ref == text


@pytest.mark.parametrize("bad", ["task_001_bogus", "task_001", "_results", "results", ""])
def test_output_ref_rejects_unknown_parts_and_missing_task_ids(bad: str) -> None:
    with pytest.raises(ValidationError):
        REF.validate_python(bad)


def test_output_refs_are_found_inside_validated_parameters() -> None:
    params = PARAMS_OF[TaskType.ANALYZE_CONTEXT].model_validate(
        {
            "analysis_type": "report_requirements",
            "portfolio_data": "task_001_results",
            "market_data": "task_002_results",
        }
    )
    assert sorted(r.task_id for r in output_refs(params)) == ["task_001", "task_002"]


def test_output_ref_parameter_rejects_a_malformed_reference() -> None:
    with pytest.raises(ValidationError) as info:
        PARAMS_OF[TaskType.GENERATE_CODE].model_validate(
            {"code_type": "bot", "context_data": "task_001_bogus"}
        )
    assert any(e["loc"] == ("context_data",) for e in info.value.errors())


# --- JSON ----------------------------------------------------------------------------------


def _sample_chain() -> TaskChain:
    goal = UserGoal(
        description="Create a new trading bot for my portfolio",
        priority=Priority.HIGH,
        deadline=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        context=GoalContext(
            portfolio_id="portfolio_123",
            user_preferences={"language": "typescript", "tags": ["a", "b"]},
        ),
        constraints=GoalConstraints(max_execution_time_s=600, risk_tolerance=RiskLevel.LOW),
    )
    return TaskChain(
        id="chain_001",
        goal=goal,
        tasks=[
            AITask(
                id="task_001",
                type="analyze_portfolio",
                module="portfolio",
                parameters={"portfolio_id": "portfolio_123", "analysis_depth": "detailed"},
            ),
            AITask(
                id="task_002",
                type="fetch_quotes",
                module="portfolio",
                timeout_s=12.5,
                parameters={"symbols": ["AAPL"], "nested": {"x": [1, 2.5, None]}},
            ),
        ],
        dependencies=[
            TaskDependency.model_validate(
                {"from": "task_001", "to": "task_002", "type": "data_flow"}
            )
        ],
        estimated_duration_ms=300_000,
        confidence_score=0.85,
    )


def test_chain_json_round_trip_is_lossless() -> None:
    chain = _sample_chain()
    text = chain.model_dump_json(by_alias=True)
    assert '"from":"task_001"' in text
    again = TaskChain.model_validate_json(text)
    assert again == chain
    assert again.tasks[0].type is TaskType.ANALYZE_PORTFOLIO
    assert again.tasks[1].type == "fetch_quotes"


# --- JSON Schema ---------------------------------------------------------------------------


def test_goal_schema_forbids_additional_properties() -> None:
    schema = goal_schema()
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["GoalContext"]["additionalProperties"] is False
    assert set(schema["$defs"]["Priority"]["enum"]) == {p.value for p in Priority}
    assert UserGoal.model_json_schema()["additionalProperties"] is False


def test_chain_schema_describes_parameters_of_every_builtin_type() -> None:
    extra = chain_schema()["x-task-parameters"]
    assert set(extra) == {t.value for t in TaskType}
    for task_type in TaskType:
        entry = extra[task_type.value]
        assert entry["module"] == MODULE_OF[task_type].value
        assert entry["schema"]["additionalProperties"] is False
        assert entry["schema"]["title"] == PARAMS_OF[task_type].__name__


def test_chain_schema_parameter_schema_carries_constraints() -> None:
    trade = chain_schema()["x-task-parameters"]["execute_trade"]["schema"]
    assert set(trade["required"]) >= {"portfolio_id", "symbol", "side", "quantity"}
    assert trade["properties"]["quantity"]["exclusiveMinimum"] == 0
