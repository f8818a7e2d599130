"""KnowledgeBase: store documents as searchable items, search them, read them back.

One class over the history engine, for both dialects; only the search statement differs
(PostgreSQL ``tsvector`` with ``ts_rank``, SQLite FTS5 with ``bm25``). Every write is
one transaction: a document row, all its items and (when given) its audit entry, or
nothing. Writes that carry an idempotency key (a task's effect key, a starter file's
version, an imported file's content) are exactly-once: the key is unique, so a repeat by
the same user finds the items already there; the key of another user's document is an
``IdempotencyKeyConflictError``, never their item ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Row, delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.context.base import utcnow
from orchestrator.history.audit import AuditEntry
from orchestrator.history.records import audit_row_values
from orchestrator.history.tables import AuditLogRow
from orchestrator.knowledge import starter
from orchestrator.knowledge.markdown import MAX_TITLE_CHARS, split_markdown, word_count
from orchestrator.knowledge.models import KnowledgeDocument, KnowledgeHit, KnowledgeItem
from orchestrator.knowledge.query import fts5_match, make_snippet, pg_tsquery, query_terms
from orchestrator.knowledge.tables import DocumentKind, KnowledgeDocumentRow, KnowledgeItemRow

# Literal statements (only bound parameters vary); the two differ only in the ranking.
_PG_SEARCH = text(
    "SELECT i.id, i.title, i.body, i.tags, d.id AS document_id, d.kind, d.origin, "
    "d.source_run_id, d.source_task_id, ts_rank(i.search_vector, q, 1) AS rank "
    "FROM knowledge_items i JOIN knowledge_documents d ON d.id = i.document_id, "
    "to_tsquery('english', :query) q "
    "WHERE i.search_vector @@ q AND (i.user_id = :user_id OR i.user_id IS NULL) "
    "ORDER BY rank DESC, i.id LIMIT :limit"
)
#: bm25 weights title 4 : body 1 (PostgreSQL's default weights: A 1.0 : B 0.4); bm25 is
#: lower for better matches, so it is negated to make higher better on both dialects.
_SQLITE_SEARCH = text(
    "SELECT i.id, i.title, i.body, i.tags, d.id AS document_id, d.kind, d.origin, "
    "d.source_run_id, d.source_task_id, -bm25(knowledge_items_fts, 4.0, 1.0) AS rank "
    "FROM knowledge_items_fts JOIN knowledge_items i ON i.id = knowledge_items_fts.rowid "
    "JOIN knowledge_documents d ON d.id = i.document_id "
    "WHERE knowledge_items_fts MATCH :query AND (i.user_id = :user_id OR i.user_id IS NULL) "
    "ORDER BY rank DESC, i.id LIMIT :limit"
)


class IdempotencyKeyConflictError(ValueError):
    """The idempotency key is another user's (or a shared document's)."""


def source_label(
    kind: DocumentKind, origin: str, document_id: int, run_id: str | None, task_id: str | None
) -> str:
    """Where an item came from, as ``KnowledgeHit.source`` spells it."""
    if kind is DocumentKind.STARTER:
        return f"starter:{origin}"
    if kind is DocumentKind.RUN:
        return f"run:{run_id}/{task_id}"
    if kind is DocumentKind.FILE:
        return f"document:{document_id}"
    return "text"


def effect_idempotency_key(effect_key: str) -> str:
    """The document key of a task's effect key (one document per run, task, restart)."""
    return f"effect:{effect_key}"


def content_sha256(title: str, body: str) -> str:
    """Hash of a document's title and text (NUL-separated so the two cannot run together)."""
    return hashlib.sha256(f"{title}\0{body}".encode()).hexdigest()


