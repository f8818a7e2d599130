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
    RecoveryType,
    RetryPolicy,
    RunStatus,
    TaskChain,
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
