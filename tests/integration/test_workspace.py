"""The workspace module run for real through the orchestrator: projects, files, commands, git.

Embedded orchestrators (in-process workers, SQLite history) per test, one on Postgres for
the audit rows. Every test builds its own workspace under tmp_path; none depends on another.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.history import AuditAction
from orchestrator.models import (
    AITask,
    ErrorType,
    ExecutionResult,
    Module,
    RetryPolicy,
    RunStatus,
    TaskChain,
    TaskDependency,
    TaskState,
    UserGoal,
)
from orchestrator.models.params import (
    CreateProjectParams,
    FileOperationParams,
    GenerateCodeParams,
)
from tasks.builtin import default_registry
from tasks.context import HandlerContext
from tasks.workspace.git_ops import GitRepo
from tasks.workspace.register import register_workspace
from tests.support import faults
from tests.support.waiting import wait_for_state

USER = "demo"  # admin in config/permissions.yaml
TIMEOUT_S = 60


def _orchestrator(settings: Settings) -> Orchestrator:
    registry = default_registry()
    faults.register(registry)  # fault types for the rollback test (stand-ins replaced below)
    register_workspace(registry)
    return Orchestrator.from_settings(settings, registry)


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[Orchestrator]:
    with _orchestrator(Settings(data_dir=tmp_path / "data")) as orchestrator:
        yield orchestrator


def ws(task_id: str, task_type: str, **parameters: Any) -> AITask:
    return AITask(
        id=task_id,
        type=task_type,
        module=Module.WORKSPACE,
        parameters=parameters,
        retry_policy=RetryPolicy(max_attempts=1),
    )


def run(
    orch: Orchestrator, tasks: list[AITask], *, user: str = USER, prerequisite: bool = True
) -> tuple[str, ExecutionResult]:
    """Run ``tasks`` in sequence (each a prerequisite of the next)."""
    kind = "prerequisite" if prerequisite else "data_flow"
    dependencies = [
        TaskDependency.model_validate({"from": a.id, "to": b.id, "type": kind})
        for a, b in itertools.pairwise(tasks)
    ]
    chain = TaskChain(
        goal=UserGoal(description="workspace test"), tasks=tasks, dependencies=dependencies
    )
    run_id = orch.submit(chain, user=user)
    return run_id, orch.wait(run_id, timeout_s=TIMEOUT_S, user=user)


def output_of(result: ExecutionResult, task_id: str) -> dict[str, Any]:
    (found,) = [t for t in result.completed_tasks if t.task_id == task_id]
    assert isinstance(found.output, dict)
    return found.output


def project_dir(orch: Orchestrator, project: str, user: str = USER) -> Path:
    return orch.runtime.settings.resolved_workspace_root / user / project


def create(orch: Orchestrator, name: str, *, user: str = USER) -> dict[str, Any]:
    _, result = run(
        orch, [ws("new", "create_project", template="python-project", name=name)], user=user
    )
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    return output_of(result, "new")


def git(path: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(path), "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", *args], cwd=path, env=env, capture_output=True, text=True, check=True
    ).stdout


def audit_of(orch: Orchestrator, run_id: str, action: AuditAction) -> list[dict[str, Any]]:
    return [a.detail for a in orch.runtime.history.audit_log(run_id=run_id) if a.action is action]


def handler_ctx(orch: Orchestrator, run_id: str, task: AITask, user: str = USER) -> HandlerContext:
    chain = TaskChain(goal=UserGoal(description="direct call"), tasks=[task])
    return HandlerContext(
        run_id=run_id,
        task_id=task.id,
        user_id=user,
        attempt=1,
        chain=chain,
        task=task,
        runtime=orch.runtime,
    )


# --- projects and code ---------------------------------------------------------------------


def test_project_is_created_under_git_and_code_is_committed(orch: Orchestrator) -> None:
    tasks = [
        ws("new", "create_project", template="python-project", name="demo-app"),
        # No project_id: like the workflows, the task works on the run's new project.
        ws("gen", "generate_code", code_type="report_generator"),
        ws("log", "git_operation", operation="log"),
    ]
    run_id, result = run(orch, tasks)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    path = project_dir(orch, "demo-app")
    created, generated = output_of(result, "new"), output_of(result, "gen")
    assert (path / "pyproject.toml").is_file() and (path / ".git").is_dir()
    subjects = git(path, "log", "--format=%s").splitlines()
    assert subjects == [
        f"generate_code: report_generator (run {run_id}, task gen)",
        f"create_project: python-project demo-app (run {run_id}, task new)",
    ]
    assert generated["commit"] == git(path, "rev-parse", "HEAD").strip()
    assert created["commit"] == git(path, "rev-parse", "HEAD~1").strip()
    assert all((path / f).is_file() for f in generated["files"])
    assert [e["sha"] for e in output_of(result, "log")["log"]] == [
        generated["commit"],
        created["commit"],
    ]
    # The backups and markers never enter git, and the tree is clean
    assert git(path, "status", "--porcelain") == ""
    # The WorkspaceContext is in the run's live context
    context = orch.runtime.context.module_contexts(USER, run_id)["workspace"]
    assert context["current_project"]["id"] == "demo-app"
    assert context["git_status"][0]["clean"] is True
    assert context["code_patterns"][0]["code_type"] == "report_generator"
    assert {p["id"] for p in context["active_projects"]} == {"demo-app"}


def test_retried_create_project_returns_the_same_project(orch: Orchestrator) -> None:
    task = ws("new", "create_project", template="python-project", name="once")
    run_id, result = run(orch, [task])
    first = output_of(result, "new")
    # A redelivery of the same task (same effect key) returns the same output, no new commit
    spec = orch.runtime.registry.get("create_project")
    params = CreateProjectParams.model_validate(task.parameters)
    again = spec.handler(params, {}, handler_ctx(orch, run_id, task))
    assert again.model_dump(mode="json") == first
    path = project_dir(orch, "once")
    assert git(path, "rev-list", "--count", "HEAD").strip() == "1"
    # Another run asking for the same name fails clearly and changes nothing
    _, second = run(orch, [task])
    (failure,) = second.failed_tasks
    assert failure.error.type is ErrorType.RESOURCE_CONFLICT
    assert "already exists" in failure.error.message
    assert git(path, "rev-parse", "HEAD").strip() == first["commit"]


# --- the sandbox ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    ["../../../outside.txt", "/etc/outside.txt", "link_out/x.txt", ".git/hooks/pre-commit"],
)
def test_hostile_path_fails_the_task_and_is_audited(
    orch: Orchestrator, tmp_path: Path, hostile: str
) -> None:
    create(orch, "safe")
    outside = tmp_path / "outside"
    outside.mkdir()
    (project_dir(orch, "safe") / "link_out").symlink_to(outside)
    write = ws("w", "file_operation", operation="write", path=hostile, content="pwned")
    run_id, result = run(orch, [write])
    assert result.status is RunStatus.FAILED
    (failure,) = result.failed_tasks
    assert failure.error.type is ErrorType.PERMISSION_DENIED
    assert failure.attempt_count == 1  # no strategy retries a hostile path
    (refusal,) = audit_of(orch, run_id, AuditAction.WORKSPACE_REFUSED)
    assert refusal["value"] == repr(hostile) and refusal["reason"]
    assert refusal["error_type"] == "permission_denied"
    assert list(outside.iterdir()) == []


def test_command_arguments_reach_the_program_literally(orch: Orchestrator) -> None:
    create(orch, "literal")
    args = ["; rm -rf /", "$(id)", "`id`", "|", "&&", "> x", "*"]
    _, result = run(orch, [ws("echo", "run_terminal_command", argv=["echo", *args])])
    output = output_of(result, "echo")
    assert output["stdout_tail"] == " ".join(args) + "\n"
    assert output["exit_code"] == 0
    assert (project_dir(orch, "literal") / "README.md").is_file()
    assert not (project_dir(orch, "literal") / "x").exists()


def _write_script(orch: Orchestrator, name: str, source: str) -> None:
    _, result = run(orch, [ws("w", "file_operation", operation="write", path=name, content=source)])
    assert result.status is RunStatus.COMPLETED, result.failed_tasks


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"  # a zombie is dead, only not yet reaped by its new parent


def _children(token: str) -> list[int]:
    """Live host pids whose argv ends with ``token``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if token.encode() in argv and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def _wait_gone(token: str, timeout_s: float = 10.0) -> list[int]:
    """Wait until no live process has ``token`` in its argv (on pidfds: woken by each
    exit, no polling); returns the pids still alive at the deadline."""
    deadline = time.monotonic() + timeout_s
    for pid in _children(token):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)
    return _children(token)


