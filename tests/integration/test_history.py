"""History layer against real PostgreSQL and SQLite: what gets recorded is what comes back."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic_core import PydanticSerializationError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from orchestrator.history import (
    AuditAction,
    AuditEntry,
    GoalOwnershipError,
    HistoryStore,
    UnknownRunError,
    current_revision,
    upgrade,
)
from orchestrator.history.tables import Base
from orchestrator.knowledge.tables import include_in_comparison
from orchestrator.models import (
    AITask,
    ErrorType,
    ExecutionResult,
    Module,
    RunState,
    RunStatus,
    TaskChain,
    TaskDependency,
    TaskError,
    TaskFailure,
    TaskResult,
    TaskState,
    TaskType,
    UserGoal,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HEAD = "0005"


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def make_chain(description: str = "check health", goal_id: str | None = None) -> TaskChain:
    goal = UserGoal(id=goal_id or uid("goal"), description=description)
    return TaskChain(
        goal=goal,
        tasks=[
            AITask(id="t1", type=TaskType.MONITOR_HEALTH, module=Module.SYSTEM),
            AITask(id="t2", type=TaskType.BACKUP_STATE, module=Module.SYSTEM),
        ],
        dependencies=[TaskDependency.model_validate({"from": "t1", "to": "t2"})],
    )


def submit(
    store: HistoryStore, user: str, at: datetime = T0, chain: TaskChain | None = None
) -> str:
    chain = chain or make_chain()
    run_id = uid("run")
    store.record_submission(
        run_id=run_id, user_id=user, goal=chain.goal, chain=chain, submitted_at=at
    )
    return run_id


@pytest.fixture(scope="module")
def pg_store(pg_url: str) -> Iterator[HistoryStore]:
    upgrade(pg_url)
    store = HistoryStore.from_url(pg_url)
    yield store
    store.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    # A directory that does not exist yet: the embedded mode must create it.
    return f"sqlite:///{tmp_path / 'data' / 'history.db'}"


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[HistoryStore]:
    upgrade(sqlite_url)
    store = HistoryStore.from_url(sqlite_url)
    yield store
    store.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> HistoryStore:
    name = "pg_store" if request.param == "postgresql" else "sqlite_store"
    result: HistoryStore = request.getfixturevalue(name)
    return result


def test_run_round_trip_from_submission_to_result(store: HistoryStore) -> None:
    user = uid("user")
    chain = make_chain("check health of every service")
    run_id = submit(store, user, chain=chain)
    store.ping()

    pending = store.get_run(run_id)
    assert pending is not None
    assert pending.state is RunState.PENDING
    assert pending.chain == chain  # dependencies ("from"/"to") survive the JSON round trip
    assert pending.goal_description == "check health of every service"
    assert (pending.result, pending.started_at, pending.finished_at) == (None, None, None)

    store.record_run_started(run_id, T0 + timedelta(seconds=1))
    error = TaskError(type=ErrorType.SERVICE_DOWN, message="redis down", details={"host": "r1"})
    store.record_attempt(
        run_id=run_id,
        task_id="t1",
        task_type="monitor_health",
        attempt=1,
        state=TaskState.FAILED,
        queue="system",
        worker="w1@host",
        started_at=T0 + timedelta(seconds=2),
        finished_at=T0 + timedelta(seconds=3),
        duration_ms=1000.0,
        error=error,
        reason=None,
        audit=[
            AuditEntry(
                user_id=user,
                action=AuditAction.TASK_FINISHED,
                run_id=run_id,
                task_id="t1",
                detail={"state": "failed"},
                at=T0 + timedelta(seconds=3),
            )
        ],
    )
    store.record_attempt(
        run_id=run_id,
        task_id="t1",
        task_type="monitor_health",
        attempt=2,
        state="succeeded",
        queue="system",
        worker="w2@host",
        started_at=T0 + timedelta(seconds=4),
        finished_at=T0 + timedelta(seconds=5),
        duration_ms=900.5,
        error=None,
        reason=None,
        audit=[],
    )
    store.record_attempt(
        run_id=run_id,
        task_id="t2",
        task_type="backup_state",
        attempt=1,
        state=TaskState.SKIPPED,
        queue=None,
        worker=None,
        started_at=None,
        finished_at=None,
        duration_ms=None,
        error=None,
        reason="upstream failed",
        audit=[],
    )
    result = ExecutionResult(
        chain_id=chain.id,
        run_id=run_id,
        status=RunStatus.PARTIAL,
        completed_tasks=[TaskResult(task_id="t1", output={"ok": True}, duration_ms=900.5)],
        failed_tasks=[TaskFailure(task_id="t2", error=error)],
        duration_ms=4000.0,
    )
    store.record_run_finished(
        run_id=run_id, state=RunState.PARTIAL, result=result, finished_at=T0 + timedelta(seconds=6)
    )

    done = store.get_run(run_id)
    assert done is not None
    assert done.state is RunState.PARTIAL
    assert done.result == result
    assert done.started_at == T0 + timedelta(seconds=1)
    assert done.finished_at == T0 + timedelta(seconds=6)
    assert done.submitted_at.tzinfo is not None

    attempts = store.attempts(run_id)
    assert [(a.task_id, a.attempt, a.state) for a in attempts] == [
        ("t1", 1, TaskState.FAILED),
        ("t1", 2, TaskState.SUCCEEDED),
        ("t2", 1, TaskState.SKIPPED),
    ]
    assert attempts[0].error == error
    assert attempts[1].error is None
    assert attempts[1].worker == "w2@host"
    assert attempts[1].duration_ms == 900.5
    assert attempts[2].reason == "upstream failed"
    assert attempts[2].started_at is None

    log = store.audit_log(run_id=run_id)
    assert [e.action for e in log] == [
        AuditAction.RUN_SUBMITTED,
        AuditAction.RUN_STARTED,
        AuditAction.TASK_FINISHED,
        AuditAction.RUN_FINISHED,
    ]
    assert log[2].task_id == "t1"
    assert log[2].detail == {"state": "failed"}
    assert log[3].detail == {"status": "partial"}
    assert all(e.user_id == user for e in log)


def test_redelivered_messages_do_not_rewrite_history(store: HistoryStore) -> None:
    user = uid("user")
    run_id = submit(store, user)
    store.record_run_started(run_id, T0 + timedelta(seconds=1))
    store.record_run_started(run_id, T0 + timedelta(seconds=9))
    for worker in ("first", "second"):  # the same attempt delivered twice
        store.record_attempt(
            run_id=run_id,
            task_id="t1",
            task_type="monitor_health",
            attempt=1,
            state="succeeded",
            queue="system",
            worker=worker,
            started_at=T0,
            finished_at=T0,
            duration_ms=1.0,
            error=None,
            reason=None,
            audit=[],
        )
    result = ExecutionResult(chain_id="c", run_id=run_id, status=RunStatus.COMPLETED)
    store.record_run_finished(run_id=run_id, state="completed", result=result, finished_at=T0)
    late = result.model_copy(update={"status": RunStatus.FAILED})
    store.record_run_finished(run_id=run_id, state="failed", result=late, finished_at=T0)

    run = store.get_run(run_id)
    assert run is not None
    assert run.started_at == T0 + timedelta(seconds=1)
    assert run.state is RunState.COMPLETED
    assert run.result == result
    assert [a.worker for a in store.attempts(run_id)] == ["second"]
    actions = [e.action for e in store.audit_log(run_id=run_id)]
    assert actions.count(AuditAction.RUN_STARTED) == 1
    assert actions.count(AuditAction.RUN_FINISHED) == 1


def test_cancelled_run_is_not_started_later(store: HistoryStore) -> None:
    run_id = submit(store, uid("user"))
    store.set_run_state(run_id, RunState.CANCELLED)
    store.record_run_started(run_id, T0)
    run = store.get_run(run_id)
    assert run is not None
    assert run.state is RunState.CANCELLED
    assert run.started_at is None


def test_unknown_runs_are_reported(store: HistoryStore) -> None:
    assert store.get_run("run_missing") is None
    assert store.attempts("run_missing") == []
    with pytest.raises(UnknownRunError):
        store.record_run_started("run_missing", T0)
    with pytest.raises(UnknownRunError):
        store.set_run_state("run_missing", RunState.CANCELLED)
    with pytest.raises(IntegrityError):  # foreign key: no attempts of unknown runs
        store.record_attempt(
            run_id="run_missing",
            task_id="t1",
            task_type="monitor_health",
            attempt=1,
            state="failed",
            queue=None,
            worker=None,
            started_at=None,
            finished_at=None,
            duration_ms=None,
            error=None,
            reason=None,
            audit=[],
        )


def test_goal_is_shared_by_its_runs_but_not_across_users(store: HistoryStore) -> None:
    alice, bob = uid("alice"), uid("bob")
    chain = make_chain("nightly backup")
    first, second = submit(store, alice, chain=chain), submit(store, alice, chain=chain)
    assert {r.goal_id for r in store.list_runs(user_id=alice)} == {chain.goal.id}
    assert {first, second} == {r.run_id for r in store.list_runs(user_id=alice)}

    with pytest.raises(GoalOwnershipError):
        submit(store, bob, chain=chain)
    # Nothing of the refused submission was kept, not even its audit entry.
    assert store.list_runs(user_id=bob) == []
    assert store.audit_log(user_id=bob) == []


def test_task_history_and_its_audit_are_written_together(store: HistoryStore) -> None:
    user = uid("user")
    run_id = submit(store, user)
    unserialisable = AuditEntry(
        user_id=user, action=AuditAction.TASK_FINISHED, run_id=run_id, detail={"x": object()}
    )
    with pytest.raises(PydanticSerializationError):
        store.record_attempt(
            run_id=run_id,
            task_id="t1",
            task_type="monitor_health",
            attempt=1,
            state="succeeded",
            queue=None,
            worker=None,
            started_at=T0,
            finished_at=T0,
            duration_ms=1.0,
            error=None,
            reason=None,
            audit=[unserialisable],
        )
    assert store.attempts(run_id) == []


def test_list_runs_newest_first_per_user(store: HistoryStore) -> None:
    # Far in the future, so these are the newest runs in the shared database too.
    base = datetime(2999, 1, 1, 12, 0, tzinfo=UTC)
    alice, bob = uid("alice"), uid("bob")
    a_old = submit(store, alice, at=base)
    b_mid = submit(store, bob, at=base + timedelta(minutes=1))
    # Given in another time zone, but later in absolute time: must sort as the newest.
    a_new = submit(
        store, alice, at=datetime(2999, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=1)))
    )

    assert [r.run_id for r in store.list_runs(user_id=alice)] == [a_new, a_old]
    assert [r.run_id for r in store.list_runs(user_id=bob)] == [b_mid]
    assert [r.run_id for r in store.list_runs(user_id=alice, limit=1)] == [a_new]
    assert [r.run_id for r in store.list_runs(limit=3)] == [a_new, b_mid, a_old]
    assert store.list_runs(user_id=alice)[0].submitted_at == base + timedelta(hours=1)


def test_audit_log_filters_and_order(store: HistoryStore) -> None:
    user = uid("user")
    run_id = submit(store, user)
    store.record_audit(
        [
            AuditEntry(
                user_id=user, action=AuditAction.CANCEL_REQUESTED, run_id=run_id, detail={"at": T0}
            ),
            AuditEntry(
                user_id=user,
                action=AuditAction.TASK_REFUSED,
                task_id="t9",
                detail={"why": "permission"},
            ),
        ]
    )
    assert [e.action for e in store.audit_log(user_id=user)] == [
        AuditAction.RUN_SUBMITTED,
        AuditAction.CANCEL_REQUESTED,
        AuditAction.TASK_REFUSED,
    ]
    by_run = store.audit_log(run_id=run_id)
    assert [e.action for e in by_run] == [AuditAction.RUN_SUBMITTED, AuditAction.CANCEL_REQUESTED]
    assert by_run[1].detail == {"at": "2025-03-01T12:00:00Z"}  # stored as JSON
    assert len(store.audit_log(user_id=user, limit=1)) == 1


def test_audit_log_is_append_only(store: HistoryStore) -> None:
    user = uid("user")
    submit(store, user)
    statements = [
        "UPDATE audit_log SET action = 'run_finished' WHERE user_id = :u",
        "DELETE FROM audit_log WHERE user_id = :u",
    ]
    if store.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_log")
    for sql in statements:
        with pytest.raises(IntegrityError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(sql), {"u": user})
    assert [e.action for e in store.audit_log(user_id=user)] == [AuditAction.RUN_SUBMITTED]


def test_naive_datetimes_are_refused(store: HistoryStore) -> None:
    with pytest.raises(StatementError, match="timezone-aware"):
        submit(store, uid("user"), at=datetime(2025, 1, 1, 12, 0))


def test_upgrade_is_idempotent_and_keeps_data(pg_url: str, sqlite_url: str) -> None:
    assert current_revision(sqlite_url) is None
    for url in (pg_url, sqlite_url):
        upgrade(url)
        store = HistoryStore.from_url(url)
        try:
            run_id = submit(store, uid("user"))
            upgrade(url)
            assert current_revision(url) == HEAD
            assert store.get_run(run_id) is not None
        finally:
            store.dispose()
    assert Path(sqlite_url.removeprefix("sqlite:///")).is_file()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_migration_matches_tables(backend: str, pg_url: str, sqlite_url: str) -> None:
    url = pg_url if backend == "postgresql" else sqlite_url
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "include_object": include_in_comparison},
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_embedded_threads_write_concurrently(sqlite_store: HistoryStore) -> None:
    run_id = submit(sqlite_store, uid("user"))
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for attempt in range(1, 21):
                sqlite_store.record_attempt(
                    run_id=run_id,
                    task_id=f"t{n}",
                    task_type="monitor_health",
                    attempt=attempt,
                    state="failed",
                    queue="system",
                    worker=f"w{n}",
                    started_at=T0,
                    finished_at=T0,
                    duration_ms=1.0,
                    error=None,
                    reason=None,
                    audit=[],
                )
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(sqlite_store.attempts(run_id)) == 160


def test_ping_fails_when_database_is_unreachable() -> None:
    store = HistoryStore.from_url(
        "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
    )
    try:
        with pytest.raises(OperationalError):
            store.ping()
    finally:
        store.dispose()
