"""Recovery on real prefork workers, the real Redis broker and Postgres.

Fault-injecting task types (tests/support/faults.py) are registered through the
extension API and loaded by the workers with ORCH_PLUGINS.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.history import AuditAction
from orchestrator.models import (
    AITask,
    ErrorType,
    FailureStatus,
    Module,
    RecoveryType,
    RetryPolicy,
    RunStatus,
    TaskChain,
    TaskDependency,
    TaskState,
    UserGoal,
)
from tasks.builtin import default_registry
from tests.support import faults
from tests.support.plugin import register as register_steps
from tests.support.waiting import wait_for_state
from tests.support.workers import (
    PLUGIN,
    REPO_ROOT,
    restart_workers,
    settings_env,
    worker_processes,
)

FAULTS = "tests.support.faults:register"
TIMEOUT_S = 90
FAST_RETRIES = RetryPolicy(max_attempts=4, backoff_base_s=0.1, backoff_max_s=0.5)
RECOVERY_DB = 13
#: How often a test re-checks for a dead letter the worker records asynchronously.
DEAD_LETTER_POLL_S = 0.05


@pytest.fixture(scope="module")
def recovery_env(migrated_pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # A broker of its own: these workers know task types the other test workers don't.
    url = f"redis://127.0.0.1:6379/{RECOVERY_DB}"
    redis.Redis.from_url(url).flushdb()
    return {
        "ORCH_BROKER_URL": url,
        "ORCH_RESULT_BACKEND": url,
        "ORCH_REDIS_URL": url,
        "ORCH_DATABASE_URL": migrated_pg_url,
        "ORCH_DATA_DIR": str(tmp_path_factory.mktemp("recovery")),
        "ORCH_KEY_PREFIX": "orchrecovery",
    }


@pytest.fixture(scope="module")
def rorch_workers(
    recovery_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Orchestrator, dict[str, subprocess.Popen[bytes]]]]:
    registry = default_registry()
    register_steps(registry)
    faults.register(registry)
    settings = Settings(
        broker_url=recovery_env["ORCH_BROKER_URL"],
        result_backend=recovery_env["ORCH_BROKER_URL"],
        redis_url=recovery_env["ORCH_REDIS_URL"],
        database_url=recovery_env["ORCH_DATABASE_URL"],
        data_dir=Path(recovery_env["ORCH_DATA_DIR"]),
        key_prefix=recovery_env["ORCH_KEY_PREFIX"],
        time_limit_grace_s=2,
    )
    orchestrator = Orchestrator.from_settings(settings, registry)
    with worker_processes(
        orchestrator.app,
        recovery_env,
        plugins=(PLUGIN, FAULTS),
        log_dir=tmp_path_factory.mktemp("recovery-logs"),
    ) as procs:
        yield orchestrator, procs
    orchestrator.close()


@pytest.fixture(scope="module")
def rorch(
    rorch_workers: tuple[Orchestrator, dict[str, subprocess.Popen[bytes]]],
) -> Orchestrator:
    return rorch_workers[0]


def fault(
    task_id: str,
    kind: str,
    ledger: Path,
    *,
    module: Module | None = None,
    timeout_s: float = 60,
    **params: Any,
) -> AITask:
    default_module, _ = faults.FAULT_TYPES[kind]
    return AITask(
        id=task_id,
        type=kind,
        module=module or default_module,
        parameters={"ledger": str(ledger), **params},
        timeout_s=timeout_s,
        retry_policy=FAST_RETRIES,
    )


def chain_of(tasks: list[AITask], edges: list[tuple[str, str]]) -> TaskChain:
    return TaskChain(
        goal=UserGoal(description="recovery test"),
        tasks=tasks,
        dependencies=[
            TaskDependency.model_validate({"from": a, "to": b, "type": "data_flow"})
            for a, b in edges
        ],
    )


def test_flaky_task_is_retried_with_backoff_in_its_place(
    rorch: Orchestrator, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    chain = chain_of(
        [
            fault("first", "fault_flaky", ledger),
            fault("flaky", "fault_flaky", ledger, succeed_on_call=3),
            fault("after", "fault_flaky", ledger),
        ],
        [("first", "flaky"), ("flaky", "after")],
    )
    run_id = rorch.submit(chain)
    result = rorch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED
    status = {t.task_id: t for t in rorch.status(run_id).tasks}
    flaky = status["flaky"]
    assert flaky.attempt == 3
    retries = [a for a in flaky.recovery_attempts if a.strategy is RecoveryType.RETRY_WITH_BACKOFF]
    assert len(retries) == 2
    assert [a.succeeded for a in retries] == [False, True]
    for n, attempt in enumerate(retries, start=1):
        assert attempt.error_type is ErrorType.NETWORK_ERROR
        countdown = float(re.search(r"countdown ([0-9.]+) s", attempt.detail).group(1))  # type: ignore[union-attr]
        assert 0 <= countdown <= min(0.1 * 2 ** (n - 1), 0.5) + 1e-6
    # The chain went on after the retried task, with its output.
    assert status["after"].started_at >= flaky.finished_at  # type: ignore[operator]
    (recovered,) = [f for f in result.failed_tasks if f.task_id == "flaky"]
    assert recovered.final_status is FailureStatus.RECOVERED
    assert len(recovered.recovery_attempts) == 2


def test_timeout_is_retried_with_a_longer_time_limit(rorch: Orchestrator, tmp_path: Path) -> None:
    # The first call overruns its 1 s soft time limit (prefork enforces it); the retry
    # gets 1.5 s and the second call is quick.
    chain = chain_of(
        [
            fault(
                "slow", "fault_slow", tmp_path / "l", timeout_s=1, sleep_ms=4000, succeed_on_call=2
            )
        ],
        [],
    )
    run_id = rorch.submit(chain)
    result = rorch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED
    (task,) = rorch.status(run_id).tasks
    (retry,) = task.recovery_attempts
    assert retry.error_type is ErrorType.TASK_TIMEOUT
    assert retry.strategy is RecoveryType.RETRY_WITH_BACKOFF
    assert "timeout 1.5 s" in retry.detail
    assert retry.succeeded is True


def test_service_down_degrades_to_the_registered_fallback(
    rorch: Orchestrator, tmp_path: Path
) -> None:
    chain = chain_of(
        [
            fault("quotes", "fault_refused", tmp_path / "l"),
            fault("use", "fault_flaky", tmp_path / "l"),
        ],
        [("quotes", "use")],
    )
    result = rorch.wait(rorch.submit(chain), timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED
    assert result.degraded_tasks == ["quotes"]
    quotes = next(t for t in result.completed_tasks if t.task_id == "quotes")
    assert quotes.degraded is True
    assert quotes.status.value == "warning"
    assert quotes.output == {"call": 0, "value": "stale quotes", "degraded_by": "fallback"}
    (failure,) = [f for f in result.failed_tasks if f.task_id == "quotes"]
    assert failure.error.type is ErrorType.SERVICE_DOWN
    assert failure.recovery_attempts[0].strategy is RecoveryType.GRACEFUL_DEGRADATION


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        ("fault_denied", ErrorType.PERMISSION_DENIED),
        ("fault_invalid", ErrorType.INVALID_INPUT),
    ],
)
def test_refusals_and_invalid_input_fail_at_once(
    rorch: Orchestrator, tmp_path: Path, kind: str, error_type: ErrorType
) -> None:
    result = rorch.wait(
        rorch.submit(chain_of([fault("t", kind, tmp_path / "l")], [])), timeout_s=TIMEOUT_S
    )
    assert result.status is RunStatus.FAILED
    (failure,) = result.failed_tasks
    assert failure.error.type is error_type
    assert failure.final_status is FailureStatus.FAILED
    assert failure.recovery_attempts == []


def test_rollback_compensates_in_reverse_order_then_restarts(
    rorch: Orchestrator, tmp_path: Path
) -> None:
    ledger = tmp_path / "effects"
    chain = chain_of(
        [
            fault("e1", "fault_effect", ledger),
            fault("e2", "fault_effect", ledger),
            fault("check", "fault_inconsistent", ledger, succeed_on_call=4),
        ],
        [("e1", "e2"), ("e2", "check")],
    )
    run_id = rorch.submit(chain)
    # Call 1 fails -> context repair retries; call 2 fails -> a person is asked (cheapest
    # of the rest); approved, call 3 fails -> rollback, which needs approval too.
    wait_for_state(rorch, run_id, "check", TaskState.PARKED)
    (waiting,) = [w for w in rorch.approvals() if w.run_id == run_id]
    assert waiting.task_id == "check"
    assert "approve to run it again" in waiting.reason
    assert rorch.approve(run_id, "check") is True
    wait_for_state(rorch, run_id, "check", TaskState.PARKED, nth=2)
    (waiting,) = [w for w in rorch.approvals() if w.run_id == run_id]
    assert "rollback_and_restart" in waiting.reason
    assert rorch.approve(run_id, "check") is True
    result = rorch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, (result.failed_tasks, ledger.read_text())
    # Effects undone newest first, redone in order, then the failed task ran again.
    assert ledger.read_text().split() == ["+e1", "+e2", "-e2", "-e1", "+e1", "+e2", "=check"]
    strategies = [a.strategy for a in rorch.status(run_id).tasks[2].recovery_attempts]
    assert strategies == [
        RecoveryType.CONTEXT_REPAIR,
        RecoveryType.ESCALATE_TO_USER,
        RecoveryType.ESCALATE_TO_USER,
        RecoveryType.ROLLBACK_AND_RESTART,
    ]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=REPO_ROOT,
        env=settings_env(env, (PLUGIN, FAULTS)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_escalation_is_decided_through_the_cli(
    rorch: Orchestrator, recovery_env: dict[str, str], tmp_path: Path, decision: str
) -> None:
    chain = chain_of(
        [
            fault("ask", "fault_conflict", tmp_path / "l", succeed_on_call=2),
            fault("next", "fault_flaky", tmp_path / "l"),
            fault("other", "fault_flaky", tmp_path / "l"),
        ],
        [("ask", "next")],
    )
    run_id = rorch.submit(chain)
    wait_for_state(rorch, run_id, "ask", TaskState.PARKED)
    listed = _cli(recovery_env, "approvals", "--json")
    assert listed.returncode == 0, listed.stderr
    assert f'"run_id": "{run_id}"' in listed.stdout
    decided = _cli(recovery_env, decision, run_id, "ask")
    assert decided.returncode == 0, decided.stderr
    decided_at = time.monotonic()
    if decision == "approve":
        wait_for_state(rorch, run_id, "ask", TaskState.RUNNING)
        # An approved task runs within a second of the decision.
        assert time.monotonic() - decided_at < 1.0
    result = rorch.wait(run_id, timeout_s=TIMEOUT_S)
    states = {t.task_id: t.state for t in rorch.status(run_id).tasks}
    if decision == "approve":
        assert result.status is RunStatus.COMPLETED
        assert states == {
            "ask": TaskState.SUCCEEDED,
            "next": TaskState.SUCCEEDED,
            "other": TaskState.SUCCEEDED,
        }
    else:
        assert result.status is RunStatus.PARTIAL
        assert states == {
            "ask": TaskState.SKIPPED,
            "next": TaskState.SKIPPED,
            "other": TaskState.SUCCEEDED,
        }
    again = _cli(recovery_env, decision, run_id, "ask")
    assert again.returncode == 1  # decided already
    actions = [e.action for e in rorch.runtime.history.audit_log(run_id=run_id)]
    assert AuditAction.TASK_PARKED in actions
    expected = AuditAction.TASK_APPROVED if decision == "approve" else AuditAction.TASK_REJECTED
    assert expected in actions


def test_pause_parks_what_has_not_started_and_resume_continues(
    rorch: Orchestrator, tmp_path: Path
) -> None:
    ledger = tmp_path / "l"
    chain = chain_of(
        [
            fault("a", "fault_slow", ledger, sleep_ms=800, succeed_on_call=2),
            fault("b", "fault_flaky", ledger),
            fault("c", "fault_flaky", ledger),
        ],
        [("a", "b"), ("b", "c")],
    )
    run_id = rorch.submit(chain)
    wait_for_state(rorch, run_id, "a", TaskState.RUNNING)
    assert rorch.pause(run_id) is True
    wait_for_state(rorch, run_id, "b", TaskState.PARKED)
    status = rorch.status(run_id)
    assert status.state.value == "paused"
    assert {t.task_id: t.state for t in status.tasks}["a"] is TaskState.SUCCEEDED
    # resume sends b again -- unless b, parking at that very moment, saw the resume
    # first and released itself: exactly one of the two does it.
    assert rorch.resume(run_id) in (0, 1)
    result = rorch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED
    assert ledger.with_suffix(".b.calls").read_text() == "x"  # b ran once
    parked = rorch.runtime.parking.get(run_id, "b")
    assert parked is not None
    assert parked.decision is not None
    assert parked.decision.value == "resumed"
    celery_ids = {a.task_id for a in rorch.runtime.history.attempts(run_id)}
    assert celery_ids == {"a", "b", "c"}
    actions = [e.action for e in rorch.runtime.history.audit_log(run_id=run_id)]
    assert AuditAction.PAUSE_REQUESTED in actions
    assert AuditAction.RESUME_REQUESTED in actions


def test_error_recovery_in_action_splits_code_generation(rorch: Orchestrator) -> None:
    # The spec's scenario: task_005 (code generation) times out; the split approach runs
    # the components in its place and the chain continues with their merged output.
    goal = UserGoal(
        description="Analyze my portfolio performance and create a custom report generator",
        priority="high",
        context={"portfolio_id": "port_123", "project_id": "proj_456"},
    )
    chain = rorch.plan(goal)
    tasks = [
        t.model_copy(update={"timeout_s": 2}) if t.id == "task_005" else t for t in chain.tasks
    ]
    chain = chain.model_copy(update={"tasks": tasks})
    run_id = rorch.submit(chain)
    result = rorch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    outputs = {t.task_id: t.output for t in result.completed_tasks}
    merged = outputs["task_005"]
    assert sorted(merged["features"]) == ["chart_generation", "data_visualization", "pdf_export"]
    assert {"task_005_charts", "task_005_pdf", "task_005_api"} <= set(outputs)
    assert "task_005" in outputs["task_006"]["inputs"]  # validation saw the merged output
    assert "task_007" in outputs
    (recovered,) = [f for f in result.failed_tasks if f.task_id == "task_005"]
    assert recovered.error.type is ErrorType.TASK_TIMEOUT
    assert recovered.final_status is FailureStatus.RECOVERED
    assert recovered.recovery_attempts[0].strategy is RecoveryType.ALTERNATIVE_APPROACH


def test_poison_messages_become_dead_letters(rorch: Orchestrator, tmp_path: Path) -> None:
    app = rorch.app
    before = len(rorch.dead_letters())
    # A task name no worker knows, and a body that is not JSON.
    app.send_task("portfolio.no_such_type", args=("x",), queue="portfolio")
    with app.connection_for_write() as conn, conn.Producer() as producer:
        producer.publish(
            b"{not json",
            routing_key="system",
            exchange="orchestrator",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"task": "system.fault_flaky", "id": "garbled-1"},
        )
    # A task that kills its worker process every time it is delivered.
    result = rorch.wait(
        rorch.submit(chain_of([fault("boom", "fault_crash", tmp_path / "l")], [])),
        timeout_s=TIMEOUT_S,
    )
    assert result.status is RunStatus.FAILED
    (failure,) = result.failed_tasks
    assert "dead-lettered" in failure.error.message
    letters = rorch.dead_letters()
    reasons = " | ".join(d.reason for d in letters[: len(letters) - before])
    assert "unknown task type 'portfolio.no_such_type'" in reasons
    assert "could not be decoded" in reasons
    assert "without finishing" in reasons


@pytest.fixture
def a_recovered_retry(rorch: Orchestrator, tmp_path: Path) -> None:
    """A network error recovered on the second retry: one failed and one good outcome."""
    chain = chain_of([fault("flaky", "fault_flaky", tmp_path / "l", succeed_on_call=3)], [])
    assert rorch.wait(rorch.submit(chain), timeout_s=TIMEOUT_S).status is RunStatus.COMPLETED


def test_recovery_stats_summarise_outcomes(rorch: Orchestrator, a_recovered_retry: None) -> None:
    rows = {(r.error_type, r.strategy): r for r in rorch.recovery_stats()}
    retry = rows[(ErrorType.NETWORK_ERROR, RecoveryType.RETRY_WITH_BACKOFF)]
    assert retry.attempts >= 2
    assert 0 < retry.success_rate <= 1
    assert retry.mean_time_to_recover_ms is not None


def test_paused_run_survives_a_restart_of_every_worker(
    rorch_workers: tuple[Orchestrator, dict[str, subprocess.Popen[bytes]]],
    recovery_env: dict[str, str],
    tmp_path: Path,
) -> None:
    rorch, procs = rorch_workers
    ledger = tmp_path / "l"
    chain = chain_of(
        [
            fault("a", "fault_slow", ledger, sleep_ms=600, succeed_on_call=2),
            fault("b", "fault_flaky", ledger),
            fault("c", "fault_flaky", ledger),
        ],
        [("a", "b"), ("b", "c")],
    )
    run_id = rorch.submit(chain)
    wait_for_state(rorch, run_id, "a", TaskState.RUNNING)
    assert rorch.pause(run_id) is True
    wait_for_state(rorch, run_id, "b", TaskState.PARKED)
    # Nothing holds a worker slot while paused: every worker can go away and come back.
    restart_workers(rorch.app, procs, recovery_env, plugins=(PLUGIN, FAULTS))
    assert [p.task_id for p in rorch.runtime.parking.waiting(run_id=run_id)] == ["b"]
    assert rorch.resume(run_id) == 1
    result = rorch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED
    assert {t.task_id for t in result.completed_tasks} == {"a", "b", "c"}


def test_recovery_stats_and_dead_letters_through_the_cli(
    rorch: Orchestrator, recovery_env: dict[str, str], a_recovered_retry: None
) -> None:
    rorch.app.send_task("portfolio.no_such_type", args=("x",), queue="portfolio")
    deadline = time.monotonic() + TIMEOUT_S
    while not any(d.task_name == "portfolio.no_such_type" for d in rorch.dead_letters()):
        assert time.monotonic() < deadline, "the unknown task never became a dead letter"
        time.sleep(DEAD_LETTER_POLL_S)
    stats = _cli(recovery_env, "recovery-stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert '"strategy": "retry_with_backoff"' in stats.stdout
    letters = _cli(recovery_env, "dead-letters", "--json")
    assert letters.returncode == 0, letters.stderr
    assert "portfolio.no_such_type" in letters.stdout


def test_hard_time_limit_ends_the_run_instead_of_hanging_it(
    rorch: Orchestrator, tmp_path: Path
) -> None:
    # The task swallows its soft limit (1 s); the hard limit (1 s + 2 s grace) kills the
    # process, Celery fails the rest of the chain without running it -- and the errback
    # still ends the run with the reason.
    chain = chain_of(
        [
            fault("first", "fault_flaky", tmp_path / "l"),
            fault("stubborn", "fault_stubborn", tmp_path / "l", timeout_s=1, sleep_ms=20_000),
            fault("after", "fault_flaky", tmp_path / "l"),
        ],
        [("first", "stubborn"), ("stubborn", "after")],
    )
    run_id = rorch.submit(chain)
    result = rorch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.PARTIAL
    failures = {f.task_id: f for f in result.failed_tasks}
    assert failures["stubborn"].error.type is ErrorType.TASK_TIMEOUT
    assert failures["after"].final_status is FailureStatus.SKIPPED
    assert "stubborn crashed" in failures["after"].error.message
