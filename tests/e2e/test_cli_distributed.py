"""The ``orchestrator`` CLI the Procfile way: real Redis broker, Postgres history and one
``celery worker`` process per module queue; every CLI call is its own process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from config.celery import MODULE_QUEUES
from orchestrator import Orchestrator
from orchestrator.models import Module, TaskChain
from tests.e2e.conftest import HEALTH_GOAL, Cli, CliResult, run_cli
from tests.support.chains import build_chain, step_task
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

RUN_ID = re.compile(r"run_[0-9a-f]{16}")
REVISION = re.compile(r"history database at revision (\S+)")
#: Both examples, eleven tasks with two jailed test suites and a backtest; a hung run ends it.
DEMO_TIMEOUT_S = 600


@pytest.fixture
def cli(e2e_env: dict[str, str], tmp_path: Path) -> Cli:
    def call(*args: str) -> CliResult:
        return run_cli(*args, env=e2e_env, cwd=tmp_path)

    return call


def write_chain(path: Path, chain: TaskChain | dict[str, Any]) -> Path:
    if isinstance(chain, TaskChain):
        path.write_text(chain.model_dump_json(by_alias=True))
    else:
        path.write_text(json.dumps(chain))
    return path


def submit(cli: Cli, chain_file: Path, *extra: str) -> str:
    result = cli("submit", "--chain-file", str(chain_file), *extra)
    assert result.returncode == 0, str(result)
    run_id = result.stdout.strip()
    assert RUN_ID.fullmatch(run_id), str(result)
    return run_id


def status_json(cli: Cli, run_id: str) -> dict[str, Any]:
    result = cli("status", run_id, "--json")
    assert result.returncode == 0, str(result)
    body: dict[str, Any] = result.json()
    return body


def test_db_upgrade_on_fresh_database_is_idempotent(
    e2e_env: dict[str, str], fresh_pg_url: str, tmp_path: Path
) -> None:
    env = {**e2e_env, "ORCH_DATABASE_URL": fresh_pg_url}

    first = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    second = run_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert first.returncode == 0, str(first)
    assert second.returncode == 0, str(second)
    first_rev = REVISION.search(first.stdout)
    second_rev = REVISION.search(second.stdout)
    assert first_rev is not None, str(first)
    assert second_rev is not None, str(second)
    assert first_rev.group(1) == second_rev.group(1) != "None"
    dsn = fresh_pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert version == first_rev.group(1)
    assert {"goals", "runs", "task_attempts", "audit_log"} <= tables
    # Nothing was written to the data dir: the history is in Postgres
    assert not list(tmp_path.glob("**/*.db"))


def test_submit_watch_status_diamond(e2e_orch: Orchestrator, cli: Cli, tmp_path: Path) -> None:
    chain = build_chain(
        [
            step_task("a", value="A"),
            step_task("b", Module.PORTFOLIO, value="B"),
            step_task("c", Module.AI_ASSISTANT, value="C"),
            step_task("d", Module.WORKSPACE, value="D"),
        ],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
        description="e2e diamond",
    )
    run_id = submit(cli, write_chain(tmp_path / "f.json", chain))

    watched = cli("watch", run_id, "--timeout", "60")

    assert watched.returncode == 0, str(watched)
    lines = watched.stdout.splitlines()
    for task_id in "abcd":
        assert any(re.search(rf"\s{task_id}\s+started on \S+", line) for line in lines), str(
            watched
        )
        assert any(re.search(rf"\s{task_id}\s+succeeded", line) for line in lines), str(watched)
    assert any("run finished (completed)" in line for line in lines), str(watched)
    assert "4/4 tasks finished" in watched.output, str(watched)

    status = status_json(cli, run_id)
    assert status["run_id"] == run_id
    assert status["state"] == "completed"
    assert status["goal"] == "e2e diamond"
    tasks = {t["task_id"]: t for t in status["tasks"]}
    assert {k: t["queue"] for k, t in tasks.items()} == {
        "a": "system",
        "b": "portfolio",
        "c": "assistant",
        "d": "workspace",
    }
    for task_id, task in tasks.items():
        assert task["state"] == "succeeded", task
        # Each task ran on its own queue's worker process
        assert task["worker"].startswith(f"{task['queue']}@"), (task_id, task)
    record = e2e_orch.runtime.history.get_run(run_id)
    assert record is not None and record.state.value == "completed"
    history = cli("history", "--json")
    assert history.returncode == 0, str(history)
    assert run_id in [r["run_id"] for r in history.json()]
    # Another user sees nothing of it
    for args in (("status", run_id), ("watch", run_id), ("cancel", run_id)):
        other = cli(*args, "--user", "someone_else")
        assert other.returncode == 1, str(other)
        assert f"run {run_id} for this user" in other.output, str(other)


def test_cancel_running_run_cancels_later_tasks(
    cli: Cli, e2e_orch: Orchestrator, tmp_path: Path
) -> None:
    chain = build_chain(
        [
            step_task("slow", value="S", sleep_ms=5_000),
            step_task("after1", Module.PORTFOLIO),
            step_task("after2", Module.WORKSPACE),
        ],
        [("slow", "after1"), ("after1", "after2")],
        description="e2e cancel",
    )
    run_id = submit(cli, write_chain(tmp_path / "slow.json", chain))

    def first_task_running() -> bool:
        tasks = {t["task_id"]: t for t in status_json(cli, run_id)["tasks"]}
        assert tasks["slow"]["state"] in {"pending", "running"}, tasks
        return tasks["slow"]["state"] == "running"

    wait_until(first_task_running, timeout_s=30, what="the slow task to start")
    cancelled = cli("cancel", run_id)
    assert cancelled.returncode == 0, str(cancelled)
    assert f"cancel requested for {run_id}" in cancelled.stdout, str(cancelled)

    def finished() -> dict[str, Any] | None:
        status = status_json(cli, run_id)
        return status if status["state"] not in {"pending", "running"} else None

    status = wait_until(finished, timeout_s=40, what="the cancelled run to finish")
    assert status["state"] == "cancelled", status
    assert status["cancel_requested"] is True, status
    tasks = {t["task_id"]: t for t in status["tasks"]}
    # The running task was let finish; nothing after it started
    assert tasks["slow"]["state"] == "succeeded", tasks
    for task_id in ("after1", "after2"):
        assert tasks[task_id]["state"] == "cancelled", tasks
        assert tasks[task_id]["started_at"] is None, tasks
        assert tasks[task_id]["reason"] == "run cancelled before this task started", tasks
    # Cancelling a finished run changes nothing
    again = cli("cancel", run_id)
    assert again.returncode == 0, str(again)
    assert f"{run_id} already finished" in again.stdout, str(again)
    record = e2e_orch.runtime.history.get_run(run_id)
    assert record is not None and record.state.value == "cancelled"


def test_watch_of_a_partial_run_exits_1(cli: Cli, e2e_orch: Orchestrator, tmp_path: Path) -> None:
    # The CLI's contract: exit 1 when a run ended partial/failed/cancelled.
    chain = build_chain(
        [step_task("ok"), step_task("boom", Module.PORTFOLIO, fail=True)],
        [("ok", "boom")],
        description="e2e failing",
    )
    run_id = submit(cli, write_chain(tmp_path / "failing.json", chain))

    watched = cli("watch", run_id, "--timeout", "60")

    assert "injected failure in boom" in watched.output, str(watched)
    assert status_json(cli, run_id)["state"] == "partial"
    assert watched.returncode == 1, str(watched)


def queue_lengths(redis_url: str) -> dict[str, int]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {q: int(client.llen(q)) for q in MODULE_QUEUES}
    finally:
        client.close()


def test_submit_cyclic_chain_exits_2_and_enqueues_nothing(
    cli: Cli, e2e_orch: Orchestrator, e2e_env: dict[str, str], tmp_path: Path
) -> None:
    chain = build_chain(
        [
            step_task("alpha"),
            step_task("beta", Module.PORTFOLIO),
            step_task("gamma", Module.WORKSPACE),
        ],
        [("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha")],
        description="e2e cyclic",
    )
    chain_file = write_chain(tmp_path / "cyclic.json", chain)
    runs_before = [r.run_id for r in e2e_orch.runtime.history.list_runs(limit=1000)]
    queues_before = queue_lengths(e2e_env["ORCH_BROKER_URL"])

    result = cli("submit", "--chain-file", str(chain_file), "--user", "cyclic_user")

    assert result.returncode == 2, str(result)
    assert result.stdout == "", str(result)
    assert "cycle" in result.output, str(result)
    for task_id in ("alpha", "beta", "gamma"):
        assert task_id in result.output, str(result)
    assert queue_lengths(e2e_env["ORCH_BROKER_URL"]) == queues_before
    runs_after = [r.run_id for r in e2e_orch.runtime.history.list_runs(limit=1000)]
    assert runs_after == runs_before
    history = cli("history", "--user", "cyclic_user", "--json")
    assert history.returncode == 0, str(history)
    assert history.json() == []


def test_run_health_goal_on_distributed_setup(cli: Cli, e2e_orch: Orchestrator) -> None:
    result = cli("run", HEALTH_GOAL, "--json", "--timeout", "60")

    assert result.returncode == 0, str(result)
    body = result.json()
    assert body["status"] == "completed", body
    assert [t["task_id"] for t in body["completed_tasks"]] == ["task_001", "task_002"]
    health = body["completed_tasks"][0]["output"]
    assert health["healthy"] is True, health
    checks = {c["name"]: c for c in health["checks"]}
    assert all(c["status"] == "up" for c in checks.values()), checks
    assert "redis://" in checks["broker"]["detail"], checks["broker"]
    workers = health["workers_by_queue"]
    assert set(workers) == set(MODULE_QUEUES), workers
    for queue in MODULE_QUEUES:
        assert any(name.startswith(f"{queue}@") for name in workers[queue]), workers
    # The backup was written by the system worker process, under its data dir
    backup = Path(body["completed_tasks"][1]["output"]["path"])
    assert backup.is_file()
    assert json.loads(backup.read_text())["run"]["run_id"] == body["run_id"]


def test_demo_runs_both_spec_examples_on_the_worker_pools(
    e2e_orch: Orchestrator, e2e_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli("demo", "--json", env=e2e_env, cwd=tmp_path, timeout_s=DEMO_TIMEOUT_S)

    assert result.returncode == 0, str(result)
    examples = {e["example"]: e for e in result.json()}
    assert set(examples) == {"trading-bot", "report-generator"}
    for example in examples.values():
        assert example["result"]["status"] == "completed", example["result"]
        made = example["deliverables"]
        (project,) = made["projects"]
        assert Path(project).is_dir()
        (tests,) = made["tests"]
        assert re.match(r"[1-9]\d* passed, 0 failed", tests), tests
        # Every task ran on a worker pool process, not in the CLI's process
        run_id = example["result"]["run_id"]
        workers = {t.worker for t in e2e_orch.status(run_id, user="demo").tasks}
        assert workers and all(w and "@" in w for w in workers), workers
    assert examples["trading-bot"]["deliverables"]["backtests"]
    reports = examples["report-generator"]["deliverables"]["reports"]
    assert any(Path(p).read_bytes().startswith(b"%PDF") for p in reports), reports
