"""The hostile-input corpus run THROUGH the workspace handlers, plus the git/retry fixes.

One embedded orchestrator run holds one independent task per hostile item (file and git
operations against a project planted with symlinks, a hard link and bare repositories);
every task must fail as permission_denied or invalid_input and leave a WORKSPACE_REFUSED
audit row under its own task id. The other tests cover a crafted bare repository whose
config must never run, retried appends and branches, tampered backups and the best-effort
WorkspaceContext.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.history import AuditAction
from orchestrator.models import (
    AITask,
    ErrorType,
    Module,
    RetryPolicy,
    RunStatus,
    TaskChain,
    UserGoal,
)
from orchestrator.models.params import FileOperationParams, GitOperationParams
from tasks.errors import ResourceConflictError
from tasks.workspace.files import ProjectFiles
from tasks.workspace.git_operation import GitOperationResult
from tasks.workspace.git_ops import GitRepo, git_environment
from tasks.workspace.git_refs import check_remote
from tasks.workspace.journal import EffectJournal, key_dir_name
from tasks.workspace.sandbox import SandboxEscapeError
from tests.integration.test_workspace import (
    TIMEOUT_S,
    USER,
    _orchestrator,
    create,
    handler_ctx,
    project_dir,
    run,
    ws,
)

ALLOWED_REMOTE = "https://git.example.com/team/"


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[Orchestrator]:
    settings = Settings(
        data_dir=tmp_path / "data", git_allow_push=True, git_remote_allowlist=[ALLOWED_REMOTE]
    )
    with _orchestrator(settings) as orchestrator:
        yield orchestrator


def _plant(orch: Orchestrator, project: Path, outside: Path) -> None:
    """Symlinks out, a hard link to an outside file, bare repositories (ours and not)."""
    outside.mkdir()
    (outside / "loot.txt").write_text("loot")
    (project / "real_dir").mkdir()
    (project / "link_out").symlink_to(outside)
    (project / "passwd").symlink_to(outside / "loot.txt")
    (project / "chain_a").symlink_to("chain_b")
    (project / "chain_b").symlink_to(outside)
    (project / "inner").symlink_to(project / "real_dir")  # inside, still never followed
    os.link(outside / "loot.txt", project / "hard.txt")
    user_dir = project.parent
    # A bare repository inside the project carrying a forged marker: never a push target.
    planted = project / "planted.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(planted)], check=True)
    (planted / "orchestrator-remote").write_text("forged")
    # A bare repository in the user directory the orchestrator did not make (no marker).
    subprocess.run(["git", "init", "--quiet", "--bare", str(user_dir / "stray.git")], check=True)


#: (label, task type, parameters) -- one task each.
Item = tuple[str, str, dict[str, Any]]


def _corpus() -> list[Item]:
    items: list[Item] = []
    paths = [
        *("../x", "..\\x", "/etc/passwd", "/", "%2e%2e%2f", "..%2f", "%252e%252e%252fetc"),
        *("a%2fb", "%5c..%5cx", "....", "a/../../x", "\uff0e\uff0e/x", "\uff46\uff49\uff4c\uff45"),
        *("a\x00b", "a\nb", "a\u202eb.txt", "x" * 300, "\u00e9" * 200, "-rf", "src/-rf"),
        *("--help", "~root", "C:\\Windows\\win.ini", "\\\\server\\share", "a//b"),
        # planting a repository or touching ours
        *(".git/config", ".git/hooks/pre-commit", ".GIT/config", "sub/.git/config"),
        ".orchestrator/backups/x/manifest.json",
        # symlinks
        *("link_out/x.txt", "passwd", "chain_a/loot.txt", "inner/x.txt"),
    ]
    for value in paths:
        items.append((f"write {value[:30]!r}", "file_operation", _write(value)))
    for value in ("../x", "passwd", "link_out", "/etc"):
        items.append((f"read {value!r}", "file_operation", {"operation": "read", "path": value}))
    items.append(("list a symlink", "file_operation", {"operation": "list", "path": "link_out"}))
    move = {"operation": "move", "path": "README.md", "destination": "link_out/x"}
    items.append(("move into a symlink", "file_operation", move))
    # a hard link to a file outside: read, append, write over, delete, move
    for operation in ("read", "append", "write", "delete"):
        params: dict[str, Any] = {"operation": operation, "path": "hard.txt"}
        if operation in ("append", "write"):
            params["content"] = "pwned"
        items.append((f"{operation} a hard link", "file_operation", params))
    hard_move = {"operation": "move", "path": "hard.txt", "destination": "moved.txt"}
    items.append(("move a hard link", "file_operation", hard_move))
    # git: option injection in ref names, revisions and paths
    refs = ["--upload-pack=touch /tmp/pwned", "-b", "-", "a..b", "a@{1}", "x.lock", ".hidden"]
    refs += ["a b", "a~1", "a:b", "a\\b", "a\x01", "@", "HEAD", "a.", ""]
    for value in refs:
        for operation in ("branch", "tag"):
            label = f"{operation} {value!r}"
            items.append((label, "git_operation", {"operation": operation, "ref": value}))
    for value in ("--all", "--output=/tmp/x", "HEAD@{0}", "main~1:file", "-n"):
        for operation in ("checkout", "diff", "log", "revert"):
            label = f"{operation} {value!r}"
            items.append((label, "git_operation", {"operation": operation, "ref": value}))
    for value in ("../x", "-rf", "--force", ".git/config", "link_out"):
        items.append((f"add {value!r}", "git_operation", {"operation": "add", "paths": [value]}))
    # pushes (enabled here): only to an orchestrator-made bare repository or the allow-list
    remotes = [
        *("--upload-pack=touch /tmp/pwned", "ext::sh -c id", "/etc", "file:///etc"),
        *("../other-user", "https://evil.example/repo.git", "git@evil.example:repo.git"),
        "https://git.example.com.evil/team/x.git",
        "https://git.example.com@evil.example/team/x.git",
        "https://git.example.com/team/../../other/x.git",
        "https://git.example.com:8443/team/x.git",
        "http://git.example.com/team/x.git",
        *("hostile/planted.git", "stray.git", "hostile"),
    ]
    for value in remotes:
        items.append((f"push {value!r}", "git_operation", {"operation": "push", "remote": value}))
    return items


def _write(path: str) -> dict[str, Any]:
    return {"operation": "write", "path": path, "content": "pwned"}


CORPUS = _corpus()


def test_the_corpus_through_the_handlers_is_refused_and_audited(
    orch: Orchestrator, tmp_path: Path
) -> None:
    create(orch, "hostile")
    project = project_dir(orch, "hostile")
    outside = tmp_path / "outside"
    _plant(orch, project, outside)
    tasks = [
        AITask(
            id=f"h{index:03d}",
            type=task_type,
            module=Module.WORKSPACE,
            parameters={**params, "project_id": "hostile"},
            retry_policy=RetryPolicy(max_attempts=1),
        )
        for index, (_, task_type, params) in enumerate(CORPUS)
    ]
    labels = {task.id: label for task, (label, _, _) in zip(tasks, CORPUS, strict=True)}
    chain = TaskChain(goal=UserGoal(description="hostile corpus"), tasks=tasks)
    run_id = orch.submit(chain, user=USER)
    result = orch.wait(run_id, timeout_s=TIMEOUT_S * 3, user=USER)
    accepted = [labels[t.task_id] for t in result.completed_tasks]
    assert accepted == [], f"accepted: {accepted}"
    failures = {f.task_id: f for f in result.failed_tasks}
    audited = {
        a.task_id
        for a in orch.runtime.history.audit_log(run_id=run_id, limit=10_000)
        if a.action is AuditAction.WORKSPACE_REFUSED
    }
    refused = 0
    problems = []
    for task in tasks:
        failure = failures.get(task.id)
        kind = None if failure is None else failure.error.type
        if kind not in (ErrorType.PERMISSION_DENIED, ErrorType.INVALID_INPUT):
            problems.append(f"{labels[task.id]}: {kind} {failure and failure.error.message}")
        elif task.id not in audited:
            problems.append(f"{labels[task.id]}: refused but not audited")
        else:
            refused += 1
    print(f"hostile corpus through handlers: {refused} refused and audited")
    assert problems == []
    assert refused == len(CORPUS)
    # Nothing reached outside: the loot is unchanged and alone.
    assert sorted(p.name for p in outside.iterdir()) == ["loot.txt"]
    assert (outside / "loot.txt").read_text() == "loot"


# --- 1: a crafted bare repository inside a project -----------------------------------------


def test_a_planted_bare_repository_never_runs_its_config(
    orch: Orchestrator, tmp_path: Path
) -> None:
    create(orch, "bare")
    project = project_dir(orch, "bare")
    marker = tmp_path / "ran"
    config = (
        "[core]\n\tbare = true\n\trepositoryformatversion = 0\n"
        f"\tfsmonitor = touch {marker}\n\talternateRefsCommand = touch {marker}\n"
        f"\tpager = touch {marker}\n[diff]\n\texternal = touch {marker}\n"
    )
    files = {
        "planted/HEAD": "ref: refs/heads/main\n",
        "planted/config": config,
        "planted/objects/info/keep": "",
        "planted/refs/heads/keep": "",
        "changed.txt": "x\n",
    }
    writes = [
        ws(f"w{i}", "file_operation", operation="write", path=p, content=c, project_id="bare")
        for i, (p, c) in enumerate(files.items())
    ]
    reads = [
        ws(f"g{i}", "git_operation", operation=op, project_id="bare", paths=paths)
        for i, (op, paths) in enumerate(
            [("status", []), ("diff", []), ("diff", ["planted"]), ("log", []), ("add", ["."])]
        )
    ]
    _, result = run(orch, [*writes, *reads, ws("d", "git_operation", operation="diff")])
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    assert not marker.exists(), "the planted repository's config ran"
    # Even a GitRepo pointed at the planted directory (what discovery would find) refuses.
    scope_env = git_environment(project / "planted", ceiling=project.parent, author=("t", "t@t"))
    status, _, _ = GitRepo(project / "planted", scope_env).execute("diff")
    assert status != 0 and not marker.exists()
    # A project whose own .git/config names a program (as a terminal command might write)
    # is refused before git reads it.
    with (project / ".git" / "config").open("a") as handle:
        handle.write(f"[diff]\n\texternal = touch {marker}\n")
    _, refused = run(orch, [ws("d", "git_operation", operation="diff", project_id="bare")])
    assert refused.failed_tasks[0].error.type is ErrorType.PERMISSION_DENIED
    assert not marker.exists()


# --- 3: retries of non-idempotent effects ----------------------------------------------------


def _forget_output(project: Path, effect_key: str) -> None:
    """What a crash between the effect and recording its output leaves behind."""
    (project / ".orchestrator" / "effects" / f"{key_dir_name(effect_key)}.json").unlink()


def test_a_retried_append_appends_once(orch: Orchestrator) -> None:
    create(orch, "appendix")
    project = project_dir(orch, "appendix")
    (project / "log.txt").write_text("start\n")
    task = ws("app", "file_operation", operation="append", path="log.txt", content="line\n")
    task.parameters["project_id"] = "appendix"
    run_id, _ = run(orch, [ws("ls", "file_operation", operation="list", path=".")])
    spec = orch.runtime.registry.get("file_operation")
    params = FileOperationParams.model_validate(task.parameters)
    ctx = handler_ctx(orch, run_id, task)
    first = spec.handler(params, {}, ctx)
    _forget_output(project, ctx.effect_key)
    second = spec.handler(params, {}, ctx)
    assert (project / "log.txt").read_text() == "start\nline\n"
    assert second.model_dump() == first.model_dump()
    # A partial first append is completed, not repeated
    _forget_output(project, ctx.effect_key)
    (project / "log.txt").write_text("start\nli")
    spec.handler(params, {}, ctx)
    assert (project / "log.txt").read_text() == "start\nline\n"
    # A file changed by someone else meanwhile is a conflict, never a second append
    _forget_output(project, ctx.effect_key)
    (project / "log.txt").write_text("other\n")
    with pytest.raises(ResourceConflictError):
        spec.handler(params, {}, ctx)
    assert (project / "log.txt").read_text() == "other\n"


@pytest.mark.parametrize("operation", ["branch", "tag"])
def test_a_retried_branch_or_tag_accepts_its_own_ref(orch: Orchestrator, operation: str) -> None:
    create(orch, "refs")
    project = project_dir(orch, "refs")
    task = ws("ref", "git_operation", operation=operation, ref="release/1", project_id="refs")
    run_id, _ = run(orch, [ws("st", "git_operation", operation="status", project_id="refs")])
    spec = orch.runtime.registry.get("git_operation")
    params = GitOperationParams.model_validate(task.parameters)
    ctx = handler_ctx(orch, run_id, task)
    first = spec.handler(params, {}, ctx)
    _forget_output(project, ctx.effect_key)
    second = spec.handler(params, {}, ctx)
    assert isinstance(first, GitOperationResult) and isinstance(second, GitOperationResult)
    assert second.created and second.previous_head == first.previous_head
    # Another task asking for the same name still conflicts
    other = handler_ctx(orch, run_id, task.model_copy(update={"id": "other"}))
    with pytest.raises(ResourceConflictError):
        spec.handler(params, {}, other)


# --- 5: tampered backups, unchecked paths ----------------------------------------------------


def test_a_tampered_manifest_cannot_restore_outside(orch: Orchestrator, tmp_path: Path) -> None:
    create(orch, "tamper")
    project = project_dir(orch, "tamper")
    journal = EffectJournal(project, "run:task:0", max_file_bytes=1_000_000)
    journal.backup([PurePosixPath("README.md")])
    manifest = project / ".orchestrator" / "backups" / key_dir_name("run:task:0") / "manifest.json"
    victim = tmp_path / "victim.txt"
    victim.write_text("safe")
    for hostile in ("../../../../victim.txt", str(victim), ".git/config"):
        data = json.loads(manifest.read_text())
        data["entries"][0]["path"] = hostile
        manifest.write_text(json.dumps(data))
        with pytest.raises(SandboxEscapeError):
            journal.restore()
    assert victim.read_text() == "safe"
    files = ProjectFiles(project, max_file_bytes=100)
    for path in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(SandboxEscapeError):
            files.write_atomic(PurePosixPath(path), b"x")


# --- 4 and 6: the context after the effect; the backup cap ------------------------------------


def test_a_failing_context_does_not_fail_the_effect(
    orch: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(orch, "ctx")

    def broken(*_: object, **__: object) -> None:
        raise ValueError("damaged marker")

    monkeypatch.setattr("tasks.workspace.common.build_workspace_context", broken)
    write = ws("w", "file_operation", operation="write", path="a.txt", content="a")
    run_id, result = run(orch, [write])
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    assert (project_dir(orch, "ctx") / "a.txt").read_text() == "a"
    context = orch.runtime.context.module_contexts(USER, run_id)["workspace"]
    assert "damaged marker" in context["degraded"]


def test_backups_past_the_cap_refuse_the_change(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", workspace_max_backup_bytes=2_600)
    with _orchestrator(settings) as orch:
        create(orch, "capped")
        content = "x" * 900
        tasks = [
            ws(f"w{i}", "file_operation", operation="write", path="big.txt", content=content)
            for i in range(4)
        ]
        _, result = run(orch, tasks)
        # w0 creates (nothing to back up), w1 and w2 back up 900 bytes (and a manifest)
        # each, w3 would pass the cap
        assert [f.task_id for f in result.failed_tasks] == ["w3"]
        assert result.failed_tasks[0].error.type is ErrorType.RESOURCE_UNAVAILABLE
        assert "ORCH_WORKSPACE_MAX_BACKUP_BYTES" in result.failed_tasks[0].error.message


# --- 2: the remote allow-list is parsed, not prefix-matched ---------------------------------


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        ("https://git.example.com/team/x.git", True),
        ("https://git.example.com/team", True),
        ("https://git.example.com/teamx/x.git", False),
        ("https://git.example.com.evil/team/x.git", False),
        ("https://git.example.com@evil.example/team/x.git", False),
        ("https://git.example.com/team/../x.git", False),
        ("https://git.example.com/team/%2e%2e/x.git", False),
        ("https://git.example.com:1/team/x.git", False),
    ],
)
def test_remote_allow_list_compares_parsed_urls(tmp_path: Path, remote: str, allowed: bool) -> None:
    try:
        check_remote(remote, user_dir=tmp_path, allowlist=[ALLOWED_REMOTE])
        accepted = True
    except SandboxEscapeError:
        accepted = False
    assert accepted is allowed
