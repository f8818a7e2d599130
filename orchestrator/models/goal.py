"""UserGoal: what a backend asks for, in plain words plus context and constraints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from orchestrator.models.base import StrictModel
from orchestrator.models.enums import Priority, RiskLevel

PreferenceValue = str | int | float | bool | list[str]


class ResourceLimits(StrictModel):
    max_parallel_tasks: int | None = Field(default=None, gt=0)
    max_memory_mb: int | None = Field(default=None, gt=0)


class GoalContext(StrictModel):
    """Where the user is and what the goal is about."""

    project_id: str | None = Field(default=None, min_length=1, max_length=128)
    portfolio_id: str | None = Field(default=None, min_length=1, max_length=128)
    current_module: str = Field(default="dashboard", min_length=1, max_length=64)
    user_preferences: dict[str, PreferenceValue] = Field(default_factory=dict)


class GoalConstraints(StrictModel):
    max_execution_time_s: float | None = Field(default=None, gt=0)
    resource_limits: ResourceLimits | None = None
    risk_tolerance: RiskLevel | None = None


def new_goal_id() -> str:
    return f"goal_{uuid.uuid4().hex[:12]}"


class UserGoal(StrictModel):
    """A goal in plain words; the planner turns it into a TaskChain."""

    id: str = Field(default_factory=new_goal_id, min_length=1, max_length=128)
    description: str = Field(min_length=3, max_length=2000)
    priority: Priority = Priority.MEDIUM
    deadline: datetime | None = None
    context: GoalContext = Field(default_factory=GoalContext)
    constraints: GoalConstraints = Field(default_factory=GoalConstraints)
