"""What a backup file may not do when restored: plant outputs for later runs, put words in
other users' mouths, pass an unsigned or re-signed file off as the server's, or leave half a
live context behind; and a backup reads history as one snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import event, select

from orchestrator import Orchestrator
from orchestrator.backup import SignatureStatus, content_digest, read_backup
from orchestrator.backup_snapshot import read_history
from orchestrator.context import ContextStore, EventType, RunEvent, RunMeta, utcnow
from orchestrator.control import new_run_id
from orchestrator.history import AuditAction, AuditEntry, HistoryStore
from orchestrator.history.tables import TaskAttemptRow
from orchestrator.models import AITask, Module, TaskChain, TaskType, UserGoal
from orchestrator.models.params import BackupStateParams
from orchestrator.permissions import Permissions
from orchestrator.restore import BackupSource, RestoreRefused, RestoreReport, restore_backup
from tasks.context import HandlerContext
from tasks.system.backup_state import backup_state
from tests.integration.test_restore import (
    HEALTH_GOAL,
    EmptyStore,
    assert_nothing_written,
    backed_up,  # noqa: F401 -- the fixtures, shared with test_restore
    cli,
    empty_store,  # noqa: F401
)

FAR_FUTURE = "2999-01-01T00:00:00+00:00"
#: The shipped permissions, except that demo (who owns the backed-up run) is no admin.
PERMISSIONS = Permissions.load().model_copy(
    update={"users": {**Permissions.load().users, "demo": "trader"}}
)
KEY = SecretStr("k-test")


def resealed(path: Path, edit: Any) -> bytes:
    """The backup at ``path`` after ``edit(doc)``, its checksum recomputed as anyone can."""
    doc = json.loads(path.read_text())
    edit(doc)
    doc.pop("signature", None)
    doc["content_sha256"] = content_digest(doc)
    return json.dumps(doc).encode()


def test_a_forged_fingerprint_and_finish_time_plant_no_output(
    backed_up: tuple[str, Path],  # noqa: F811
    empty_store: EmptyStore,  # noqa: F811
) -> None:
    run_id, path = backed_up

    def forge(doc: dict[str, Any]) -> None:
        for attempt in doc["attempts"]:
            attempt["input_fingerprint"] = "forged"
            attempt["finished_at"] = FAR_FUTURE

    # When a file claims its outputs answer the inputs "forged", finishing in 2999
    restore(empty_store, resealed(path, forge), "demo")
    # Then no later run of anyone gets them as the last good output for those inputs
    for attempt in read_backup(path.read_bytes()).attempts:
        for user in ("demo", "bob"):
            assert (
                empty_store.history.last_good_output(attempt.task_type, "forged", user_id=user)
                is None
            )
    with empty_store.history.engine.connect() as conn:
        rows = conn.execute(
            select(TaskAttemptRow.input_fingerprint, TaskAttemptRow.finished_at).where(
                TaskAttemptRow.run_id == run_id
            )
        ).all()
    assert rows and all(fp is None and at is not None and at <= utcnow() for fp, at in rows)


def test_a_forged_audit_user_is_refused_for_the_owner_and_marked_for_an_admin(
    backed_up: tuple[str, Path],  # noqa: F811
    empty_store: EmptyStore,  # noqa: F811
) -> None:
    run_id, path = backed_up

    def forge(doc: dict[str, Any]) -> None:
        doc["audit"][0]["user_id"] = "bob"

    forged = resealed(path, forge)
    # When demo restores a file whose trail says bob submitted demo's run, it is refused
    with pytest.raises(RestoreRefused, match=r"entries of other users \(bob\)"):
        restore(empty_store, forged, "demo")
    assert_nothing_written(empty_store, run_id)
    # An admin may restore it; every restored entry says by whom, when and from which file
    restore(empty_store, forged, "ops")
    *restored, marker = empty_store.history.audit_log(run_id=run_id)
    assert restored[0].user_id == "bob"
    assert marker.action is AuditAction.RUN_RESTORED and marker.user_id == "ops"
    expected = {
        "by": "ops",
        "at": marker.at.isoformat(),
        "file_sha256": marker.detail["file_sha256"],
    }
    assert all(e.detail["restored"] == expected for e in restored)


@pytest.fixture
def signing_orch(orch: Orchestrator) -> Iterator[Orchestrator]:
    """The test orchestrator's services with ORCH_BACKUP_SECRET set (no workers of its own)."""
    settings = orch.runtime.settings.model_copy(update={"backup_secret": KEY})
    with Orchestrator.from_settings(settings) as signing:
        yield signing


