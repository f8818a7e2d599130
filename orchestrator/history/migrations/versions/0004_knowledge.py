"""Knowledge base: documents, the items they are split into, and a full-text index.

Hand-written, like 0001 to 0003. The two tables are identical to
``orchestrator/knowledge/tables.py``; the integration tests compare the migrated database
with the metadata. The full-text index is dialect-specific and lives only here (the
metadata does not model it; ``orchestrator.knowledge.tables`` tells autogenerate so):

- PostgreSQL: ``knowledge_items.search_vector``, a stored generated ``tsvector`` (title
  weighted A, body B, ``english`` configuration: stemming and stop words) with a GIN index.
- SQLite: ``knowledge_items_fts``, an FTS5 external-content table over ``knowledge_items``
  (porter stemmer) kept in sync by triggers, so the text is stored once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')"
)

# External content: the FTS table indexes knowledge_items' columns by rowid and reads
# them back from there. The 'delete' command must be given the old values, hence the
# update trigger deletes then re-inserts.
_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE knowledge_items_fts USING fts5("
    "title, body, content='knowledge_items', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER knowledge_items_fts_insert AFTER INSERT ON knowledge_items BEGIN "
    "INSERT INTO knowledge_items_fts(rowid, title, body) "
    "VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER knowledge_items_fts_delete AFTER DELETE ON knowledge_items BEGIN "
    "INSERT INTO knowledge_items_fts(knowledge_items_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER knowledge_items_fts_update AFTER UPDATE ON knowledge_items BEGIN "
    "INSERT INTO knowledge_items_fts(knowledge_items_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO knowledge_items_fts(rowid, title, body) "
    "VALUES (new.id, new.title, new.body); END",
)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _bigint() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "knowledge_documents",
        sa.Column("id", _bigint(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("origin", sa.String(500), nullable=False),
        sa.Column("idempotency_key", sa.String(400), nullable=True),
        sa.Column("source_run_id", sa.String(128), nullable=True),
        sa.Column("source_task_id", sa.String(128), nullable=True),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_documents"),
        sa.UniqueConstraint("idempotency_key", name="uq_knowledge_documents_idempotency_key"),
        sa.CheckConstraint(
            "kind IN ('starter', 'file', 'text', 'run')", name="ck_knowledge_documents_kind"
        ),
    )
    op.create_index("ix_knowledge_documents_user_id", "knowledge_documents", ["user_id"])
    op.create_index(
        "ix_knowledge_documents_source_run_id", "knowledge_documents", ["source_run_id"]
    )

    op.create_table(
        "knowledge_items",
        sa.Column("id", _bigint(), autoincrement=True, nullable=False),
        sa.Column("document_id", _bigint(), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_items"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_documents.id"],
            name="fk_knowledge_items_document_id_knowledge_documents",
        ),
        sa.UniqueConstraint(
            "document_id", "position", name="uq_knowledge_items_document_id_position"
        ),
    )
    op.create_index("ix_knowledge_items_document_id", "knowledge_items", ["document_id"])
    op.create_index("ix_knowledge_items_user_id", "knowledge_items", ["user_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE knowledge_items ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({_PG_VECTOR}) STORED"
        )
        op.execute(
            "CREATE INDEX ix_knowledge_items_search_vector "
            "ON knowledge_items USING gin (search_vector)"
        )
    else:
        for statement in _SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS knowledge_items_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS knowledge_items_fts")
    # On PostgreSQL the generated column and its GIN index go with the table.
    op.drop_table("knowledge_items")
    op.drop_table("knowledge_documents")
