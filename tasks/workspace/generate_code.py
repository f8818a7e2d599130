"""GENERATE_CODE: render code into a project, back up what it replaces, commit it.

The renderer (``tasks.workspace.codegen``) is deterministic: the same parameters and
upstream outputs give the same files. It receives every input of the task (upstream task
id -> output) plus the outputs its OutputRef parameters name. Files are written through the
sandbox after a backup of what they replace, and committed with a message naming the run
and task and an ``Orchestrator-Effect`` trailer -- so a retry finds its earlier commit
instead of making a second one. The compensation reverts that commit and restores the
backup (which also brings back uncommitted edits the files held).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from pydantic import Field

from orchestrator.history.audit import AuditAction
from orchestrator.models.base import StrictModel
from orchestrator.models.params import GenerateCodeParams
from tasks.assistant.upstream import require_output
from tasks.context import HandlerContext
from tasks.registry import Inputs
from tasks.workspace.common import (
    Scope,
    audits_refusals,
    existing_project,
    publish_context,
)
from tasks.workspace.context import read_marker
from tasks.workspace.files import ProjectFiles
from tasks.workspace.git_ops import GitRepo
from tasks.workspace.journal import EffectJournal
from tasks.workspace.sandbox import check_user_path, resolve_inside


class GenerateCodeResult(StrictModel):
    project_id: str
    code_type: str
    file_type: str | None = None
    features: list[str] = Field(default_factory=list)
    document_types: list[str] = Field(default_factory=list)
    files: list[str]
    #: The commit holding the files; None when they were already exactly so.
    commit: str | None
    effect_key: str
    run_id: str
    task_id: str


def upstream_of(params: GenerateCodeParams, inputs: Inputs, ctx: HandlerContext) -> dict[str, Any]:
    """Every input, plus the outputs the OutputRef parameters name (by upstream task id)."""
    upstream: dict[str, Any] = dict(inputs)
    refs = [params.context_data, params.portfolio_schema, params.report_structure]
    for ref in [*refs, params.code_context]:
        if ref is not None and ref.task_id not in upstream:
            # A reference over a prerequisite edge: its output is not an input; read it.
            upstream[ref.task_id] = require_output(ref, inputs, ctx)
    return upstream


@audits_refusals
def generate_code(
    params: GenerateCodeParams, inputs: Inputs, ctx: HandlerContext
) -> GenerateCodeResult:
    from tasks.workspace import codegen  # the renderer; imported when code is made

    settings = ctx.runtime.settings
    scope = Scope.of(ctx)
    project_id, project_dir = existing_project(
        scope, params.project_id, inputs, ctx, hint=" (create_project first)"
    )
    upstream = upstream_of(params, inputs, ctx)
    marker = read_marker(project_dir) or {}
    with scope.state.lock(project_id):
        journal = EffectJournal.of(project_dir, ctx.effect_key, settings)
        recorded = journal.recorded_output()
        if recorded is not None:
            return GenerateCodeResult.model_validate(recorded)
        rendered = codegen.render_code(
            params.code_type,
            project_name=str(marker.get("name") or project_id),
            file_type=params.file_type,
            features=params.features,
            document_types=params.document_types,
            upstream=upstream,
            structure_task=params.report_structure.task_id if params.report_structure else None,
        )
        paths: dict[PurePosixPath, str] = {}
        for raw, text in sorted(rendered.items()):
            path = check_user_path(raw)
            resolve_inside(project_dir, path)
            paths[path] = text
        repo = GitRepo.open(project_dir, scope.git_env(ctx, project_dir))
        # A backup already there means an earlier attempt of this effect got under way
        # (and may have committed); none means this attempt is the first to act.
        resumed = journal.manifest() is not None
        journal.backup(list(paths))
        files = ProjectFiles(project_dir, max_file_bytes=settings.workspace_max_file_bytes)
        for path, text in paths.items():
            files.write_atomic(path, text.encode())
        names = [str(p) for p in paths]
        repo.stage(names)
        commit = repo.effect_commit(ctx.effect_key) if resumed else None
        if commit is None and repo.has_staged_changes(names):
            message = f"generate_code: {params.code_type} (run {ctx.run_id}, task {ctx.task_id})"
            commit = repo.commit(message, ctx.effect_key, names)
        result = GenerateCodeResult(
            project_id=project_id,
            code_type=params.code_type,
            file_type=params.file_type,
            features=list(params.features),
            document_types=list(params.document_types),
            files=names,
            commit=commit,
            effect_key=ctx.effect_key,
            run_id=ctx.run_id,
            task_id=ctx.task_id,
        )
        journal.record_output(result)
    ctx.audit(
        AuditAction.GIT_CHANGED,
        project_id=project_id,
        operation="generate_code",
        code_type=params.code_type,
        commit=commit,
        files=names,
    )
    publish_context(ctx, scope, project_id, names)
    return result


def undo_generate_code(
    params: GenerateCodeParams, output: dict[str, Any], ctx: HandlerContext
) -> None:
    """Compensation: revert the commit, then restore what the files held before."""
    effect_key = output.get("effect_key")
    if not effect_key:
        return
    scope = Scope.of(ctx)
    project_id = str(output["project_id"])
    project_dir = scope.workspace.project_dir(project_id)
    commit = output.get("commit")
    with scope.state.lock(project_id):
        reverted = None
        if commit:
            repo = GitRepo.open(project_dir, scope.git_env(ctx, project_dir))
            reverted = repo.revert(str(commit), f"undo {effect_key}")
        journal = EffectJournal.of(project_dir, effect_key, ctx.runtime.settings)
        restored = journal.restore()
        journal.retire()
    ctx.audit(
        AuditAction.GIT_CHANGED,
        project_id=project_id,
        operation="undo generate_code",
        reverted=commit,
        revert_commit=reverted,
        restored=restored,
        compensation=True,
    )
