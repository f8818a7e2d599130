"""What sync reads from history: unfinished runs before recently finished ones."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.history import HistoryStore, upgrade
from orchestrator.models import ExecutionResult, RunState, RunStatus
from tests.integration.test_history import T0, make_chain, uid


@pytest.fixture(params=["postgresql", "sqlite"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("migrated_pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'history.db'}"
        upgrade(url)
    store = HistoryStore.from_url(url)
    yield store
    store.dispose()


def submit(store: HistoryStore, user: str, at_s: int) -> str:
    run_id = f"run_{uuid.uuid4().hex[:16]}"
    chain = make_chain()
    store.record_submission(
        run_id=run_id,
        user_id=user,
        goal=chain.goal,
        chain=chain,
        submitted_at=T0 + timedelta(seconds=at_s),
    )
    return run_id


def test_a_stuck_run_is_never_pushed_out_by_newer_finished_ones(history: HistoryStore) -> None:
    # Given an old run that never finished, then three newer runs that did
    user = uid("user")
    stuck = submit(history, user, 0)
    for at_s in (10, 20, 30):
        run_id = submit(history, user, at_s)
        result = ExecutionResult(chain_id="c", run_id=run_id, status=RunStatus.COMPLETED)
        history.record_run_finished(
            run_id=run_id,
            state=RunState.COMPLETED,
            result=result,
            finished_at=T0 + timedelta(seconds=at_s + 1),
        )
    # When sync reads at most two runs
    runs = history.runs_to_reconcile(finished_after=T0, user_id=user, limit=2)
    # Then the unfinished one comes first, then the most recently finished
    assert len(runs) == 2
    assert runs[0].run_id == stuck
    assert runs[1].state is RunState.COMPLETED
    assert runs[1].finished_at == T0 + timedelta(seconds=31)


def test_the_history_listing_stays_newest_submission_first(history: HistoryStore) -> None:
    # Given an older run that finished and a newer one still running
    user = uid("user")
    older = submit(history, user, 0)
    newer = submit(history, user, 10)
    result = ExecutionResult(chain_id="c", run_id=older, status=RunStatus.COMPLETED)
    history.record_run_finished(
        run_id=older, state=RunState.COMPLETED, result=result, finished_at=T0
    )
    # Then `orchestrator history` lists by submission, whatever finished (unlike sync)
    assert [r.run_id for r in history.list_runs(user_id=user)] == [newer, older]
    finished_late = submit(history, user, 20)
    history.record_run_finished(
        run_id=finished_late,
        state=RunState.COMPLETED,
        result=ExecutionResult(chain_id="c", run_id=finished_late, status=RunStatus.COMPLETED),
        finished_at=T0 + timedelta(seconds=21),
    )
    assert [r.run_id for r in history.list_runs(user_id=user)] == [finished_late, newer, older]
