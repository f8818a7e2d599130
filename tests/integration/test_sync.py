"""Sync on real workers, Redis and Postgres: a run whose whole worker was SIGKILLed is
repaired and finishes on a fresh worker; lost live context comes back from history; an
embedded process that died leaves runs sync fails with the reason.

Isolated from the session's ``orch`` fixture: its own Redis database (REDIS_TEST_DB + 1,
flushed here), its own Postgres database and its own worker processes, so killing them
breaks nobody else's test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.control import RunNotFound
from orchestrator.history import AuditAction, create_history_engine, upgrade
from orchestrator.history.tables import RunRow, TaskAttemptRow
from orchestrator.models import AITask, Module, RunStatus, TaskChain, TaskState, UserGoal
from orchestrator.reconcile import (
    EMBEDDED_EXIT_REASON,
    RepairKind,
    SyncReport,
    Verdict,
    reconcile,
)
from orchestrator.reconcile.broker import queued_items
from orchestrator.runtime import Runtime
from tasks.builtin import default_registry
from tests.conftest import PG_ADMIN_DSN, REDIS_BASE_URL, REDIS_TEST_DB
from tests.support.blocking import BLOCK_ONCE_TYPE
from tests.support.chains import build_chain, step_task
from tests.support.plugin import register
from tests.support.waiting import wait_for_state
from tests.support.workers import REPO_ROOT, session_leader_worker, settings_env

SYNC_REDIS_URL = f"{REDIS_BASE_URL}/{REDIS_TEST_DB + 1}"
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def sync_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """ORCH_* variables of this module's own Redis database and Postgres database."""
    redis.Redis.from_url(SYNC_REDIS_URL).flushdb()
    name = f"orch_sync_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    database_url = f"{base}/{name}"
    upgrade(database_url)
    yield {
        "ORCH_BROKER_URL": SYNC_REDIS_URL,
        "ORCH_RESULT_BACKEND": SYNC_REDIS_URL,
        "ORCH_REDIS_URL": SYNC_REDIS_URL,
        "ORCH_DATABASE_URL": database_url,
        "ORCH_DATA_DIR": str(tmp_path_factory.mktemp("orch-sync")),
        "ORCH_KEY_PREFIX": "orchsync",
    }
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def sync_orch(sync_env: dict[str, str]) -> Iterator[Orchestrator]:
    settings = Settings(
        broker_url=sync_env["ORCH_BROKER_URL"],
        result_backend=sync_env["ORCH_RESULT_BACKEND"],
        redis_url=sync_env["ORCH_REDIS_URL"],
        database_url=sync_env["ORCH_DATABASE_URL"],
        data_dir=Path(sync_env["ORCH_DATA_DIR"]),
        key_prefix=sync_env["ORCH_KEY_PREFIX"],
    )
    registry = default_registry()
    register(registry)
    orchestrator = Orchestrator.from_settings(settings, registry)
    yield orchestrator
    orchestrator.close()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sync-worker-logs")


