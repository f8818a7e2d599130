"""What sync decides, as a pure function of what it observed (no broker, no I/O).

The observation is plain data: each run as history and the live context show it, and
every message of a run found on a live worker, waiting in a queue, or left unacknowledged
in the broker by a worker that is gone. ``plan_sync`` turns it into findings (one per run
worth mentioning) and the repairs to apply, in order.

No verdict that leads to a repair is given on a run with any sign of life within
``grace_s`` (writes in flight: history is written before the live context on submit and
on finish). When a run is *stuck* -- the live context (or history) says it is pending,
running or paused, yet no message of it is on any live worker or in any queue, it has no
parked task, and nothing happened in it for ``grace_s`` -- one of three repairs applies:

- its message is still in the broker's unacknowledged store, and the worker that took it
  is certainly gone: the message was delivered longer ago than its hard time limit plus
  the grace (a live worker would have killed the task by then), or that worker answered
  the inspection without it (it restarted). Then it is put back on its queue (what the
  broker itself does only after the visibility timeout). The message carries the rest of
  the canvas, so the run goes on, with its ids, on the next worker of that queue.
  Redelivery is safe: side effects are keyed in the effect ledger, as for any redelivery.
  Otherwise its worker may only be slow to answer: the run is reported, not repaired.
- every task already ended (only the final step was lost): finalize the run now.
- the message is gone (broker data lost, or the embedded process exited): the canvas
  continuation went with it, so the run is failed with a reason naming the lost tasks.

What cannot be seen is not judged (UNOBSERVABLE): a broker other than Redis, a queue too
long to read whole, unacknowledged messages while no worker at all answered.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from orchestrator.models import RunState, TaskState
from orchestrator.models.base import StrictModel
from orchestrator.models.params import SyncTarget

#: Why a run of a process that exited is failed (embedded mode: its workers died with it).
EMBEDDED_EXIT_REASON = "the embedded process that ran it exited"


class Where(StrEnum):
    """Where a message of a run was seen."""

    WORKER = "worker"  # active, reserved or scheduled on a worker that answered
    QUEUE = "queue"  # waiting in a queue
    UNACKED = "unacked"  # delivered to a worker that never acknowledged it


class WorkItem(StrictModel):
    """One Celery message of a run."""

    celery_id: str
    run_id: str
    where: Where
    queue: str | None = None
    #: The broker's delivery tag (only for UNACKED: what restoring it needs).
    delivery_tag: str | None = None
    #: When a worker took it from its queue (UNACKED: kombu's ``unacked_index``).
    delivered_at: datetime | None = None
    #: The task's hard time limit from the message (None: it has none).
    hard_time_limit_s: float | None = None


class TaskView(StrictModel):
    task_id: str
    state: TaskState
    #: The tasks this one depends on (to tell which tasks could have been running).
    upstream: list[str] = Field(default_factory=list)
    #: The worker (node name) that started its latest attempt, and when.
    worker: str | None = None
    started_at: datetime | None = None


class RunView(StrictModel):
    """One run as sync sees it: history's record and the live context (if any)."""

    run_id: str
    user_id: str
    history_state: RunState
    history_finished_at: datetime | None = None
    #: None when the run has no live context (expired, or lost with Redis).
    live_state: RunState | None = None
    #: Task states from the live context, or from history's attempts when it is missing.
    tasks: list[TaskView] = Field(default_factory=list)
    #: The latest sign of life: an event, a task start or end, a decision on a parked task.
    last_activity_at: datetime
    #: Tasks parked and still waiting for a person or for resume.
    waiting_task_ids: list[str] = Field(default_factory=list)
    #: Embedded mode: another live process holds the run's lock (it still runs it).
    held_elsewhere: bool = False


