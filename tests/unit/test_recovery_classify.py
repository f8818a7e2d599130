"""Exceptions become the spec's ErrorTypes: real client errors, typed handler errors, fallback."""

from __future__ import annotations

import errno
import json
import socket
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import sqlalchemy
from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from orchestrator.models import ErrorType, UserGoal
from recovery.classify import FALLBACK_ERROR_TYPE, Phase, classify_exception, to_task_error
from tasks import errors


def _raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 -- the test wants whatever the client raises
        return exc
    raise AssertionError("expected an exception")


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def _redis_ping(port: int, **options: Any) -> BaseException:
    client = redis.Redis(port=port, retry=Retry(NoBackoff(), 0), **options)
    try:
        return _raised(client.ping)
    finally:
        client.close()


# --- services: refused means down, the path failing means network ----------------------------


def test_redis_refused_connection_is_service_down(closed_port: int) -> None:
    exc = _redis_ping(closed_port)
    assert isinstance(exc, redis.ConnectionError)
    record = to_task_error(exc)
    assert record.type is ErrorType.SERVICE_DOWN
    assert record.details["exception_module"] == "redis.exceptions"
    assert record.details["cause"] == "ConnectionRefusedError"


def test_redis_read_timeout_is_network_error_not_task_timeout(silent_port: int) -> None:
    exc = _redis_ping(silent_port, socket_timeout=0.1)
    assert isinstance(exc, redis.TimeoutError)
    assert classify_exception(exc) is ErrorType.NETWORK_ERROR


def test_postgres_refused_connection_is_service_down_also_through_sqlalchemy(
    closed_port: int,
) -> None:
    url = f"postgresql://u@127.0.0.1:{closed_port}/x"
    direct = _raised(lambda: psycopg.connect(url, connect_timeout=1))
    assert isinstance(direct, psycopg.OperationalError)
    assert classify_exception(direct) is ErrorType.SERVICE_DOWN

    engine = sqlalchemy.create_engine(url.replace("postgresql:", "postgresql+psycopg:"))
    try:
        wrapped = _raised(engine.connect)
    finally:
        engine.dispose()
    assert isinstance(wrapped, sqlalchemy.exc.OperationalError)
    assert classify_exception(wrapped) is ErrorType.SERVICE_DOWN


def test_postgres_connect_timeout_is_network_error(silent_port: int) -> None:
    exc = _raised(
        lambda: psycopg.connect(f"postgresql://u@127.0.0.1:{silent_port}/x", connect_timeout=1)
    )
    assert classify_exception(exc) is ErrorType.NETWORK_ERROR


def test_http_refused_connection_is_service_down(closed_port: int) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    exc = _raised(lambda: opener.open(f"http://127.0.0.1:{closed_port}/", timeout=2))
    assert isinstance(exc, urllib.error.URLError)
    assert classify_exception(exc) is ErrorType.SERVICE_DOWN


def test_dns_failure_reset_and_unreachable_are_network_errors() -> None:
    dns = _raised(lambda: socket.getaddrinfo("no-such-host.invalid", 80))
    assert isinstance(dns, socket.gaierror)
    for exc in (
        dns,
        ConnectionResetError(errno.ECONNRESET, "reset by peer"),
        BrokenPipeError(errno.EPIPE, "broken pipe"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        OSError(errno.EHOSTUNREACH, "No route to host"),
    ):
        assert classify_exception(exc) is ErrorType.NETWORK_ERROR, exc


# --- HTTP statuses ----------------------------------------------------------------------------


def _http_error(status: int, headers: dict[str, str] | None = None) -> urllib.error.HTTPError:
    message = Message()
    for key, value in (headers or {}).items():
        message[key] = value
    return urllib.error.HTTPError("https://api.example.com/quotes", status, "x", message, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, ErrorType.RATE_LIMIT_EXCEEDED),
        (503, ErrorType.SERVICE_DOWN),
        (502, ErrorType.SERVICE_DOWN),
        (401, ErrorType.PERMISSION_DENIED),
        (403, ErrorType.PERMISSION_DENIED),
        (409, ErrorType.RESOURCE_CONFLICT),
        (422, ErrorType.INVALID_INPUT),
    ],
)
def test_http_status_decides_and_is_kept(status: int, expected: ErrorType) -> None:
    exc = _http_error(status)
    try:
        record = to_task_error(exc)
    finally:
        exc.close()
    assert record.type is expected
    assert record.details["status"] == status


def test_any_client_with_a_429_status_attribute_is_rate_limited() -> None:
    class ApiError(Exception):
        def __init__(self, status_code: int) -> None:
            super().__init__(f"status {status_code}")
            self.status_code = status_code

    class Response:
        status = 429

    class ClientError(Exception):
        response = Response()

    assert classify_exception(ApiError(429)) is ErrorType.RATE_LIMIT_EXCEEDED
    assert classify_exception(ClientError("slow down")) is ErrorType.RATE_LIMIT_EXCEEDED