def restore(
    store: EmptyStore,
    data: bytes,
    user: str,
    *,
    secret: SecretStr | None = None,
    allow_unsigned: bool = False,
) -> RestoreReport:
    return restore_backup(
        read_backup(data),
        history=store.history,
        context=store.context,
        permissions=PERMISSIONS,
        acting_user=user,
        source=BackupSource.of("test", data),
        secret=secret,
        allow_unsigned=allow_unsigned,
    )


def test_with_a_secret_only_the_servers_own_backups_restore_without_unsigned(
    signing_orch: Orchestrator,
    backed_up: tuple[str, Path],  # noqa: F811
    empty_store: EmptyStore,  # noqa: F811
) -> None:
    run_id, path = backed_up
    task = AITask(id="backup", type=TaskType.BACKUP_STATE, module=Module.SYSTEM)
    ctx = HandlerContext(
        run_id=new_run_id(),
        task_id="backup",
        user_id="demo",
        attempt=1,
        chain=TaskChain(goal=UserGoal(description="back up"), tasks=[task]),
        task=task,
        runtime=signing_orch.runtime,
    )
    # Given BACKUP_STATE wrote a signed backup
    params = BackupStateParams(target_run_id=run_id, file_name=f"{run_id}-signed.json")
    signed = Path(backup_state(params, {}, ctx).path)
    # When its audit trail is edited and its checksum recomputed, nobody restores it as is
    edited = resealed(signed, lambda doc: doc["audit"][0]["detail"].update(forged=True))
    for user in ("demo", "ops"):
        with pytest.raises(RestoreRefused, match="signature is unsigned"):
            restore(empty_store, edited, user, secret=KEY)
    # and neither the unsigned file from before the secret was set
    with pytest.raises(RestoreRefused, match="signature is unsigned"):
        restore(empty_store, path.read_bytes(), "demo", secret=KEY)
    with pytest.raises(RestoreRefused, match="only an admin"):
        restore(empty_store, path.read_bytes(), "demo", secret=KEY, allow_unsigned=True)
    assert_nothing_written(empty_store, run_id)
    # The untouched signed file restores, and the trail says its signature was valid
    report = restore(empty_store, signed.read_bytes(), "demo", secret=KEY)
    assert report.signature is SignatureStatus.VALID
    assert empty_store.history.audit_log(run_id=run_id)[-1].detail["signature"] == "valid"


def test_a_live_context_redis_refuses_halfway_is_removed_again(
    redis_url: str, key_prefix: str
) -> None:
    context = ContextStore.from_url(redis_url, prefix=key_prefix)
    chain = TaskChain(
        goal=UserGoal(description="restore halfway"),
        tasks=[AITask(id="t", type=TaskType.MONITOR_HEALTH, module=Module.SYSTEM)],
    )
    meta = RunMeta(
        run_id=new_run_id(), user_id="demo", chain_id=chain.id, goal="x", submitted_at=utcnow()
    )

    def restore(event_ids: list[str]) -> bool:
        events = [RunEvent(id=i, type=EventType.RUN_SUBMITTED, at=utcnow()) for i in event_ids]
        return context.restore_run(
            meta, chain, tasks={}, outputs={}, events=events, modules={}, result=None
        )

    try:
        # When Redis refuses the second event inside the MULTI (its id is lower)
        with pytest.raises(redis.ResponseError):
            restore(["5-0", "3-0"])
        # Then the meta, plan and first event written before it are gone too
        assert context.client.keys(f"{key_prefix}:*") == []
        # and a correct restore is not blocked by leftovers
        assert restore(["3-0", "5-0"])
    finally:
        context.delete_run("demo", meta.run_id)
        context.client.close()