@pytest.fixture(scope="module")
def system_worker(
    sync_orch: Orchestrator, sync_env: dict[str, str], logs: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The system queue's worker (final steps, the sync task); never killed."""
    with session_leader_worker(sync_orch.app, sync_env, "system", logs / "system.log") as proc:
        yield proc


def queue_length(queue: str) -> int:
    return int(redis.Redis.from_url(SYNC_REDIS_URL).llen(queue))


def blocking_chain(marker: Path) -> TaskChain:
    blocker = AITask(
        id="task_001",
        type=BLOCK_ONCE_TYPE,
        module=Module.PORTFOLIO,
        parameters={"marker": str(marker)},
    )
    return build_chain([blocker, step_task("task_002", value="after")], [("task_001", "task_002")])


def sync_now(runtime: Runtime, user: str, *, dry_run: bool = False) -> SyncReport:
    """Sync without a grace period: these tests stage their runs' timing themselves."""
    return reconcile(runtime, user_id=user, grace_s=0, dry_run=dry_run, allow_short_grace=True)


@pytest.mark.usefixtures("system_worker")
def test_sync_repairs_a_run_whose_worker_was_killed(
    sync_orch: Orchestrator, sync_env: dict[str, str], logs: Path, tmp_path: Path
) -> None:
    runtime = sync_orch.runtime
    user = runtime.settings.default_user  # the user wait_for_state watches as
    # Given a run whose first task blocks inside its portfolio worker
    with session_leader_worker(
        sync_orch.app, sync_env, "portfolio", logs / "portfolio-1.log"
    ) as doomed:
        run_id = sync_orch.submit(blocking_chain(tmp_path / "blocked"), user=user)
        wait_for_state(sync_orch, run_id, "task_001", TaskState.RUNNING, nth=2)
        # While the worker lives, the run is healthy and sync leaves it alone
        healthy = sync_now(runtime, user)
        assert healthy.runs_with(Verdict.HEALTHY) == [run_id]
        assert healthy.actions == []
        # While the worker is too slow to answer (stopped), its unacknowledged message is
        # not taken from it: the run is reported, nothing is restored
        os.killpg(doomed.pid, signal.SIGSTOP)
        try:
            slow = sync_now(runtime, user)
        finally:
            os.killpg(doomed.pid, signal.SIGCONT)
        assert slow.runs_with(Verdict.STUCK) == [run_id]
        assert slow.actions == [] and slow.applied == []
        assert "did not answer" in slow.findings[0].detail
        assert queue_length("portfolio") == 0
        # When the whole worker (main process and pool children) is SIGKILLed
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    assert sync_orch.status(run_id, user=user).state.value == "running"

    # With the default grace, a run active seconds ago is not judged at all
    default = reconcile(runtime, user_id=user)
    assert default.runs_with(Verdict.TOO_RECENT) == [run_id] and default.actions == []
    # Nor is it repaired while nothing proves its worker gone: the message is younger
    # than its hard time limit, and no worker of that name answers
    unproven = sync_now(runtime, user, dry_run=True)
    assert unproven.runs_with(Verdict.STUCK) == [run_id] and unproven.actions == []

    # When the worker comes back (same node name) without the task
    with session_leader_worker(sync_orch.app, sync_env, "portfolio", logs / "portfolio-2.log"):
        # A dry run reports the run stuck and what it would do, and changes nothing
        dry = sync_now(runtime, user, dry_run=True)
        assert dry.runs_with(Verdict.STUCK) == [run_id]
        assert [(a.kind, a.task_ids) for a in dry.actions] == [
            (RepairKind.RESTORE_MESSAGES, ["task_001"])
        ]
        assert "answered without it" in dry.actions[0].reason
        assert dry.applied == []
        assert queue_length("portfolio") == 0
        assert sync_orch.status(run_id, user=user).tasks[0].state is TaskState.RUNNING

        # Then sync puts the lost message back on its queue, and says so in the audit log
        report = sync_now(runtime, user)
        assert report.runs_with(Verdict.STUCK) == [run_id]
        assert [(a.done, a.detail) for a in report.applied] == [
            (True, "restored 1 of 1 message(s) to their queues")
        ]
        repaired = [
            e
            for e in runtime.history.audit_log(run_id=run_id)
            if e.action is AuditAction.RUN_REPAIRED
        ]
        assert [e.detail["repair"] for e in repaired] == ["restore_messages"]

        # And the worker runs the task again: the run completes with its chain intact
        result = sync_orch.wait(run_id, timeout_s=TIMEOUT_S, user=user)
    assert result.status is RunStatus.COMPLETED
    outputs = {r.task_id: r.output for r in result.completed_tasks}
    assert outputs["task_001"]["blocked_in_pid"] != outputs["task_001"]["finished_in_pid"]
    assert outputs["task_002"]["value"] == "after"


def backdate(database_url: str, run_id: str, by: timedelta) -> None:
    """Move every recorded time of the run ``by`` into the past (as if it ran back then)."""
    engine = create_history_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            for row in [
                *session.scalars(select(RunRow).where(RunRow.run_id == run_id)),
                *session.scalars(select(TaskAttemptRow).where(TaskAttemptRow.run_id == run_id)),
            ]:
                for name in ("submitted_at", "started_at", "finished_at"):
                    value = getattr(row, name, None)
                    if value is not None:
                        setattr(row, name, value - by)
    finally:
        engine.dispose()


def test_the_whole_queue_is_read_oldest_messages_included(sync_orch: Orchestrator) -> None:
    # Given a backlog longer than one read: the oldest message is at the list's right end
    client = redis.Redis.from_url(SYNC_REDIS_URL)
    queue = f"scan-{uuid.uuid4().hex[:8]}"
    ids = [f"run_{i:016x}:task_001" for i in range(10_050)]
    with client.pipeline() as pipe:
        for celery_id in ids:  # LPUSH, as kombu does: the newest on the left
            pipe.lpush(queue, json.dumps({"headers": {"id": celery_id}, "body": ""}))
        pipe.execute()
    try:
        # When sync reads the queue, every message is seen, the oldest too
        items, complete = queued_items(sync_orch.app, [queue])
        assert complete
        assert {i.celery_id for i in items} == set(ids)
        assert {i.run_id for i in items if i.celery_id == ids[0]} == {"run_0000000000000000"}
        # And a queue longer than the scan's limit is said not to be read whole
        partial, complete = queued_items(sync_orch.app, [queue], limit=5_000)
        assert not complete and len(partial) == 5_000
    finally:
        client.delete(queue)


@pytest.mark.usefixtures("system_worker")
def test_the_sync_task_rebuilds_lost_live_context_from_history(sync_orch: Orchestrator) -> None:
    user = "ops"  # SYNC_SERVICES is an admin's task (config/permissions.yaml)
    runtime = sync_orch.runtime
    # Given a finished run whose Redis keys are then deleted
    chain = build_chain(
        [step_task("task_001", value="a"), step_task("task_002", value="b")],
        [("task_001", "task_002")],
    )
    run_id = sync_orch.submit(chain, user=user)
    result = sync_orch.wait(run_id, timeout_s=TIMEOUT_S, user=user)
    outputs = runtime.context.outputs(user, run_id, ["task_001", "task_002"])
    # (it finished a while ago: the default grace does not hold sync back)
    backdate(runtime.settings.resolved_database_url, run_id, timedelta(minutes=10))
    runtime.context.client.delete(*runtime.context.keys(user, run_id).all())
    with pytest.raises(RunNotFound):
        sync_orch.wait(run_id, timeout_s=1, user=user)

    # When the user runs a SYNC_SERVICES task (on the system worker)
    sync_chain = TaskChain(
        goal=UserGoal(description="sync my runs"),
        tasks=[AITask(id="sync", type="sync_services", module=Module.SYSTEM)],
        dependencies=[],
    )
    sync_run = sync_orch.submit(sync_chain, user=user)
    sync_result = sync_orch.wait(sync_run, timeout_s=TIMEOUT_S, user=user)

    # Then its report names the repair and leaves its own run alone
    assert sync_result.status is RunStatus.COMPLETED, sync_result.failed_tasks
    report = sync_result.completed_tasks[0].output
    verdicts = {(f["run_id"], f["verdict"]) for f in report["findings"]}
    assert (run_id, "context_missing") in verdicts
    assert (sync_run, "excluded") in verdicts
    assert [(a["action"]["kind"], a["done"]) for a in report["applied"]] == [
        ("rebuild_context", True)
    ]
    # And the run's live status, outputs and result are back
    status = sync_orch.status(run_id, user=user)
    assert status.state.value == "completed"
    assert [t.state for t in status.tasks] == [TaskState.SUCCEEDED, TaskState.SUCCEEDED]
    assert runtime.context.outputs(user, run_id, ["task_001", "task_002"]) == outputs
    again = sync_orch.wait(run_id, timeout_s=TIMEOUT_S, user=user)
    assert again.model_dump(mode="json") == result.model_dump(mode="json")


EMBEDDED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from orchestrator import Orchestrator
    from orchestrator.models import AITask, Module, TaskState
    from tests.integration.test_sync import blocking_chain
    from tests.support.waiting import wait_for_state

    orch = Orchestrator.from_settings()
    run_id = orch.submit(blocking_chain(Path(sys.argv[1])))
    wait_for_state(orch, run_id, "task_001", TaskState.RUNNING, nth=2)
    print(run_id, flush=True)
    sys.stdin.read()  # alive until the test closes our stdin, then die mid-run
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_sync_fails_runs_left_running_by_a_dead_embedded_process(tmp_path: Path) -> None:
    # Given an embedded process running a run whose task blocks
    env = settings_env({"ORCH_DATA_DIR": str(tmp_path / "data")})
    embedded = subprocess.Popen(
        [sys.executable, "-c", EMBEDDED_RUN, str(tmp_path / "blocked")],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert embedded.stdout is not None and embedded.stdin is not None
    run_id = embedded.stdout.readline().strip()
    if not run_id:
        embedded.kill()
        pytest.fail(f"the embedded run did not start: {embedded.communicate()[1]}")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        # Run outside the repository so no stray .env is read.
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )

    # While that process lives, a sync in another process leaves its run alone
    alive = cli("sync", "--json")
    assert alive.returncode == 0, alive.stderr
    report = json.loads(alive.stdout)
    assert [(f["verdict"], f["detail"]) for f in report["findings"]] == [
        ("healthy", "running in another embedded process")
    ]
    assert report["actions"] == []

    # When it dies (SIGKILL) with the task still running
    embedded.stdin.close()
    assert embedded.wait(timeout=TIMEOUT_S) == -signal.SIGKILL, embedded.communicate()[1]
    embedded.stdout.close()
    assert embedded.stderr is not None
    embedded.stderr.close()

    # Right after, with the default grace, sync does not judge it (it was just active)
    recent = cli("sync", "--json")
    assert recent.returncode == 0, recent.stderr
    assert [f["verdict"] for f in json.loads(recent.stdout)["findings"]] == ["too_recent"]
    assert json.loads(recent.stdout)["actions"] == []
    # and a repairing sync refuses a grace too short to be safe
    short = cli("sync", "--grace", "0")
    assert short.returncode == 2 and "too short" in short.stderr

    # Once the run has been quiet longer than the grace, a dry run only reports it
    backdate(
        Settings(data_dir=tmp_path / "data").resolved_database_url, run_id, timedelta(minutes=5)
    )
    dry = cli("sync", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert [f["verdict"] for f in json.loads(dry.stdout)["findings"]] == ["orphaned"]
    assert json.loads(cli("status", run_id, "--json").stdout)["state"] == "running"

    # When sync runs in a new CLI process
    synced = cli("sync", "--json")
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert [(a["action"]["kind"], a["done"]) for a in report["applied"]] == [("fail_run", True)]

    # Then the run has ended, failed, and its tasks say why
    status = json.loads(cli("status", run_id, "--json").stdout)
    assert status["state"] == "failed"
    first, second = status["tasks"]
    assert first["state"] == "failed" and first["error"]["message"] == EMBEDDED_EXIT_REASON
    assert second["state"] == "skipped"
    # And a second sync finds nothing left to repair
    assert json.loads(cli("sync", "--json").stdout)["actions"] == []
