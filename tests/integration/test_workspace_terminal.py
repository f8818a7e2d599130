"""RUN_TERMINAL_COMMAND against the security review's exploits, with real processes.

Each exploit is either refused by the allow-list or contained by the jail
(``tasks.workspace.jail``): other workspaces and the worker's /proc are invisible, a
timeout kills double-forked ``setsid()`` children, and generated projects' own tests still
pass through the terminal.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.history import AuditAction
from orchestrator.models import ErrorType, RunStatus
from tasks.workspace.jail import REPO_ROOT, UNSHARE_FLAGS, jail_argv, namespaces_available
from tests.integration.test_workspace import (
    _wait_gone,
    _write_script,
    audit_of,
    create,
    orch,  # noqa: F401 -- the fixture, shared with test_workspace
    output_of,
    project_dir,
    run,
    ws,
)


@pytest.fixture(autouse=True)
def _namespaces_are_required() -> None:
    # Never skipped: on a machine without user namespaces code runners are refused, and
    # these tests must say so loudly rather than pass by not running.
    if not namespaces_available():
        pytest.fail("this machine cannot create user namespaces (unshare); the jail needs them")


def test_jail_argv_is_unshare_then_the_jail_module() -> None:
    argv = jail_argv(
        ["python", "-m", "pytest"],
        unshare="/usr/bin/unshare",
        executable="/venv/bin/python",
        project_dir=Path("/ws/alice/p"),
        cwd=Path("/ws/alice/p/tests"),
        hide=[Path("/ws"), Path("/data")],
        read_only=[Path("/ws/alice/p/.git")],
        limits={"nproc": 256, "core": 0},
    )
    assert argv == [
        "/usr/bin/unshare",
        *UNSHARE_FLAGS,
        "--",
        sys.executable,
        "-E",
        "-s",
        "-m",
        "tasks.workspace.jail",
        "--project",
        "/ws/alice/p",
        "--hide",
        "/ws",
        "--hide",
        "/data",
        "--ro",
        "/ws/alice/p/.git",
        "--limit",
        "nproc=256",
        "--limit",
        "core=0",
        "--cwd",
        "/ws/alice/p/tests",
        "--exec",
        "/venv/bin/python",
        "--",
        "python",
        "-m",
        "pytest",
    ]
    assert UNSHARE_FLAGS == (
        "--user",
        "--map-root-user",
        "--mount",
        "--pid",
        "--net",
        "--fork",
        "--kill-child",
        "--mount-proc",
    )
    assert (REPO_ROOT / "tasks" / "workspace" / "jail.py").is_file()


SNOOP = """\
import glob, json, os
found = {"sibling": os.path.exists(SIBLING), "environ": [], "pids": []}
for path in glob.glob("/proc/[0-9]*/environ"):
    found["pids"].append(path)
    try:
        if b"JAIL_SECRET_PROBE" in open(path, "rb").read():
            found["environ"].append(path)
    except OSError:
        pass
try:
    open(".git/HEAD", "w").write("pwned")
    found["git_head"] = "written"
except OSError as exc:
    found["git_head"] = exc.strerror
import socket
try:
    socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    found["redis"] = "reached"
except OSError as exc:
    found["redis"] = str(exc)
