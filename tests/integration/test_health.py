"""Health reports: beat's job runs on a real worker and is recorded, MONITOR_HEALTH records
under its run, ``orchestrator health`` shows them, a down broker is recorded as down, a down
history database is reported (not a task failure), a stale newest report fails the command,
old reports are pruned, and the embedded mode checks what it has."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.app import create_app
from orchestrator.context import utcnow
from orchestrator.history import create_history_engine, upgrade
from orchestrator.history.health import (
    BEAT_SOURCE,
    CheckResult,
    CheckStatus,
    HealthLog,
    HealthRecord,
)
from orchestrator.models import AITask, Module, RunStatus, TaskChain, TaskType, UserGoal
from orchestrator.models.params import HealthCheck, MonitorHealthParams
from tasks.context import HandlerContext
from tasks.periodic import HEALTH_TASK, beat_schedule
from tasks.system.monitor_health import is_healthy, monitor_health
from tests.support.waiting import wait_until
from tests.support.workers import REPO_ROOT, settings_env

TIMEOUT_S = 60
ORCHESTRATOR = Path(sys.executable).parent / "orchestrator"


def cli(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    return subprocess.run(
        [str(ORCHESTRATOR), *args],
        env={**clean, **env, "COLUMNS": "250"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_beat_schedules_the_health_job_every_health_interval() -> None:
    entry = beat_schedule(Settings(health_interval_s=7.5))["check-health"]
    assert entry["task"] == HEALTH_TASK and entry["schedule"] == 7.5
    assert HEALTH_TASK.startswith("system.")  # routed to the system pool


def test_beats_health_job_runs_on_a_worker_and_the_cli_shows_it(
    orch: Orchestrator, distributed_env: dict[str, str], tmp_path: Path
) -> None:
    log = HealthLog(orch.runtime.history.engine)
    before = len(log.latest(limit=1000, source=BEAT_SOURCE))
    # When beat's message reaches the system pool
    reply = orch.app.send_task(HEALTH_TASK).get(timeout=TIMEOUT_S)
    # Then the worker checked everything, found it up, and recorded it as beat's
    assert reply == {"healthy": True, "down": [], "recorded": True}
    (record, *older) = log.latest(limit=1000, source=BEAT_SOURCE)
    assert len(older) == before
    assert record.healthy
    names = {c.name: c.status for c in record.checks}
    assert names["redis"] is names["database"] is names["broker"] is CheckStatus.UP
    assert names["workers:portfolio"] is names["workers:system"] is CheckStatus.UP
    # and `orchestrator health` shows it, newest first
    shown = cli("health", "--json", env=distributed_env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    newest = HealthRecord.model_validate(json.loads(shown.stdout)[0])
    assert newest == record
    table = cli("health", "--limit", "1", env=distributed_env, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "beat" in table.stdout and "workers:system" in table.stdout


def test_a_running_celery_beat_records_health_reports_on_its_interval(
    orch: Orchestrator, distributed_env: dict[str, str], tmp_path: Path
) -> None:
    log = HealthLog(orch.runtime.history.engine)
    before = {r.checked_at for r in log.latest(limit=1000, source=BEAT_SOURCE)}
    # Given `celery beat` as the Procfile starts it, checking health every second
    env = settings_env({**distributed_env, "ORCH_HEALTH_INTERVAL_S": "1"})
    schedule = str(tmp_path / "celerybeat-schedule")
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "orchestrator", "beat", "--schedule", schedule],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Then the system pool records new beat reports, one per interval
        def new_reports() -> list[HealthRecord]:
            fresh = log.latest(limit=1000, source=BEAT_SOURCE)
            return [r for r in fresh if r.checked_at not in before]

        reports = wait_until(lambda: len(new_reports()) >= 2, what="two beat health reports")
        assert reports
        assert all(r.healthy for r in new_reports())
    finally:
        beat.terminate()
        beat.wait(timeout=TIMEOUT_S)


def test_monitor_health_in_a_run_records_its_report_under_the_run(orch: Orchestrator) -> None:
    run_id = orch.submit(orch.plan(UserGoal(description="Check system health and back up")))
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    (recorded,) = HealthLog(orch.runtime.history.engine).latest(source=run_id)
    output = next(t.output for t in result.completed_tasks if t.task_id == "task_001")
    assert [c.model_dump(mode="json") for c in recorded.checks] == output["checks"]


def test_a_broker_on_a_closed_port_is_recorded_as_down(
    distributed_env: dict[str, str], tmp_path: Path, migrated_pg_url: str
) -> None:
    env = {**distributed_env, "ORCH_BROKER_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    # When someone checks now against a broker nobody listens on
    checked = cli("health", "--now", "--limit", "1", env=env, cwd=tmp_path)
    # Then the command says so and fails
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "down broker" in " ".join(checked.stdout.split())
    # and the report it recorded says the broker and every worker pool are down
    engine = create_history_engine(migrated_pg_url)
    try:
        (record,) = HealthLog(engine).latest(limit=1, source="cli")
    finally:
        engine.dispose()
    status = {c.name: c.status for c in record.checks}
    assert not record.healthy
    assert status["broker"] is CheckStatus.DOWN and status["redis"] is CheckStatus.UP
    assert status["workers:system"] is CheckStatus.DOWN


def test_reports_older_than_the_retention_are_pruned(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    upgrade(url)
    engine = create_history_engine(url)
    try:
        log = HealthLog(engine)
        check = CheckResult(name="redis", status=CheckStatus.UP, latency_ms=1.0)
        now = utcnow()

        def report(age_days: float) -> HealthRecord:
            at = now - timedelta(days=age_days)
            return HealthRecord(checked_at=at, source="beat", healthy=True, checks=[check])

        for age in (10.0, 8.0, 2.0):
            log.record(report(age), keep_days=30)
        # When a new report comes in with a 7-day retention
        pruned = log.record(report(0.0), keep_days=7)
        # Then the two older than a week are gone and the rest is kept, newest first
        assert pruned == 2
        assert [r.checked_at for r in log.latest(limit=10)] == [
            now,
            now - timedelta(days=2),
        ]
    finally:
        engine.dispose()


def test_embedded_health_now_checks_what_exists_in_this_process(tmp_path: Path) -> None:
    data = {"ORCH_DATA_DIR": str(tmp_path / "data")}
    assert cli("health", env=data, cwd=tmp_path).returncode == 1  # nothing recorded yet
    checked = cli("health", "--now", "--json", env=data, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    (record,) = [HealthRecord.model_validate(r) for r in json.loads(checked.stdout)]
    status = {c.name: c for c in record.checks}
    assert record.healthy and record.source == "cli"
    assert status["database"].status is CheckStatus.UP and status["redis"].status is CheckStatus.UP
    assert status["workers"].status is CheckStatus.SKIPPED
    assert "embedded" in status["workers"].detail
    # The report is in the SQLite history of that data directory
    settings = Settings(
        data_dir=tmp_path / "data", broker_url=None, redis_url=None, database_url=None
    )
    runtime = create_app(settings).runtime
    try:
        assert HealthLog(runtime.history.engine).latest() == [record]
    finally:
        runtime.close()


def test_a_skipped_check_does_not_make_a_report_unhealthy_but_a_down_one_does() -> None:
    up = CheckResult(name="redis", status=CheckStatus.UP, latency_ms=1.0)
    skipped = CheckResult(name="workers", status=CheckStatus.SKIPPED, latency_ms=0.0)
    down = CheckResult(name="broker", status=CheckStatus.DOWN, latency_ms=2.0)
    assert is_healthy([up, skipped])
    assert not is_healthy([up, skipped, down])


def test_a_down_history_database_is_reported_not_raised(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    # Given history on a port nobody listens on (Redis and the broker are up)
    settings = Settings(
        broker_url=redis_url,
        result_backend=redis_url,
        redis_url=redis_url,
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/none",
        data_dir=tmp_path,
        key_prefix=key_prefix,
    )
    app = create_app(settings)
    task = AITask(id="health", type=TaskType.MONITOR_HEALTH, module=Module.SYSTEM)
    ctx = HandlerContext(
        run_id="run_0123456789abcdef",
        task_id="health",
        user_id="demo",
        attempt=1,
        chain=TaskChain(goal=UserGoal(description="health"), tasks=[task]),
        task=task,
        runtime=app.runtime,
    )
    try:
        # When MONITOR_HEALTH and beat's job check
        params = MonitorHealthParams(checks=[HealthCheck.REDIS, HealthCheck.DATABASE])
        report = monitor_health(params, {}, ctx)
        reply = app.tasks[HEALTH_TASK]()
    finally:
        app.runtime.close()
    # Then both report the database down and the report unrecorded, instead of failing
    status = {c.name: c.status for c in report.checks}
    assert status == {"redis": CheckStatus.UP, "database": CheckStatus.DOWN}
    assert not report.healthy and not report.recorded
    assert reply["recorded"] is False and "database" in reply["down"]


def test_a_stale_newest_report_fails_the_health_command(tmp_path: Path) -> None:
    # Given the newest report is an hour old and healthy (beat stopped since)
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'history.db'}"
    data.mkdir()
    upgrade(url)
    engine = create_history_engine(url)
    try:
        check = CheckResult(name="redis", status=CheckStatus.UP, latency_ms=1.0)
        old = HealthRecord(
            checked_at=utcnow() - timedelta(hours=1), source="beat", healthy=True, checks=[check]
        )
        HealthLog(engine).record(old, keep_days=7)
    finally:
        engine.dispose()
    env = {"ORCH_DATA_DIR": str(data)}
    # When beat should have checked every minute, the command says it is stale and fails
    stale = cli("health", env={**env, "ORCH_HEALTH_INTERVAL_S": "60"}, cwd=tmp_path)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "stale" in stale.stderr and "beat or the system worker stopped" in stale.stderr
    as_json = cli("health", "--json", env={**env, "ORCH_HEALTH_INTERVAL_S": "60"}, cwd=tmp_path)
    assert as_json.returncode == 1 and "stale" in as_json.stderr
    # but every hour, an hour-old report is recent enough
    recent = cli("health", env={**env, "ORCH_HEALTH_INTERVAL_S": "3600"}, cwd=tmp_path)
    assert recent.returncode == 0, recent.stdout + recent.stderr
    assert "stale" not in recent.stderr
