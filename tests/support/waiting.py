"""Bounded waits: on a run's event stream for a task's state, or on a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator import Orchestrator
from orchestrator.models import TaskState

TIMEOUT_S = 60


def wait_for_state(
    orch: Orchestrator, run_id: str, task_id: str, state: TaskState, nth: int = 1
) -> None:
    """Return when ``task_id`` enters ``state`` for the ``nth`` time (events replay from 0)."""
    seen = 0
    for event in orch.watch(run_id, timeout_s=TIMEOUT_S):
        if event.task_id == task_id and event.state == state.value:
            seen += 1
            if seen == nth:
                return
    pytest.fail(f"{task_id} never reached {state.value} {nth} time(s)")


#: How often wait_until re-checks its condition (it is bounded by ``timeout_s``).
POLL_INTERVAL_S = 0.05


def wait_until(
    condition: Callable[[], Any], *, timeout_s: float = 30.0, what: str = "condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)
