"""Embedded run locks: a run held by a live process is seen as held from another one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.run_locks import EmbeddedRunLocks
from tasks.builtin import default_registry
from tests.support.chains import build_chain, step_task
from tests.support.plugin import register

RUN = "run_0123456789abcdef"

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from orchestrator.run_locks import EmbeddedRunLocks

    locks = EmbeddedRunLocks(Path(sys.argv[1]))
    locks.hold(sys.argv[2])
    print("held", flush=True)
    sys.stdin.read()
    """
)


def test_a_lock_held_by_a_live_process_is_seen_until_it_exits(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), RUN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        assert EmbeddedRunLocks(tmp_path).held_elsewhere(RUN) is True
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
    # The kernel dropped the lock with the process; its file stays behind, unlocked.
    assert (tmp_path / f"{RUN}.lock").exists()
    assert EmbeddedRunLocks(tmp_path).held_elsewhere(RUN) is False


def test_released_runs_leave_no_file_and_own_runs_are_not_elsewhere(tmp_path: Path) -> None:
    locks = EmbeddedRunLocks(tmp_path)
    locks.hold(RUN)
    assert locks.held_elsewhere(RUN) is False  # this process runs it
    assert EmbeddedRunLocks(tmp_path).held_elsewhere(RUN) is True  # another open file
    locks.release(RUN)
    assert not (tmp_path / f"{RUN}.lock").exists()
    assert EmbeddedRunLocks(tmp_path).held_elsewhere(RUN) is False


def test_only_run_ids_become_file_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a run id"):
        EmbeddedRunLocks(tmp_path).hold("../../etc/passwd")


def test_an_id_that_is_not_a_run_id_is_never_held_elsewhere(tmp_path: Path) -> None:
    # sync probes every run of history: an odd id must read as "not held", not raise.
    assert EmbeddedRunLocks(tmp_path).held_elsewhere("../../etc/passwd") is False
    assert EmbeddedRunLocks(tmp_path).held_elsewhere("RUN-legacy-42") is False


def test_an_embedded_run_is_held_before_history_records_it(tmp_path: Path) -> None:
    # Another process's sync reads history: a run it finds there must already be held,
    # or it would be failed as left behind by a dead process while it starts.
    running = tmp_path / "data" / "running"
    held_at_insert: list[list[str]] = []

    def on_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO RUNS"):
            locks = EmbeddedRunLocks(running)
            ids = sorted(p.stem for p in running.glob("*.lock")) if running.exists() else []
            held_at_insert.append([i for i in ids if locks.held_elsewhere(i)])

    chain = build_chain([step_task("task_001", value="a")], [])
    registry = default_registry()
    register(registry)
    with Orchestrator.from_settings(Settings(data_dir=tmp_path / "data"), registry) as orch:
        event.listen(Engine, "before_cursor_execute", on_execute)
        try:
            run_id = orch.submit(chain)
        finally:
            event.remove(Engine, "before_cursor_execute", on_execute)
        orch.wait(run_id, timeout_s=60)
    assert held_at_insert == [[run_id]]
