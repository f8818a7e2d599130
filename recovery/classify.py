"""Classification of exceptions into the specification's 14 ErrorTypes (pure).

Order of precedence, walking the exception and its ``__cause__`` / ``__context__`` chain
(and SQLAlchemy's ``.orig``, urllib's ``.reason``) from the outermost link inwards:

1. A ``tasks.errors.HandlerError`` anywhere outermost-first: its ``error_type`` (the
   handler knew better).
2. Definite rules on the link itself (table below); the first link that matches decides.
3. Client wrappers (redis ``ConnectionError``, psycopg / SQLAlchemy ``OperationalError``,
   urllib ``URLError``) only give a default: the OS error they wrap decides when there is
   one, otherwise their message does ("connection refused" -> SERVICE_DOWN), otherwise
   NETWORK_ERROR.

| exception                                                   | ErrorType            |
|-------------------------------------------------------------|----------------------|
| billiard SoftTimeLimitExceeded / TimeLimitExceeded          | TASK_TIMEOUT         |
| TimeoutError / socket.timeout raised by our code            | TASK_TIMEOUT         |
| TimeoutError under a client wrapper, redis.TimeoutError,    | NETWORK_ERROR        |
|   libpq "timeout expired", a *ConnectTimeout* class         |                      |
| ConnectionRefusedError, errno ECONNREFUSED, "refused"       | SERVICE_DOWN         |
| ConnectionResetError, BrokenPipeError, socket.gaierror,     | NETWORK_ERROR        |
|   ENETUNREACH / EHOSTUNREACH, unresolvable host             |                      |
| PermissionError, redis AuthenticationError / NoPermission,  | PERMISSION_DENIED    |
|   psycopg InsufficientPrivilege / InvalidAuthorization      |                      |
| pydantic ValidationError: PARAMS or HANDLER / OUTPUT phase  | INVALID_INPUT /      |
|                                                             | VALIDATION_FAILURE   |
| JSONDecodeError / UnicodeDecodeError (PARAMS: INVALID_INPUT)| DATA_CORRUPTION      |
| sqlite "malformed" / "not a database"                       | DATA_CORRUPTION      |
| HTTP 429, a *RateLimit* class                               | RATE_LIMIT_EXCEEDED  |
| HTTP 401 / 403                                              | PERMISSION_DENIED    |
| HTTP 500 / 502 / 503                                        | SERVICE_DOWN         |
| HTTP 408 / 504                                              | NETWORK_ERROR        |
| HTTP 409, IntegrityError, deadlock / serialization /        | RESOURCE_CONFLICT    |
|   lock-not-available, FileExistsError, sqlite "locked"      |                      |
| HTTP 400 / 422                                              | INVALID_INPUT        |
| HTTP 404, FileNotFoundError, MemoryError, pool exhausted    | RESOURCE_UNAVAILABLE |

Timeouts: a time limit or a deadline of our own is TASK_TIMEOUT (the work took too long:
more time or a smaller piece of work helps). A timeout *talking to a service* is
NETWORK_ERROR (the path or the service was slow: waiting and retrying helps, more task time
does not). Redis' ``TimeoutError`` is always the latter; a bare builtin ``TimeoutError`` is
the former unless a client wrapper around it says it came from a connection.

Fallback: anything unknown is ``FALLBACK_ERROR_TYPE`` = RESOURCE_UNAVAILABLE, with the
exception's class and module kept in the TaskError details so nothing is dropped. Of the
14 types it is the one whose recovery is safe on a guess: its strategies are a bounded
retry, then degradation or escalation -- never a repair, rollback or alternative plan that
acts on a cause nobody established.
"""

from __future__ import annotations

import errno
import json
import socket
import sqlite3
import urllib.error
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import psycopg
import psycopg.errors
import redis.exceptions
import sqlalchemy.exc
from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from pydantic import ValidationError

from orchestrator.models import ErrorType, TaskError
from tasks.errors import HandlerError

FALLBACK_ERROR_TYPE = ErrorType.RESOURCE_UNAVAILABLE

_MAX_CHAIN = 16


class Phase(StrEnum):
    """Where in a task the exception was raised (decides what a ValidationError means)."""

    PARAMS = "params"
    HANDLER = "handler"
    OUTPUT = "output"