class KnowledgeBase:
    """Knowledge items over the history engine (the schema is migration 0004's)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- writing ----------------------------------------------------------------------------

    def add_text(
        self,
        *,
        user_id: str,
        title: str,
        text: str,
        tags: Sequence[str] = (),
        source_run_id: str | None = None,
        source_task_id: str | None = None,
        effect_key: str | None = None,
    ) -> list[int]:
        """Store ``text`` (Markdown or plain) as the user's items; returns their ids.

        With a source run it is recorded as that run's knowledge. With ``effect_key`` the
        call is idempotent: a repeat returns the ids stored by the first call.
        """
        kind = DocumentKind.RUN if source_run_id is not None else DocumentKind.TEXT
        ids, _created = self.add_document(
            user_id=user_id,
            kind=kind,
            title=title,
            text=text,
            origin=kind.value,
            tags=tags,
            source_run_id=source_run_id,
            source_task_id=source_task_id,
            idempotency_key=None if effect_key is None else effect_idempotency_key(effect_key),
        )
        return ids

    def add_document(
        self,
        *,
        user_id: str | None,
        kind: DocumentKind,
        title: str,
        text: str,
        origin: str,
        tags: Sequence[str] = (),
        source_run_id: str | None = None,
        source_task_id: str | None = None,
        idempotency_key: str | None = None,
        audit: AuditEntry | None = None,
    ) -> tuple[list[int], bool]:
        """Split and store one document; ``(item ids, created)``.

        ``created`` is False when this user (None: shared) already took ``idempotency_key``:
        the ids are those stored first; another user's key is an IdempotencyKeyConflictError.
        ``audit`` is written in the items' transaction, with their ``item_ids`` and ``words``.
        A document with no text at all is refused (ValueError).
        """
        sections = split_markdown(text, title)
        if not sections:
            raise ValueError(f"{title!r} has no text to store")
        if idempotency_key is not None:
            existing = self._items_of_key(idempotency_key, user_id)
            if existing is not None:
                return existing, False
        now = utcnow()
        multiple = len(sections) > 1
        try:
            with Session(self._engine) as session, session.begin():
                document = KnowledgeDocumentRow(
                    user_id=user_id,
                    kind=kind.value,
                    title=title[:MAX_TITLE_CHARS],
                    origin=origin[:500],
                    idempotency_key=idempotency_key,
                    source_run_id=source_run_id,
                    source_task_id=source_task_id,
                    tags=sorted(set(tags)),
                    content_sha256=content_sha256(title, text),
                    text=text,
                    created_at=now,
                )
                session.add(document)
                session.flush()
                rows = [
                    KnowledgeItemRow(
                        document_id=document.id,
                        user_id=user_id,
                        position=position,
                        title=_item_title(kind, title, section.title, section.level, multiple),
                        body=section.body,
                        tags=sorted(set(tags)),
                        word_count=word_count(section.body),
                        created_at=now,
                    )
                    for position, section in enumerate(sections)
                ]
                session.add_all(rows)
                session.flush()
                ids = [row.id for row in rows]
                if audit is not None:
                    detail = {"item_ids": ids, "words": sum(row.word_count for row in rows)}
                    entry = audit.model_copy(update={"detail": {**audit.detail, **detail}})
                    session.execute(insert(AuditLogRow), [audit_row_values(entry)])
        except IntegrityError:
            # Another writer stored the same key between our look-up and our insert.
            if idempotency_key is None:
                raise
            existing = self._items_of_key(idempotency_key, user_id)
            if existing is None:
                raise
            return existing, False
        return ids, True

    def ensure_starter(self) -> int:
        """Bring the shared starter items in line with the shipped files; items added.

        Idempotent: a file already stored (same slug and content) is skipped; a file
        whose content changed replaces its old version; a removed file's items go.
        """
        documents = starter.starter_documents()
        keys = {doc.key for doc in documents}
        with Session(self._engine) as session, session.begin():
            stale = session.scalars(
                select(KnowledgeDocumentRow.id).where(
                    KnowledgeDocumentRow.kind == DocumentKind.STARTER.value,
                    KnowledgeDocumentRow.idempotency_key.not_in(keys),
                )
            ).all()
            if stale:
                session.execute(
                    delete(KnowledgeItemRow).where(KnowledgeItemRow.document_id.in_(stale))
                )
                session.execute(
                    delete(KnowledgeDocumentRow).where(KnowledgeDocumentRow.id.in_(stale))
                )
            present = set(
                session.scalars(
                    select(KnowledgeDocumentRow.idempotency_key).where(
                        KnowledgeDocumentRow.idempotency_key.in_(keys)
                    )
                ).all()
            )
        added = 0
        for doc in documents:
            if doc.key in present:
                continue
            ids, created = self.add_document(
                user_id=None,
                kind=DocumentKind.STARTER,
                title=doc.title,
                text=doc.text,
                origin=doc.slug,
                tags=doc.tags,
                idempotency_key=doc.key,
            )
            added += len(ids) if created else 0
        return added

    # -- reading ----------------------------------------------------------------------------

    def search(self, query: str, *, user_id: str, limit: int = 10) -> list[KnowledgeHit]:
        """The user's and the shared items matching any word of ``query``, best first.

        Any text is a valid query (punctuation is ignored); no words, no hits.
        """
        terms = query_terms(query)
        if not terms or limit < 1:
            return []
        if self._engine.dialect.name == "postgresql":
            statement, expression = _PG_SEARCH, pg_tsquery(terms)
        else:
            statement, expression = _SQLITE_SEARCH, fts5_match(terms)
        with self._engine.connect() as conn:
            rows = conn.execute(
                statement, {"query": expression, "user_id": user_id, "limit": limit}
            ).all()
        return [_hit(row, terms) for row in rows]

    def get(self, item_id: int, *, user_id: str) -> KnowledgeItem | None:
        """The item, if it exists and is the user's own or shared."""
        with Session(self._engine) as session:
            found = session.execute(
                select(KnowledgeItemRow, KnowledgeDocumentRow)
                .join(KnowledgeDocumentRow, KnowledgeDocumentRow.id == KnowledgeItemRow.document_id)
                .where(KnowledgeItemRow.id == item_id, _visible_to(user_id))
            ).first()
        if found is None:
            return None
        item, doc = found[0], found[1]
        return KnowledgeItem(
            item_id=item.id,
            document_id=doc.id,
            title=item.title,
            body=item.body,
            tags=list(item.tags),
            source=_doc_source(doc),
            user_id=item.user_id,
            source_run_id=doc.source_run_id,
            source_task_id=doc.source_task_id,
            word_count=item.word_count,
            created_at=item.created_at,
        )

    def documents(self, *, user_id: str, include_shared: bool = True) -> list[KnowledgeDocument]:
        """The documents the user may see (newest first), with their item ids."""
        visible = (
            _doc_visible_to(user_id)
            if include_shared
            else (KnowledgeDocumentRow.user_id == user_id)
        )
        with Session(self._engine) as session:
            docs = session.scalars(
                select(KnowledgeDocumentRow)
                .where(visible)
                .order_by(KnowledgeDocumentRow.created_at.desc(), KnowledgeDocumentRow.id.desc())
            ).all()
            items: dict[int, list[tuple[int, int]]] = {}
            for doc_id, item_id, words in session.execute(
                select(
                    KnowledgeItemRow.document_id, KnowledgeItemRow.id, KnowledgeItemRow.word_count
                )
                .where(KnowledgeItemRow.document_id.in_([d.id for d in docs]))
                .order_by(KnowledgeItemRow.position)
            ):
                items.setdefault(doc_id, []).append((item_id, words))
        return [
            KnowledgeDocument(
                document_id=doc.id,
                title=doc.title,
                source=_doc_source(doc),
                shared=doc.user_id is None,
                tags=list(doc.tags),
                item_ids=[item_id for item_id, _ in items.get(doc.id, [])],
                word_count=sum(words for _, words in items.get(doc.id, [])),
                created_at=doc.created_at,
            )
            for doc in docs
        ]

    def count_items(self) -> int:
        """How many items are stored, of every user (for health checks and tests)."""
        with self._engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(KnowledgeItemRow)).scalar_one()
            )

    def _items_of_key(self, key: str, user_id: str | None) -> list[int] | None:
        with self._engine.connect() as conn:
            found = conn.execute(
                select(KnowledgeDocumentRow.id, KnowledgeDocumentRow.user_id).where(
                    KnowledgeDocumentRow.idempotency_key == key
                )
            ).first()
            if found is None:
                return None
            doc_id, owner = found
            if owner != user_id:
                raise IdempotencyKeyConflictError(
                    f"idempotency key {key!r} belongs to another user's document"
                )
            return list(
                conn.execute(
                    select(KnowledgeItemRow.id)
                    .where(KnowledgeItemRow.document_id == doc_id)
                    .order_by(KnowledgeItemRow.position)
                ).scalars()
            )


