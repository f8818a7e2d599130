"""AI task orchestration on Celery: goals -> typed task DAGs -> per-module worker pools.

from orchestrator import Orchestrator, UserGoal

with Orchestrator.from_settings() as orch:
    run_id = orch.submit(UserGoal(description="Check system health and back up my state"))
    result = orch.wait(run_id, timeout_s=60)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from orchestrator.control import Orchestrator, RunNotFound
    from orchestrator.dag import ChainValidationError
    from tasks.registry import TaskRegistry

# The facade pulls in Celery, the task layer and recovery, which themselves import the
# models from this package: load it on first use so that importing any part works first.
_LAZY = {
    "Orchestrator": "orchestrator.control",
    "RunNotFound": "orchestrator.control",
    "ChainValidationError": "orchestrator.dag",
    "TaskRegistry": "tasks.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AITask",
    "ChainValidationError",
    "ExecutionResult",
    "ExecutionStatus",
    "Module",
    "Orchestrator",
    "RunNotFound",
    "TaskChain",
    "TaskDependency",
    "TaskRegistry",
    "TaskType",
    "UserGoal",
]