class SyncObservation(StrictModel):
    now: datetime
    grace_s: float = Field(ge=0)
    context_ttl_s: int = Field(gt=0)
    #: Embedded mode: the workers live in the process that submitted the run.
    embedded: bool
    #: Embedded mode: history is this data dir's own SQLite file, so every process that
    #: can run its runs takes its run locks in the same directory.
    history_is_local: bool = True
    targets: list[SyncTarget]
    #: The broker's queues and unacknowledged store could be read (Redis transport).
    broker_visible: bool
    #: Every queue was read whole (False: one was longer than the scan reads).
    queues_complete: bool = True
    #: Node names of the workers that answered the inspection.
    workers_answered: list[str] = Field(default_factory=list)
    excluded_run_ids: list[str] = Field(default_factory=list)
    runs: list[RunView] = Field(default_factory=list)
    work: list[WorkItem] = Field(default_factory=list)


class Verdict(StrEnum):
    HEALTHY = "healthy"
    WAITING = "waiting"  # parked: paused or waiting for approval
    TOO_RECENT = "too_recent"  # not judged: something happened within the grace period
    STUCK = "stuck"
    CONTEXT_MISSING = "context_missing"
    CONTEXT_STALE = "context_stale"
    ORPHANED = "orphaned"  # embedded: the process that ran it exited
    UNOBSERVABLE = "unobservable"  # the broker cannot be read: not judged
    EXCLUDED = "excluded"  # the sync's own run


class RepairKind(StrEnum):
    REBUILD_CONTEXT = "rebuild_context"
    MARK_LIVE_FINISHED = "mark_live_finished"
    RESTORE_MESSAGES = "restore_messages"
    FINALIZE_RUN = "finalize_run"
    FAIL_RUN = "fail_run"


#: Which SyncServicesParams target each repair serves.
TARGET_OF: dict[RepairKind, SyncTarget] = {
    RepairKind.REBUILD_CONTEXT: "context",
    RepairKind.MARK_LIVE_FINISHED: "context",
    RepairKind.RESTORE_MESSAGES: "history",
    RepairKind.FINALIZE_RUN: "history",
    RepairKind.FAIL_RUN: "history",
}


class RepairAction(StrictModel):
    kind: RepairKind
    run_id: str
    user_id: str
    reason: str
    #: The tasks the repair is about (lost, restored, failed).
    task_ids: list[str] = Field(default_factory=list)
    delivery_tags: list[str] = Field(default_factory=list)


class RunFinding(StrictModel):
    run_id: str
    user_id: str
    verdict: Verdict
    detail: str


class SyncPlan(StrictModel):
    findings: list[RunFinding] = Field(default_factory=list)
    actions: list[RepairAction] = Field(default_factory=list)


def task_of(celery_id: str, run_id: str) -> str:
    """The run's task a Celery id names (``<run>:<task>[:restartN]``), else the id itself."""
    prefix = f"{run_id}:"
    if celery_id.startswith(prefix):
        return celery_id[len(prefix) :].split(":", 1)[0]
    return celery_id


def lost_tasks(tasks: list[TaskView]) -> list[str]:
    """The tasks a lost worker was running: those said to run; else, when only history
    is left (it records attempts as they end), the unfinished tasks whose upstream all
    ended -- the ones that could have been running; else every unfinished one."""
    in_flight = [t.task_id for t in tasks if t.state in (TaskState.RUNNING, TaskState.RETRYING)]
    if in_flight:
        return in_flight
    ended = {t.task_id for t in tasks if t.state.is_final}
    unfinished = [t for t in tasks if not t.state.is_final]
    frontier = [t.task_id for t in unfinished if all(u in ended for u in t.upstream)]
    return frontier or [t.task_id for t in unfinished]


def plan_sync(obs: SyncObservation) -> SyncPlan:
    """Findings and repairs for every observed run (pure; see the module docstring)."""
    work: dict[str, list[WorkItem]] = defaultdict(list)
    for item in obs.work:
        work[item.run_id].append(item)
    plan = SyncPlan()
    for run in obs.runs:
        findings, actions = _judge(obs, run, work.get(run.run_id, []))
        plan.findings.extend(findings)
        plan.actions.extend(a for a in actions if TARGET_OF[a.kind] in obs.targets)
    return plan


def _finding(run: RunView, verdict: Verdict, detail: str) -> RunFinding:
    return RunFinding(run_id=run.run_id, user_id=run.user_id, verdict=verdict, detail=detail)


