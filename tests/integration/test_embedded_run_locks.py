"""The embedded mode's run locks: held while a run may run here, dropped once it is over."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.models import RunState, TaskChain, UserGoal
from orchestrator.run_locks import EmbeddedRunLocks
from tasks.builtin import default_registry
from tests.support.chains import step_task
from tests.support.plugin import register


def test_a_run_polled_to_its_end_frees_its_lock_at_the_next_submit(tmp_path: Path) -> None:
    registry = default_registry()
    register(registry)
    data_dir = tmp_path / "data"
    other_process = EmbeddedRunLocks(data_dir.resolve() / "running")
    chain = TaskChain(goal=UserGoal(description="one step"), tasks=[step_task("task_001")])
    with Orchestrator.from_settings(Settings(data_dir=data_dir), registry) as orch:
        # Given a run this process submitted and only watched (never waited for)
        first = orch.submit(chain)
        assert other_process.held_elsewhere(first)
        for _event in orch.watch(first, timeout_s=30):
            pass  # the stream ends with the run
        assert orch.status(first).state is RunState.COMPLETED
        # When it submits another run
        second = orch.submit(chain)
        # Then the finished run's lock is gone, the new one's is held
        assert not other_process.held_elsewhere(first)
        assert not (data_dir / "running" / f"{first}.lock").exists()
        assert other_process.held_elsewhere(second)
        orch.wait(second, timeout_s=30)
    # And closing the orchestrator frees every lock it held
    assert not other_process.held_elsewhere(second)
