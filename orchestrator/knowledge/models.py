"""What the knowledge base hands out: items and search hits (pydantic, strict)."""

from __future__ import annotations

from datetime import datetime

from orchestrator.models.base import StrictModel


class KnowledgeItem(StrictModel):
    """One stored item (a heading section of a document) with where it came from."""

    item_id: int
    document_id: int
    title: str
    body: str
    tags: list[str]
    #: "starter:<slug>", "document:<id>", "run:<run_id>/<task_id>" or "text".
    source: str
    #: None for shared (starter) items.
    user_id: str | None
    source_run_id: str | None
    source_task_id: str | None
    word_count: int
    created_at: datetime


class KnowledgeHit(StrictModel):
    """One search result; ``rank`` is higher for better matches within one search."""

    item_id: int
    title: str
    #: A short plain-text excerpt around the match.
    snippet: str
    rank: float
    tags: list[str]
    source: str


class KnowledgeDocument(StrictModel):
    """One stored document and the items it was split into (for listings)."""

    document_id: int
    title: str
    source: str
    #: True for the starter knowledge base every user sees.
    shared: bool
    tags: list[str]
    item_ids: list[int]
    word_count: int
    created_at: datetime
