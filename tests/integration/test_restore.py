"""Backup and restore round trips: a run backed up on real workers and restored into an empty
store (a fresh Postgres database, a fresh Redis key prefix) shows the same status and
history; bad files and conflicts write nothing; the embedded CLI does the same on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import insert

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.backup import BackupFormatError, content_digest, read_backup
from orchestrator.cli.system import backup_chain
from orchestrator.context import ContextStore, utcnow
from orchestrator.history import AuditAction, HistoryStore, upgrade
from orchestrator.history.tables import GoalRow
from orchestrator.models import RunStatus, UserGoal
from orchestrator.permissions import Permissions
from orchestrator.restore import BackupSource, RestoreRefused, restore_backup
from tests.conftest import PG_ADMIN_DSN

TIMEOUT_S = 60
HEALTH_GOAL = "Check system health and back up my state"
ORCHESTRATOR = Path(sys.executable).parent / "orchestrator"


@dataclass
class EmptyStore:
    """A history database and a live context nobody has written to."""

    settings: Settings
    history: HistoryStore
    context: ContextStore


@pytest.fixture
def empty_store(redis_url: str, key_prefix: str, tmp_path: Path) -> Iterator[EmptyStore]:
    name = f"orch_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    upgrade(url)
    settings = Settings(
        broker_url=redis_url,
        result_backend=redis_url,
        redis_url=redis_url,
        database_url=url,
        data_dir=tmp_path / "restored",
        key_prefix=key_prefix,
    )
    history = HistoryStore.from_url(url)
    context = ContextStore.from_url(redis_url, prefix=key_prefix)
    yield EmptyStore(settings, history, context)
    history.dispose()
    context.client.close()
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def backed_up(orch: Orchestrator) -> tuple[str, Path]:
    """A finished health-and-backup run (real workers) and a backup of it, made by a run."""
    run_id = orch.submit(orch.plan(UserGoal(description=HEALTH_GOAL)))
    assert orch.wait(run_id, timeout_s=TIMEOUT_S).status is RunStatus.COMPLETED
    backup_run = orch.submit(backup_chain(run_id, f"restore-{uuid.uuid4().hex[:8]}.json"))
    result = orch.wait(backup_run, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    return run_id, Path(result.completed_tasks[0].output["path"])


def restore_into(store: EmptyStore, data: bytes, user: str = "demo") -> None:
    restore_backup(
        read_backup(data),
        history=store.history,
        context=store.context,
        permissions=Permissions.load(),
        acting_user=user,
        source=BackupSource.of("test", data),
    )


def assert_nothing_written(store: EmptyStore, run_id: str) -> None:
    assert store.history.get_run(run_id) is None
    assert store.history.attempts(run_id) == []
    assert store.history.audit_log(run_id=run_id) == []
    assert store.context.client.keys(f"{store.context.prefix}:*") == []


def test_a_restored_run_shows_the_same_status_and_history(
    orch: Orchestrator, backed_up: tuple[str, Path], empty_store: EmptyStore
) -> None:
    run_id, path = backed_up
    before_status = orch.status(run_id)
    before_record = orch.runtime.history.get_run(run_id)
    before_attempts = orch.runtime.history.attempts(run_id)
    before_audit = orch.runtime.history.audit_log(run_id=run_id)
    before_outputs = orch.runtime.history.attempt_outputs(run_id)
    before_events = orch.runtime.context.read_events("demo", run_id)
    # When the backup is restored into a store that has never seen the run
    restore_into(empty_store, path.read_bytes())
    # Then status (read from the restored live context) and history are the same
    with Orchestrator.from_settings(empty_store.settings) as restored:
        assert restored.status(run_id) == before_status
        assert restored.history(limit=5) == [before_record]
        assert restored.runtime.history.attempts(run_id) == before_attempts
        assert restored.runtime.history.attempt_outputs(run_id) == before_outputs
        assert restored.runtime.context.read_events("demo", run_id) == before_events
        assert restored.runtime.context.result("demo", run_id) == before_record.result  # type: ignore[union-attr]
        outputs = restored.runtime.context.outputs("demo", run_id, ["task_001", "task_002"])
        assert outputs["task_001"]["healthy"] is True and "path" in outputs["task_002"]
        audit = restored.runtime.history.audit_log(run_id=run_id)
    # and the audit trail is the original one, each entry marked as restored, plus who
    # restored it from which file
    sha256 = BackupSource.of("test", path.read_bytes()).sha256
    marker = {"by": "demo", "at": audit[-1].at.isoformat(), "file_sha256": sha256}
    assert audit[:-1] == [
        e.model_copy(update={"detail": {**e.detail, "restored": marker}}) for e in before_audit
    ]
    assert audit[-1].action is AuditAction.RUN_RESTORED and audit[-1].user_id == "demo"
    assert audit[-1].detail["attempts"] == len(before_attempts)
    assert audit[-1].detail["file_sha256"] == sha256
    assert audit[-1].detail["signature"] == "unchecked"


def test_restoring_a_run_that_exists_is_refused_and_adds_nothing(
    backed_up: tuple[str, Path], empty_store: EmptyStore
) -> None:
    run_id, path = backed_up
    restore_into(empty_store, path.read_bytes())
    entries = len(empty_store.history.audit_log(run_id=run_id))
    with pytest.raises(RestoreRefused, match="already exists"):
        restore_into(empty_store, path.read_bytes())
    assert len(empty_store.history.audit_log(run_id=run_id)) == entries


def test_a_tampered_file_is_refused_and_writes_nothing(
    backed_up: tuple[str, Path], empty_store: EmptyStore
) -> None:
    run_id, path = backed_up
    doc = json.loads(path.read_text())
    doc["live_context"]["tasks"]["task_001"]["state"] = "failed"
    with pytest.raises(BackupFormatError, match="content_sha256 does not match"):
        restore_into(empty_store, json.dumps(doc).encode())
    truncated = path.read_bytes()[: len(path.read_bytes()) // 2]
    with pytest.raises(BackupFormatError, match="not JSON"):
        restore_into(empty_store, truncated)
    assert_nothing_written(empty_store, run_id)


def test_another_users_run_is_refused_but_an_admin_may_restore_it(
    backed_up: tuple[str, Path], empty_store: EmptyStore
) -> None:
    run_id, path = backed_up
    # The run belongs to demo; bob is an analyst
    with pytest.raises(RestoreRefused, match="not yours"):
        restore_into(empty_store, path.read_bytes(), user="bob")
    assert_nothing_written(empty_store, run_id)
    restore_into(empty_store, path.read_bytes(), user="ops")
    record = empty_store.history.get_run(run_id)
    assert record is not None and record.user_id == "demo"
    assert empty_store.history.audit_log(run_id=run_id)[-1].user_id == "ops"


def test_a_refusal_inside_the_transaction_leaves_history_and_redis_untouched(
    backed_up: tuple[str, Path], empty_store: EmptyStore
) -> None:
    run_id, path = backed_up
    doc = read_backup(path.read_bytes())
    # Given the goal id is already recorded for another user
    with empty_store.history.engine.begin() as conn:
        conn.execute(
            insert(GoalRow).values(
                id=doc.run.goal_id,
                user_id="mallory",
                description="x",
                priority="medium",
                payload={},
                created_at=utcnow(),
            )
        )
    with pytest.raises(RestoreRefused, match="another user"):
        restore_into(empty_store, path.read_bytes())
    assert_nothing_written(empty_store, run_id)


def test_a_version_1_backup_restores_history_and_live_context(
    backed_up: tuple[str, Path], empty_store: EmptyStore, orch: Orchestrator
) -> None:
    run_id, path = backed_up
    doc = json.loads(path.read_text())
    # What the first release wrote: no goal, no outputs, no live plan or result, no checksum
    doc["format_version"] = 1
    for key in ("goal", "content_sha256"):
        doc.pop(key)
    for key in ("chain", "result"):
        doc["live_context"].pop(key)
    for attempt in doc["attempts"]:
        attempt.pop("output")
        attempt.pop("input_fingerprint")
    restore_into(empty_store, json.dumps(doc).encode())
    with Orchestrator.from_settings(empty_store.settings) as restored:
        assert restored.status(run_id) == orch.status(run_id)
    assert content_digest(doc)  # the digest of a v1 file is simply not checked


# -- the embedded mode through the CLI ------------------------------------------------------


def cli(
    *args: str, data_dir: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    return subprocess.run(
        [str(ORCHESTRATOR), *args],
        env={**clean, **(env or {}), "ORCH_DATA_DIR": str(data_dir), "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_embedded_backup_and_restore_through_the_cli(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    ran = cli("run", HEALTH_GOAL, "--json", data_dir=source, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    made = cli("backup", run_id, "--file", "cli.json", data_dir=source, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    backup_file = Path(made.stdout.strip())
    assert backup_file == (source / "backups" / "demo" / "cli.json").resolve()
    status_before = cli("status", run_id, "--json", data_dir=source, cwd=tmp_path)
    table_before = cli("status", run_id, data_dir=source, cwd=tmp_path)
    history_before = cli("history", data_dir=source, cwd=tmp_path)

    # A malformed file is refused with exit 2 and leaves the target empty
    bad = tmp_path / "bad.json"
    bad.write_text(backup_file.read_text().replace('"succeeded"', '"failed"', 1))
    refused = cli("restore", str(bad), data_dir=target, cwd=tmp_path)
    assert refused.returncode == 2 and "content_sha256 does not match" in refused.stderr
    assert cli("history", "--json", data_dir=target, cwd=tmp_path).stdout.strip() == "[]"

    restored = cli("restore", str(backup_file), "--json", data_dir=target, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["run_id"] == run_id
    assert cli("status", run_id, "--json", data_dir=target, cwd=tmp_path).stdout == (
        status_before.stdout
    )
    assert cli("status", run_id, data_dir=target, cwd=tmp_path).stdout == table_before.stdout
    history_after = cli("history", data_dir=target, cwd=tmp_path).stdout
    assert run_id in history_after and history_after in history_before.stdout
    again = cli("restore", str(backup_file), data_dir=target, cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr
