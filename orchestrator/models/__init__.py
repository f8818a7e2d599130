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
    # The goal
    "GoalConstraints",
    "GoalContext",
    "Priority",
    "ResourceLimits",
    "RiskLevel",
    "UserGoal",
    # The plan
    "MODULE_OF",
    "PARAMS_OF",
    "AITask",
    "Condition",
    "ConditionKind",
    "DependencyType",
    "FallbackStrategy",
    "Module",
    "OutputRef",
    "RetryPolicy",
    "TaskChain",
    "TaskDependency",
    "TaskType",
    "output_refs",
    # Execution
    "AdaptiveAction",
    "ContextUpdate",
    "ErrorType",
    "ExecutionLearning",
    "ExecutionResult",
    "ExecutionStatus",
    "FailureStatus",
    "RecoveryAttempt",
    "RecoveryType",
    "ResourceUsage",
    "ResultStatus",
    "RunState",
    "RunStatus",
    "TaskError",
    "TaskFailure",
    "TaskResult",
    "TaskState",
    "TaskStatus",
]
