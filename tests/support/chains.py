"""Building test chains from a compact description."""

from __future__ import annotations

from typing import Any

from orchestrator.models import (
    AITask,
    Condition,
    Module,
    TaskChain,
    TaskDependency,
    UserGoal,
)
from tests.support.plugin import STEP_TYPES


def step_task(
    task_id: str, module: Module = Module.SYSTEM, *, critical: bool = False, **params: Any
) -> AITask:
    return AITask(
        id=task_id,
        type=STEP_TYPES[module],
        module=module,
        parameters=params,
        preconditions=[Condition(critical=True, description="must succeed")] if critical else [],
    )


def build_chain(
    tasks: list[AITask],
    edges: list[tuple[str, str]] | list[tuple[str, str, str]],
    description: str = "test chain",
) -> TaskChain:
    dependencies = []
    for edge in edges:
        src, dst, *kind = edge
        dependencies.append(
            TaskDependency.model_validate(
                {"from": src, "to": dst, "type": kind[0] if kind else "data_flow"}
            )
        )
    return TaskChain(goal=UserGoal(description=description), tasks=tasks, dependencies=dependencies)
