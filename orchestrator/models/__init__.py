"""Pydantic models of the specification (snake_case), strict: unknown fields are errors."""

from orchestrator.models.chain import (
    AITask,
    Condition,
    ConditionKind,
    FallbackStrategy,
    RetryPolicy,
    TaskChain,
    TaskDependency,
)
from orchestrator.models.enums import (
    MODULE_OF,
    DependencyType,
    ErrorType,
    FailureStatus,
    Module,
    Priority,
    RecoveryType,
    ResultStatus,
    RiskLevel,
    RunState,
    RunStatus,
    TaskState,
    TaskType,
)
from orchestrator.models.goal import GoalConstraints, GoalContext, ResourceLimits, UserGoal
from orchestrator.models.params import PARAMS_OF
from orchestrator.models.refs import OutputRef, output_refs
from orchestrator.models.results import (
    AdaptiveAction,
    ContextUpdate,
    ExecutionLearning,
    ExecutionResult,
    ExecutionStatus,
    RecoveryAttempt,
    ResourceUsage,
    TaskError,
    TaskFailure,
    TaskResult,
    TaskStatus,
)

__all__ = [
    # The plan
    "MODULE_OF",
    "PARAMS_OF",
    "AITask",
    # Execution
    "AdaptiveAction",
    "Condition",
    "ConditionKind",
    "ContextUpdate",
    "DependencyType",
    "ErrorType",
    "ExecutionLearning",
    "ExecutionResult",
    "ExecutionStatus",
    "FailureStatus",
    "FallbackStrategy",
    # The goal
    "GoalConstraints",
    "GoalContext",
    "Module",
    "OutputRef",
    "Priority",
    "RecoveryAttempt",
    "RecoveryType",
    "ResourceLimits",
    "ResourceUsage",
    "ResultStatus",
    "RetryPolicy",
    "RiskLevel",
    "RunState",
    "RunStatus",
    "TaskChain",
    "TaskDependency",
    "TaskError",
    "TaskFailure",
    "TaskResult",
    "TaskState",
    "TaskStatus",
    "TaskType",
    "UserGoal",
    "output_refs",
]
