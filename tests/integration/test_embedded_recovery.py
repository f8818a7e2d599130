"""Recovery in the embedded default, where Celery's threads pool ignores time limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.models import (
    AITask,
    ErrorType,
    ExecutionResult,
    RecoveryType,
    RetryPolicy,
    RunStatus,
    TaskChain,
    TaskDependency,
    UserGoal,
)
from tasks.builtin import default_registry
from tests.support import faults


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Orchestrator]:
    registry = default_registry()
    faults.register(registry)
    with Orchestrator.from_settings(Settings(data_dir=tmp_path / "data"), registry) as orch:
        yield orch


def test_timeouts_hold_on_the_threads_pool(embedded: Orchestrator, tmp_path: Path) -> None:
    # Given a task that overruns its 0.5 s timeout on its first call only
    task = AITask(
        id="slow",
        type="fault_slow",
        module="workspace",
        timeout_s=0.5,
        parameters={"ledger": str(tmp_path / "l"), "sleep_ms": 3000, "succeed_on_call": 2},
        retry_policy=RetryPolicy(max_attempts=3, backoff_base_s=0.05),
    )
    run_id = embedded.submit(TaskChain(goal=UserGoal(description="slow"), tasks=[task]))
    result = embedded.wait(run_id, timeout_s=30)
    # Then our own deadline fired (the pool would have let it run 3 s) and the retry,
    # with a longer timeout, succeeded
    assert result.status is RunStatus.COMPLETED
    (status,) = embedded.status(run_id).tasks
    (retry,) = status.recovery_attempts
    assert retry.error_type is ErrorType.TASK_TIMEOUT
    assert retry.strategy is RecoveryType.RETRY_WITH_BACKOFF
    assert "timeout 0.75 s" in retry.detail
    assert status.attempt == 2


def test_exhausted_retries_fail_with_every_attempt_listed(
    embedded: Orchestrator, tmp_path: Path
) -> None:
    task = AITask(
        id="never",
        type="fault_flaky",
        module="system",
        parameters={"ledger": str(tmp_path / "l"), "succeed_on_call": 99},
        retry_policy=RetryPolicy(max_attempts=3, backoff_base_s=0.01),
    )
    result = embedded.wait(
        embedded.submit(TaskChain(goal=UserGoal(description="never"), tasks=[task])), timeout_s=30
    )
    assert result.status is RunStatus.FAILED
    (failure,) = result.failed_tasks
    assert failure.final_status.value == "failed"
    assert failure.attempt_count == 3
    assert [a.strategy for a in failure.recovery_attempts] == [RecoveryType.RETRY_WITH_BACKOFF] * 2
    assert all(a.succeeded is False for a in failure.recovery_attempts)
    assert failure.error.type is ErrorType.NETWORK_ERROR


def _run(orch: Orchestrator, chain: TaskChain) -> tuple[str, ExecutionResult]:
    run_id = orch.submit(chain)
    return run_id, orch.wait(run_id, timeout_s=30)


def test_degradation_falls_back_to_the_last_good_output_for_the_same_inputs(
    embedded: Orchestrator, tmp_path: Path
) -> None:
    params = {"ledger": str(tmp_path / "l")}
    task = AITask(
        id="quotes",
        type="fault_sometimes_down",
        module="portfolio",
        parameters=params,
        retry_policy=RetryPolicy(max_attempts=1),
    )
    chain = TaskChain(goal=UserGoal(description="quotes"), tasks=[task])
    _, first = _run(embedded, chain)
    assert first.status is RunStatus.COMPLETED
    assert first.degraded_tasks == []
    # The service is down now: the same request gets the earlier answer, marked degraded.
    _, second = _run(embedded, chain.model_copy(update={"id": "chain_again"}))
    assert second.status is RunStatus.COMPLETED
    assert second.degraded_tasks == ["quotes"]
    (result,) = second.completed_tasks
    assert result.output == {"call": 1, "value": "fresh quotes", "degraded_by": None}
    (failure,) = second.failed_tasks
    assert failure.error.type is ErrorType.SERVICE_DOWN
    assert failure.recovery_attempts[-1].strategy is RecoveryType.GRACEFUL_DEGRADATION


def test_lost_live_context_is_repaired_from_history(embedded: Orchestrator, tmp_path: Path) -> None:
    ledger = str(tmp_path / "l")
    tasks = [
        AITask(id="source", type="fault_flaky", module="system", parameters={"ledger": ledger}),
        AITask(
            id="slow",
            type="fault_slow",
            module="workspace",
            parameters={"ledger": ledger, "sleep_ms": 700, "succeed_on_call": 2},
        ),
        AITask(id="reader", type="fault_flaky", module="system", parameters={"ledger": ledger}),
    ]
    chain = TaskChain(
        goal=UserGoal(description="repair"),
        tasks=tasks,
        dependencies=[
            TaskDependency.model_validate({"from": "source", "to": "slow", "type": "prerequisite"}),
            TaskDependency.model_validate({"from": "source", "to": "reader", "type": "data_flow"}),
            TaskDependency.model_validate({"from": "slow", "to": "reader", "type": "prerequisite"}),
        ],
    )
    run_id = embedded.submit(chain)
    for event in embedded.watch(run_id, timeout_s=30):
        if event.task_id == "slow" and event.state == "running":
            break
    # The live context loses source's output while slow runs (as after a Redis restart).
    keys = embedded.runtime.context.keys(embedded.runtime.settings.default_user, run_id)
    assert embedded.runtime.context.client.hdel(keys.outputs, "source") == 1
    result = embedded.wait(run_id, timeout_s=30)
    assert result.status is RunStatus.COMPLETED
    (reader,) = [t for t in embedded.status(run_id).tasks if t.task_id == "reader"]
    (repair,) = reader.recovery_attempts
    assert repair.strategy is RecoveryType.CONTEXT_REPAIR
    assert repair.error_type is ErrorType.DEPENDENCY_FAILURE
    assert "restored 1 output(s)" in repair.detail
    assert repair.succeeded is True


def test_skip_and_continue_when_repair_and_retry_cannot_help(
    embedded: Orchestrator, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "l")
    policy = RetryPolicy(max_attempts=2, backoff_base_s=0.01)
    tasks = [
        AITask(
            id="orphan",
            type="fault_orphaned",
            module="ai-assistant",
            parameters={"ledger": ledger},
            retry_policy=policy,
        ),
        AITask(id="needs_it", type="fault_flaky", module="system", parameters={"ledger": ledger}),
        AITask(id="unrelated", type="fault_flaky", module="system", parameters={"ledger": ledger}),
    ]
    chain = TaskChain(
        goal=UserGoal(description="skip"),
        tasks=tasks,
        dependencies=[
            TaskDependency.model_validate(
                {"from": "orphan", "to": "needs_it", "type": "data_flow"}
            ),
        ],
    )
    run_id, result = _run(embedded, chain)
    # repair (a retry) -> no retries left -> skipped with a reason; the run goes on
    assert result.status is RunStatus.PARTIAL
    failures = {f.task_id: f for f in result.failed_tasks}
    assert failures["orphan"].final_status.value == "skipped"
    assert [a.strategy for a in failures["orphan"].recovery_attempts] == [
        RecoveryType.CONTEXT_REPAIR,
        RecoveryType.SKIP_AND_CONTINUE,
    ]
    assert failures["needs_it"].final_status.value == "skipped"
    assert "upstream task orphan was skipped" in failures["needs_it"].error.message
    assert [t.task_id for t in result.completed_tasks] == ["unrelated"]
    (orphan,) = [t for t in embedded.status(run_id).tasks if t.task_id == "orphan"]
    assert orphan.reason is not None
    assert "skipped after dependency_failure" in orphan.reason