# --- timeouts, validation, decoding ------------------------------------------------------------


def test_time_limits_and_our_own_deadline_are_task_timeouts() -> None:
    for exc in (SoftTimeLimitExceeded(), TimeLimitExceeded(30), TimeoutError("deadline passed")):
        assert classify_exception(exc) is ErrorType.TASK_TIMEOUT


def _validation_error() -> ValidationError:
    exc = _raised(lambda: UserGoal.model_validate({"description": "x", "priority": "urgent"}))
    assert isinstance(exc, ValidationError)
    return exc


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (Phase.PARAMS, ErrorType.INVALID_INPUT),
        (Phase.HANDLER, ErrorType.INVALID_INPUT),
        (Phase.OUTPUT, ErrorType.VALIDATION_FAILURE),
    ],
)
def test_pydantic_validation_depends_on_where_it_failed(phase: Phase, expected: ErrorType) -> None:
    record = to_task_error(_validation_error(), phase=phase)
    assert record.type is expected
    assert record.details["phase"] == phase.value


def test_unreadable_stored_data_is_corruption_but_bad_params_are_invalid_input() -> None:
    bad_json = _raised(lambda: json.loads("{not json"))
    bad_bytes = _raised(lambda: b"\xff\xfe\xfa".decode("utf-8"))
    assert classify_exception(bad_json) is ErrorType.DATA_CORRUPTION
    assert classify_exception(bad_bytes) is ErrorType.DATA_CORRUPTION
    assert classify_exception(bad_json, phase=Phase.PARAMS) is ErrorType.INVALID_INPUT


def test_permission_refusal_is_permission_denied() -> None:
    exc = PermissionError(errno.EACCES, "Permission denied", "/etc/shadow")
    assert classify_exception(exc) is ErrorType.PERMISSION_DENIED


def test_locked_sqlite_history_is_a_resource_conflict(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    holder = sqlite3.connect(path)
    other = sqlite3.connect(path, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        exc = _raised(lambda: other.execute("SELECT 1 FROM sqlite_master"))
    finally:
        holder.close()
        other.close()
    assert classify_exception(exc) is ErrorType.RESOURCE_CONFLICT


# --- typed errors and the fallback -------------------------------------------------------------


def _error_class(error_type: ErrorType) -> type[errors.HandlerError]:
    name = "".join(part.title() for part in error_type.value.split("_")).removesuffix("Error")
    name += "Error"  # NETWORK_ERROR -> NetworkError, TASK_TIMEOUT -> TaskTimeoutError
    cls: type[errors.HandlerError] = getattr(errors, name)
    assert issubclass(cls, errors.HandlerError)
    return cls


@pytest.mark.parametrize("error_type", list(ErrorType), ids=str)
def test_every_error_type_has_its_typed_error(error_type: ErrorType) -> None:
    exc = _error_class(error_type)("it failed", endpoint="/api/v1/x")
    record = to_task_error(exc)
    assert record.type is error_type
    assert record.message == "it failed"
    assert record.details["endpoint"] == "/api/v1/x"


def test_not_implemented_yet_is_resource_unavailable() -> None:
    assert classify_exception(errors.NotImplementedYetError("later")) is (
        ErrorType.RESOURCE_UNAVAILABLE
    )


def test_typed_error_wins_over_what_it_wraps(closed_port: int) -> None:
    refused = _redis_ping(closed_port)

    def handler() -> None:
        raise errors.DependencyFailureError("upstream output missing") from refused

    assert classify_exception(_raised(handler)) is ErrorType.DEPENDENCY_FAILURE


def test_rate_limit_error_carries_retry_after() -> None:
    exc = errors.RateLimitExceededError("quota", retry_after_s=12.5, service="quotes")
    record = to_task_error(exc)
    assert record.type is ErrorType.RATE_LIMIT_EXCEEDED
    assert exc.retry_after_s == 12.5
    assert record.details["retry_after_s"] == 12.5
    assert record.details["service"] == "quotes"


def test_unknown_exception_falls_back_and_is_not_dropped() -> None:
    class WeirdThingError(Exception):
        pass

    record = to_task_error(WeirdThingError("something odd"))
    assert FALLBACK_ERROR_TYPE is ErrorType.RESOURCE_UNAVAILABLE
    assert record.type is FALLBACK_ERROR_TYPE
    assert record.message == "something odd"
    assert record.details["exception"] == "WeirdThingError"
    assert record.details["exception_module"] == __name__


def test_cyclic_exception_chain_terminates() -> None:
    first, second = ValueError("a"), KeyError("b")
    first.__context__, second.__context__ = second, first
    assert classify_exception(first) is FALLBACK_ERROR_TYPE
