"""TaskChain: the plan, a DAG of typed tasks over the four modules."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from orchestrator.models.base import StrictModel
from orchestrator.models.enums import DependencyType, Module, RecoveryType, RiskLevel, TaskType
from orchestrator.models.goal import UserGoal

TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")]
#: A task type a user registered beside the built-in ones.
CustomTaskType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class RetryPolicy(StrictModel):
    """How often and how patiently a failing task is retried (applied by recovery)."""

    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    jitter: bool = True


class ConditionKind(StrEnum):
    """What a condition checks.

    ``dependencies_succeeded``: every upstream task succeeded. ``output_present``: the
    task (or, for a precondition, the named upstream task) produced an output.
    """

    DEPENDENCIES_SUCCEEDED = "dependencies_succeeded"
    OUTPUT_PRESENT = "output_present"


class Condition(StrictModel):
    """A pre- or postcondition. A failed task with a critical precondition aborts the run."""

    kind: ConditionKind = ConditionKind.DEPENDENCIES_SUCCEEDED
    description: str = Field(default="", max_length=500)
    critical: bool = False
    task_id: TaskId | None = None


class AITask(StrictModel):
    """One node of the plan. ``parameters`` are validated against the type's model."""

    id: TaskId
    type: TaskType | CustomTaskType = Field(union_mode="left_to_right")
    description: str = Field(default="", max_length=1000)
    module: Module
    parameters: dict[str, Any] = Field(default_factory=dict)
    preconditions: list[Condition] = Field(default_factory=list)
    postconditions: list[Condition] = Field(default_factory=list)
    timeout_s: float = Field(default=300.0, gt=0, le=24 * 3600)
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)


class TaskDependency(StrictModel):
    """An edge of the DAG; JSON spells the ends ``from`` and ``to`` as the spec does."""

    from_task: TaskId = Field(alias="from")
    to_task: TaskId = Field(alias="to")
    type: DependencyType = DependencyType.PREREQUISITE


class FallbackStrategy(StrictModel):
    """A plan-level fallback the planner proposes (used by the recovery layer)."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    type: RecoveryType
    description: str = Field(default="", max_length=500)
    applies_to: list[TaskId] = Field(default_factory=list)
    risk_level: RiskLevel = RiskLevel.LOW


def new_chain_id() -> str:
    return f"chain_{uuid.uuid4().hex[:12]}"


class TaskChain(StrictModel):
    """The plan for one goal: tasks, their dependencies, and what the planner expects."""

    id: TaskId = Field(default_factory=new_chain_id)
    goal: UserGoal
    tasks: list[AITask] = Field(min_length=1, max_length=500)
    dependencies: list[TaskDependency] = Field(default_factory=list)
    estimated_duration_ms: int = Field(default=0, ge=0)
    confidence_score: float = Field(default=0.5, ge=0, le=1)
    fallback_strategies: list[FallbackStrategy] = Field(default_factory=list)

    def task(self, task_id: str) -> AITask:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)
