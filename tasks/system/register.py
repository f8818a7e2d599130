"""Register the system module's handlers with a task registry."""

from __future__ import annotations

from orchestrator.models import Module, TaskType
from tasks.registry import TaskRegistry

HANDLERS: dict[TaskType, str] = {
    TaskType.VALIDATE_DATA: "tasks.system.validate_data:validate_data",
    TaskType.SYNC_SERVICES: "tasks.system.sync_services:sync_services",
    TaskType.BACKUP_STATE: "tasks.system.backup_state:backup_state",
    TaskType.MONITOR_HEALTH: "tasks.system.monitor_health:monitor_health",
}


def register_system(registry: TaskRegistry) -> None:
    """Install (replacing) the system handlers; they have no compensations."""
    registry.install_module(Module.SYSTEM, HANDLERS, {})