def _action(run: RunView, kind: RepairKind, reason: str, **fields: list[str]) -> RepairAction:
    return RepairAction(kind=kind, run_id=run.run_id, user_id=run.user_id, reason=reason, **fields)


def _idle_s(obs: SyncObservation, run: RunView) -> float:
    return (obs.now - run.last_activity_at).total_seconds()


def _too_recent(obs: SyncObservation, run: RunView, what: str) -> RunFinding | None:
    """A TOO_RECENT finding when the run showed life within the grace period."""
    idle_s = _idle_s(obs, run)
    if idle_s >= obs.grace_s:
        return None
    detail = f"{what}, but active {idle_s:.0f} s ago (grace {obs.grace_s:g} s)"
    return _finding(run, Verdict.TOO_RECENT, detail)


def _judge(
    obs: SyncObservation, run: RunView, items: list[WorkItem]
) -> tuple[list[RunFinding], list[RepairAction]]:
    if run.run_id in obs.excluded_run_ids:
        return [_finding(run, Verdict.EXCLUDED, "the run this sync is part of")], []
    if obs.embedded:
        return _judge_embedded(obs, run)
    findings: list[RunFinding] = []
    actions: list[RepairAction] = []
    if run.live_state is None:
        expired_before = obs.now - timedelta(seconds=obs.context_ttl_s)
        finished = run.history_state.is_final
        finished_at = run.history_finished_at
        if finished and (finished_at is None or finished_at < expired_before):
            return [], []  # its live context expired as it should
        # Submitting writes history first: the live context may be on its way.
        recent = _too_recent(obs, run, "no live context")
        if recent is not None:
            return [recent], []
        detail = "no live context; rebuilt from history (state, tasks, outputs)"
        findings.append(_finding(run, Verdict.CONTEXT_MISSING, detail))
        actions.append(_action(run, RepairKind.REBUILD_CONTEXT, detail))
        if finished:
            return findings, actions
    elif run.history_state.is_final and not run.live_state.is_final:
        detail = f"history says {run.history_state.value}, the live context {run.live_state.value}"
        # Finishing writes history first: the live context may be about to follow.
        recent = _too_recent(obs, run, detail)
        if recent is not None:
            return [recent], []
        findings.append(_finding(run, Verdict.CONTEXT_STALE, detail))
        return findings, [_action(run, RepairKind.MARK_LIVE_FINISHED, detail)]
    elif run.live_state.is_final:
        return [], []
    finding, repairs = _judge_liveness(obs, run, items)
    return [*findings, finding], [*actions, *repairs]


def _judge_embedded(
    obs: SyncObservation, run: RunView
) -> tuple[list[RunFinding], list[RepairAction]]:
    if run.history_state.is_final:
        return [], []
    if run.live_state is not None:
        # Its workers are this process's own threads: they live as long as this code does.
        return [_finding(run, Verdict.HEALTHY, "running on this process's workers")], []
    if run.held_elsewhere:
        return [_finding(run, Verdict.HEALTHY, "running in another embedded process")], []
    if not obs.history_is_local:
        # A shared database (ORCH_DATABASE_URL) may hold runs of other hosts, data dirs or
        # a distributed deployment: no lock here says nothing about them.
        detail = "history is shared (ORCH_DATABASE_URL) and no broker is configured here"
        return [_finding(run, Verdict.UNOBSERVABLE, detail)], []
    recent = _too_recent(obs, run, "no process holds it")
    if recent is not None:
        return [recent], []
    lost = lost_tasks(run.tasks)
    return (
        [_finding(run, Verdict.ORPHANED, EMBEDDED_EXIT_REASON)],
        [_action(run, RepairKind.FAIL_RUN, EMBEDDED_EXIT_REASON, task_ids=lost)],
    )