def _item_title(kind: DocumentKind, document: str, section: str, level: int, multiple: bool) -> str:
    # A run's sections are rendered output keys ("Metrics"), which say little in a result
    # list without the title the run gave; written documents have telling headings, and
    # repeating their document title in every item would skew the title-weighted ranking.
    if kind != DocumentKind.RUN or not multiple or level == 0 or section == document:
        return section[:MAX_TITLE_CHARS]
    return f"{document}: {section}"[:MAX_TITLE_CHARS]


def _doc_source(doc: KnowledgeDocumentRow) -> str:
    kind = DocumentKind(doc.kind)
    return source_label(kind, doc.origin, doc.id, doc.source_run_id, doc.source_task_id)


def _visible_to(user_id: str) -> Any:
    return (KnowledgeItemRow.user_id == user_id) | KnowledgeItemRow.user_id.is_(None)


def _doc_visible_to(user_id: str) -> Any:
    return (KnowledgeDocumentRow.user_id == user_id) | KnowledgeDocumentRow.user_id.is_(None)


def _hit(row: Row[Any], terms: list[str]) -> KnowledgeHit:
    m = row._mapping
    return KnowledgeHit(
        item_id=int(m["id"]),
        title=str(m["title"]),
        snippet=make_snippet(str(m["body"]), terms),
        rank=float(m["rank"]),
        tags=list(_json_list(m["tags"])),
        source=source_label(
            DocumentKind(m["kind"]),
            str(m["origin"]),
            int(m["document_id"]),
            m["source_run_id"],
            m["source_task_id"],
        ),
    )


def _json_list(value: Any) -> list[str]:
    # Raw text() queries get JSON back as text on SQLite and decoded on PostgreSQL.
    if isinstance(value, str):
        value = json.loads(value)
    return [str(tag) for tag in value or []]
