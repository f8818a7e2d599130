"""Register the workspace module's handlers and compensations with a task registry.

``register_workspace(registry)`` replaces the "not implemented yet" placeholders of the
five workspace task types with the real handlers and registers the compensations that
rollback uses: file changes restored from their backups, commits reverted, created refs
deleted, a created project moved to the user's trash. Handlers are registered lazily
(``tasks.registry.lazy``): GitPython and Jinja2 load on a worker's first workspace task,
not in every CLI command that builds a registry.
"""

from __future__ import annotations

from orchestrator.models import Module, TaskType
from tasks.registry import TaskRegistry

HANDLERS: dict[TaskType, str] = {
    TaskType.CREATE_PROJECT: "tasks.workspace.create_project:create_project",
    TaskType.GENERATE_CODE: "tasks.workspace.generate_code:generate_code",
    TaskType.RUN_TERMINAL_COMMAND: "tasks.workspace.run_terminal_command:run_terminal_command",
    TaskType.GIT_OPERATION: "tasks.workspace.git_operation:git_operation",
    TaskType.FILE_OPERATION: "tasks.workspace.file_operation:file_operation",
}

COMPENSATIONS: dict[TaskType, str] = {
    TaskType.CREATE_PROJECT: "tasks.workspace.create_project:undo_create_project",
    TaskType.GENERATE_CODE: "tasks.workspace.generate_code:undo_generate_code",
    TaskType.GIT_OPERATION: "tasks.workspace.git_operation:undo_git_operation",
    TaskType.FILE_OPERATION: "tasks.workspace.file_operation:undo_file_operation",
}


def register_workspace(registry: TaskRegistry) -> None:
    """Install the workspace handlers (``replace=True``) and their compensations."""
    registry.install_module(Module.WORKSPACE, HANDLERS, COMPENSATIONS)
