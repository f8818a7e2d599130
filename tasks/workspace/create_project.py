"""CREATE_PROJECT: render a template into a new project under git, never over an old one.

The project is built in a staging directory (files written through the sandbox, ``git
init``, a first commit, the marker ``.orchestrator/project.json``) and then renamed into
place in one step, so a project directory is either complete or absent. Renaming onto an
existing non-empty directory fails, so nothing is ever overwritten.

With ``structure`` (ANALYZE_CONTEXT's report requirements, the spec's
``task_003_structure``) the README records the planned sections, formats, modules and
features, and the output names the task they came from.

A retry (same effect key) finds its own marker and returns the recorded output; a
different project already holding the name is a RESOURCE_CONFLICT. The compensation moves
the project to the user's trash -- only if it still holds exactly what was created.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.history.audit import AuditAction
from orchestrator.models.base import StrictModel
from orchestrator.models.params import CreateProjectParams
from tasks.assistant.requirements_models import ReportRequirements
from tasks.assistant.upstream import required_model
from tasks.context import HandlerContext
from tasks.errors import ResourceConflictError
from tasks.registry import Inputs
from tasks.workspace.common import (
    AlreadyExistsError,
    Scope,
    audits_refusals,
    publish_context,
)
from tasks.workspace.context import PROJECT_MARKER, read_marker
from tasks.workspace.files import ProjectFiles
from tasks.workspace.git_ops import DEFAULT_BRANCH, GitRepo
from tasks.workspace.journal import key_dir_name
from tasks.workspace.sandbox import check_project_id, check_user_path, resolve_inside


class CreateProjectResult(StrictModel):
    project_id: str
    name: str
    template: str
    path: str
    branch: str
    commit: str
    files: list[str]
    dependencies: list[str]
    effect_key: str
    run_id: str
    task_id: str
    #: The task whose report requirements (``structure``) shaped the project, if any.
    structure_source: str | None = None


def structure_context(
    params: CreateProjectParams, inputs: Inputs, ctx: HandlerContext
) -> tuple[str, dict[str, str]] | None:
    """``(source task, README lines)`` of the report structure ``structure`` names.

    The structure is ANALYZE_CONTEXT's report requirements, usually over a prerequisite
    edge (so read from the run's live context). The project records it in its README;
    GENERATE_CODE builds the modules it lists.
    """
    if params.structure is None:
        return None
    ref = params.structure
    found = required_model(
        ReportRequirements,
        ref,
        inputs,
        ctx,
        what="report requirements (analyze_context with analysis_type report_requirements)",
        producer="analyze_context",
    )
    structure = found[1].structure
    lines = {
        "report structure": f"from the report requirements of {ref.task_id}",
        "report sections": ", ".join(s.value for s in structure.sections),
        "report formats": ", ".join(f.value for f in structure.formats),
        "planned modules": ", ".join(m.module for m in structure.modules),
        "planned features": ", ".join(structure.feature_names) or "none",
    }
    if structure.notes:
        lines["notes"] = "; ".join(structure.notes)
    return ref.task_id, lines


def _build(
    staging: Path,
    params: CreateProjectParams,
    inputs: Inputs,
    ctx: HandlerContext,
    scope: Scope,
    project_id: str,
) -> CreateProjectResult:
    from tasks.workspace import codegen  # the renderer; imported when a project is made

    settings = ctx.runtime.settings
    context = {"goal": ctx.chain.goal.description, "run_id": ctx.run_id}
    structure = structure_context(params, inputs, ctx)
    context.update(structure[1] if structure else {})
    rendered = codegen.render_project(
        params.template, name=params.name, dependencies=params.dependencies, context=context
    )
    if staging.exists():
        shutil.rmtree(staging)  # an earlier attempt of this same effect stopped half-way
    staging.mkdir(parents=True, mode=0o755)
    files = ProjectFiles(staging, max_file_bytes=settings.workspace_max_file_bytes)
    written: list[str] = []
    for raw in sorted(rendered):
        # Templates are ours, but their paths pass the same gate as anyone's.
        path = check_user_path(raw)
        resolve_inside(staging, path)
        files.write_atomic(path, rendered[raw].encode())
        written.append(str(path))
    repo = GitRepo.init(staging, scope.git_env(ctx, staging))
    repo.stage(["."])
    message = (
        f"create_project: {params.template} {params.name} (run {ctx.run_id}, task {ctx.task_id})"
    )
    commit = repo.commit(message, ctx.effect_key)
    result = CreateProjectResult(
        project_id=project_id,
        name=params.name,
        template=params.template,
        path=str(scope.workspace.user_dir / project_id),
        branch=DEFAULT_BRANCH,
        commit=commit,
        files=written,
        dependencies=list(params.dependencies),
        effect_key=ctx.effect_key,
        run_id=ctx.run_id,
        task_id=ctx.task_id,
        structure_source=structure[0] if structure else None,
    )
    marker = {
        "project_id": project_id,
        "name": params.name,
        "template": params.template,
        "run_id": ctx.run_id,
        "task_id": ctx.task_id,
        "effect_key": ctx.effect_key,
        "commit": commit,
        "output": result.model_dump(mode="json"),
    }
    files.write_atomic(PROJECT_MARKER, json.dumps(marker, indent=2, sort_keys=True).encode())
    return result


@audits_refusals
def create_project(
    params: CreateProjectParams, inputs: Inputs, ctx: HandlerContext
) -> CreateProjectResult:
    scope = Scope.of(ctx)
    project_id = check_project_id(params.project_id or params.name)
    with scope.state.lock(project_id):
        target = scope.workspace.project_dir(project_id, must_exist=False)
        if os.path.lexists(target):
            marker = read_marker(scope.workspace.project_dir(project_id))
            if marker is not None and marker.get("effect_key") == ctx.effect_key:
                # This very task made it (a redelivery, a retry after a late failure).
                result = CreateProjectResult.model_validate(marker["output"])
                publish_context(ctx, scope, project_id, result.files)
                return result
            raise AlreadyExistsError(
                f"project {project_id!r} already exists; a project is never overwritten "
                "(choose another name or project_id)",
                project_id=project_id,
            )
        staging = scope.workspace.state_dir / "staging" / key_dir_name(ctx.effect_key)
        result = _build(staging, params, inputs, ctx, scope, project_id)
        try:
            os.rename(staging, target)
        except OSError as exc:  # something appeared at the target meanwhile
            raise ResourceConflictError(
                f"project {project_id!r} appeared while it was being created", project_id=project_id
            ) from exc
    ctx.audit(
        AuditAction.GIT_CHANGED,
        project_id=project_id,
        operation="create_project",
        template=params.template,
        commit=result.commit,
        files=len(result.files),
    )
    publish_context(ctx, scope, project_id, result.files)
    return result


def undo_create_project(
    params: CreateProjectParams, output: dict[str, Any], ctx: HandlerContext
) -> None:
    """Compensation: move the project to the user's trash if it is still as created."""
    scope = Scope.of(ctx)
    project_id = check_project_id(str(output.get("project_id", "")))
    with scope.state.lock(project_id):
        target = scope.workspace.project_dir(project_id, must_exist=False)
        if not os.path.lexists(target):
            return  # already undone
        project_dir = scope.workspace.project_dir(project_id)
        marker = read_marker(project_dir)
        if marker is None or marker.get("effect_key") != output.get("effect_key"):
            raise ResourceConflictError(
                f"project {project_id!r} was not created by this task; left in place",
                project_id=project_id,
            )
        repo = GitRepo.open(project_dir, scope.git_env(ctx, project_dir))
        commit = str(output["commit"])
        unchanged = repo.status().clean and repo.tree_of("HEAD") == repo.tree_of(commit)
        if not unchanged:
            raise ResourceConflictError(
                f"project {project_id!r} changed after it was created; left in place",
                project_id=project_id,
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        trash = scope.workspace.state_dir / "trash" / f"{project_id}-{stamp}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.rename(project_dir, trash)
    ctx.audit(
        AuditAction.GIT_CHANGED,
        project_id=project_id,
        operation="undo create_project",
        moved_to=str(trash),
        compensation=True,
    )
