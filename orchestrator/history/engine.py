"""The history database engine, configured per dialect (SQLite embedded, PostgreSQL served)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

#: How long a SQLite writer waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000


def create_history_engine(url: str) -> Engine:
    """An engine for the history database, configured per dialect.

    SQLite (the embedded mode): parent directory created, usable across threads, WAL so
    readers never block the writer, a busy timeout instead of instant lock errors,
    foreign keys enforced as on PostgreSQL, and an explicit ``BEGIN`` so transactions
    (DDL included) are real transactions rather than pysqlite's implicit ones.
    PostgreSQL: ``pool_pre_ping`` so a restarted server costs a reconnect, not an error.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level; the "begin" listener below issues BEGIN itself.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine
