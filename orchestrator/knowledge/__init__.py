"""The knowledge base: documents split into searchable items, a shipped starter set.

``KnowledgeBase(engine)`` works on the history engine (PostgreSQL full-text search with
a GIN index, or SQLite FTS5 in the embedded mode). Items belong to one user or, with no
user, to everyone (the starter knowledge base, ``ensure_starter()``).

This package is imported while ``orchestrator.history`` initialises (to register its
tables), so nothing here may import from the ``orchestrator.history`` package itself;
only its submodules.
"""

from orchestrator.knowledge.base import KnowledgeBase
from orchestrator.knowledge.models import KnowledgeDocument, KnowledgeHit, KnowledgeItem

__all__ = ["KnowledgeBase", "KnowledgeDocument", "KnowledgeHit", "KnowledgeItem"]
