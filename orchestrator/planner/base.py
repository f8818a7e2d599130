"""The planner interface of the specification (snake_case) and what it returns or raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import Field

from orchestrator.models import GoalContext, RiskLevel, TaskChain, UserGoal
from orchestrator.models.base import StrictModel


class GoalAnalysis(StrictModel):
    """What the planner understood of a goal before planning it."""

    goal_id: str
    workflow_id: str
    workflow_title: str = ""
    score: float = Field(ge=0, le=1)
    matched_terms: list[str] = Field(default_factory=list)
    matched_concepts: list[str] = Field(default_factory=list)
    modules: list[str] = Field(default_factory=list)
    task_types: list[str] = Field(default_factory=list)
    #: Identifiers the goal carries (``portfolio_id``, ``project_id``), by field name.
    entities: dict[str, str] = Field(default_factory=dict)
    #: Context fields the workflow needs and the goal lacks.
    missing_context: list[str] = Field(default_factory=list)
    #: ``low`` (<= 2 tasks), ``medium`` (<= 4), ``high`` (more, or more than 2 modules).
    estimated_complexity: RiskLevel = RiskLevel.LOW


class PlanConstraints(StrictModel):
    """Limits ``optimize_plan`` fits a chain into."""

    max_execution_time_s: float | None = Field(default=None, gt=0)
    max_parallel_tasks: int | None = Field(default=None, gt=0)
    risk_tolerance: RiskLevel | None = None


@runtime_checkable
class TaskPlanner(Protocol):
    """Turns a goal in plain words into a validated :class:`TaskChain`."""

    def create_task_chain(self, goal: UserGoal) -> TaskChain: ...

    def analyze_goal(self, goal: UserGoal) -> GoalAnalysis: ...

    def optimize_plan(self, chain: TaskChain, constraints: PlanConstraints) -> TaskChain: ...

    def adapt_plan(self, chain: TaskChain, new_context: GoalContext) -> TaskChain: ...


#: The CLI flag that supplies each goal-context field.
CONTEXT_FLAGS: dict[str, str] = {
    "portfolio_id": "--portfolio",
    "project_id": "--project",
}


class NoMatchingWorkflow(ValueError):
    """No workflow fits the goal; the message lists what can be planned, with examples."""

    def __init__(
        self,
        description: str,
        workflows: Sequence[tuple[str, str]],
        reason: str = "no workflow matches",
    ) -> None:
        self.description = description
        self.workflows = list(workflows)
        self.reason = reason
        lines = "\n".join(f'  - {wid}: e.g. "{example}"' for wid, example in self.workflows)
        super().__init__(
            f"cannot plan {description!r}: {reason}. Goals the planner can plan:\n{lines}"
        )


class MissingGoalContext(ValueError):
    """The matched workflow needs context fields (e.g. a portfolio id) the goal lacks."""

    def __init__(self, workflow_id: str, fields: Sequence[str]) -> None:
        self.workflow_id = workflow_id
        self.fields = list(fields)
        parts = [
            f"{name} (pass {CONTEXT_FLAGS[name]})" if name in CONTEXT_FLAGS else name
            for name in self.fields
        ]
        super().__init__(f"workflow {workflow_id!r} needs {', '.join(parts)} in the goal's context")