# The command and its child block until killed: the timeout is what ends them.
SPAWNER = """\
import signal, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()", "slow-child"])
open("child.pid", "w").write(str(child.pid))
print("started", flush=True)
signal.pause()
"""


def test_timeout_kills_the_whole_process_group(orch: Orchestrator) -> None:
    create(orch, "slow")
    _write_script(orch, "spawn.py", SPAWNER)
    command = ws(
        "cmd", "run_terminal_command", argv=["python", "spawn.py"], timeout_s=1.5, check=False
    )
    started = time.monotonic()
    _, result = run(orch, [command])
    output = output_of(result, "cmd")
    assert output["timed_out"] is True and output["exit_code"] != 0
    assert output["stdout_tail"] == "started\n"
    assert time.monotonic() - started < 30
    # The pid in child.pid is one of the jail's PID namespace: find the child by its argv.
    assert not _wait_gone("slow-child"), "the command's child outlived its timeout"


def test_output_is_capped_keeping_the_tail(orch: Orchestrator) -> None:
    create(orch, "loud")
    _write_script(orch, "loud.py", "import sys\nsys.stdout.write('x' * 500_000 + 'END\\n')\n")
    _, result = run(
        orch, [ws("cmd", "run_terminal_command", argv=["python", "loud.py"], max_output_bytes=1000)]
    )
    output = output_of(result, "cmd")
    assert output["stdout_truncated"] is True
    assert output["stdout_bytes"] == 500_004
    assert len(output["stdout_tail"]) == 1000 and output["stdout_tail"].endswith("xEND\n")


