"""ErrorAnalysis of the specification: how bad a failure is, what it hit, how hard to fix.

Pure and fast (no I/O): the caller counts previous occurrences of the fingerprint in history
and says whether learnings exist; ``analyze_error`` only combines. ``bench/analysis_latency``
measures it against the 5 ms p99 budget.

Severity = base severity of the ErrorType, raised one step for each of

- a critical task (``task_critical``: e.g. a critical precondition of others hangs on it),
- a goal of priority high or critical,
- a repeated attempt (``attempt >= REPEATED_ATTEMPT``, i.e. the third try or later),

capped at critical.

| base     | ErrorTypes                                                                   |
|----------|------------------------------------------------------------------------------|
| low      | network_error, rate_limit_exceeded, invalid_input                            |
| medium   | task_timeout, resource_unavailable, dependency_failure, validation_failure,  |
|          | context_mismatch, conflicting_goals, resource_conflict                       |
| high     | service_down, permission_denied, state_inconsistency                         |
| critical | data_corruption                                                              |

Recovery complexity = base of the ErrorType (simple: timeout, network, rate limit,
resource unavailable, invalid input; complex: data corruption, state inconsistency,
conflicting goals; moderate: the rest), one step harder when the same fingerprint has
occurred ``REPEATED_OCCURRENCES`` (3) times before -- the spec's ``previousOccurrences > 2``,
where the plain retry has evidently not been enough.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from orchestrator.models import AITask, ErrorType, Priority, TaskError
from orchestrator.models.base import StrictModel
from recovery.fingerprint import error_fingerprint


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Complexity(StrEnum):
    SIMPLE = "simple"
    MODERATE = "moderate"
    COMPLEX = "complex"


_SEVERITIES = tuple(Severity)
_COMPLEXITIES = tuple(Complexity)

#: Attempt number from which a failure counts as repeated (raises severity one step).
REPEATED_ATTEMPT = 3
#: Previous occurrences of the fingerprint from which recovery counts as harder.
REPEATED_OCCURRENCES = 3

BASE_SEVERITY: dict[ErrorType, Severity] = {
    ErrorType.NETWORK_ERROR: Severity.LOW,
    ErrorType.RATE_LIMIT_EXCEEDED: Severity.LOW,
    ErrorType.INVALID_INPUT: Severity.LOW,
    ErrorType.TASK_TIMEOUT: Severity.MEDIUM,
    ErrorType.RESOURCE_UNAVAILABLE: Severity.MEDIUM,
    ErrorType.DEPENDENCY_FAILURE: Severity.MEDIUM,
    ErrorType.VALIDATION_FAILURE: Severity.MEDIUM,
    ErrorType.CONTEXT_MISMATCH: Severity.MEDIUM,
    ErrorType.CONFLICTING_GOALS: Severity.MEDIUM,
    ErrorType.RESOURCE_CONFLICT: Severity.MEDIUM,
    ErrorType.SERVICE_DOWN: Severity.HIGH,
    ErrorType.PERMISSION_DENIED: Severity.HIGH,
    ErrorType.STATE_INCONSISTENCY: Severity.HIGH,
    ErrorType.DATA_CORRUPTION: Severity.CRITICAL,
}
BASE_COMPLEXITY: dict[ErrorType, Complexity] = dict.fromkeys(ErrorType, Complexity.MODERATE) | {
    ErrorType.TASK_TIMEOUT: Complexity.SIMPLE,
    ErrorType.NETWORK_ERROR: Complexity.SIMPLE,
    ErrorType.RATE_LIMIT_EXCEEDED: Complexity.SIMPLE,
    ErrorType.RESOURCE_UNAVAILABLE: Complexity.SIMPLE,
    ErrorType.INVALID_INPUT: Complexity.SIMPLE,
    ErrorType.DATA_CORRUPTION: Complexity.COMPLEX,
    ErrorType.STATE_INCONSISTENCY: Complexity.COMPLEX,
    ErrorType.CONFLICTING_GOALS: Complexity.COMPLEX,
}
# What an error type touches beyond the task itself.
_TYPE_COMPONENTS: dict[ErrorType, tuple[str, ...]] = {
    ErrorType.DEPENDENCY_FAILURE: ("upstream_tasks",),
    ErrorType.PERMISSION_DENIED: ("permissions",),
    ErrorType.CONTEXT_MISMATCH: ("live_context",),
    ErrorType.STATE_INCONSISTENCY: ("live_context", "history"),
    ErrorType.CONFLICTING_GOALS: ("goal",),
    ErrorType.INVALID_INPUT: ("task_parameters",),
}
# Client library (module prefix of the exception) -> the components it stands for.
_SERVICE_COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("redis", ("live_context", "redis")),
    ("fakeredis", ("live_context", "redis")),
    ("psycopg", ("history", "postgres")),
    ("sqlalchemy", ("history", "postgres")),
    ("sqlite3", ("history", "sqlite")),
    ("urllib", ("http_service",)),
    ("httpx", ("http_service",)),
    ("requests", ("http_service",)),
)
_WHERE_KEYS = ("endpoint", "api_endpoint", "apiEndpoint", "url", "service", "path")


class ErrorAnalysis(StrictModel):
    """The specification's ErrorAnalysis, plus what identifies the failure."""

    error_type: ErrorType
    severity: Severity
    root_cause: str
    affected_components: list[str] = Field(default_factory=list)
    recovery_complexity: Complexity
    previous_occurrences: int = Field(default=0, ge=0)
    learnings_available: bool = False
    fingerprint: str
    task_id: str
    task_type: str
    attempt: int = Field(default=1, ge=1)


