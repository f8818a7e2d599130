"""GIT_OPERATION: init, status, add, commit, branch, checkout, diff, log, tag, revert, push.

Every command is hardened (``tasks.workspace.git_ops``: no hooks, no fsmonitor, no outside
config). Ref names follow git's own rules and never start with ``-``; paths pass the
sandbox; a push goes nowhere unless ``ORCH_GIT_ALLOW_PUSH`` is set, and then only to a
bare repository the orchestrator made in the user's directory (its receive-pack started
with hooks off) or an allow-listed remote. A retried branch or tag accepts the ref its
first attempt made (pointing at the HEAD recorded before that attempt).

Changing operations record their output per effect key (a redelivery returns it) and are
undone by :func:`undo_git_operation`: a commit or revert is reverted, a created branch or
tag deleted, a checkout switched back, an add unstaged. ``init`` and ``push`` are not
undone (the audit log records them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from orchestrator.history.audit import AuditAction
from orchestrator.models.base import StrictModel
from orchestrator.models.params import GitOperationKind, GitOperationParams
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError
from tasks.registry import Inputs
from tasks.workspace.common import (
    Scope,
    audits_refusals,
    existing_project,
    publish_context,
)
from tasks.workspace.git_ops import GitRepo, check_repo_config, git_environment
from tasks.workspace.git_refs import (
    check_push_target,
    check_ref_name,
    check_remote,
    check_revision,
)
from tasks.workspace.journal import EffectJournal
from tasks.workspace.sandbox import SandboxEscapeError, check_user_path, resolve_inside

K = GitOperationKind
READ_ONLY = frozenset({K.STATUS, K.DIFF, K.LOG})
LOG_LIMIT = 50
#: ``-c`` options of the target's receive-pack on a local push (no hook, no fsmonitor).
_RECEIVE_HARDENING = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


class GitOperationResult(StrictModel):
    project_id: str
    operation: GitOperationKind
    ref: str | None = None
    branch: str | None = None
    head: str | None = None
    #: The commit this operation made (commit, revert).
    commit: str | None = None
    previous_head: str | None = None
    previous_branch: str | None = None
    paths: list[str] = Field(default_factory=list)
    staged: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)
    untracked: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    log: list[dict[str, str]] = Field(default_factory=list)
    diff: str | None = None
    diff_truncated: bool = False
    remote: str | None = None
    #: branch/tag: this operation created the ref (and its compensation may delete it).
    created: bool = False
    effect_key: str | None = None


def is_read_only(params: GitOperationParams) -> bool:
    """Status, diff, log, and listing branches or tags (a branch/tag without a ref)."""
    listing = params.operation in (K.BRANCH, K.TAG) and params.ref is None
    return params.operation in READ_ONLY or listing


def _read(repo: GitRepo, params: GitOperationParams, out: GitOperationResult, limit: int) -> None:
    if params.operation in (K.BRANCH, K.TAG):
        kind = "branch" if params.operation is K.BRANCH else "tag"
        out.names = repo.run(kind, "--list", "--format=%(refname:short)").split()
        return
    revision = check_revision(params.ref) if params.ref else None
    if params.operation is K.STATUS:
        info = repo.status()
        out.staged, out.modified, out.untracked = info.staged, info.modified, info.untracked
    elif params.operation is K.LOG:
        out.log = repo.log(revision, LOG_LIMIT)
    else:
        text = repo.diff(revision, out.paths)
        out.diff_truncated = len(text.encode()) > limit
        out.diff = text.encode()[:limit].decode("utf-8", errors="ignore")


def _change(
    repo: GitRepo,
    params: GitOperationParams,
    out: GitOperationResult,
    ctx: HandlerContext,
    scope: Scope,
    *,
    resumed: bool,
) -> None:
    op = params.operation
    if op is K.ADD:
        repo.stage(out.paths or ["."])
    elif op is K.COMMIT:
        if out.paths:
            repo.stage(out.paths)
        # A commit of an earlier attempt that stopped before recording its output.
        out.commit = repo.effect_commit(ctx.effect_key) if resumed else None
        if out.commit is None and repo.has_staged_changes():
            message = (
                params.message or f"git_operation commit (run {ctx.run_id}, task {ctx.task_id})"
            )
            out.commit = repo.commit(message, ctx.effect_key)
    elif op in (K.BRANCH, K.TAG):
        kind = "branch" if op is K.BRANCH else "tag"
        if params.ref is None:  # pragma: no cover -- listing is read-only (is_read_only)
            raise InvalidInputError(f"{kind} needs a ref")
        name = check_ref_name(params.ref)
        if resumed and out.previous_head and _ref_commit(repo, op, name) == out.previous_head:
            # An earlier attempt of this effect made the ref and stopped before recording
            # its output: the ref is ours, not a conflict.
            out.created = True
            return
        if op is K.TAG and params.message:
            repo.run("tag", "--annotate", "-m", params.message, name)
        else:
            repo.run(kind, name)
        out.created = True
    elif op is K.CHECKOUT:
        if params.ref is None:
            raise InvalidInputError("checkout needs a ref")
        repo.run("checkout", "--quiet", check_revision(params.ref), "--")
    elif op is K.REVERT:
        target = repo.resolve(check_revision(params.ref or "HEAD"))
        out.commit = repo.revert(target, ctx.effect_key)
    elif op is K.PUSH:
        _push(repo, params, out, ctx, scope)


def _ref_commit(repo: GitRepo, op: GitOperationKind, name: str) -> str | None:
    """The commit branch or tag ``name`` points at, or None if there is no such ref."""
    ref = f"refs/{'heads' if op is K.BRANCH else 'tags'}/{name}^{{commit}}"
    status, out, _ = repo.execute("rev-parse", "--verify", "--quiet", ref)
    return out.strip() if status == 0 else None


def _push(
    repo: GitRepo,
    params: GitOperationParams,
    out: GitOperationResult,
    ctx: HandlerContext,
    scope: Scope,
) -> None:
    settings = ctx.runtime.settings
    if not settings.git_allow_push:
        raise SandboxEscapeError(
            "git push is disabled (ORCH_GIT_ALLOW_PUSH)", value="push", reason="push disabled"
        )
    if params.remote is None:
        raise InvalidInputError("push needs a remote")
    user_dir = scope.workspace.user_dir
    url = check_remote(params.remote, user_dir=user_dir, allowlist=settings.git_remote_allowlist)
    branch = check_ref_name(params.ref or repo.branch() or "")
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    author = (settings.git_author_name, settings.git_author_email)
    extra: list[str] = []
    if scheme == "file":
        # A local push runs the target's receive-pack with the target's own config: only
        # an orchestrator-made bare repository, its config allow-listed, and that
        # receive-pack started with hooks off (git passes our -c to it otherwise not).
        target = check_push_target(Path(url), user_dir=user_dir)
        check_repo_config(target, git_environment(target, ceiling=user_dir, author=author))
        extra = ["--receive-pack=" + " ".join(["git", *_RECEIVE_HARDENING, "receive-pack"])]
    env = git_environment(
        repo.path,
        ceiling=user_dir,
        author=author,
        extra_config=((f"protocol.{scheme}.allow", "always"),),
    )
    pusher = GitRepo(repo.path, env)
    pusher.run("push", "--porcelain", *extra, url, f"refs/heads/{branch}:refs/heads/{branch}")
    out.remote, out.ref = url, branch


@audits_refusals
def git_operation(
    params: GitOperationParams, inputs: Inputs, ctx: HandlerContext
) -> GitOperationResult:
    settings = ctx.runtime.settings
    scope = Scope.of(ctx)
    project_id, project_dir = existing_project(scope, params.project_id, inputs, ctx)
    paths = []
    for raw in params.paths:
        path = check_user_path(raw)
        resolve_inside(project_dir, path)
        paths.append(str(path))
    out = GitOperationResult(
        project_id=project_id, operation=params.operation, ref=params.ref, paths=paths
    )
    env = scope.git_env(ctx, project_dir)
    if params.operation is K.INIT:
        with scope.state.lock(project_id):
            exists = (project_dir / ".git").exists() or (project_dir / ".git").is_symlink()
            repo = GitRepo.open(project_dir, env) if exists else GitRepo.init(project_dir, env)
            out.created = not exists
            out.head, out.branch = repo.head(), repo.branch()
    elif is_read_only(params):
        repo = GitRepo.open(project_dir, env)
        _read(repo, params, out, settings.workspace_max_read_bytes)
        out.head, out.branch = repo.head(), repo.branch()
    else:
        with scope.state.lock(project_id):
            journal = EffectJournal.of(project_dir, ctx.effect_key, settings)
            recorded = journal.recorded_output()
            if recorded is not None:
                return GitOperationResult.model_validate(recorded)
            repo = GitRepo.open(project_dir, env)
            resumed = journal.manifest() is not None
            # An empty backup marks this effect as under way (see the commit case) and
            # keeps where HEAD was before its first attempt (a retry compares with it).
            before = {"previous_head": repo.head(), "previous_branch": repo.branch()}
            manifest = journal.backup([], meta=before)
            out.previous_head = manifest.meta.get("previous_head")
            out.previous_branch = manifest.meta.get("previous_branch")
            _change(repo, params, out, ctx, scope, resumed=resumed)
            out.head, out.branch = repo.head(), repo.branch()
            out.effect_key = ctx.effect_key
            journal.record_output(out)
    if not is_read_only(params):
        ctx.audit(
            AuditAction.GIT_CHANGED,
            project_id=project_id,
            operation=params.operation.value,
            ref=out.ref,
            commit=out.commit,
            head=out.head,
            remote=out.remote,
        )
    publish_context(ctx, scope, project_id, paths)
    return out


def undo_git_operation(
    params: GitOperationParams, output: dict[str, Any], ctx: HandlerContext
) -> None:
    """Compensation: undo what a changing git operation did (see the module docstring)."""
    result = GitOperationResult.model_validate(output)
    if result.effect_key is None or result.operation in READ_ONLY:
        return
    scope = Scope.of(ctx)
    project_dir = scope.workspace.project_dir(result.project_id)
    undone: str | None = None
    with scope.state.lock(result.project_id):
        repo = GitRepo.open(project_dir, scope.git_env(ctx, project_dir))
        op = result.operation
        if op in (K.COMMIT, K.REVERT) and result.commit:
            undone = repo.revert(result.commit, f"undo {result.effect_key}")
        elif op is K.ADD:
            paths = result.paths or ["."]
            if repo.head() is None:
                repo.run("rm", "--cached", "-r", "-q", "--ignore-unmatch", "--", *paths)
            else:
                repo.run("reset", "-q", "--", *paths)
            undone = "unstaged"
        elif op in (K.BRANCH, K.TAG) and result.created and result.ref:
            name = check_ref_name(result.ref)
            ref = f"refs/{'heads' if op is K.BRANCH else 'tags'}/{name}"
            # Only a ref still where this task left it is deleted.
            if (
                result.previous_head is not None
                and _ref_commit(repo, op, name) == result.previous_head
                and repo.branch() != result.ref
            ):
                repo.run("update-ref", "-d", ref)
                undone = ref
        elif op is K.CHECKOUT and (result.previous_branch or result.previous_head):
            back = result.previous_branch or result.previous_head or ""
            repo.run("checkout", "--quiet", check_revision(back), "--")
            undone = back
        EffectJournal.of(project_dir, result.effect_key, ctx.runtime.settings).retire()
    ctx.audit(
        AuditAction.GIT_CHANGED,
        project_id=result.project_id,
        operation=f"undo {result.operation.value}",
        undone=undone,
        compensation=True,
    )
