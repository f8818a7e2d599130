"""ErrorAnalysis: severity, root cause, affected components, complexity, fingerprints."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.models import AITask, ErrorType, Module, Priority, TaskError
from recovery.analysis import (
    BASE_SEVERITY,
    Complexity,
    ErrorAnalysis,
    Severity,
    analyze_error,
)
from recovery.fingerprint import error_fingerprint, normalise_message

CODEGEN = AITask(id="task_005", type="generate_code", module=Module.WORKSPACE, timeout_s=120)


def _analyse(error: TaskError, **overrides: Any) -> ErrorAnalysis:
    arguments: dict[str, Any] = {
        "task": CODEGEN,
        "task_critical": False,
        "goal_priority": Priority.MEDIUM,
        "attempt": 1,
        "previous_occurrences": 0,
        "learnings_available": False,
    }
    arguments.update(overrides)
    return analyze_error(error, **arguments)


SPEC_TIMEOUT = TaskError(
    type=ErrorType.TASK_TIMEOUT,
    message="Code generation API timeout after 120 seconds",
    details={"api_endpoint": "/api/v1/code/generate", "exception": "TimeoutError"},
)


def test_the_spec_example_timeout_analysis() -> None:
    # Given the spec's "Error Recovery in Action" failure, seen three times before
    analysis = _analyse(SPEC_TIMEOUT, previous_occurrences=3, learnings_available=True)
    # Then it reads as the spec's result: medium severity, moderate complexity
    assert analysis.error_type is ErrorType.TASK_TIMEOUT
    assert analysis.severity is Severity.MEDIUM
    assert analysis.recovery_complexity is Complexity.MODERATE
    assert analysis.previous_occurrences == 3
    assert analysis.learnings_available is True
    assert analysis.affected_components == ["generate_code", "workspace_service"]
    assert (analysis.task_id, analysis.task_type, analysis.attempt) == (
        "task_005",
        "generate_code",
        1,
    )


def test_root_cause_names_what_where_and_why() -> None:
    cause = _analyse(SPEC_TIMEOUT).root_cause
    assert "task_005" in cause
    assert "generate_code" in cause
    assert "workspace" in cause
    assert "/api/v1/code/generate" in cause
    assert "TimeoutError" in cause
    assert "timeout after 120 seconds" in cause


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, Severity.MEDIUM),
        ({"task_critical": True}, Severity.HIGH),
        ({"goal_priority": Priority.HIGH}, Severity.HIGH),
        ({"goal_priority": Priority.CRITICAL}, Severity.HIGH),
        ({"goal_priority": Priority.LOW}, Severity.MEDIUM),
        ({"attempt": 2}, Severity.MEDIUM),
        ({"attempt": 3}, Severity.HIGH),
        ({"task_critical": True, "goal_priority": Priority.HIGH}, Severity.CRITICAL),
        ({"task_critical": True, "goal_priority": Priority.HIGH, "attempt": 5}, Severity.CRITICAL),
    ],
)
def test_severity_rises_one_step_per_aggravating_fact(
    overrides: dict[str, Any], expected: Severity
) -> None:
    assert _analyse(SPEC_TIMEOUT, **overrides).severity is expected


def test_every_error_type_has_a_base_severity_and_corruption_is_critical() -> None:
    assert set(BASE_SEVERITY) == set(ErrorType)
    corrupt = TaskError(type=ErrorType.DATA_CORRUPTION, message="bad json in live context")
    assert _analyse(corrupt).severity is Severity.CRITICAL
    slow = TaskError(type=ErrorType.RATE_LIMIT_EXCEEDED, message="429")
    assert _analyse(slow).severity is Severity.LOW


def test_redis_outage_affects_live_context() -> None:
    error = TaskError(
        type=ErrorType.SERVICE_DOWN,
        message="Error 111 connecting to localhost:6379. Connection refused.",
        details={"exception": "ConnectionError", "exception_module": "redis.exceptions"},
    )
    analysis = _analyse(error)
    assert analysis.affected_components[:2] == ["live_context", "redis"]
    assert "redis.exceptions.ConnectionError" in analysis.root_cause


def test_postgres_failure_affects_history() -> None:
    error = TaskError(
        type=ErrorType.NETWORK_ERROR,
        message="connection timeout expired",
        details={"exception": "OperationalError", "exception_module": "sqlalchemy.exc"},
    )
    assert _analyse(error).affected_components[:2] == ["history", "postgres"]


def test_complexity_grows_with_recurrence() -> None:
    network = TaskError(type=ErrorType.NETWORK_ERROR, message="reset")
    assert _analyse(network).recovery_complexity is Complexity.SIMPLE
    assert _analyse(network, previous_occurrences=2).recovery_complexity is Complexity.SIMPLE
    assert _analyse(network, previous_occurrences=3).recovery_complexity is Complexity.MODERATE
    state = TaskError(type=ErrorType.STATE_INCONSISTENCY, message="running vs finished")
    assert _analyse(state, previous_occurrences=9).recovery_complexity is Complexity.COMPLEX


# --- fingerprints ------------------------------------------------------------------------------


def test_same_cause_with_different_ids_shares_a_fingerprint() -> None:
    first = "run chain_3fa2c1 timed out after 120 s at 10.0.0.4:6379 ('alice')"
    second = "Run CHAIN_91bc77 timed  out after 300.5 s at 10.0.0.9:6380 ('bob')"
    assert normalise_message(first) == normalise_message(second)
    assert error_fingerprint("generate_code", "task_timeout", first) == error_fingerprint(
        "generate_code", "task_timeout", second
    )


def test_fingerprint_separates_task_type_error_type_and_cause() -> None:
    base = error_fingerprint("generate_code", "task_timeout", "API timeout")
    assert len(base) == 16
    assert int(base, 16) >= 0
    assert base != error_fingerprint("research_topic", "task_timeout", "API timeout")
    assert base != error_fingerprint("generate_code", "network_error", "API timeout")
    assert base != error_fingerprint("generate_code", "task_timeout", "disk full")


def test_normalisation_replaces_varying_parts() -> None:
    text = normalise_message(
        "File /var/lib/orch/x.json for 550e8400-e29b-41d4-a716-446655440000 "
        "id deadbeef99 via https://api.example.com/v1?q=1 " + "x" * 500
    )
    assert text.startswith("file <path> for <uuid> id <hex> via <url> "), text
    assert len(text) == 200


def test_analysis_carries_the_fingerprint_history_is_queried_by() -> None:
    analysis = _analyse(SPEC_TIMEOUT)
    assert analysis.fingerprint == error_fingerprint(
        "generate_code", "task_timeout", SPEC_TIMEOUT.message
    )
