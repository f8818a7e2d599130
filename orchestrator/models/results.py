"""What running a chain produces: task results, failures, the run's result and status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from orchestrator.models.base import StrictModel
from orchestrator.models.enums import (
    ErrorType,
    FailureStatus,
    RecoveryType,
    ResultStatus,
    RunState,
    RunStatus,
    TaskState,
)


class ResourceUsage(StrictModel):
    cpu_time_ms: float = 0.0
    wall_time_ms: float = 0.0


class ContextUpdate(StrictModel):
    key: str
    value: Any = None


class TaskError(StrictModel):
    type: ErrorType
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class RecoveryAttempt(StrictModel):
    """One strategy applied to one failure; ``succeeded`` is None while it is in progress."""

    strategy: RecoveryType
    error_type: ErrorType | None = None
    attempt: int = 1
    started_at: datetime
    finished_at: datetime | None = None
    succeeded: bool | None = None
    detail: str = ""


class TaskResult(StrictModel):
    task_id: str
    status: ResultStatus = ResultStatus.SUCCESS
    output: Any = None
    duration_ms: float = 0.0
    resource_usage: ResourceUsage = Field(default_factory=ResourceUsage)
    context_updates: list[ContextUpdate] = Field(default_factory=list)
    degraded: bool = False


class TaskFailure(StrictModel):
    task_id: str
    error: TaskError
    attempt_count: int = 1
    recovery_attempts: list[RecoveryAttempt] = Field(default_factory=list)
    final_status: FailureStatus = FailureStatus.FAILED


class AdaptiveAction(StrictModel):
    id: str
    type: str
    description: str = ""
    target_task_id: str | None = None


class ExecutionLearning(StrictModel):
    key: str
    value: Any = None


class ExecutionResult(StrictModel):
    chain_id: str
    run_id: str
    status: RunStatus
    completed_tasks: list[TaskResult] = Field(default_factory=list)
    failed_tasks: list[TaskFailure] = Field(default_factory=list)
    duration_ms: float = 0.0
    adaptive_actions: list[AdaptiveAction] = Field(default_factory=list)
    learnings: list[ExecutionLearning] = Field(default_factory=list)
    #: Tasks whose output came from graceful degradation (a fallback, or a cached output).
    degraded_tasks: list[str] = Field(default_factory=list)


class TaskStatus(StrictModel):
    """One task's live state as ``status`` and ``watch`` show it."""

    task_id: str
    type: str
    module: str
    state: TaskState = TaskState.PENDING
    queue: str | None = None
    worker: str | None = None
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error: TaskError | None = None
    reason: str | None = None
    degraded: bool = False
    recovery_attempts: list[RecoveryAttempt] = Field(default_factory=list)


class ExecutionStatus(StrictModel):
    run_id: str
    chain_id: str
    user_id: str
    goal: str
    state: RunState
    tasks: list[TaskStatus]
    submitted_at: datetime
    finished_at: datetime | None = None
    cancel_requested: bool = False
    pause_requested: bool = False

    @property
    def progress(self) -> float:
        """Fraction of tasks in a final state."""
        done = sum(1 for t in self.tasks if t.state.is_final)
        return done / len(self.tasks) if self.tasks else 1.0
