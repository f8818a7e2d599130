"""Runs on real workers, the real Redis broker and Postgres history."""

from __future__ import annotations

from datetime import datetime

import pytest
import redis

from orchestrator import ChainValidationError, Orchestrator, RunNotFound
from orchestrator.history import AuditAction
from orchestrator.models import (
    ErrorType,
    FailureStatus,
    Module,
    RunStatus,
    TaskState,
)
from tests.support.chains import build_chain, step_task

TIMEOUT_S = 60


def outputs(result_tasks: list) -> dict:  # type: ignore[type-arg]
    return {t.task_id: t.output for t in result_tasks}


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_diamond_branches_overlap_and_join_sees_both_outputs(orch: Orchestrator) -> None:
    # Given a diamond a -> (b, c) -> d whose branches each take 400 ms
    chain = build_chain(
        [
            step_task("a", value="A"),
            step_task("b", Module.PORTFOLIO, value="B", sleep_ms=400),
            step_task("c", Module.AI_ASSISTANT, value="C", sleep_ms=400),
            step_task("d", Module.WORKSPACE, value="D"),
        ],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
    )
    # When it runs
    result = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    # Then the branches ran at the same time and the join received both outputs
    assert result.status is RunStatus.COMPLETED
    out = outputs(result.completed_tasks)
    b, c = out["b"], out["c"]
    assert ts(b["started_at"]) < ts(c["finished_at"]) and ts(c["started_at"]) < ts(b["finished_at"])
    assert set(out["d"]["inputs"]) == {"b", "c"}
    assert out["d"]["inputs"]["b"]["value"] == "B" and out["d"]["inputs"]["c"]["value"] == "C"
    assert ts(out["d"]["started_at"]) >= max(ts(b["finished_at"]), ts(c["finished_at"]))


def test_non_series_parallel_n_dag_respects_every_dependency(orch: Orchestrator) -> None:
    # Given the "N" DAG A->C, A->D, B->D, which chain/group/chord cannot express exactly
    chain = build_chain(
        [
            step_task("A", value="a", sleep_ms=100),
            step_task("B", Module.PORTFOLIO, value="b"),
            step_task("C", Module.WORKSPACE, value="c"),
            step_task("D", Module.AI_ASSISTANT, value="d"),
        ],
        [("A", "C"), ("A", "D"), ("B", "D")],
    )
    result = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED
    out = outputs(result.completed_tasks)
    for parent, child in [("A", "C"), ("A", "D"), ("B", "D")]:
        assert ts(out[child]["started_at"]) >= ts(out[parent]["finished_at"])
    assert set(out["D"]["inputs"]) == {"A", "B"}
    assert set(out["C"]["inputs"]) == {"A"}


def test_failure_skips_dependents_and_unrelated_branch_runs(orch: Orchestrator) -> None:
    # Given a -> b(fails) -> c, and a -> d unrelated to b
    chain = build_chain(
        [
            step_task("a"),
            step_task("b", Module.PORTFOLIO, fail=True),
            step_task("c", Module.WORKSPACE),
            step_task("d", Module.AI_ASSISTANT, sleep_ms=50),
        ],
        [("a", "b"), ("b", "c"), ("a", "d")],
    )
    run_id = orch.submit(chain)
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    # Then the run is partial: b failed, c skipped because of b, a and d succeeded
    assert result.status is RunStatus.PARTIAL
    assert {t.task_id for t in result.completed_tasks} == {"a", "d"}
    failures = {f.task_id: f for f in result.failed_tasks}
    assert failures["b"].final_status is FailureStatus.FAILED
    assert "injected failure in b" in failures["b"].error.message
    assert failures["c"].final_status is FailureStatus.SKIPPED
    assert failures["c"].error.type is ErrorType.DEPENDENCY_FAILURE
    assert "upstream task b failed" in failures["c"].error.message
    status = orch.status(run_id)
    assert {t.task_id: t.state for t in status.tasks} == {
        "a": TaskState.SUCCEEDED,
        "b": TaskState.FAILED,
        "c": TaskState.SKIPPED,
        "d": TaskState.SUCCEEDED,
    }


def test_every_task_failing_gives_failed(orch: Orchestrator) -> None:
    chain = build_chain([step_task("only", fail=True)], [])
    assert orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S).status is RunStatus.FAILED


