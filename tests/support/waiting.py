"""Waiting on a run's event stream for a task to reach a state (bounded, never a sleep)."""

from __future__ import annotations

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
