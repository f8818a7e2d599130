"""Recovery history (0002) against real PostgreSQL and SQLite: failures and recovery
outcomes, parked tasks, dead letters, task outputs, and the migration that adds them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError

from orchestrator.history import (
    AuditAction,
    DeadLetterBox,
    HistoryStore,
    ParkDecision,
    ParkedTaskRecord,
    ParkingLot,
    ParkKind,
    RecoveryLog,
    UnknownRecoveryError,
    create_history_engine,
    current_revision,
    upgrade,
)
from orchestrator.history.migrate import alembic_config
from orchestrator.history.tables import Base
from orchestrator.knowledge.tables import include_in_comparison
from orchestrator.models import (
    AITask,
    ErrorType,
    Module,
    RecoveryType,
    TaskChain,
    TaskDependency,
    TaskError,
    TaskType,
    UserGoal,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HEAD = "0005"


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def submit(store: HistoryStore, user: str) -> str:
    goal = UserGoal(id=uid("goal"), description="check health")
    chain = TaskChain(
        goal=goal,
        tasks=[
            AITask(id="t1", type=TaskType.MONITOR_HEALTH, module=Module.SYSTEM),
            AITask(id="t2", type=TaskType.BACKUP_STATE, module=Module.SYSTEM),
        ],
        dependencies=[TaskDependency.model_validate({"from": "t1", "to": "t2"})],
    )
    run_id = uid("run")
    store.record_submission(run_id=run_id, user_id=user, goal=goal, chain=chain, submitted_at=T0)
    return run_id


def attempt(
    store: HistoryStore,
    run_id: str,
    task_id: str,
    n: int,
    *,
    state: str = "succeeded",
    task_type: str = "monitor_health",
    finished_at: datetime = T0,
    output: dict[str, object] | None = None,
    input_fingerprint: str | None = None,
) -> None:
    store.record_attempt(
        run_id=run_id,
        task_id=task_id,
        task_type=task_type,
        attempt=n,
        state=state,
        queue="system",
        worker="w1",
        started_at=finished_at - timedelta(seconds=1),
        finished_at=finished_at,
        duration_ms=1000.0,
        error=None,
        reason=None,
        output=output,
        input_fingerprint=input_fingerprint,
    )


@dataclass
class History:
    """The four history entry points on one engine."""

    store: HistoryStore
    log: RecoveryLog
    lot: ParkingLot
    box: DeadLetterBox

    @classmethod
    def open(cls, url: str) -> History:
        engine = create_history_engine(url)
        return cls(
            HistoryStore(engine), RecoveryLog(engine), ParkingLot(engine), DeadLetterBox(engine)
        )

    @property
    def engine(self) -> Engine:
        return self.store.engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


# -- databases ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'history.db'}"


def _admin_conninfo(pg_url: str) -> str:
    return make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (for migrations and global statistics)."""
    name = f"orch_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_conninfo(pg_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield str(make_url(pg_url).set(database=name).render_as_string(hide_password=False))
    with psycopg.connect(_admin_conninfo(pg_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["postgresql", "sqlite"])
def backend_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each dialect, not yet migrated."""
    name = "fresh_pg_url" if request.param == "postgresql" else "sqlite_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(scope="module")
def pg_history(pg_url: str) -> Iterator[History]:
    upgrade(pg_url)
    history = History.open(pg_url)
    yield history
    history.engine.dispose()


@pytest.fixture
def sqlite_history(sqlite_url: str) -> Iterator[History]:
    upgrade(sqlite_url)
    history = History.open(sqlite_url)
    yield history
    history.engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def history(request: pytest.FixtureRequest) -> History:
    """Migrated history; the PostgreSQL one is shared by the session (use unique ids)."""
    name = "pg_history" if request.param == "postgresql" else "sqlite_history"
    result: History = request.getfixturevalue(name)
    return result


@pytest.fixture
def empty_history(backend_url: str) -> Iterator[History]:
    """Migrated history in a database of its own (for statistics over everything)."""
    upgrade(backend_url)
    history = History.open(backend_url)
    yield history
    history.engine.dispose()


# -- migration ------------------------------------------------------------------------------


def _downgrade(url: str, revision: str) -> None:
    engine = create_history_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_data(backend_url: str) -> None:
    upgrade(backend_url, "0001")
    engine = create_history_engine(backend_url)
    store = HistoryStore(engine)
    try:
        user = uid("user")
        run_id = submit(store, user)  # goals, runs, audit_log: unchanged by 0002
        with engine.begin() as conn:  # task_attempts as 0001 knows it
            conn.execute(
                text(
                    "INSERT INTO task_attempts (run_id, task_id, task_type, attempt, state) "
                    "VALUES (:r, 't1', 'monitor_health', 1, 'succeeded')"
                ),
                {"r": run_id},
            )

        upgrade(backend_url)
        assert current_revision(backend_url) == HEAD
        assert store.get_run(run_id) is not None
        assert [(a.task_id, a.state.value) for a in store.attempts(run_id)] == [("t1", "succeeded")]
        assert store.attempt_outputs(run_id) == {}  # the new columns start out NULL
        # The audit log is still append-only after the migration.
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log WHERE user_id = :u"), {"u": user})
        assert [e.action for e in store.audit_log(user_id=user)] == [AuditAction.RUN_SUBMITTED]

        attempt(store, run_id, "t1", 2, output={"ok": True}, input_fingerprint="f" * 64)
        assert store.attempt_outputs(run_id) == {"t1": {"ok": True}}

        # Down and up again: 0001's data survives (SQLite rebuilds task_attempts).
        engine.dispose()
        _downgrade(backend_url, "0001")
        assert current_revision(backend_url) == "0001"
        columns = {c["name"] for c in inspect(engine).get_columns("task_attempts")}
        assert {"output", "input_fingerprint"}.isdisjoint(columns)
        assert "parked_tasks" not in inspect(engine).get_table_names()
        engine.dispose()
        upgrade(backend_url)
        assert sorted(a.attempt for a in store.attempts(run_id)) == [1, 2]
        # The unique constraint survived SQLite's rebuild of the table.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO task_attempts (run_id, task_id, task_type, attempt, state) "
                    "VALUES (:r, 't1', 'monitor_health', 1, 'failed')"
                ),
                {"r": run_id},
            )
    finally:
        engine.dispose()


def test_migration_matches_tables(backend_url: str) -> None:
    upgrade(backend_url)
    upgrade(backend_url)  # idempotent
    engine = create_engine(backend_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "include_object": include_in_comparison},
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


# -- failures and recovery outcomes ---------------------------------------------------------


def test_fingerprints_are_counted(history: History) -> None:
    run_id, fp, other = uid("run"), uid("fp"), uid("fp")
    assert history.log.count_fingerprint(fp) == 0
    error = TaskError(type=ErrorType.NETWORK_ERROR, message="reset\x00by peer", details={"p": 1})
    ids = [
        history.log.record_failure(
            run_id=run_id,
            task_id="t1",
            task_type="monitor_health",
            attempt=n,
            error=error,
            fingerprint=fp,
            at=s(n),
            severity="high" if n == 1 else None,
        )
        for n in (1, 2, 3)
    ]
    history.log.record_failure(
        run_id=run_id,
        task_id="t2",
        task_type="backup_state",
        attempt=1,
        error=TaskError(type=ErrorType.SERVICE_DOWN, message="down"),
        fingerprint=other,
        at=s(4),
    )
    assert len(set(ids)) == 3
    assert history.log.count_fingerprint(fp) == 3
    assert history.log.count_fingerprint(other) == 1
    with pytest.raises(StatementError, match="timezone-aware"):
        history.log.record_failure(
            run_id=run_id,
            task_id="t1",
            task_type="monitor_health",
            attempt=4,
            error=error,
            fingerprint=fp,
            at=datetime(2025, 1, 1),  # naive
        )
    assert history.log.count_fingerprint(fp) == 3


def test_recovery_attempt_lifecycle(history: History) -> None:
    log, run_id, fp = history.log, uid("run"), uid("fp")
    assert not log.learnings_available(fp)
    first = log.start_recovery(
        run_id=run_id,
        task_id="t1",
        attempt=1,
        error_type=ErrorType.NETWORK_ERROR,
        fingerprint=fp,
        strategy=RecoveryType.RETRY_WITH_BACKOFF,
        started_at=s(10),
        detail="backoff 2s",
    )
    second = log.start_recovery(
        run_id=run_id,
        task_id="t2",
        attempt=1,
        error_type="service_down",
        fingerprint=uid("fp"),
        strategy="skip_and_continue",
        started_at=s(11),
    )
    assert not log.learnings_available(fp)  # started, not finished
    assert log.tried_strategies(run_id, "t1") == {RecoveryType.RETRY_WITH_BACKOFF}
    assert log.tried_strategies(run_id, "t9") == set()
    log.annotate(first, "slept 2s")
    log.annotate(first, "retried")
    with pytest.raises(UnknownRecoveryError):
        log.annotate(10**12, "nothing")
    running = log.recovery_attempts(run_id, "t1")
    assert [(r.id, r.succeeded, r.finished_at, r.time_to_recover_ms) for r in running] == [
        (first, None, None, None)
    ]
    assert running[0].detail == "backoff 2s\nslept 2s\nretried"

    assert log.finish_recovery(first, succeeded=True, finished_at=s(12.5), detail="recovered")
    # The first finish wins; a redelivered one changes nothing.
    assert not log.finish_recovery(first, succeeded=False, finished_at=s(99), detail="late")
    # Clocks of two workers may disagree: never a negative time to recover.
    assert log.finish_recovery(second, succeeded=False, finished_at=s(10))
    with pytest.raises(UnknownRecoveryError):
        log.finish_recovery(10**12, succeeded=True, finished_at=s(1))

    done = log.recovery_attempts(run_id)
    assert [(r.task_id, r.strategy, r.error_type, r.succeeded) for r in done] == [
        ("t1", RecoveryType.RETRY_WITH_BACKOFF, ErrorType.NETWORK_ERROR, True),
        ("t2", RecoveryType.SKIP_AND_CONTINUE, ErrorType.SERVICE_DOWN, False),
    ]
    assert done[0].time_to_recover_ms == pytest.approx(2500.0)
    assert done[0].detail == "recovered"
    assert done[0].finished_at == s(12.5)
    assert done[1].time_to_recover_ms == 0.0
    assert done[1].detail == ""
    assert log.learnings_available(fp)
    assert log.recovery_attempts(uid("run")) == []
    # An escalation decided elsewhere (a person rejected it) is finished by task.
    pending = [
        log.start_recovery(
            run_id=run_id,
            task_id="t3",
            attempt=1,
            error_type=ErrorType.PERMISSION_DENIED,
            fingerprint=fp,
            strategy=RecoveryType.ESCALATE_TO_USER,
            started_at=s(20 + n),
        )
        for n in range(2)
    ]
    assert log.finish_pending(run_id, "t3", succeeded=False, finished_at=s(30), detail="rejected")
    assert log.finish_pending(run_id, "t3", succeeded=True, finished_at=s(40)) == 0
    escalations = log.recovery_attempts(run_id, "t3")
    assert [r.id for r in escalations] == pending
    assert [(r.succeeded, r.detail, r.time_to_recover_ms) for r in escalations] == [
        (False, "rejected", 10000.0),
        (False, "rejected", 9000.0),
    ]
    with pytest.raises(ValueError, match="not_a_strategy"):
        log.start_recovery(
            run_id=run_id,
            task_id="t1",
            attempt=1,
            error_type=ErrorType.NETWORK_ERROR,
            fingerprint=fp,
            strategy="not_a_strategy",
            started_at=s(1),
        )


def test_outcome_and_recovery_stats(empty_history: History) -> None:
    log = empty_history.log
    assert log.recovery_stats() == []
    run_id, fp = uid("run"), uid("fp")

    def recover(error: ErrorType, strategy: RecoveryType, ms: float | None, ok: bool) -> None:
        rid = log.start_recovery(
            run_id=run_id,
            task_id="t1",
            attempt=1,
            error_type=error,
            fingerprint=fp if error is ErrorType.NETWORK_ERROR else uid("fp"),
            strategy=strategy,
            started_at=T0,
        )
        if ms is not None:
            log.finish_recovery(rid, succeeded=ok, finished_at=T0 + timedelta(milliseconds=ms))

    net, down = ErrorType.NETWORK_ERROR, ErrorType.SERVICE_DOWN
    retry, alt, skip = (
        RecoveryType.RETRY_WITH_BACKOFF,
        RecoveryType.ALTERNATIVE_APPROACH,
        RecoveryType.SKIP_AND_CONTINUE,
    )
    recover(net, retry, 100, True)
    recover(net, retry, 300, True)
    recover(net, retry, 5000, False)  # a failed recovery does not count towards MTTR
    recover(net, retry, None, False)  # still running: not counted at all
    recover(net, alt, 40, False)
    recover(down, skip, 10, True)
    recover(down, alt, None, False)  # only running: no row

    assert log.outcome_stats(net) == {"retry_with_backoff": (3, 2), "alternative_approach": (1, 0)}
    assert log.outcome_stats("service_down") == {"skip_and_continue": (1, 1)}
    assert log.outcome_stats(ErrorType.DATA_CORRUPTION) == {}
    assert log.outcome_stats(down, fingerprint=fp) == {}
    assert log.outcome_stats(net, fingerprint=fp) == log.outcome_stats(net)

    stats = log.recovery_stats()
    assert [(r.error_type, r.strategy) for r in stats] == [
        (net, alt),
        (net, retry),
        (down, skip),
    ]
    row = stats[1]
    assert (row.attempts, row.successes) == (3, 2)
    assert row.success_rate == pytest.approx(2 / 3)
    assert row.mean_time_to_recover_ms == pytest.approx(200.0)
    assert (stats[0].attempts, stats[0].successes, stats[0].success_rate) == (1, 0, 0.0)
    assert stats[0].mean_time_to_recover_ms is None
    assert (stats[2].success_rate, stats[2].mean_time_to_recover_ms) == (1.0, 10.0)


# -- parking --------------------------------------------------------------------------------


def _signature(task_id: str, marker: str = "first") -> dict[str, object]:
    return {
        "task": "orchestrator.execute_task",
        "args": ["run", task_id],
        "kwargs": {"marker": marker},
        "options": {"queue": "system"},
        "subtask_type": None,
        "immutable": True,
    }


def test_approval_is_decided_once(history: History) -> None:
    lot, user, run_id = history.lot, uid("user"), uid("run")
    assert lot.get(run_id, "t1") is None
    assert lot.park(
        run_id=run_id,
        task_id="t1",
        user_id=user,
        kind=ParkKind.APPROVAL,
        reason="deletes data",
        signature=_signature("t1"),
        parked_at=s(1),
    )
    # Parked again while waiting (a redelivered message): the first parking is kept.
    assert not lot.park(
        run_id=run_id,
        task_id="t1",
        user_id=user,
        kind="approval",
        reason="other",
        signature=_signature("t1", "second"),
        parked_at=s(2),
    )
    waiting = lot.waiting(user_id=user)
    assert [(p.run_id, p.task_id, p.kind, p.reason) for p in waiting] == [
        (run_id, "t1", ParkKind.APPROVAL, "deletes data")
    ]
    assert waiting[0].signature == _signature("t1")
    assert waiting[0].parked_at == s(1)
    assert waiting[0].waiting

    decided = lot.decide(
        run_id=run_id, task_id="t1", decision="approved", decided_by="admin", at=s(3)
    )
    assert decided is not None
    assert decided.signature == _signature("t1")
    assert (decided.decision, decided.decided_by, decided.decided_at) == (
        ParkDecision.APPROVED,
        "admin",
        s(3),
    )
    assert not decided.waiting
    again = lot.decide(
        run_id=run_id, task_id="t1", decision=ParkDecision.REJECTED, decided_by="x", at=s(4)
    )
    assert again is None
    assert lot.waiting(user_id=user) == []
    assert lot.get(run_id, "t1") == decided
    assert (
        lot.decide(run_id=run_id, task_id="nope", decision="approved", decided_by="a", at=T0)
        is None
    )

    # Parked again after a decision: a new parking that needs a new decision.
    assert lot.park(
        run_id=run_id,
        task_id="t1",
        user_id=user,
        kind=ParkKind.APPROVAL,
        reason="escalated again",
        signature=_signature("t1", "second"),
        parked_at=s(5),
    )
    reparked = lot.get(run_id, "t1")
    assert reparked is not None
    assert (reparked.reason, reparked.signature, reparked.parked_at) == (
        "escalated again",
        _signature("t1", "second"),
        s(5),
    )
    assert (reparked.decision, reparked.decided_by, reparked.decided_at) == (None, None, None)
    assert [p.task_id for p in lot.waiting(run_id=run_id)] == ["t1"]


def test_concurrent_decisions_have_one_winner(history: History) -> None:
    lot, run_id = history.lot, uid("run")
    lot.park(
        run_id=run_id,
        task_id="t1",
        user_id=uid("user"),
        kind=ParkKind.APPROVAL,
        reason="r",
        signature=_signature("t1"),
        parked_at=T0,
    )
    barrier = threading.Barrier(8)
    results: dict[int, ParkedTaskRecord | None] = {}
    errors: list[BaseException] = []

    def decide(n: int) -> None:
        try:
            barrier.wait()
            results[n] = lot.decide(
                run_id=run_id,
                task_id="t1",
                decision="approved" if n % 2 else "rejected",
                decided_by=f"user{n}",
                at=s(n),
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    winners = {n: r for n, r in results.items() if r is not None}
    assert len(results) == 8
    assert len(winners) == 1
    ((n, won),) = winners.items()
    assert won.decided_by == f"user{n}"
    assert won.signature == _signature("t1")
    assert lot.get(run_id, "t1") == won


def test_pause_and_resume_by_kind(history: History) -> None:
    lot, user, run_id = history.lot, uid("user"), uid("run")
    for i, (task_id, kind) in enumerate(
        [("t1", ParkKind.APPROVAL), ("t2", ParkKind.PAUSE), ("t3", ParkKind.PAUSE)]
    ):
        lot.park(
            run_id=run_id,
            task_id=task_id,
            user_id=user,
            kind=kind,
            reason="run paused" if kind is ParkKind.PAUSE else "needs approval",
            signature=_signature(task_id),
            parked_at=s(i),
        )
    other_run = uid("run")
    lot.park(
        run_id=other_run,
        task_id="t1",
        user_id=user,
        kind="pause",
        reason="run paused",
        signature=_signature("t1"),
        parked_at=T0,
    )

    assert [p.task_id for p in lot.waiting(run_id=run_id, kind="pause")] == ["t2", "t3"]
    assert [p.task_id for p in lot.waiting(run_id=run_id, kind=ParkKind.APPROVAL)] == ["t1"]
    assert len(lot.waiting(user_id=user, kind=ParkKind.PAUSE)) == 3
    # "resume" only releases pauses: an approval is not decided through it.
    assert (
        lot.decide(
            run_id=run_id, task_id="t1", decision="resumed", decided_by=user, at=s(5), kind="pause"
        )
        is None
    )

    resumed = lot.decide_all(
        run_id=run_id, decision=ParkDecision.RESUMED, decided_by=user, at=s(6), kind="pause"
    )
    assert [(p.task_id, p.decision) for p in resumed] == [
        ("t2", ParkDecision.RESUMED),
        ("t3", ParkDecision.RESUMED),
    ]
    assert (
        lot.decide_all(run_id=run_id, decision="resumed", decided_by=user, at=s(7), kind="pause")
        == []
    )
    assert [p.task_id for p in lot.waiting(run_id=run_id)] == ["t1"]
    assert [p.run_id for p in lot.waiting(user_id=user, kind="pause")] == [other_run]

    with pytest.raises(ValueError, match="later"):
        lot.park(
            run_id=run_id,
            task_id="t4",
            user_id=user,
            kind="later",
            reason="r",
            signature={},
            parked_at=T0,
        )
    with pytest.raises(IntegrityError), history.engine.begin() as conn:  # checked by the DB too
        conn.execute(
            text("UPDATE parked_tasks SET kind = 'later' WHERE run_id = :r"), {"r": run_id}
        )


# -- dead letters ---------------------------------------------------------------------------


def test_dead_letters_round_trip(history: History) -> None:
    box, celery_id = history.box, uid("celery")
    first = box.record(
        reason="undecodable body",
        payload={"body": b"\x00\xffraw", "headers": {"retries": 3}, "note": "nul\x00here"},
        celery_task_id=celery_id,
        task_name="orchestrator.execute_task",
        delivery_count=5,
        at=s(1),
    )
    second = box.record(reason="unknown task", payload={"obj": object.__name__}, at=s(2))
    assert second > first

    letters = [d for d in box.list() if d.id in (first, second)]
    assert [d.id for d in letters] == [second, first]  # newest first
    old = letters[1]
    assert (old.reason, old.celery_task_id, old.task_name, old.delivery_count, old.at) == (
        "undecodable body",
        celery_id,
        "orchestrator.execute_task",
        5,
        s(1),
    )
    assert old.payload["headers"] == {"retries": 3}
    assert old.payload["body"] == "AP9yYXc="  # bytes as base64
    assert old.payload["note"] == "nul\\u0000here"
    assert (letters[0].celery_task_id, letters[0].task_name, letters[0].delivery_count) == (
        None,
        None,
        None,
    )
    assert [d.id for d in box.list(limit=1)] == [second]
    with pytest.raises(ValueError, match="positive"):
        box.list(limit=0)


# -- task outputs ---------------------------------------------------------------------------


def test_last_good_output_for_the_same_inputs(history: History) -> None:
    store, fp, user = history.store, uid("fp"), uid("user")
    older, newer = submit(store, user), submit(store, user)
    attempt(store, older, "t1", 1, output={"v": 1}, input_fingerprint=fp, finished_at=s(1))
    attempt(store, newer, "t1", 1, output={"v": 2}, input_fingerprint=fp, finished_at=s(5))
    # Newer, but not good: a failure, a success without output, another task type.
    attempt(
        store,
        newer,
        "t1",
        2,
        state="failed",
        output={"v": "bad"},
        input_fingerprint=fp,
        finished_at=s(9),
    )
    attempt(store, newer, "t1", 3, input_fingerprint=fp, finished_at=s(10))
    attempt(
        store,
        newer,
        "t2",
        1,
        task_type="backup_state",
        output={"v": "other"},
        input_fingerprint=fp,
        finished_at=s(11),
    )
    assert store.last_good_output("monitor_health", fp, user_id=user) == {"v": 2}
    assert store.last_good_output("backup_state", fp, user_id=user) == {"v": "other"}
    assert store.last_good_output("monitor_health", uid("fp"), user_id=user) is None
    assert store.last_good_output("collect_logs", fp, user_id=user) is None


def test_last_good_output_is_never_another_users(history: History) -> None:
    # Given another user's run succeeded later with the same inputs
    store, fp, alice, mallory = history.store, uid("fp"), uid("alice"), uid("mallory")
    attempt(store, submit(store, alice), "t1", 1, output={"v": "alice's"}, input_fingerprint=fp)
    planted = submit(store, mallory)
    attempt(
        store, planted, "t1", 1, output={"v": "planted"}, input_fingerprint=fp, finished_at=s(9)
    )
    # Then each user gets their own output, and a third user none
    assert store.last_good_output("monitor_health", fp, user_id=alice) == {"v": "alice's"}
    assert store.last_good_output("monitor_health", fp, user_id=mallory) == {"v": "planted"}
    assert store.last_good_output("monitor_health", fp, user_id=uid("carol")) is None


def test_attempt_outputs_of_a_run(history: History) -> None:
    store = history.store
    run_id = submit(store, uid("user"))
    assert store.attempt_outputs(run_id) == {}
    attempt(store, run_id, "t1", 1, output={"a": 1, "at": T0.isoformat()})
    attempt(store, run_id, "t1", 2, output={"a": 2, "nested": {"l": [1, 2]}})
    attempt(store, run_id, "t2", 1, state="failed")
    assert store.attempt_outputs(run_id) == {"t1": {"a": 2, "nested": {"l": [1, 2]}}}
    attempt(store, run_id, "t2", 2, output={"b": True})
    assert store.attempt_outputs(run_id) == {
        "t1": {"a": 2, "nested": {"l": [1, 2]}},
        "t2": {"b": True},
    }
    # The attempts themselves read as before.
    assert [(a.task_id, a.attempt) for a in store.attempts(run_id)] == [
        ("t1", 1),
        ("t1", 2),
        ("t2", 1),
        ("t2", 2),
    ]