def test_failed_task_with_critical_precondition_aborts_the_rest(orch: Orchestrator) -> None:
    # Given p -> t1 (critical, fails) and p -> t2 (slow) -> t3, where t3 does not depend on t1
    chain = build_chain(
        [
            step_task("p"),
            step_task("t1", Module.PORTFOLIO, critical=True, fail=True),
            step_task("t2", Module.WORKSPACE, sleep_ms=600),
            step_task("t3", Module.AI_ASSISTANT),
        ],
        [("p", "t1"), ("p", "t2"), ("t2", "t3")],
    )
    result = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    failures = {f.task_id: f for f in result.failed_tasks}
    assert set(failures) == {"t1", "t3"}, result
    # Then t3 never ran: the run was aborted when t1 failed
    assert failures["t3"].final_status is FailureStatus.SKIPPED
    assert "run aborted" in failures["t3"].error.message and "t1" in failures["t3"].error.message
    assert result.status is RunStatus.PARTIAL


def test_cancel_stops_tasks_not_yet_started(orch: Orchestrator) -> None:
    # Given a slow first task followed by two more
    chain = build_chain(
        [
            step_task("slow", sleep_ms=1500),
            step_task("next", Module.PORTFOLIO),
            step_task("last", Module.WORKSPACE),
        ],
        [("slow", "next"), ("next", "last")],
    )
    run_id = orch.submit(chain)
    for event in orch.watch(run_id, timeout_s=TIMEOUT_S):
        if event.task_id == "slow" and event.state == "running":
            break
    # When the run is cancelled while the first task runs
    assert orch.cancel(run_id) is True
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    # Then the running task finishes, the rest never start, and the run says cancelled
    assert result.status is RunStatus.CANCELLED
    assert [t.task_id for t in result.completed_tasks] == ["slow"]
    states = {t.task_id: t.state for t in orch.status(run_id).tasks}
    assert states == {
        "slow": TaskState.SUCCEEDED,
        "next": TaskState.CANCELLED,
        "last": TaskState.CANCELLED,
    }
    assert orch.cancel(run_id) is False  # already finished
    actions = [e.action for e in orch.runtime.history.audit_log(run_id=run_id)]
    assert AuditAction.CANCEL_REQUESTED in actions


def test_each_task_runs_on_its_module_queue_and_history_is_complete(orch: Orchestrator) -> None:
    modules = list(Module)
    chain = build_chain(
        [step_task(f"t{i}", m) for i, m in enumerate(modules)],
        [(f"t{i}", f"t{i + 1}") for i in range(len(modules) - 1)],
    )
    run_id = orch.submit(chain)
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED
    history = orch.runtime.history
    attempts = {a.task_id: a for a in history.attempts(run_id)}
    assert set(attempts) == {f"t{i}" for i in range(len(modules))}
    for i, module in enumerate(modules):
        attempt = attempts[f"t{i}"]
        assert attempt.queue == module.queue
        assert attempt.state is TaskState.SUCCEEDED
        assert attempt.worker is not None and attempt.worker.startswith(f"{module.queue}@")
        assert attempt.started_at and attempt.finished_at
        assert attempt.duration_ms is not None and attempt.duration_ms >= 0
    record = history.get_run(run_id)
    assert record is not None and record.result is not None
    assert record.result.status is RunStatus.COMPLETED and record.state.value == "completed"
    assert record.chain == chain and record.finished_at is not None
    actions = [e.action for e in history.audit_log(run_id=run_id)]
    assert actions[0] is AuditAction.RUN_SUBMITTED and actions[-1] is AuditAction.RUN_FINISHED
    assert actions.count(AuditAction.TASK_STARTED) == len(modules)
    assert actions.count(AuditAction.TASK_FINISHED) == len(modules)
    assert [r.run_id for r in orch.history(limit=50)].count(run_id) == 1


