"""Gathering what sync decides on: the broker, the workers, the live context, history.

The order of the reads is what keeps a healthy run from being judged stuck: the queues
first, then the workers, then the unacknowledged store, and the runs' live state last. A
message that moves between the reads (a task finished and its successor was sent) leaves
a fresh event in the run's live context, read after, so the run falls in the grace period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator.context import utcnow
from orchestrator.history import RunRecord
from orchestrator.history.records import history_task_states
from orchestrator.models import TaskState
from orchestrator.models.params import SyncTarget
from orchestrator.reconcile.broker import (
    broker_is_readable,
    queued_items,
    unacked_items,
    worker_items,
)
from orchestrator.reconcile.decisions import RunView, SyncObservation, TaskView, WorkItem
from orchestrator.run_locks import embedded_run_locks

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime


def _latest(*times: datetime | None) -> datetime:
    return max(t for t in times if t is not None)


def run_view(runtime: Runtime, record: RunRecord) -> RunView:
    """The run as the live context shows it, or as history does when that is gone."""
    context = runtime.context
    meta = context.run_meta(record.user_id, record.run_id)
    waiting: list[str] = []
    if meta is not None:
        states = context.task_states(record.user_id, record.run_id)
        activity = [meta.submitted_at, meta.started_at, meta.finished_at]
        activity.append(context.last_event_at(record.user_id, record.run_id))
        for status in states.values():
            if status.state is not TaskState.PARKED:
                continue
            parked = runtime.parking.get(record.run_id, status.task_id)
            if parked is not None and parked.waiting:
                waiting.append(status.task_id)
            elif parked is not None:
                # Released just now: its message may be on its way to a queue.
                activity.append(parked.decided_at)
    else:
        attempts = runtime.history.attempts(record.run_id)
        states = history_task_states(record, attempts)
        activity = [record.submitted_at, record.started_at, record.finished_at]
        activity += [a.finished_at or a.started_at for a in attempts]
        waiting = [p.task_id for p in runtime.parking.waiting(run_id=record.run_id)]
    # History's own times count too: it is written first on submit and on finish.
    activity += [record.submitted_at, record.started_at, record.finished_at]
    for status in states.values():
        activity += [status.started_at, status.finished_at]
    upstream: dict[str, list[str]] = {}
    for dependency in record.chain.dependencies:
        upstream.setdefault(dependency.to_task, []).append(dependency.from_task)
    return RunView(
        run_id=record.run_id,
        user_id=record.user_id,
        history_state=record.state,
        history_finished_at=record.finished_at,
        live_state=None if meta is None else meta.state,
        tasks=[
            TaskView(
                task_id=s.task_id,
                state=s.state,
                upstream=upstream.get(s.task_id, []),
                worker=s.worker,
                started_at=s.started_at,
            )
            for s in states.values()
        ],
        last_activity_at=_latest(*activity),
        waiting_task_ids=waiting,
        held_elsewhere=(
            runtime.settings.embedded
            and meta is None
            and embedded_run_locks(runtime.settings).held_elsewhere(record.run_id)
        ),
    )


def observe(
    runtime: Runtime,
    *,
    targets: list[SyncTarget],
    user_id: str | None,
    excluded_run_ids: list[str],
    grace_s: float,
    inspect_timeout_s: float,
    max_runs: int,
) -> SyncObservation:
    """Everything ``plan_sync`` needs, read in the order the module docstring explains."""
    settings = runtime.settings
    now = utcnow()
    work: list[WorkItem] = []
    broker_visible = False
    queues_complete = True
    answered: list[str] = []
    if not settings.embedded:
        app = runtime.celery
        broker_visible = broker_is_readable(app)
        if broker_visible:
            queued, queues_complete = queued_items(app)
            held, answered = worker_items(app, inspect_timeout_s)
            work += [*queued, *held, *unacked_items(app)]
    records = runtime.history.runs_to_reconcile(
        finished_after=now - timedelta(seconds=settings.context_ttl_s),
        user_id=user_id,
        limit=max_runs,
    )
    return SyncObservation(
        now=now,
        grace_s=grace_s,
        context_ttl_s=settings.context_ttl_s,
        embedded=settings.embedded,
        history_is_local=settings.database_url is None,
        targets=targets,
        broker_visible=broker_visible,
        queues_complete=queues_complete,
        workers_answered=answered,
        excluded_run_ids=excluded_run_ids,
        runs=[run_view(runtime, r) for r in records],
        work=work,
    )