found["shm"] = sorted(os.listdir("/dev/shm"))
print(json.dumps(found))
"""


def test_project_code_sees_no_other_workspace_nor_worker_environ(
    orch: Orchestrator,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JAIL_SECRET_PROBE", "leak")
    create(orch, "bobs", user="bob")
    secret = project_dir(orch, "bobs", user="bob") / "secret.txt"
    secret.write_text("bob's secret")
    create(orch, "snoop")
    _write_script(orch, "snoop.py", f"SIBLING = {str(secret)!r}\n" + SNOOP)
    _, result = run(orch, [ws("cmd", "run_terminal_command", argv=["python", "snoop.py"])])
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    output = output_of(result, "cmd")
    assert output["isolation"] == "namespaces"
    found = __import__("json").loads(output["stdout_tail"])
    assert found["sibling"] is False
    assert found["environ"] == []
    assert len(found["pids"]) <= 2  # the jail's own PID namespace only
    assert found["git_head"] != "written"
    assert "pwned" not in (project_dir(orch, "snoop") / ".git" / "HEAD").read_text()
    # No network: the Redis the worker uses (and the tests reach) is unreachable
    assert found["redis"] != "reached"
    assert found["shm"] == []  # a private /dev/shm


@pytest.mark.parametrize(
    ("argv", "user", "error"),
    [
        (["python", "-m", "pytest", "-o", "addopts=-p evilplug"], "demo", "permission_denied"),
        (["python", "-m", "pytest", "--junitxml=.git/config"], "demo", "permission_denied"),
        (["python", "-m", "json.tool", "in.json", ".git/HEAD"], "demo", "permission_denied"),
        (["wc", "--files0-from=list"], "demo", "permission_denied"),
        (["cat", ".git/HEAD"], "demo", "permission_denied"),
        (["npm", "test"], "demo", "permission_denied"),
        (["git", "diff", "--no-index", "a", "b"], "demo", "permission_denied"),
        (["python", "run.py"], "bob", "permission_denied"),  # analyst: no project code
        (["node", "--test"], "stranger", "permission_denied"),  # default role analyst
    ],
)
def test_exploit_argvs_are_refused_and_audited(
    orch: Orchestrator,  # noqa: F811
    argv: list[str],
    user: str,
    error: str,
) -> None:
    create(orch, "target", user=user)
    run_id, result = run(orch, [ws("cmd", "run_terminal_command", argv=argv)], user=user)
    assert result.status is RunStatus.FAILED
    assert result.failed_tasks[0].error.type is ErrorType(error), result.failed_tasks
    assert audit_of(orch, run_id, AuditAction.WORKSPACE_REFUSED)
    assert audit_of(orch, run_id, AuditAction.COMMAND_RUN) == []


# A grandchild in its own session, then both block until killed: the timeout ends them.
ESCAPER = """\
import os, signal
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open("marker.txt", "w") as f:
            f.write(str(os.getpid()))
        signal.pause()
    os._exit(0)
signal.pause()
"""


def test_timeout_kills_a_double_forked_setsid_child(orch: Orchestrator) -> None:  # noqa: F811
    create(orch, "escape")
    _write_script(orch, "escape.py", ESCAPER)
    command = ws(
        "cmd", "run_terminal_command", argv=["python", "escape.py"], timeout_s=1.5, check=False
    )
    _, result = run(orch, [command])
    assert output_of(result, "cmd")["timed_out"] is True
    marker = project_dir(orch, "escape") / "marker.txt"
    assert marker.is_file()  # the grandchild did start
    # Every process of the command (the grandchild too: its argv is escape.py's) is gone.
    assert _wait_gone("escape.py") == [], "the setsid() grandchild outlived the timeout"


BOMB = """\
import subprocess
started = 0
try:
    for _ in range(1000):
        subprocess.Popen(["sleep", "313.25"])
        started += 1
except OSError as exc:
    print("refused", started, exc.errno, flush=True)
print("started", started, flush=True)
"""


def test_fork_bomb_lite_is_contained(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", terminal_limit_nproc=64)
    from tests.integration.test_workspace import _orchestrator

    with _orchestrator(settings) as orchestrator:
        create(orchestrator, "bomb")
        _write_script(orchestrator, "bomb.py", BOMB)
        command = ws(
            "cmd", "run_terminal_command", argv=["python", "bomb.py"], timeout_s=5, check=False
        )
        started = time.monotonic()
        _, result = run(orchestrator, [command])
        assert time.monotonic() - started < 30
        output = output_of(result, "cmd")
        assert _wait_gone("313.25") == [], "sleepers outlived the command"
        if output["stdout_tail"].startswith("refused"):
            assert int(output["stdout_tail"].split()[1]) < 64
        else:
            # RLIMIT_NPROC does not bind uid 0 (the kernel exempts root's own user): as root
            # the namespace kill is what contains the processes (see the report's risks).
            assert sys.platform == "linux" and __import__("os").geteuid() == 0, output


def test_generated_python_project_tests_pass_through_the_terminal(
    orch: Orchestrator,  # noqa: F811
) -> None:
    tasks = [
        ws("new", "create_project", template="python-trading-bot", name="pybot"),
        ws("test", "run_terminal_command", argv=["python", "-m", "pytest", "-q"], timeout_s=120),
    ]
    _, result = run(orch, tasks)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    output = output_of(result, "test")
    assert output["exit_code"] == 0 and "passed" in output["stdout_tail"]
    assert not (project_dir(orch, "pybot") / ".pytest_cache").exists()


def test_generated_node_project_tests_pass_through_the_terminal(
    orch: Orchestrator,  # noqa: F811
) -> None:
    assert shutil.which("node") is not None, "node is not installed: the Node template needs it"
    tasks = [
        ws("new", "create_project", template="nodejs-trading-bot", name="nodebot"),
        ws("test", "run_terminal_command", argv=["node", "--test"], timeout_s=120),
    ]
    _, result = run(orch, tasks)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    assert output_of(result, "test")["exit_code"] == 0