def test_permission_refusal_is_a_permission_denied_failure(orch: Orchestrator) -> None:
    # guest is a viewer: monitor_health yes, backup_state no
    chain = build_chain([], []) if False else None
    from orchestrator.models import AITask, TaskChain, UserGoal

    chain = TaskChain(
        goal=UserGoal(description="guest backup"),
        tasks=[
            AITask(
                id="health",
                type="monitor_health",
                module="system",
                parameters={"checks": ["redis"]},
            ),
            AITask(id="backup", type="backup_state", module="system"),
        ],
    )
    run_id = orch.submit(chain, user="guest")
    result = orch.wait(run_id, timeout_s=TIMEOUT_S, user="guest")
    assert result.status is RunStatus.PARTIAL
    (failure,) = result.failed_tasks
    assert failure.task_id == "backup" and failure.error.type is ErrorType.PERMISSION_DENIED
    refused = [
        e
        for e in orch.runtime.history.audit_log(run_id=run_id)
        if e.action is AuditAction.TASK_REFUSED
    ]
    assert [e.task_id for e in refused] == ["backup"] and refused[0].user_id == "guest"


def test_users_only_reach_their_own_runs(orch: Orchestrator) -> None:
    run_id = orch.submit(build_chain([step_task("a")], []), user="alice")
    orch.wait(run_id, timeout_s=TIMEOUT_S, user="alice")
    with pytest.raises(RunNotFound):
        orch.status(run_id, user="bob")
    with pytest.raises(RunNotFound):
        orch.cancel(run_id, user="bob")
    assert run_id not in [r.run_id for r in orch.history(user="bob", limit=100)]
    assert orch.status(run_id, user="alice").run_id == run_id


def test_invalid_chain_never_reaches_the_broker(orch: Orchestrator, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    queues = ("workspace", "portfolio", "assistant", "system")
    before = {q: client.llen(q) for q in queues}
    runs_before = len(orch.history(limit=1000))
    chain = build_chain([step_task("a"), step_task("b")], [("a", "b"), ("b", "a")])
    with pytest.raises(ChainValidationError) as excinfo:
        orch.submit(chain)
    assert "cycle" in str(excinfo.value) and "a" in excinfo.value.problems[0].task_ids
    assert {q: client.llen(q) for q in queues} == before
    assert len(orch.history(limit=1000)) == runs_before
    # The refusal itself is in the audit log, with its problems
    rejected = [
        a
        for a in orch.runtime.history.audit_log(user_id="demo")
        if a.action is AuditAction.CHAIN_REJECTED and a.detail["chain_id"] == chain.id
    ]
    assert len(rejected) == 1
    assert "cycle" in rejected[0].detail["problems"][0]["message"]


def test_health_and_backup_are_real(orch: Orchestrator) -> None:
    from orchestrator.models import AITask, TaskChain, UserGoal

    chain = TaskChain(
        goal=UserGoal(description="health then backup"),
        tasks=[
            AITask(id="health", type="monitor_health", module="system"),
            AITask(id="backup", type="backup_state", module="system"),
        ],
        dependencies=[],
    )
    chain = chain.model_copy(
        update={
            "dependencies": build_chain(
                [step_task("health"), step_task("backup")], [("health", "backup")]
            ).dependencies
        }
    )
    run_id = orch.submit(chain)
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    out = outputs(result.completed_tasks)
    health = out["health"]
    assert health["healthy"] is True
    names = {c["name"] for c in health["checks"]}
    assert {"redis", "database", "broker", "workers:portfolio", "workers:system"} <= names
    import json
    from pathlib import Path

    backup = json.loads(Path(out["backup"]["path"]).read_text())
    assert backup["run"]["run_id"] == run_id
    assert backup["live_context"]["tasks"]["health"]["state"] == "succeeded"
    assert backup["live_context"]["outputs"]["health"]["healthy"] is True


def test_timeouts_beyond_the_visibility_window_are_refused(orch: Orchestrator) -> None:
    # 2000 s x 2.5 on a timeout retry would outlive the broker's 3600 s visibility
    # timeout, and Redis would hand the running task to a second worker.
    chain = build_chain([step_task("long")], [])
    chain = chain.model_copy(
        update={"tasks": [chain.tasks[0].model_copy(update={"timeout_s": 2000})]}
    )
    with pytest.raises(ChainValidationError) as excinfo:
        orch.submit(chain)
    (problem,) = excinfo.value.problems
    assert problem.task_ids == ("long",)
    assert "ORCH_VISIBILITY_TIMEOUT_S" in problem.message
