"""AI task orchestration on Celery: goals -> typed task DAGs -> per-module worker pools.

from orchestrator import Orchestrator, UserGoal

with Orchestrator.from_settings() as orch:
    run_id = orch.submit(UserGoal(description="Check system health and back up my state"))
    result = orch.wait(run_id, timeout_s=60)
"""

from orchestrator.control import Orchestrator, RunNotFound
from orchestrator.dag import ChainValidationError
from orchestrator.models import (
    AITask,
    ExecutionResult,
    ExecutionStatus,
    Module,
    TaskChain,
    TaskDependency,
    TaskType,
    UserGoal,
)
from tasks.registry import TaskRegistry

__all__ = [
    # Goals and plans
    "AITask",
    "ChainValidationError",
    # Results
    "ExecutionResult",
    "ExecutionStatus",
    "Module",
    # The facade
    "Orchestrator",
    "RunNotFound",
    "TaskChain",
    "TaskDependency",
    # Extension
    "TaskRegistry",
    "TaskType",
    "UserGoal",
]