def _step(levels: tuple[Any, ...], start: Any, steps: int) -> Any:
    return levels[min(levels.index(start) + steps, len(levels) - 1)]


def assess_severity(
    error_type: ErrorType, *, task_critical: bool, goal_priority: Priority, attempt: int
) -> Severity:
    """Base severity of ``error_type`` raised per the module docstring's rules."""
    raises = (
        int(task_critical)
        + int(goal_priority in (Priority.HIGH, Priority.CRITICAL))
        + int(attempt >= REPEATED_ATTEMPT)
    )
    severity: Severity = _step(_SEVERITIES, BASE_SEVERITY[error_type], raises)
    return severity


def assess_complexity(error_type: ErrorType, previous_occurrences: int) -> Complexity:
    """Base complexity of ``error_type``, one step harder for a recurring failure."""
    harder = int(previous_occurrences >= REPEATED_OCCURRENCES)
    complexity: Complexity = _step(_COMPLEXITIES, BASE_COMPLEXITY[error_type], harder)
    return complexity


def _where(details: dict[str, Any]) -> str:
    parts: list[str] = []
    exception = details.get("exception")
    if exception:
        module = details.get("exception_module")
        parts.append(f"{module}.{exception}" if module and module != "builtins" else exception)
    parts += [f"{key} {details[key]}" for key in _WHERE_KEYS if details.get(key)]
    if details.get("status") is not None:
        parts.append(f"HTTP {details['status']}")
    return ", ".join(parts) or "the handler"


def root_cause(error: TaskError, task: AITask) -> str:
    """What failed (task, type, module), where (exception, endpoint, status), and why."""
    return (
        f"{error.type.value} in task {task.id} ({task.type}, {task.module.value} module) "
        f"at {_where(error.details)}: {error.message}"
    )


def affected_components(error: TaskError, task: AITask) -> list[str]:
    """Services the error came from, what the error type touches, then task and module."""
    components: list[str] = []
    module_name = str(error.details.get("exception_module") or "")
    for prefix, names in _SERVICE_COMPONENTS:
        if module_name == prefix or module_name.startswith(prefix + "."):
            components += names
            break
    service = error.details.get("service")
    if isinstance(service, str) and service:
        components.append(service)
    components += _TYPE_COMPONENTS.get(error.type, ())
    components += [str(task.type), f"{task.module.value}_service"]
    return list(dict.fromkeys(components))


def analyze_error(
    error: TaskError,
    *,
    task: AITask,
    task_critical: bool,
    goal_priority: Priority,
    attempt: int,
    previous_occurrences: int,
    learnings_available: bool,
) -> ErrorAnalysis:
    """The ErrorAnalysis of one failure of ``task`` (``attempt`` counts from 1)."""
    return ErrorAnalysis(
        error_type=error.type,
        severity=assess_severity(
            error.type, task_critical=task_critical, goal_priority=goal_priority, attempt=attempt
        ),
        root_cause=root_cause(error, task),
        affected_components=affected_components(error, task),
        recovery_complexity=assess_complexity(error.type, previous_occurrences),
        previous_occurrences=previous_occurrences,
        learnings_available=learnings_available,
        fingerprint=error_fingerprint(str(task.type), error.type.value, error.message),
        task_id=task.id,
        task_type=str(task.type),
        attempt=max(attempt, 1),
    )
