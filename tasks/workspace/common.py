"""What every workspace handler shares: the user's workspace, the project a task works on,
audit entries, refusals, git's environment and publishing the WorkspaceContext."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from orchestrator.history.audit import AuditAction
from orchestrator.models import TaskType
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, ResourceConflictError, ResourceUnavailableError
from tasks.workspace.context import build_workspace_context
from tasks.workspace.git_ops import git_environment
from tasks.workspace.sandbox import (
    SandboxEscapeError,
    SandboxInputError,
    Workspace,
    check_project_id,
)
from tasks.workspace.state import UserState

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)
O = TypeVar("O", bound=BaseModel)  # noqa: E741 -- the handler's output model


class DegradedContext(BaseModel):
    """Stored instead of the WorkspaceContext when building it failed."""

    current_project_id: str | None
    #: Why the context is missing (the exception, shortened).
    degraded: str


class AlreadyExistsError(ResourceConflictError):
    """The target (a project, a move's destination) exists and is never overwritten."""

    #: Waiting or retrying finds the same thing there: fail at once, clearly.
    recoverable = False


@dataclass(frozen=True)
class Scope:
    """The user's workspace and state, for one handler call."""

    workspace: Workspace
    state: UserState

    @classmethod
    def of(cls, ctx: HandlerContext) -> Scope:
        # The user directory comes from the run's user, never from a parameter.
        workspace = Workspace(ctx.runtime.settings.resolved_workspace_root, ctx.user_id)
        return cls(workspace, UserState(workspace))

    def git_env(self, ctx: HandlerContext, project_dir: Path) -> dict[str, str]:
        settings = ctx.runtime.settings
        return git_environment(
            project_dir,
            ceiling=self.workspace.user_dir,
            author=(settings.git_author_name, settings.git_author_email),
        )


def audits_refusals(
    handler: Callable[[P, dict[str, Any], HandlerContext], O],
) -> Callable[[P, dict[str, Any], HandlerContext], O]:
    """Record every sandbox refusal of ``handler`` as WORKSPACE_REFUSED, then re-raise it."""

    @functools.wraps(handler)
    def wrapper(params: P, inputs: dict[str, Any], ctx: HandlerContext) -> O:
        try:
            return handler(params, inputs, ctx)
        except (SandboxEscapeError, SandboxInputError) as refusal:
            ctx.audit(
                AuditAction.WORKSPACE_REFUSED,
                task_type=str(ctx.task.type),
                error_type=refusal.error_type.value,
                value=refusal.details.get("value"),
                reason=refusal.reason,
                message=str(refusal),
            )
            raise

    return wrapper


def _created_project(parameters: Mapping[str, Any]) -> str | None:
    value = parameters.get("project_id") or parameters.get("name")
    return value if isinstance(value, str) and value else None


def existing_project(
    scope: Scope,
    given: str | None,
    inputs: Mapping[str, Any],
    ctx: HandlerContext,
    *,
    hint: str = "",
) -> tuple[str, Path]:
    """The project a task works on (see :func:`project_id_for`) and its directory.

    A project that does not exist (yet) is a ResourceUnavailable failure: an upstream
    create_project may still be recovering.
    """
    project_id = project_id_for(given, inputs, ctx, scope.state)
    try:
        return project_id, scope.workspace.project_dir(project_id)
    except FileNotFoundError as exc:
        raise ResourceUnavailableError(f"project {project_id!r} does not exist{hint}") from exc


def project_id_for(
    given: str | None, inputs: Mapping[str, Any], ctx: HandlerContext, state: UserState
) -> str:
    """The project a task works on.

    In order: its ``project_id`` parameter; the one project its inputs name; the nearest
    upstream create_project of this run (workflows omit ``project_id`` after creating it);
    the only create_project of the run; the user's current project.
    """
    if given:
        return check_project_id(given)
    named = sorted(
        {v["project_id"] for v in inputs.values() if isinstance(v, dict) and v.get("project_id")}
    )
    if len(named) == 1 and isinstance(named[0], str):
        return check_project_id(named[0])
    by_id = {t.id: t for t in ctx.chain.tasks}
    creators = [t.id for t in ctx.chain.tasks if str(t.type) == TaskType.CREATE_PROJECT.value]
    nearest = [a for a in ctx.ancestors() if a in creators]
    chosen = nearest[0] if nearest else (creators[0] if len(creators) == 1 else None)
    if chosen is not None:
        found = _created_project(by_id[chosen].parameters)
        if found:
            return check_project_id(found)
    current = state.current_project()
    if current:
        return check_project_id(current)
    raise InvalidInputError(
        "no project to work on: give project_id, or create a project earlier in the run"
    )


def publish_context(
    ctx: HandlerContext, scope: Scope, project_id: str | None, touched: Sequence[str] = ()
) -> None:
    """Build the WorkspaceContext and store it in the run's live context -- best effort.

    It runs after the task's effect: a failure here (a damaged marker, git refusing the
    repository, Redis away) must not fail a task whose effect already stands, so it is
    logged and a degraded context (empty, with the reason) is stored in its place.
    """
    try:
        if project_id is not None:
            scope.state.set_current_project(project_id)
        git_env = None
        if project_id is not None:
            git_env = scope.git_env(ctx, scope.workspace.user_dir / project_id)
        workspace_context: BaseModel = build_workspace_context(
            scope.workspace,
            current=project_id,
            git_env=git_env,
            touched=touched,
            commands=scope.state.recent_commands(),
        )
    except Exception as exc:  # anything: the effect is done already
        log.warning(
            "workspace context of run %s task %s is degraded",
            ctx.run_id,
            ctx.task_id,
            exc_info=True,
        )
        workspace_context = DegradedContext(
            current_project_id=project_id, degraded=f"{type(exc).__name__}: {exc}"[:500]
        )
    try:
        ctx.runtime.context.put_module_context(
            ctx.user_id, ctx.run_id, "workspace", workspace_context
        )
    except Exception:  # the live context is advisory; the effect stands
        log.warning("workspace context of run %s not stored", ctx.run_id, exc_info=True)
