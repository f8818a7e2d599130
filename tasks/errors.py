"""The one error tree handlers raise when they know what went wrong.

Each class carries the specification's ErrorType as ``error_type``; recovery reads it before
any exception-type guessing (``recovery.classify``), so a handler that knows better always
wins. One subclass per ErrorType, named after it with an ``Error`` suffix; keyword arguments
become ``details`` and travel with the TaskError record (keep them JSON-serialisable).
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.models import ErrorType


class HandlerError(Exception):
    """Base of the error tree: ``error_type`` says how recovery should see it."""

    error_type: ClassVar[ErrorType] = ErrorType.RESOURCE_UNAVAILABLE
    #: False when no recovery strategy can help (the task fails at once).
    recoverable: ClassVar[bool] = True

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = details


# --- task execution errors -------------------------------------------------------------------


class TaskTimeoutError(HandlerError):
    """The task's own work overran its deadline (not a connection timeout to a service)."""

    error_type = ErrorType.TASK_TIMEOUT


class ResourceUnavailableError(HandlerError):
    """Something the task needs (a file, a quota, a model, a handler) is not there now."""

    error_type = ErrorType.RESOURCE_UNAVAILABLE


class NotImplementedYetError(ResourceUnavailableError):
    """The task type is planned and validated, but its handler lands in a later release."""

    recoverable = False


class DependencyFailureError(HandlerError):
    """An upstream output the task needs is missing or marks a failure."""

    error_type = ErrorType.DEPENDENCY_FAILURE


class ValidationFailureError(HandlerError):
    """The task produced an output that fails its own checks (postconditions, schema)."""

    error_type = ErrorType.VALIDATION_FAILURE


# --- system errors ---------------------------------------------------------------------------


class ServiceDownError(HandlerError):
    """A service was reached but does not serve (refused connection, HTTP 502/503)."""

    error_type = ErrorType.SERVICE_DOWN


class NetworkError(HandlerError):
    """The path to a service failed (reset, unreachable, DNS, connection timeout)."""

    error_type = ErrorType.NETWORK_ERROR


class PermissionDeniedError(HandlerError):
    """The user, or the orchestrator on the user's behalf, may not do this."""

    error_type = ErrorType.PERMISSION_DENIED


class RateLimitExceededError(HandlerError):
    """A service asked us to slow down; ``retry_after_s`` is its hint when it gave one."""

    error_type = ErrorType.RATE_LIMIT_EXCEEDED

    def __init__(self, message: str, *, retry_after_s: float | None = None, **details: Any) -> None:
        if retry_after_s is not None:
            details["retry_after_s"] = retry_after_s
        super().__init__(message, **details)
        self.retry_after_s = retry_after_s


# --- context errors --------------------------------------------------------------------------


class ContextMismatchError(HandlerError):
    """The live context disagrees with what the task was planned against."""

    error_type = ErrorType.CONTEXT_MISMATCH


class DataCorruptionError(HandlerError):
    """Stored data cannot be read back as what was written (bad JSON, bad encoding)."""

    error_type = ErrorType.DATA_CORRUPTION


class StateInconsistencyError(HandlerError):
    """Live state and history disagree (a task running in one, finished in the other)."""

    error_type = ErrorType.STATE_INCONSISTENCY


# --- user errors -----------------------------------------------------------------------------


class InvalidInputError(HandlerError):
    """The parameters or inputs the user gave cannot be acted on."""

    error_type = ErrorType.INVALID_INPUT


class ConflictingGoalsError(HandlerError):
    """Two goals (or two parts of one) ask for incompatible outcomes."""

    error_type = ErrorType.CONFLICTING_GOALS


class ResourceConflictError(HandlerError):
    """Another run holds, or changed, the resource this task needs (lock, file, position)."""

    error_type = ErrorType.RESOURCE_CONFLICT


__all__ = [
    "ConflictingGoalsError",
    "ContextMismatchError",
    "DataCorruptionError",
    "DependencyFailureError",
    "HandlerError",
    "InvalidInputError",
    "NetworkError",
    "NotImplementedYetError",
    "PermissionDeniedError",
    "RateLimitExceededError",
    "ResourceConflictError",
    "ResourceUnavailableError",
    "ServiceDownError",
    "StateInconsistencyError",
    "TaskTimeoutError",
    "ValidationFailureError",
]
