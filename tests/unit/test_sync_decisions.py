"""Sync's decisions over plain observations: which runs are stuck, and which repair applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.models import RunState, TaskState
from orchestrator.models.params import SyncTarget
from orchestrator.reconcile import DEFAULT_INSPECT_TIMEOUT_S, MIN_GRACE_S, check_grace
from orchestrator.reconcile.decisions import (
    EMBEDDED_EXIT_REASON,
    RepairKind,
    RunView,
    SyncObservation,
    TaskView,
    Verdict,
    Where,
    WorkItem,
    lost_tasks,
    plan_sync,
    task_of,
)

NOW = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)
RUN = "run_0123456789abcdef"
LONG_AGO = NOW - timedelta(minutes=10)
GRACE_S = 30
#: The hard time limit of the unacknowledged test messages.
HARD_LIMIT_S = 330.0


def run_view(
    *,
    live: RunState | None = RunState.RUNNING,
    history: RunState = RunState.RUNNING,
    tasks: dict[str, TaskState] | None = None,
    last_activity: datetime = LONG_AGO,
    waiting: list[str] | None = None,
    finished_at: datetime | None = None,
) -> RunView:
    states = tasks if tasks is not None else {"task_001": TaskState.RUNNING}
    return RunView(
        run_id=RUN,
        user_id="alice",
        history_state=history,
        history_finished_at=finished_at,
        live_state=live,
        tasks=[TaskView(task_id=k, state=v) for k, v in states.items()],
        last_activity_at=last_activity,
        waiting_task_ids=waiting or [],
    )


def observe(
    run: RunView,
    *work: WorkItem,
    embedded: bool = False,
    targets: list[SyncTarget] | None = None,
    excluded: list[str] | None = None,
    broker_visible: bool = True,
    answered: list[str] | None = None,
    queues_complete: bool = True,
) -> SyncObservation:
    return SyncObservation(
        now=NOW,
        grace_s=GRACE_S,
        context_ttl_s=3600,
        embedded=embedded,
        targets=targets if targets is not None else ["context", "history"],
        broker_visible=broker_visible,
        queues_complete=queues_complete,
        workers_answered=answered if answered is not None else ["system@host"],
        excluded_run_ids=excluded or [],
        runs=[run],
        work=list(work),
    )


def item(
    where: Where,
    task_id: str = "task_001",
    tag: str | None = None,
    delivered_at: datetime | None = None,
) -> WorkItem:
    unacked = where is Where.UNACKED
    return WorkItem(
        celery_id=f"{RUN}:{task_id}",
        run_id=RUN,
        where=where,
        queue="portfolio",
        delivery_tag=tag,
        # By default delivered long enough ago that no live worker could still run it.
        delivered_at=(delivered_at or NOW - timedelta(hours=1)) if unacked else None,
        hard_time_limit_s=HARD_LIMIT_S if unacked else None,
    )


def verdict_of(obs: SyncObservation) -> Verdict:
    (finding,) = plan_sync(obs).findings
    return finding.verdict


def test_a_run_whose_task_is_on_a_live_worker_is_healthy_and_left_alone() -> None:
    plan = plan_sync(observe(run_view(), item(Where.WORKER), item(Where.UNACKED, tag="t1")))
    assert [f.verdict for f in plan.findings] == [Verdict.HEALTHY]
    assert plan.actions == []


def test_a_queued_message_keeps_a_run_healthy() -> None:
    assert verdict_of(observe(run_view(), item(Where.QUEUE))) is Verdict.HEALTHY


def test_a_parked_run_is_waiting_not_stuck() -> None:
    obs = observe(run_view(tasks={"task_001": TaskState.PARKED}, waiting=["task_001"]))
    assert verdict_of(obs) is Verdict.WAITING
    assert plan_sync(obs).actions == []


def test_recent_activity_is_not_judged() -> None:
    obs = observe(run_view(last_activity=NOW - timedelta(seconds=5)))
    assert verdict_of(obs) is Verdict.TOO_RECENT
    assert plan_sync(obs).actions == []


def test_a_lost_task_still_unacknowledged_is_restored() -> None:
    plan = plan_sync(observe(run_view(), item(Where.UNACKED, tag="tag-1")))
    assert [f.verdict for f in plan.findings] == [Verdict.STUCK]
    (action,) = plan.actions
    assert action.kind is RepairKind.RESTORE_MESSAGES
    assert action.delivery_tags == ["tag-1"]
    assert action.task_ids == ["task_001"]
    assert "portfolio" in action.reason


def test_a_lost_task_whose_message_is_gone_fails_the_run_naming_it() -> None:
    tasks = {"task_001": TaskState.SUCCEEDED, "task_002": TaskState.RUNNING}
    tasks["task_003"] = TaskState.PENDING
    (action,) = plan_sync(observe(run_view(tasks=tasks))).actions
    assert action.kind is RepairKind.FAIL_RUN
    assert action.task_ids == ["task_002"]
    assert "task_002" in action.reason and "gone" in action.reason


def test_a_run_whose_tasks_all_ended_is_finalized() -> None:
    obs = observe(run_view(tasks={"task_001": TaskState.SUCCEEDED}))
    (action,) = plan_sync(obs).actions
    assert action.kind is RepairKind.FINALIZE_RUN


def test_missing_live_context_is_rebuilt_then_the_run_is_judged() -> None:
    obs = observe(run_view(live=None), item(Where.UNACKED, tag="tag-9"))
    plan = plan_sync(obs)
    assert [f.verdict for f in plan.findings] == [Verdict.CONTEXT_MISSING, Verdict.STUCK]
    assert [a.kind for a in plan.actions] == [
        RepairKind.REBUILD_CONTEXT,
        RepairKind.RESTORE_MESSAGES,
    ]


def test_a_recently_finished_run_without_live_context_is_rebuilt_only() -> None:
    run = run_view(live=None, history=RunState.COMPLETED, finished_at=NOW - timedelta(minutes=5))
    plan = plan_sync(observe(run))
    assert [a.kind for a in plan.actions] == [RepairKind.REBUILD_CONTEXT]


def test_a_run_finished_before_the_context_ttl_is_not_rebuilt() -> None:
    run = run_view(live=None, history=RunState.COMPLETED, finished_at=NOW - timedelta(days=2))
    plan = plan_sync(observe(run))
    assert plan.findings == [] and plan.actions == []


def test_live_context_behind_history_is_marked_finished() -> None:
    run = run_view(history=RunState.COMPLETED, finished_at=NOW)
    (action,) = plan_sync(observe(run)).actions
    assert action.kind is RepairKind.MARK_LIVE_FINISHED


def test_targets_limit_the_repairs() -> None:
    obs = observe(run_view(live=None), item(Where.UNACKED, tag="t"), targets=["context"])
    assert [a.kind for a in plan_sync(obs).actions] == [RepairKind.REBUILD_CONTEXT]
    obs = observe(run_view(live=None), item(Where.UNACKED, tag="t"), targets=["history"])
    assert [a.kind for a in plan_sync(obs).actions] == [RepairKind.RESTORE_MESSAGES]


def test_the_sync_tasks_own_run_is_never_judged() -> None:
    plan = plan_sync(observe(run_view(), excluded=[RUN]))
    assert [f.verdict for f in plan.findings] == [Verdict.EXCLUDED]
    assert plan.actions == []


def test_an_unreadable_broker_judges_nothing() -> None:
    plan = plan_sync(observe(run_view(), broker_visible=False))
    assert [f.verdict for f in plan.findings] == [Verdict.UNOBSERVABLE]
    assert plan.actions == []


def test_embedded_runs_of_an_exited_process_fail_with_that_reason() -> None:
    tasks = {"task_001": TaskState.SUCCEEDED, "task_002": TaskState.PENDING}
    plan = plan_sync(observe(run_view(live=None, tasks=tasks), embedded=True))
    (action,) = plan.actions
    assert action.kind is RepairKind.FAIL_RUN
    assert action.reason == EMBEDDED_EXIT_REASON
    assert action.task_ids == ["task_002"]


def test_embedded_runs_of_this_process_are_healthy() -> None:
    obs = observe(run_view(), embedded=True)
    assert verdict_of(obs) is Verdict.HEALTHY
    assert plan_sync(obs).actions == []


def test_embedded_runs_another_live_process_holds_are_healthy() -> None:
    view = run_view(live=None).model_copy(update={"held_elsewhere": True})
    obs = observe(view, embedded=True)
    assert verdict_of(obs) is Verdict.HEALTHY
    assert plan_sync(obs).actions == []


def test_embedded_runs_in_a_shared_history_are_never_failed_from_here() -> None:
    tasks = {"task_001": TaskState.PENDING}
    obs = observe(run_view(live=None, tasks=tasks), embedded=True).model_copy(
        update={"history_is_local": False}
    )
    assert verdict_of(obs) is Verdict.UNOBSERVABLE
    assert plan_sync(obs).actions == []


def test_task_of_reads_run_task_and_restart_ids() -> None:
    assert task_of(f"{RUN}:task_002", RUN) == "task_002"
    assert task_of(f"{RUN}:task_002:restart1", RUN) == "task_002"
    assert task_of("0b3e-uuid", RUN) == "0b3e-uuid"


def test_from_history_alone_the_lost_tasks_are_those_whose_upstream_ended() -> None:
    # History records attempts as they end: a running task looks pending there.
    tasks = [
        TaskView(task_id="task_001", state=TaskState.SUCCEEDED),
        TaskView(task_id="task_002", state=TaskState.PENDING, upstream=["task_001"]),
        TaskView(task_id="task_003", state=TaskState.PENDING, upstream=["task_002"]),
    ]
    assert lost_tasks(tasks) == ["task_002"]
    running = [*tasks[:2], TaskView(task_id="task_003", state=TaskState.RUNNING)]
    assert lost_tasks(running) == ["task_003"]


def test_an_unacked_message_of_a_worker_that_may_be_slow_is_reported_not_restored() -> None:
    # Delivered 2 minutes ago, hard time limit 330 s: a live worker that did not answer
    # the 1 s inspection may still be running it. A second copy would run it twice.
    young = item(Where.UNACKED, tag="t1", delivered_at=NOW - timedelta(minutes=2))
    plan = plan_sync(observe(run_view(), young))
    assert [f.verdict for f in plan.findings] == [Verdict.STUCK]
    assert "did not answer" in plan.findings[0].detail
    assert plan.actions == []


def test_an_unacked_message_older_than_its_time_limit_and_the_grace_is_restored() -> None:
    just_inside = NOW - timedelta(seconds=HARD_LIMIT_S + GRACE_S - 1)
    inside = item(Where.UNACKED, "task_001", "t", just_inside)
    assert plan_sync(observe(run_view(), inside)).actions == []
    past = NOW - timedelta(seconds=HARD_LIMIT_S + GRACE_S + 1)
    (action,) = plan_sync(observe(run_view(), item(Where.UNACKED, "task_001", "t", past))).actions
    assert action.kind is RepairKind.RESTORE_MESSAGES and action.delivery_tags == ["t"]
    assert "past its hard time limit" in action.reason


def test_an_unacked_message_without_a_time_limit_waits_for_its_worker() -> None:
    timeless = item(Where.UNACKED, tag="t").model_copy(update={"hard_time_limit_s": None})
    assert plan_sync(observe(run_view(), timeless)).actions == []


def _started(worker: str, at: datetime) -> RunView:
    view = run_view()
    task = view.tasks[0].model_copy(update={"worker": worker, "started_at": at})
    return view.model_copy(update={"tasks": [task]})


def test_an_unacked_message_whose_worker_answered_without_it_is_restored() -> None:
    # The worker that took it restarted (same node name): it answers, but not with it.
    delivered = NOW - timedelta(minutes=2)
    view = _started("portfolio@host", delivered + timedelta(milliseconds=5))
    unacked = item(Where.UNACKED, tag="t1", delivered_at=delivered)
    plan = plan_sync(observe(view, unacked, answered=["portfolio@host", "system@host"]))
    (action,) = plan.actions
    assert action.kind is RepairKind.RESTORE_MESSAGES and action.delivery_tags == ["t1"]
    assert "answered without it" in action.reason
    # An attempt started before this delivery was another worker's: no proof of anything
    earlier = _started("portfolio@host", delivered - timedelta(seconds=1))
    assert plan_sync(observe(earlier, unacked, answered=["portfolio@host"])).actions == []


def test_unacked_messages_while_no_worker_answered_are_not_judged() -> None:
    plan = plan_sync(observe(run_view(), item(Where.UNACKED, tag="t1"), answered=[]))
    assert [f.verdict for f in plan.findings] == [Verdict.UNOBSERVABLE]
    assert plan.actions == []


def test_a_queue_not_read_whole_leaves_message_less_runs_unjudged() -> None:
    plan = plan_sync(observe(run_view(), queues_complete=False))
    assert [f.verdict for f in plan.findings] == [Verdict.UNOBSERVABLE]
    assert plan.actions == []
    # A run whose message was read is still seen alive
    assert verdict_of(observe(run_view(), item(Where.QUEUE), queues_complete=False)) is (
        Verdict.HEALTHY
    )


def test_no_repair_is_decided_within_the_grace_period() -> None:
    recent = NOW - timedelta(seconds=GRACE_S - 1)
    # history says finished, the live context not yet: finalize_run is between its writes
    finishing = run_view(history=RunState.COMPLETED, finished_at=recent, last_activity=recent)
    # history knows the run, the live context not yet: submit is between its writes
    starting = run_view(live=None, history=RunState.PENDING, last_activity=recent)
    # embedded: recorded, not held yet by the process that submits it
    embedded = run_view(live=None, last_activity=recent)
    for obs in [observe(finishing), observe(starting), observe(embedded, embedded=True)]:
        plan = plan_sync(obs)
        assert [f.verdict for f in plan.findings] == [Verdict.TOO_RECENT]
        assert plan.actions == []


def test_a_repairing_sync_needs_a_grace_longer_than_the_inspection() -> None:
    check_grace(0, DEFAULT_INSPECT_TIMEOUT_S, dry_run=True)  # a dry run changes nothing
    with pytest.raises(ValueError, match="too short"):
        check_grace(0, DEFAULT_INSPECT_TIMEOUT_S, dry_run=False)
    check_grace(MIN_GRACE_S, DEFAULT_INSPECT_TIMEOUT_S, dry_run=False)
    with pytest.raises(ValueError, match="too short"):
        check_grace(MIN_GRACE_S, 5.0, dry_run=False)  # slower workers need a longer grace
    assert MIN_GRACE_S > DEFAULT_INSPECT_TIMEOUT_S + 3
