"""Shared fixtures: real Redis and Postgres, each test session in its own database.

Services that are unreachable fail the session with a clear message; they are never
skipped. ``scripts/test.sh`` starts them first when they are down.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

PG_ADMIN_DSN = os.environ.get("ORCH_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("ORCH_TEST_REDIS_URL", "redis://127.0.0.1:6379")
#: Redis database the tests own: flushed at session start, never used by anything else.
REDIS_TEST_DB = int(os.environ.get("ORCH_TEST_REDIS_DB", "14"))


def _check_services() -> list[str]:
    problems: list[str] = []
    try:
        redis.Redis.from_url(REDIS_BASE_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {REDIS_BASE_URL} is unreachable: {exc}")
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        problems.append(f"PostgreSQL at {PG_ADMIN_DSN} is unreachable: {exc}")
    return problems


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = _check_services()
    if problems:
        pytest.exit(
            "Integration services are down (run scripts/test.sh, which starts them):\n  "
            + "\n  ".join(problems),
            returncode=3,
        )
    redis.Redis.from_url(f"{REDIS_BASE_URL}/{REDIS_TEST_DB}").flushdb()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database for this test session."""
    name = f"orch_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the Redis database the tests own."""
    return f"{REDIS_BASE_URL}/{REDIS_TEST_DB}"


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"orchtest-{uuid.uuid4().hex[:8]}"
