"""The built-in task types: every TaskType of the specification, with its handler.

Every type is first registered with its estimates and a handler that fails with a clear
"not implemented yet" TaskFailure (never a fake success); each module then installs its
real handlers over them. Today all four modules install every type, so the placeholder
only shows if a module's registration is left out.
"""

from __future__ import annotations

from pydantic import BaseModel

from orchestrator.models import MODULE_OF, PARAMS_OF, TaskType
from tasks.assistant.register import register_assistant
from tasks.context import HandlerContext
from tasks.errors import NotImplementedYetError
from tasks.portfolio.register import register_portfolio
from tasks.registry import Handler, Inputs, TaskRegistry
from tasks.system.register import register_system
from tasks.workspace.register import register_workspace

#: Typical duration (ms) and first-attempt success rate per type, before history exists.
#: Durations are what a healthy run of the real handler takes on a small portfolio/project.
DEFAULT_ESTIMATES: dict[TaskType, tuple[int, float]] = {
    TaskType.CREATE_PROJECT: (4_000, 0.95),
    TaskType.GENERATE_CODE: (20_000, 0.85),
    TaskType.RUN_TERMINAL_COMMAND: (10_000, 0.9),
    TaskType.GIT_OPERATION: (1_500, 0.97),
    TaskType.FILE_OPERATION: (500, 0.98),
    TaskType.ANALYZE_PORTFOLIO: (8_000, 0.93),
    TaskType.EXECUTE_TRADE: (2_000, 0.9),
    TaskType.GENERATE_REPORT: (12_000, 0.9),
    TaskType.UPDATE_ALERTS: (1_000, 0.97),
    TaskType.RESEARCH_TOPIC: (15_000, 0.85),
    TaskType.ANALYZE_CONTEXT: (5_000, 0.9),
    TaskType.GENERATE_INSIGHTS: (6_000, 0.88),
    TaskType.UPDATE_KNOWLEDGE: (1_500, 0.97),
    TaskType.VALIDATE_DATA: (30_000, 0.85),
    TaskType.SYNC_SERVICES: (3_000, 0.95),
    TaskType.BACKUP_STATE: (1_000, 0.98),
    TaskType.MONITOR_HEALTH: (1_500, 0.98),
}


def _not_implemented(task_type: TaskType) -> Handler:
    def handler(params: BaseModel, inputs: Inputs, ctx: HandlerContext) -> BaseModel:
        raise NotImplementedYetError(
            f"task type {task_type.value} is not implemented yet: its handler lands with "
            f"the {MODULE_OF[task_type].value} module; nothing was done",
            task_type=task_type.value,
        )

    handler.__name__ = f"not_implemented_{task_type.value}"
    return handler


def default_registry() -> TaskRegistry:
    """A fresh registry holding every built-in task type."""
    registry = TaskRegistry()
    for task_type in TaskType:
        duration_ms, confidence = DEFAULT_ESTIMATES[task_type]
        registry.register(
            task_type,
            module=MODULE_OF[task_type],
            params=PARAMS_OF[task_type],
            handler=_not_implemented(task_type),
            expected_duration_ms=duration_ms,
            base_confidence=confidence,
            implemented=False,
        )
    # Modules register their own handlers and recovery hooks (compensations, fallbacks).
    register_portfolio(registry)
    register_workspace(registry)
    register_assistant(registry)
    register_system(registry)
    return registry
