"""What every history repository shares: an engine, short transactions, upserts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.history.engine import create_history_engine


class Repository:
    """Base of the history repositories: safe to share between threads, every method
    runs in its own short transaction. The schema must exist (``upgrade(url)``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A repository on a new engine for ``url`` (see ``create_history_engine``)."""
        return cls(create_history_engine(url))

    @property
    def engine(self) -> Engine:
        """The underlying engine (shared by the repositories of one runtime)."""
        return self._engine

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def _upsert(self) -> Any:
        # Both dialects spell "INSERT ... ON CONFLICT" the same way in SQLAlchemy.
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert
        if self._engine.dialect.name == "sqlite":
            return sqlite.insert
        raise NotImplementedError(f"history does not support {self._engine.dialect.name!r}")
