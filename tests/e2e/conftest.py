"""End-to-end fixtures: the ``orchestrator`` CLI as real subprocesses.

Embedded tests give each CLI call a clean environment (no ``ORCH_*`` variable but
``ORCH_DATA_DIR``) and run it in a temporary directory, so no stray ``.env`` is read.
Distributed tests use ``ORCH_*`` variables like ``distributed_env``'s (real Redis, a
migrated Postgres database) plus one ``celery worker`` process per queue, as the Procfile
starts them. Their Redis database is claimed by the e2e session alone: the tests' shared
database (REDIS_TEST_DB) is flushed by every pytest session at its start, and the worker
processes of a concurrent session would consume tasks from the same queue names.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from config.settings import Settings
from orchestrator import Orchestrator
from tasks.builtin import default_registry
from tests.conftest import PG_ADMIN_DSN, REDIS_BASE_URL, REDIS_TEST_DB
from tests.integration.conftest import migrated_pg_url  # noqa: F401
from tests.support.plugin import register
from tests.support.workers import settings_env, worker_processes

#: The console script of the installed package, next to this interpreter.
ORCHESTRATOR = Path(sys.executable).parent / "orchestrator"
#: Generous: an embedded run starts and stops four in-process workers.
CLI_TIMEOUT_S = 60.0
HEALTH_GOAL = "Check system health and back up my state"
TRADING_GOAL = "Create a new trading bot for my portfolio"
REPORT_GENERATOR_GOAL = "Analyze my portfolio performance and create a custom report generator"


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr with rich's line wrapping undone (whitespace collapsed)."""
        return " ".join(f"{self.stdout}\n{self.stderr}".split())

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"orchestrator {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """os.environ without any ORCH_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(extra)
    return env


def run_cli(
    *args: str, env: Mapping[str, str], cwd: Path, timeout_s: float = CLI_TIMEOUT_S
) -> CliResult:
    proc = subprocess.run(
        [str(ORCHESTRATOR), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return CliResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def start_cli(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(ORCHESTRATOR), *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_cli(
    proc: subprocess.Popen[str], *args: str, timeout_s: float = CLI_TIMEOUT_S
) -> CliResult:
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"orchestrator {' '.join(args)} did not exit within {timeout_s} s:\n{stderr}")
    return CliResult(tuple(args), proc.returncode, stdout, stderr)


Cli = Callable[..., CliResult]


# --- embedded --------------------------------------------------------------------------


@pytest.fixture
def embedded_cli(tmp_path: Path) -> Cli:
    """Runs the CLI embedded, with ORCH_DATA_DIR = cwd = this test's tmp_path."""
    env = clean_env({"ORCH_DATA_DIR": str(tmp_path)})

    def cli(*args: str, timeout_s: float = CLI_TIMEOUT_S) -> CliResult:
        return run_cli(*args, env=env, cwd=tmp_path, timeout_s=timeout_s)

    return cli


# --- distributed -----------------------------------------------------------------------


#: Redis databases the e2e session may claim (the first empty one); never REDIS_TEST_DB,
#: which every pytest session flushes at its start and whose queues their workers consume.
E2E_REDIS_DBS = [
    int(db)
    for db in os.environ.get("ORCH_TEST_E2E_REDIS_DBS", "13,12,11,10,9,8,7,6,5,4,3,2,1").split(",")
    if int(db) != REDIS_TEST_DB
]
E2E_LOCK_KEY = "orch-e2e:lock"


@pytest.fixture(scope="session")
def e2e_redis_url() -> Iterator[str]:
    """A Redis database of this session alone: broker, results and live context.

    The queue names are fixed (one per module), so two sessions sharing a database would
    consume each other's tasks; the e2e session claims an empty database with a lock key.
    """
    token = uuid.uuid4().hex
    for db in E2E_REDIS_DBS:
        url = f"{REDIS_BASE_URL}/{db}"
        client = redis.Redis.from_url(url, decode_responses=True)
        try:
            if client.dbsize() != 0 or not client.set(E2E_LOCK_KEY, token, nx=True, ex=3600):
                continue
            if client.dbsize() != 1:  # someone else wrote meanwhile: not ours after all
                if client.get(E2E_LOCK_KEY) == token:
                    client.delete(E2E_LOCK_KEY)
                continue
            yield url
            if client.get(E2E_LOCK_KEY) == token:
                client.flushdb()
            return
        finally:
            client.close()
    pytest.fail(f"no empty Redis database among {E2E_REDIS_DBS} at {REDIS_BASE_URL}")


@pytest.fixture(scope="session")
def e2e_settings_env(
    e2e_redis_url: str,
    migrated_pg_url: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """ORCH_* variables of the distributed setup: e2e Redis database, migrated Postgres."""
    return {
        "ORCH_BROKER_URL": e2e_redis_url,
        "ORCH_RESULT_BACKEND": e2e_redis_url,
        "ORCH_REDIS_URL": e2e_redis_url,
        "ORCH_DATABASE_URL": migrated_pg_url,
        "ORCH_DATA_DIR": str(tmp_path_factory.mktemp("orch-e2e")),
        "ORCH_KEY_PREFIX": "orche2e",
    }


@pytest.fixture(scope="session")
def e2e_env(e2e_settings_env: dict[str, str]) -> dict[str, str]:
    """The env of CLI processes on the distributed setup (test task types loaded)."""
    return clean_env(settings_env(e2e_settings_env))


@pytest.fixture(scope="module")
def e2e_orch(
    e2e_settings_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Orchestrator]:
    """A distributed Orchestrator (for pings and history), with worker processes running."""
    settings = Settings(
        broker_url=e2e_settings_env["ORCH_BROKER_URL"],
        result_backend=e2e_settings_env["ORCH_RESULT_BACKEND"],
        redis_url=e2e_settings_env["ORCH_REDIS_URL"],
        database_url=e2e_settings_env["ORCH_DATABASE_URL"],
        data_dir=Path(e2e_settings_env["ORCH_DATA_DIR"]),
        key_prefix=e2e_settings_env["ORCH_KEY_PREFIX"],
    )
    registry = default_registry()
    register(registry)
    orch = Orchestrator.from_settings(settings, registry)
    log_dir = tmp_path_factory.mktemp("e2e-worker-logs")
    with contextlib.ExitStack() as stack:
        stack.callback(orch.close)
        try:
            stack.enter_context(worker_processes(orch.app, e2e_settings_env, log_dir=log_dir))
        except RuntimeError as exc:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in log_dir.iterdir())
            pytest.fail(f"{exc}\n{logs}")
        yield orch


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a brand-new, empty (unmigrated) PostgreSQL database."""
    name = f"orch_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
