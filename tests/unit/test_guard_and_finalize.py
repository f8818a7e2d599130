"""The pure run rules: whether a task starts, how a run ends, how errors are classified."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from pydantic import ValidationError

from orchestrator.models import (
    AITask,
    ErrorType,
    FailureStatus,
    RunStatus,
    TaskChain,
    TaskDependency,
    TaskError,
    TaskState,
    TaskStatus,
    UserGoal,
)
from recovery.classify import FALLBACK_ERROR_TYPE, classify_exception, to_task_error
from tasks import errors
from tasks.finalize import run_status, summarize_run
from tasks.guard import Verdict, aborts_run, decide_start, input_sources, parents_of

USER = "alice"
SUBMITTED = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def task(task_id: str, **fields: Any) -> AITask:
    return AITask.model_validate(
        {"type": "monitor_health", "module": "system", **fields, "id": task_id}
    )


def make_chain(tasks: list[AITask], edges: list[tuple[str, str, str]]) -> TaskChain:
    return TaskChain(
        id="chain_rules",
        goal=UserGoal(description="rules"),
        tasks=tasks,
        dependencies=[
            TaskDependency.model_validate({"from": a, "to": b, "type": t}) for a, b, t in edges
        ],
    )


def status(task_id: str, state: TaskState, **fields: Any) -> TaskStatus:
    return TaskStatus(
        task_id=task_id, type="monitor_health", module="system", state=state, **fields
    )


# a -> c (data_flow), b -> c (prerequisite); x is unrelated
CHAIN = make_chain(
    [task("a"), task("b"), task("c"), task("x")],
    [("a", "c", "data_flow"), ("b", "c", "prerequisite")],
)
BOTH_DONE = {"a": status("a", TaskState.SUCCEEDED), "b": status("b", TaskState.SUCCEEDED)}


def decide(
    task_id: str,
    states: dict[str, TaskStatus],
    *,
    cancel: bool = False,
    abort: str | None = None,
    permitted: bool = True,
    chain: TaskChain = CHAIN,
):
    return decide_start(
        chain.task(task_id),
        chain,
        states,
        cancel_requested=cancel,
        abort_reason=abort,
        permitted=permitted,
        user_id=USER,
    )


# --- decide_start ------------------------------------------------------------------------------


def test_task_with_succeeded_parents_runs() -> None:
    decision = decide("c", BOTH_DONE)
    assert decision.verdict is Verdict.RUN
    assert decision.error_type is None


def test_root_task_runs() -> None:
    assert decide("a", {}).verdict is Verdict.RUN


def test_cancelled_run_cancels_the_task() -> None:
    decision = decide("c", BOTH_DONE, cancel=True)
    assert decision.verdict is Verdict.CANCEL
    assert "cancel" in decision.reason


def test_cancel_wins_over_abort_and_missing_permission() -> None:
    decision = decide("a", {}, cancel=True, abort="boom", permitted=False)
    assert decision.verdict is Verdict.CANCEL


def test_aborted_run_skips_with_the_abort_reason() -> None:
    decision = decide("x", {}, abort="task a was refused: no trading")
    assert decision.verdict is Verdict.SKIP
    assert "task a was refused: no trading" in decision.reason
    assert decision.error_type is ErrorType.DEPENDENCY_FAILURE


@pytest.mark.parametrize(
    ("upstream_state", "words"),
    [
        (TaskState.FAILED, "failed"),
        (TaskState.SKIPPED, "skipped"),
        (TaskState.CANCELLED, "cancelled"),
    ],
)
def test_task_whose_upstream_did_not_succeed_is_skipped_naming_it(
    upstream_state: TaskState, words: str
) -> None:
    states = {**BOTH_DONE, "b": status("b", upstream_state)}
    decision = decide("c", states)
    assert decision.verdict is Verdict.SKIP
    assert "b" in decision.reason.split()
    assert words in decision.reason
    assert decision.error_type is ErrorType.DEPENDENCY_FAILURE


def test_prerequisite_edge_failure_also_skips() -> None:
    # b -> c is a prerequisite edge (no data), its failure still skips c
    decision = decide("c", {**BOTH_DONE, "b": status("b", TaskState.FAILED)})
    assert decision.verdict is Verdict.SKIP
    assert "upstream task b failed" in decision.reason


def test_unrelated_branch_still_runs_after_a_failure() -> None:
    states = {"a": status("a", TaskState.FAILED), "b": status("b", TaskState.SUCCEEDED)}
    assert decide("x", states).verdict is Verdict.RUN
    assert decide("c", states).verdict is Verdict.SKIP


def test_not_permitted_is_refused_with_permission_denied() -> None:
    decision = decide("c", BOTH_DONE, permitted=False)
    assert decision.verdict is Verdict.REFUSE
    assert decision.error_type is ErrorType.PERMISSION_DENIED
    assert USER in decision.reason
    assert "monitor_health" in decision.reason


def test_skip_for_failed_upstream_comes_before_permission() -> None:
    decision = decide("c", {**BOTH_DONE, "a": status("a", TaskState.FAILED)}, permitted=False)
    assert decision.verdict is Verdict.SKIP


def test_unmet_output_precondition_skips() -> None:
    checker = task(
        "check",
        preconditions=[{"kind": "output_present", "task_id": "x", "description": "health report"}],
    )
    chain = make_chain([task("x"), checker], [])
    decision = decide("check", {"x": status("x", TaskState.FAILED)}, chain=chain)
    assert decision.verdict is Verdict.SKIP
    assert "x" in decision.reason
    assert "health report" in decision.reason
    assert (
        decide("check", {"x": status("x", TaskState.SUCCEEDED)}, chain=chain).verdict is Verdict.RUN
    )


def test_critical_precondition_marks_a_task_as_aborting_the_run() -> None:
    assert aborts_run(task("gate", preconditions=[{"critical": True}]))
    assert not aborts_run(task("gate", preconditions=[{"critical": False}]))
    assert not aborts_run(task("plain"))


def test_inputs_come_only_from_data_flow_and_validation_edges() -> None:
    chain = make_chain(
        [task("a"), task("b"), task("v"), task("c")],
        [("a", "c", "data_flow"), ("b", "c", "prerequisite"), ("v", "c", "validation")],
    )
    assert sorted(parents_of(chain, "c")) == ["a", "b", "v"]
    assert sorted(input_sources(chain, "c")) == ["a", "v"]


# --- run_status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "failures", "cancelled", "expected"),
    [
        (3, 0, False, RunStatus.COMPLETED),
        (2, 1, False, RunStatus.PARTIAL),
        (0, 3, False, RunStatus.FAILED),
        (2, 1, True, RunStatus.CANCELLED),
        (3, 0, True, RunStatus.CANCELLED),
    ],
)
def test_run_status_rule(results: int, failures: int, cancelled: bool, expected: RunStatus) -> None:
    assert run_status(results, failures, cancelled=cancelled) is expected


# --- summarize_run -------------------------------------------------------------------------------


def summarize(
    states: dict[str, TaskStatus],
    outputs: dict[str, Any] | None = None,
    *,
    cancel: bool = False,
    chain: TaskChain = CHAIN,
):
    return summarize_run(
        chain,
        "run_1",
        states,
        outputs or {},
        cancel_requested=cancel,
        submitted_at=SUBMITTED,
        finished_at=SUBMITTED + timedelta(seconds=2, milliseconds=500),
    )


def all_succeeded() -> dict[str, TaskStatus]:
    return {
        t: status(t, TaskState.SUCCEEDED, duration_ms=10.0 * (i + 1)) for i, t in enumerate("abcx")
    }


def test_all_succeeded_is_completed_with_outputs() -> None:
    outputs = {"a": {"healthy": True}, "c": {"score": 0.9}}
    result = summarize(all_succeeded(), outputs)
    assert result.status is RunStatus.COMPLETED
    assert result.chain_id == "chain_rules"
    assert result.run_id == "run_1"
    assert result.failed_tasks == []
    assert [r.task_id for r in result.completed_tasks] == ["a", "b", "c", "x"]
    by_id = {r.task_id: r for r in result.completed_tasks}
    assert by_id["a"].output == {"healthy": True}
    assert by_id["c"].output == {"score": 0.9}
    assert by_id["b"].duration_ms == 20.0
    assert result.duration_ms == pytest.approx(2500.0)


def skip_error(reason: str) -> TaskError:
    return TaskError(type=ErrorType.DEPENDENCY_FAILURE, message=reason)


def test_some_failed_some_succeeded_is_partial_with_skips_explained() -> None:
    boom = TaskError(type=ErrorType.SERVICE_DOWN, message="quotes service down")
    reason = "upstream task a failed"
    states = {
        "a": status("a", TaskState.FAILED, error=boom, attempt=3),
        "b": status("b", TaskState.SUCCEEDED),
        "c": status("c", TaskState.SKIPPED, error=skip_error(reason), reason=reason),
        "x": status("x", TaskState.SUCCEEDED),
    }
    result = summarize(states, {"b": {"ok": 1}, "x": {"ok": 2}})
    assert result.status is RunStatus.PARTIAL
    assert {r.task_id: r.output for r in result.completed_tasks} == {"b": {"ok": 1}, "x": {"ok": 2}}
    failures = {f.task_id: f for f in result.failed_tasks}
    assert set(failures) == {"a", "c"}
    assert failures["a"].final_status is FailureStatus.FAILED
    assert failures["a"].error.type is ErrorType.SERVICE_DOWN
    assert failures["a"].attempt_count == 3
    assert failures["c"].final_status is FailureStatus.SKIPPED
    assert failures["c"].error.message == reason


def test_nothing_succeeded_is_failed() -> None:
    reason = "upstream task a failed"
    states = {
        "a": status(
            "a", TaskState.FAILED, error=TaskError(type=ErrorType.TASK_TIMEOUT, message="too slow")
        ),
        "b": status(
            "b", TaskState.FAILED, error=TaskError(type=ErrorType.INVALID_INPUT, message="bad")
        ),
        "c": status("c", TaskState.SKIPPED, error=skip_error(reason), reason=reason),
        "x": status(
            "x", TaskState.FAILED, error=TaskError(type=ErrorType.SERVICE_DOWN, message="down")
        ),
    }
    result = summarize(states)
    assert result.status is RunStatus.FAILED
    assert result.completed_tasks == []
    assert len(result.failed_tasks) == 4


def test_cancelled_run_is_cancelled() -> None:
    reason = "run cancelled before this task started"
    states = {
        "a": status("a", TaskState.SUCCEEDED),
        "b": status("b", TaskState.SUCCEEDED),
        "c": status("c", TaskState.CANCELLED, error=skip_error(reason), reason=reason),
        "x": status("x", TaskState.CANCELLED, error=skip_error(reason), reason=reason),
    }
    result = summarize(states, cancel=True)
    assert result.status is RunStatus.CANCELLED
    assert {r.task_id for r in result.completed_tasks} == {"a", "b"}
    cancelled = {f.task_id: f for f in result.failed_tasks}
    assert set(cancelled) == {"c", "x"}
    assert all(f.final_status is FailureStatus.SKIPPED for f in cancelled.values())
    assert cancelled["c"].error.message == reason


def test_cancel_requested_after_everything_finished_keeps_the_real_outcome() -> None:
    result = summarize(all_succeeded(), cancel=True)
    assert result.status is RunStatus.COMPLETED


def test_task_that_never_finished_is_reported_not_dropped() -> None:
    states = {
        "a": status("a", TaskState.SUCCEEDED),
        "b": status("b", TaskState.SUCCEEDED),
        "c": status("c", TaskState.RUNNING),
    }  # x has no state at all
    result = summarize(states)
    assert result.status is RunStatus.PARTIAL
    failures = {f.task_id: f for f in result.failed_tasks}
    assert set(failures) == {"c", "x"}
    assert failures["c"].error.type is ErrorType.STATE_INCONSISTENCY
    assert "running" in failures["c"].error.message
    assert "pending" in failures["x"].error.message


# --- recovery.classify ---------------------------------------------------------------------------


def _validation_error() -> ValidationError:
    try:
        UserGoal.model_validate({"description": "x", "priority": "urgent"})
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a ValidationError")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError("took too long"), ErrorType.TASK_TIMEOUT),
        (SoftTimeLimitExceeded(), ErrorType.TASK_TIMEOUT),
        (TimeLimitExceeded(30), ErrorType.TASK_TIMEOUT),
        (_validation_error(), ErrorType.INVALID_INPUT),
        (PermissionError("no"), ErrorType.PERMISSION_DENIED),
        (ConnectionRefusedError("refused"), ErrorType.SERVICE_DOWN),
        (ConnectionResetError("reset"), ErrorType.NETWORK_ERROR),
        (socket.gaierror("no such host"), ErrorType.NETWORK_ERROR),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_exceptions_map_to_the_spec_error_types(exc: BaseException, expected: ErrorType) -> None:
    assert classify_exception(exc) is expected
    assert to_task_error(exc).type is expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (errors.PermissionDeniedError("nope"), ErrorType.PERMISSION_DENIED),
        (errors.InvalidInputError("bad"), ErrorType.INVALID_INPUT),
        (errors.DependencyFailureError("up"), ErrorType.DEPENDENCY_FAILURE),
        (errors.ServiceDownError("down"), ErrorType.SERVICE_DOWN),
        (errors.NotImplementedYetError("later"), ErrorType.RESOURCE_UNAVAILABLE),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_typed_task_errors_keep_their_type(exc: errors.TaskError, expected: ErrorType) -> None:
    assert classify_exception(exc) is expected


def test_typed_error_keeps_its_details_and_message() -> None:
    exc = errors.ServiceDownError("quotes api down", service="quotes", status=503)
    record = to_task_error(exc)
    assert record.type is ErrorType.SERVICE_DOWN
    assert record.message == "quotes api down"
    assert record.details["exception"] == "ServiceDownError"
    assert record.details["service"] == "quotes"
    assert record.details["status"] == 503


def test_typed_error_wins_over_builtin_base_class() -> None:
    class SlowServiceError(errors.ServiceDownError, TimeoutError):
        pass

    assert classify_exception(SlowServiceError("slow")) is ErrorType.SERVICE_DOWN


def test_unknown_exception_falls_back_and_keeps_its_type() -> None:
    class WeirdThingError(Exception):
        pass

    record = to_task_error(WeirdThingError("something odd"))
    assert FALLBACK_ERROR_TYPE is ErrorType.RESOURCE_UNAVAILABLE
    assert record.type is FALLBACK_ERROR_TYPE
    assert record.details["exception"] == "WeirdThingError"
    assert record.message == "something odd"


def test_exception_without_message_uses_its_type_name() -> None:
    record = to_task_error(KeyError())
    assert record.message == "KeyError"
    assert record.details["exception"] == "KeyError"
