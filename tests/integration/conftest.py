"""An orchestrator on the real Redis broker and Postgres, with one worker process per queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from config.settings import Settings
from orchestrator import Orchestrator
from orchestrator.history import create_history_engine, upgrade
from orchestrator.history.portfolio_tables import MarketPriceRow
from orchestrator.portfolio.demo import load_demo_prices
from tasks.builtin import default_registry
from tests.support.plugin import register
from tests.support.workers import worker_processes


@pytest.fixture(scope="session")
def migrated_pg_url(pg_url: str) -> str:
    upgrade(pg_url)
    return pg_url


@pytest.fixture(scope="session")
def distributed_env(
    migrated_pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """ORCH_* variables pointing at the test Redis database and Postgres database."""
    return {
        "ORCH_BROKER_URL": redis_url,
        "ORCH_RESULT_BACKEND": redis_url,
        "ORCH_REDIS_URL": redis_url,
        "ORCH_DATABASE_URL": migrated_pg_url,
        "ORCH_DATA_DIR": str(tmp_path_factory.mktemp("orch")),
        "ORCH_KEY_PREFIX": "orchtest",
    }


@pytest.fixture(scope="session")
def distributed_settings(distributed_env: dict[str, str]) -> Settings:
    return Settings(
        broker_url=distributed_env["ORCH_BROKER_URL"],
        result_backend=distributed_env["ORCH_RESULT_BACKEND"],
        redis_url=distributed_env["ORCH_REDIS_URL"],
        database_url=distributed_env["ORCH_DATABASE_URL"],
        data_dir=Path(distributed_env["ORCH_DATA_DIR"]),
        key_prefix=distributed_env["ORCH_KEY_PREFIX"],
    )


@pytest.fixture(scope="session")
def orch(
    distributed_settings: Settings,
    distributed_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Orchestrator]:
    """An Orchestrator plus one prefork ``celery worker`` process per module queue."""
    registry = default_registry()
    register(registry)
    orchestrator = Orchestrator.from_settings(distributed_settings, registry)
    with worker_processes(
        orchestrator.app, distributed_env, log_dir=tmp_path_factory.mktemp("worker-logs")
    ):
        yield orchestrator
    orchestrator.close()


@pytest.fixture(scope="session")
def market_engine(migrated_pg_url: str) -> Iterator[Engine]:
    """The test database with the shipped demo prices loaded (once per session)."""
    engine = create_history_engine(migrated_pg_url)
    load_demo_prices(engine)
    yield engine
    engine.dispose()


#: Symbols tests invent for their own prices; the shipped data has none of them.
TEST_SYMBOL_PREFIX = "ZZ"


@pytest.fixture(autouse=True)
def _forget_invented_prices(request: pytest.FixtureRequest) -> Iterator[None]:
    """Delete the prices a test invented in the shared market database after it.

    Research over "the market" (every priced instrument) and its window (up to the last
    close) must see the shipped data only, whatever ran before it.
    """
    yield
    if "market_engine" not in request.fixturenames:
        return
    engine: Engine = request.getfixturevalue("market_engine")
    with engine.begin() as conn:
        conn.execute(
            delete(MarketPriceRow).where(MarketPriceRow.symbol.startswith(TEST_SYMBOL_PREFIX))
        )
