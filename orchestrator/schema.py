"""JSON Schemas a backend in any language can build requests from."""

from __future__ import annotations

from typing import Any

from orchestrator.models import TaskChain, UserGoal
from tasks.builtin import default_registry
from tasks.registry import TaskRegistry


def goal_schema() -> dict[str, Any]:
    return UserGoal.model_json_schema(by_alias=True)


def chain_schema(registry: TaskRegistry | None = None) -> dict[str, Any]:
    """TaskChain's schema plus ``x-task-parameters``: each task type's parameters schema."""
    registry = registry or default_registry()
    schema = TaskChain.model_json_schema(by_alias=True)
    schema["x-task-parameters"] = {
        spec.task_type: {
            "module": spec.module.value,
            "schema": spec.params_model.model_json_schema(),
        }
        for spec in registry
    }
    return schema
