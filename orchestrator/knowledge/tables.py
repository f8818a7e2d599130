"""The knowledge schema (0004): documents and the items (heading sections) they split into.

The tables live on the history metadata, so one Alembic chain migrates them and one
engine serves them. ``user_id`` NULL means shared: the starter knowledge base every
user sees. ``knowledge_documents.idempotency_key`` makes imports exactly-once: a
starter document's key is ``starter:<slug>``, a run's is the task's effect key, so a
redelivered task finds its key taken and returns the items already stored.

The full-text index is dialect-specific and created by migration 0004 only: a generated
``tsvector`` column with a GIN index on PostgreSQL, an FTS5 external-content table with
sync triggers on SQLite. Neither is expressible in portable metadata, so a schema
comparison passes ``include_in_comparison`` to leave them out; otherwise every "database
matches the metadata" check would report them as extra.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.history.tables import ID_LEN, Base, BigIntPK, UTCDateTime, json_type

TITLE_LEN = 300
ORIGIN_LEN = 500
KEY_LEN = 400

#: PostgreSQL: the generated tsvector column and its GIN index (see migration 0004).
PG_SEARCH_COLUMN = "search_vector"
PG_SEARCH_INDEX = "ix_knowledge_items_search_vector"
#: SQLite: the FTS5 table; FTS5 creates its shadow tables as ``<name>_<suffix>``.
SQLITE_FTS_TABLE = "knowledge_items_fts"


class DocumentKind(StrEnum):
    """Where a document came from."""

    STARTER = "starter"
    FILE = "file"
    TEXT = "text"
    RUN = "run"


class KnowledgeDocumentRow(Base):
    """One imported document, kept whole beside the items it was split into."""

    __tablename__ = "knowledge_documents"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        CheckConstraint("kind IN ('starter', 'file', 'text', 'run')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    #: NULL: shared with every user (the starter knowledge base).
    user_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(TITLE_LEN))
    #: The starter slug, the imported file's name, or "text"/"run".
    origin: Mapped[str] = mapped_column(String(ORIGIN_LEN))
    idempotency_key: Mapped[str | None] = mapped_column(String(KEY_LEN))
    source_run_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    source_task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    tags: Mapped[list[str]] = mapped_column(json_type())
    content_sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KnowledgeItemRow(Base):
    """One searchable section of a document: its heading as title, its text as body."""

    __tablename__ = "knowledge_items"
    __table_args__ = (UniqueConstraint("document_id", "position"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("knowledge_documents.id"), index=True
    )
    #: Copied from the document so a search filters without a join.
    user_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(TITLE_LEN))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(json_type())
    word_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def include_in_comparison(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook: leave the migration-made search structures out.

    Pass it to a schema comparison (``MigrationContext.configure(conn, opts={
    "include_object": include_in_comparison})``); anything else still shows.
    """
    if not reflected or compare_to is not None or name is None:
        return True
    if type_ == "table":
        return not (name == SQLITE_FTS_TABLE or name.startswith(SQLITE_FTS_TABLE + "_"))
    if type_ == "column":
        return not (name == PG_SEARCH_COLUMN and obj.table.name == "knowledge_items")
    if type_ == "index":
        return name != PG_SEARCH_INDEX
    return True