def test_a_backup_reads_history_as_one_snapshot(migrated_pg_url: str) -> None:
    history = HistoryStore.from_url(migrated_pg_url)
    goal = UserGoal(description="snapshot")
    chain = TaskChain(
        goal=goal, tasks=[AITask(id="t", type=TaskType.MONITOR_HEALTH, module=Module.SYSTEM)]
    )
    run_id = new_run_id()
    history.record_submission(
        run_id=run_id, user_id="demo", goal=goal, chain=chain, submitted_at=utcnow()
    )
    written: list[datetime] = []

    def task_ends_meanwhile(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Right after the snapshot read the run, its task ends (another connection commits)
        if written or "FROM runs" not in statement:
            return
        written.append(utcnow())
        history.record_attempt(
            run_id=run_id,
            task_id="t",
            task_type="monitor_health",
            attempt=1,
            state="succeeded",
            queue="system",
            worker="w",
            started_at=written[0],
            finished_at=written[0],
            duration_ms=1.0,
            error=None,
            reason=None,
            audit=[AuditEntry(user_id="demo", action=AuditAction.TASK_FINISHED, run_id=run_id)],
        )

    event.listen(history.engine, "after_cursor_execute", task_ends_meanwhile)
    try:
        snapshot = read_history(history.engine, run_id)
    finally:
        event.remove(history.engine, "after_cursor_execute", task_ends_meanwhile)
    # Then the backup holds the history as it was when it started reading: no attempt and
    # no audit entry of a task the run record does not know has ended
    assert written and snapshot is not None
    assert snapshot.attempts == []
    assert [e.action for e in snapshot.audit] == [AuditAction.RUN_SUBMITTED]
    after = read_history(history.engine, run_id)
    assert after is not None and len(after.attempts) == 1 and len(after.audit) == 2
    history.dispose()


# -- the embedded mode through the CLI ------------------------------------------------------


def test_embedded_signed_backups_and_unsigned_restores_through_the_cli(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    signed = {"ORCH_BACKUP_SECRET": "source-key"}
    ran = cli(
        "run", HEALTH_GOAL, "--user", "alice", "--json", data_dir=source, cwd=tmp_path, env=signed
    )
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    made = cli(
        "backup",
        run_id,
        "--file",
        "s.json",
        "--user",
        "alice",
        data_dir=source,
        cwd=tmp_path,
        env=signed,
    )
    assert made.returncode == 0, made.stderr
    backup_file = made.stdout.strip()
    assert json.loads(Path(backup_file).read_text())["signature"]
    # Another installation, with another secret, refuses it unless an admin says --unsigned
    other = {"ORCH_BACKUP_SECRET": "target-key"}
    refused = cli(
        "restore", backup_file, "--user", "alice", data_dir=target, cwd=tmp_path, env=other
    )
    assert refused.returncode == 1 and "signature is invalid" in refused.stderr
    args = ("restore", backup_file, "--unsigned", "--json")
    not_admin = cli(*args, "--user", "alice", data_dir=target, cwd=tmp_path, env=other)
    assert not_admin.returncode == 1 and "only an admin" in not_admin.stderr
    by_admin = cli(*args, "--user", "ops", data_dir=target, cwd=tmp_path, env=other)
    assert by_admin.returncode == 0, by_admin.stderr
    report = json.loads(by_admin.stdout)
    assert (report["run_id"], report["signature"], report["restored_by"]) == (
        run_id,
        "invalid",
        "ops",
    )