def _judge_liveness(
    obs: SyncObservation, run: RunView, items: list[WorkItem]
) -> tuple[RunFinding, list[RepairAction]]:
    if not obs.broker_visible:
        return _finding(run, Verdict.UNOBSERVABLE, "the broker's queues cannot be read"), []
    alive = [i for i in items if i.where in (Where.WORKER, Where.QUEUE)]
    if alive:
        seen = {f"{task_of(i.celery_id, run.run_id)} ({i.where})" for i in alive}
        where = ", ".join(sorted(seen))
        return _finding(run, Verdict.HEALTHY, f"in progress: {where}"), []
    if run.waiting_task_ids:
        waiting = ", ".join(run.waiting_task_ids)
        return _finding(run, Verdict.WAITING, f"parked, waiting: {waiting}"), []
    if not obs.queues_complete:
        detail = "a queue is longer than sync reads: its message may be in the unread part"
        return _finding(run, Verdict.UNOBSERVABLE, detail), []
    recent = _too_recent(obs, run, "nothing alive")
    if recent is not None:
        return recent, []
    unacked = [i for i in items if i.where is Where.UNACKED and i.delivery_tag is not None]
    if unacked:
        return _judge_unacked(obs, run, unacked)
    if not [t for t in run.tasks if not t.state.is_final]:
        reason = "every task ended but the run's final step was lost; finalized now"
        return _finding(run, Verdict.STUCK, reason), [_action(run, RepairKind.FINALIZE_RUN, reason)]
    lost = lost_tasks(run.tasks)
    reason = (
        f"the worker running {', '.join(lost)} was lost and its message is gone from the "
        "broker, so the rest of the run cannot continue"
    )
    return _finding(run, Verdict.STUCK, reason), [
        _action(run, RepairKind.FAIL_RUN, reason, task_ids=lost)
    ]


def _worker_gone(obs: SyncObservation, run: RunView, item: WorkItem) -> str | None:
    """Why the worker that took ``item`` is certainly gone (None: it may be alive)."""
    if item.delivered_at is not None and item.hard_time_limit_s is not None:
        age_s = (obs.now - item.delivered_at).total_seconds()
        if age_s > item.hard_time_limit_s + obs.grace_s:
            return (
                f"taken {age_s:.0f} s ago, past its hard time limit of "
                f"{item.hard_time_limit_s:g} s and the grace"
            )
    task_id = task_of(item.celery_id, run.run_id)
    view = next((t for t in run.tasks if t.task_id == task_id), None)
    if (
        view is not None
        and view.worker is not None
        and view.worker in obs.workers_answered
        and view.started_at is not None
        and item.delivered_at is not None
        # Both times come from the clock of the worker that took this very message.
        and view.started_at >= item.delivered_at
    ):
        return f"{view.worker}, which took it, answered without it (restarted)"
    return None


def _judge_unacked(
    obs: SyncObservation, run: RunView, unacked: list[WorkItem]
) -> tuple[RunFinding, list[RepairAction]]:
    if not obs.workers_answered:
        detail = (
            f"{len(unacked)} message(s) are unacknowledged and no worker answered the "
            "inspection: the workers holding them may be alive"
        )
        return _finding(run, Verdict.UNOBSERVABLE, detail), []
    gone = {i.delivery_tag: _worker_gone(obs, run, i) for i in unacked}
    lost = [i for i in unacked if gone[i.delivery_tag]]
    held = sorted({task_of(i.celery_id, run.run_id) for i in unacked if i not in lost})
    waits = (
        f"{', '.join(held)}: taken by a worker that did not answer; it may be slow, so it "
        "is left alone until its hard time limit and the grace have passed"
    )
    if not lost:
        return _finding(run, Verdict.STUCK, waits), []
    tasks = sorted({task_of(i.celery_id, run.run_id) for i in lost})
    queues = ", ".join(sorted({i.queue or "?" for i in lost}))
    why = "; ".join(sorted({str(gone[i.delivery_tag]) for i in lost}))
    reason = (
        f"no live worker holds {', '.join(tasks)} ({why}); its message goes back on its "
        f"queue ({queues}) and the next worker runs it"
    )
    detail = f"{reason}. {waits}" if held else reason
    return _finding(run, Verdict.STUCK, detail), [
        _action(
            run,
            RepairKind.RESTORE_MESSAGES,
            reason,
            task_ids=tasks,
            delivery_tags=[i.delivery_tag for i in lost if i.delivery_tag],
        )
    ]
