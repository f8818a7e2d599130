"""Classification of exceptions into the specification's ErrorTypes (pure).

Handlers raise errors from ``tasks.errors`` when they know better; everything else is
mapped by exception type. Fallback for anything unknown: RESOURCE_UNAVAILABLE, with the
exception's type and message kept in the details so nothing is dropped.
"""

from __future__ import annotations

import socket

from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from pydantic import ValidationError

from orchestrator.models import ErrorType, TaskError
from tasks.errors import HandlerError

FALLBACK_ERROR_TYPE = ErrorType.RESOURCE_UNAVAILABLE


def classify_exception(exc: BaseException) -> ErrorType:
    """The ErrorType of ``exc`` (see the module docstring for the fallback)."""
    if isinstance(exc, HandlerError):
        return exc.error_type
    if isinstance(exc, SoftTimeLimitExceeded | TimeLimitExceeded | TimeoutError):
        return ErrorType.TASK_TIMEOUT
    if isinstance(exc, ValidationError):
        return ErrorType.INVALID_INPUT
    if isinstance(exc, PermissionError):
        return ErrorType.PERMISSION_DENIED
    if isinstance(exc, ConnectionRefusedError):
        return ErrorType.SERVICE_DOWN
    if isinstance(exc, ConnectionError | socket.gaierror):
        return ErrorType.NETWORK_ERROR
    return FALLBACK_ERROR_TYPE


def to_task_error(exc: BaseException) -> TaskError:
    """A TaskError record of ``exc``: its type, message and details."""
    details: dict[str, object] = {"exception": type(exc).__name__}
    extra = getattr(exc, "details", None)
    if isinstance(extra, dict):
        details.update(extra)
    message = str(exc) or type(exc).__name__
    return TaskError(type=classify_exception(exc), message=message, details=details)
