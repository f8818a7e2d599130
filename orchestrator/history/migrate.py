"""Run the history migrations from code, without an ``alembic.ini`` in the working directory."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from orchestrator.history.engine import create_history_engine

#: Shipped inside the package, so an installed orchestrator can migrate its database.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Arbitrary constant key of the PostgreSQL advisory lock serialising upgrades.
_UPGRADE_LOCK_KEY = 0x6F726368  # "orch"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations, optionally bound to a connection."""
    config = Config()
    # ConfigParser interpolates "%": a path containing one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        # env.py uses this connection as is; the URL never goes through ConfigParser.
        config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the history database at ``url`` to ``revision``; a no-op when already there.

    Runs in one transaction. On PostgreSQL an advisory lock makes concurrent callers
    (API and workers starting together) wait for each other instead of racing to create
    the same tables.
    """
    engine = create_history_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or ``None`` if it was never migrated."""
    engine = create_history_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade_if_sqlite(url: str, data_dir: Path) -> None:
    """Migrate an SQLite history on the spot (the embedded default: no ``db upgrade`` step),
    creating its data directory first; any other database is left to ``db upgrade``."""
    if url.startswith("sqlite"):
        data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(url)