def test_command_environment_is_scrubbed(
    orch: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_SECRET_PROBE", "leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak")
    create(orch, "envy")
    _write_script(orch, "env.py", "import json, os\nprint(json.dumps(dict(os.environ)))\n")
    _, result = run(orch, [ws("cmd", "run_terminal_command", argv=["python", "env.py"])])
    env = json.loads(output_of(result, "cmd")["stdout_tail"])
    assert not [k for k in env if k.startswith("ORCH_")]
    assert "AWS_SECRET_ACCESS_KEY" not in env and "leak" not in env.values()
    assert env["HOME"] == str(project_dir(orch, "envy"))
    assert env["TZ"] == "UTC" and env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_commands_off_the_allow_list_are_refused_and_audited(orch: Orchestrator) -> None:
    create(orch, "bobs", user="bob")  # bob is an analyst
    for argv in (["sh", "-c", "id"], ["python", "-c", "print(1)"], ["/bin/ls"]):
        run_id, result = run(orch, [ws("cmd", "run_terminal_command", argv=argv)], user="bob")
        assert result.failed_tasks[0].error.type is ErrorType.PERMISSION_DENIED, argv
        (refusal,) = audit_of(orch, run_id, AuditAction.WORKSPACE_REFUSED)
        assert refusal["value"] and refusal["reason"], refusal
        assert audit_of(orch, run_id, AuditAction.COMMAND_RUN) == []


# --- git -------------------------------------------------------------------------------------

HOOK = "#!/bin/sh\necho ran > {marker}\n"


def test_git_hooks_never_run(orch: Orchestrator, tmp_path: Path) -> None:
    create(orch, "hooked")
    path = project_dir(orch, "hooked")
    marker = tmp_path / "hook_ran"
    custom = path / "custom-hooks"
    custom.mkdir()
    for hooks in (path / ".git" / "hooks", custom):
        for name in ("pre-commit", "commit-msg", "post-commit"):
            (hooks / name).write_text(HOOK.format(marker=marker))
            (hooks / name).chmod(0o755)
    # A repository whose own config asks for hooks elsewhere is refused outright
    git(path, "config", "core.hooksPath", str(custom))
    run_id, refused = run(orch, [ws("st", "git_operation", operation="status")])
    assert refused.failed_tasks[0].error.type is ErrorType.PERMISSION_DENIED
    (refusal,) = audit_of(orch, run_id, AuditAction.WORKSPACE_REFUSED)
    assert "core.hookspath" in refusal["reason"]
    git(path, "config", "--unset", "core.hooksPath")
    tasks = [
        ws("w", "file_operation", operation="write", path="notes.md", content="# notes\n"),
        ws("add", "git_operation", operation="add", paths=["notes.md"]),
        ws("commit", "git_operation", operation="commit", message="add notes"),
    ]
    _, result = run(orch, tasks)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    assert git(path, "log", "-n1", "--format=%s").strip() == "add notes"
    assert not marker.exists(), "a git hook ran"
    # The hooks work: plain git, without our hardening, runs them
    git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--allow-empty", "-m", "x")
    assert marker.exists()


def test_branch_tag_checkout_and_revert(orch: Orchestrator) -> None:
    create(orch, "refs")
    path = project_dir(orch, "refs")
    tasks = [
        ws("branch", "git_operation", operation="branch", ref="feature/x"),
        ws("checkout", "git_operation", operation="checkout", ref="feature/x"),
        ws("w", "file_operation", operation="write", path="a.txt", content="a\n"),
        ws("commit", "git_operation", operation="commit", paths=["a.txt"], message="add a"),
        ws("tag", "git_operation", operation="tag", ref="v1.0"),
        ws("revert", "git_operation", operation="revert", ref="HEAD"),
        ws("list", "git_operation", operation="branch"),
    ]
    _, result = run(orch, tasks)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    assert git(path, "branch", "--show-current").strip() == "feature/x"
    assert git(path, "rev-parse", "v1.0").strip() == output_of(result, "commit")["commit"]
    assert not (path / "a.txt").exists()
    assert "This reverts commit" in git(path, "log", "-n1", "--format=%B")
    assert output_of(result, "list")["names"] == ["feature/x", "main"]
    for ref in ("--upload-pack=touch /tmp/pwned", "a..b", "-b"):
        run_id, refused = run(orch, [ws("bad", "git_operation", operation="branch", ref=ref)])
        assert refused.failed_tasks[0].error.type is ErrorType.INVALID_INPUT
        assert audit_of(orch, run_id, AuditAction.WORKSPACE_REFUSED)[0]["value"] == repr(ref)
    run_id, pushed = run(orch, [ws("push", "git_operation", operation="push", remote="../refs")])
    assert pushed.failed_tasks[0].error.type is ErrorType.PERMISSION_DENIED  # push is off


# --- rollback --------------------------------------------------------------------------------


def test_file_changes_are_undone_by_their_compensation(orch: Orchestrator) -> None:
    create(orch, "undo")
    path = project_dir(orch, "undo")
    readme = (path / "README.md").read_text()
    tasks = [
        ws("v1", "file_operation", operation="write", path="notes.txt", content="v1"),
        ws("v2", "file_operation", operation="write", path="notes.txt", content="v2"),
        ws("rm", "file_operation", operation="delete", path="README.md"),
        ws("mv", "file_operation", operation="move", path="notes.txt", destination="docs/n.txt"),
    ]
    run_id, result = run(orch, tasks)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    compensation = orch.runtime.registry.hooks.compensation_for("file_operation")
    assert compensation is not None
    # After undoing each task: (content of notes.txt or None, README.md exists)
    expected_after = {
        "mv": ("v2", False),
        "rm": ("v2", True),
        "v2": ("v1", True),
        "v1": (None, True),
    }
    for task in reversed(tasks):  # newest first, like rollback; each twice (a redelivery)
        params = FileOperationParams.model_validate(task.parameters)
        for _ in range(2):
            compensation(params, output_of(result, task.id), handler_ctx(orch, run_id, task))
        notes = path / "notes.txt"
        assert (notes.read_text() if notes.exists() else None, (path / "README.md").exists()) == (
            expected_after[task.id]
        )
    assert not (path / "notes.txt").exists() and not (path / "docs" / "n.txt").exists()
    assert (path / "README.md").read_text() == readme
    undone = [a for a in audit_of(orch, run_id, AuditAction.FILE_CHANGED) if a.get("compensation")]
    assert len(undone) == 8


def test_generated_code_is_reverted_by_its_compensation(orch: Orchestrator) -> None:
    created = create(orch, "gen-undo")
    path = project_dir(orch, "gen-undo")
    main = path / "src" / "gen_undo" / "__main__.py"
    before = main.read_text()
    task = ws("gen", "generate_code", code_type="report_generator", project_id="gen-undo")
    run_id, result = run(orch, [task])
    generated = output_of(result, "gen")
    assert main.read_text() != before and generated["commit"]
    compensation = orch.runtime.registry.hooks.compensation_for("generate_code")
    assert compensation is not None
    params = GenerateCodeParams.model_validate(task.parameters)
    for _ in range(2):
        compensation(params, generated, handler_ctx(orch, run_id, task))
    assert main.read_text() == before
    assert git(path, "rev-parse", "HEAD^{tree}") == git(
        path, "rev-parse", f"{created['commit']}^{{tree}}"
    )
    reverts = git(path, "log", "--format=%H", f"--grep=This reverts commit {generated['commit']}")
    assert len(reverts.split()) == 1
    assert git(path, "status", "--porcelain") == ""


def test_rollback_and_restart_restores_then_rewrites_the_file(
    orch: Orchestrator, tmp_path: Path
) -> None:
    create(orch, "rollback")
    path = project_dir(orch, "rollback")
    _write_script(orch, "state.txt", "v1")
    ledger = tmp_path / "ledger"
    write = ws("write", "file_operation", operation="write", path="state.txt", content="v2")
    check = AITask(
        id="check",
        type="fault_inconsistent",
        module=Module.SYSTEM,
        parameters={"ledger": str(ledger), "succeed_on_call": 4},
    )
    chain = TaskChain(
        goal=UserGoal(description="rollback"),
        tasks=[write, check],
        dependencies=[TaskDependency.model_validate({"from": "write", "to": "check"})],
    )
    run_id = orch.submit(chain, user=USER)
    # As in test_recovery: two approvals, the second for rollback_and_restart
    for nth in (1, 2):
        wait_for_state(orch, run_id, "check", TaskState.PARKED, nth=nth)
        assert orch.approve(run_id, "check") is True
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    assert (path / "state.txt").read_text() == "v2"
    changes = audit_of(orch, run_id, AuditAction.FILE_CHANGED)
    assert [c["operation"] for c in changes] == ["write", "undo write", "write"]


# --- Postgres --------------------------------------------------------------------------------


def test_audit_rows_are_written_to_postgres(migrated_pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=migrated_pg_url)
    with _orchestrator(settings) as orch:
        assert orch.runtime.history.engine.dialect.name == "postgresql"
        create(orch, "pg")
        tasks = [
            ws("ls", "run_terminal_command", argv=["ls"]),
            ws("bad", "file_operation", operation="read", path="%2e%2e%2fsecrets"),
        ]
        run_id, result = run(orch, tasks, prerequisite=False)
        assert [f.task_id for f in result.failed_tasks] == ["bad"]
        (command,) = audit_of(orch, run_id, AuditAction.COMMAND_RUN)
        assert command["argv"] == ["ls"] and command["exit_code"] == 0
        (refusal,) = audit_of(orch, run_id, AuditAction.WORKSPACE_REFUSED)
        assert refusal["value"] == repr("%2e%2e%2fsecrets")
        assert "percent-encoding" in refusal["reason"]


def test_rollback_of_a_new_project_recreates_it(orch: Orchestrator, tmp_path: Path) -> None:
    # Given a run that creates a project, generates code into it, then hits an inconsistency
    tasks = [
        ws("new", "create_project", template="python-project", name="phoenix"),
        ws("gen", "generate_code", code_type="report_generator"),
        AITask(
            id="check",
            type="fault_inconsistent",
            module=Module.SYSTEM,
            parameters={"ledger": str(tmp_path / "ledger"), "succeed_on_call": 4},
        ),
    ]
    chain = TaskChain(
        goal=UserGoal(description="rollback a project"),
        tasks=tasks,
        dependencies=[
            TaskDependency.model_validate({"from": "new", "to": "gen", "type": "prerequisite"}),
            TaskDependency.model_validate({"from": "gen", "to": "check"}),
        ],
    )
    run_id = orch.submit(chain, user=USER)
    for nth in (1, 2):
        wait_for_state(orch, run_id, "check", TaskState.PARKED, nth=nth)
        assert orch.approve(run_id, "check") is True
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    # Then the commit was reverted, the project moved to the trash, and both made again
    trash = orch.runtime.settings.resolved_workspace_root / USER / ".orchestrator" / "trash"
    (trashed,) = trash.iterdir()
    assert "This reverts commit" in git(trashed, "log", "-n1", "--format=%B")
    path = project_dir(orch, "phoenix")
    assert git(path, "rev-list", "--count", "HEAD").strip() == "2"
    assert output_of(result, "gen")["commit"] == git(path, "rev-parse", "HEAD").strip()
    operations = [d["operation"] for d in audit_of(orch, run_id, AuditAction.GIT_CHANGED)]
    assert operations == [
        "create_project",
        "generate_code",
        "undo generate_code",
        "undo create_project",
        "create_project",
        "generate_code",
    ]


def test_retried_generate_code_commits_once(orch: Orchestrator) -> None:
    create(orch, "twice")
    task = ws("gen", "generate_code", code_type="trading-bot", project_id="twice")
    run_id, result = run(orch, [task])
    first = output_of(result, "gen")
    spec = orch.runtime.registry.get("generate_code")
    params = GenerateCodeParams.model_validate(task.parameters)
    again = spec.handler(params, {}, handler_ctx(orch, run_id, task))
    assert again.model_dump(mode="json") == first
    assert git(project_dir(orch, "twice"), "rev-list", "--count", "HEAD").strip() == "2"
    # Same inputs in a new run: the same files, so nothing new to commit
    _, rerun = run(orch, [task])
    assert output_of(rerun, "gen")["files"] == first["files"]
    assert output_of(rerun, "gen")["commit"] is None


def test_push_goes_only_to_the_users_own_workspace_when_enabled(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", git_allow_push=True)
    with _orchestrator(settings) as orch:
        created = create(orch, "pushy")
        user_dir = orch.runtime.settings.resolved_workspace_root / USER
        origin = user_dir / "origin.git"
        # Only a bare repository the orchestrator made (with its marker) takes a push
        GitRepo.init_bare_remote(origin, ceiling=user_dir, author=("t", "t@t"))
        push = ws(
            "push", "git_operation", operation="push", project_id="pushy", remote="origin.git"
        )
        run_id, result = run(orch, [push])
        assert result.status is RunStatus.COMPLETED, result.failed_tasks
        assert git(origin, "rev-parse", "refs/heads/main").strip() == created["commit"]
        (pushed,) = audit_of(orch, run_id, AuditAction.GIT_CHANGED)
        assert pushed["remote"] == str(origin)
        for remote in ("https://evil.example/x.git", str(tmp_path), "ext::sh -c id"):
            hostile = push.model_copy(update={"parameters": {**push.parameters, "remote": remote}})
            run_id, refused = run(orch, [hostile])
            assert refused.failed_tasks[0].error.type in (
                ErrorType.PERMISSION_DENIED,
                ErrorType.INVALID_INPUT,
            )
            assert audit_of(orch, run_id, AuditAction.WORKSPACE_REFUSED)