_HTTP_STATUS: dict[int, ErrorType] = {
    400: ErrorType.INVALID_INPUT,
    401: ErrorType.PERMISSION_DENIED,
    403: ErrorType.PERMISSION_DENIED,
    404: ErrorType.RESOURCE_UNAVAILABLE,
    408: ErrorType.NETWORK_ERROR,
    409: ErrorType.RESOURCE_CONFLICT,
    422: ErrorType.INVALID_INPUT,
    429: ErrorType.RATE_LIMIT_EXCEEDED,
    500: ErrorType.SERVICE_DOWN,
    502: ErrorType.SERVICE_DOWN,
    503: ErrorType.SERVICE_DOWN,
    504: ErrorType.NETWORK_ERROR,
}
_ERRNO: dict[int, ErrorType] = {
    errno.ECONNREFUSED: ErrorType.SERVICE_DOWN,
    errno.ECONNRESET: ErrorType.NETWORK_ERROR,
    errno.EPIPE: ErrorType.NETWORK_ERROR,
    errno.ENETUNREACH: ErrorType.NETWORK_ERROR,
    errno.EHOSTUNREACH: ErrorType.NETWORK_ERROR,
    errno.ENETDOWN: ErrorType.NETWORK_ERROR,
    errno.ECONNABORTED: ErrorType.NETWORK_ERROR,
}
# Lower-cased fragments of client messages (libpq, redis, sqlite) -> ErrorType.
_MESSAGE_HINTS: tuple[tuple[str, ErrorType], ...] = (
    ("connection refused", ErrorType.SERVICE_DOWN),
    ("timeout expired", ErrorType.NETWORK_ERROR),
    ("timed out", ErrorType.NETWORK_ERROR),
    ("failed to resolve host", ErrorType.NETWORK_ERROR),
    ("could not translate host name", ErrorType.NETWORK_ERROR),
    ("name or service not known", ErrorType.NETWORK_ERROR),
    ("network is unreachable", ErrorType.NETWORK_ERROR),
    ("no route to host", ErrorType.NETWORK_ERROR),
    ("connection reset", ErrorType.NETWORK_ERROR),
    ("password authentication failed", ErrorType.PERMISSION_DENIED),
    ("permission denied", ErrorType.PERMISSION_DENIED),
    ("the database system is starting up", ErrorType.SERVICE_DOWN),
    ("the database system is shutting down", ErrorType.SERVICE_DOWN),
    ("database is locked", ErrorType.RESOURCE_CONFLICT),
    ("malformed", ErrorType.DATA_CORRUPTION),
    ("file is not a database", ErrorType.DATA_CORRUPTION),
)
_CONFLICT_TYPES: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.IntegrityError,
    psycopg.errors.IntegrityError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
    sqlite3.IntegrityError,
    FileExistsError,
)
_PERMISSION_TYPES: tuple[type[BaseException], ...] = (
    PermissionError,
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthorizationError,
    redis.exceptions.NoPermissionError,
    psycopg.errors.InsufficientPrivilege,
    psycopg.errors.InvalidAuthorizationSpecification,
    psycopg.errors.InvalidPassword,
)
# Clients that wrap the OS error (or only describe it in their message).
_WRAPPER_TYPES: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    psycopg.OperationalError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlite3.OperationalError,
    urllib.error.URLError,
)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (urllib, requests/httpx style, or attributes)."""
    candidates: list[Any] = [getattr(exc, "status_code", None), getattr(exc, "status", None)]
    if isinstance(exc, urllib.error.HTTPError):
        candidates.insert(0, exc.code)
    response = getattr(exc, "response", None)
    if response is not None:
        candidates += [getattr(response, "status_code", None), getattr(response, "status", None)]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


def _links(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what it wraps, outermost first; cycle-safe and bounded."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError
        if not isinstance(wrapped, BaseException) and isinstance(current, urllib.error.URLError):
            wrapped = current.reason if isinstance(current.reason, BaseException) else None
        if not isinstance(wrapped, BaseException) or id(wrapped) in seen:
            wrapped = current.__cause__ or current.__context__
        current = wrapped


def _by_type(exc: BaseException, phase: Phase, wrapped: bool) -> ErrorType | None:
    """The ErrorType this one link decides on its own, or None."""
    if isinstance(exc, HandlerError):
        return exc.error_type
    if isinstance(exc, SoftTimeLimitExceeded | TimeLimitExceeded):
        return ErrorType.TASK_TIMEOUT
    if isinstance(exc, ValidationError):
        return ErrorType.VALIDATION_FAILURE if phase is Phase.OUTPUT else ErrorType.INVALID_INPUT
    if isinstance(exc, redis.exceptions.TimeoutError | sqlalchemy.exc.TimeoutError):
        # redis: connect/read timeout to the server; SQLAlchemy: the pool had no connection.
        if isinstance(exc, sqlalchemy.exc.TimeoutError):
            return ErrorType.RESOURCE_UNAVAILABLE
        return ErrorType.NETWORK_ERROR
    if isinstance(exc, _PERMISSION_TYPES):
        return ErrorType.PERMISSION_DENIED
    if isinstance(exc, _CONFLICT_TYPES):
        return ErrorType.RESOURCE_CONFLICT
    if isinstance(exc, redis.exceptions.BusyLoadingError):
        return ErrorType.SERVICE_DOWN
    status = http_status(exc)
    if status is not None and status >= 400:
        # Unlisted statuses by class: a 5xx is the service's failure, a 4xx our request's.
        default = ErrorType.SERVICE_DOWN if status >= 500 else ErrorType.INVALID_INPUT
        return _HTTP_STATUS.get(status, default)
    if "ratelimit" in type(exc).__name__.lower().replace("_", ""):
        return ErrorType.RATE_LIMIT_EXCEEDED
    if "connecttimeout" in type(exc).__name__.lower():
        return ErrorType.NETWORK_ERROR
    return _by_builtin(exc, phase, wrapped)


def _by_builtin(exc: BaseException, phase: Phase, wrapped: bool) -> ErrorType | None:
    if isinstance(exc, ConnectionRefusedError):
        return ErrorType.SERVICE_DOWN
    if isinstance(exc, ConnectionResetError | BrokenPipeError | socket.gaierror | socket.herror):
        return ErrorType.NETWORK_ERROR
    if isinstance(exc, TimeoutError):  # also socket.timeout and asyncio.TimeoutError
        return ErrorType.NETWORK_ERROR if wrapped else ErrorType.TASK_TIMEOUT
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return ErrorType.INVALID_INPUT if phase is Phase.PARAMS else ErrorType.DATA_CORRUPTION
    if isinstance(exc, FileNotFoundError | MemoryError):
        return ErrorType.RESOURCE_UNAVAILABLE
    return None


def _by_message(exc: BaseException) -> ErrorType | None:
    text = str(exc).lower()
    for fragment, error_type in _MESSAGE_HINTS:
        if fragment in text:
            return error_type
    return None


def classify_exception(exc: BaseException, *, phase: Phase = Phase.HANDLER) -> ErrorType:
    """The ErrorType of ``exc``; see the module docstring for the rules and the fallback."""
    wrappers: list[BaseException] = []
    for link in _links(exc):
        decided = _by_type(link, phase, wrapped=bool(wrappers))
        if decided is not None:
            return decided
        if isinstance(link, _WRAPPER_TYPES):
            wrappers.append(link)
    for wrapper in wrappers:  # no OS error inside: the client's own words decide
        hinted = _by_message(wrapper)
        if hinted is not None:
            return hinted
    return ErrorType.NETWORK_ERROR if wrappers else FALLBACK_ERROR_TYPE


def to_task_error(exc: BaseException, *, phase: Phase = Phase.HANDLER) -> TaskError:
    """A TaskError record of ``exc``: its ErrorType, message and details.

    Details: ``exception`` (class name), ``exception_module``, ``phase``, ``cause`` (the
    innermost wrapped exception's class, when there is one), ``status`` (HTTP), and the
    handler's own details for a ``HandlerError``.
    """
    details: dict[str, Any] = {
        "exception": type(exc).__name__,
        "exception_module": type(exc).__module__,
        "phase": phase.value,
    }
    links = list(_links(exc))
    if len(links) > 1:
        details["cause"] = type(links[-1]).__name__
    status = next((s for s in map(http_status, links) if s is not None), None)
    if status is not None:
        details["status"] = status
    if isinstance(exc, HandlerError):
        details.update(exc.details)
    message = str(exc) or type(exc).__name__
    return TaskError(type=classify_exception(exc, phase=phase), message=message, details=details)
