"""History: goals, runs, task attempts and the append-only audit log (PostgreSQL or SQLite).

Live state lives in Redis; this package is the durable record. Create or update the
schema with ``upgrade(url)`` before opening a ``HistoryStore``.
"""

from orchestrator.history.audit import AuditAction, AuditEntry
from orchestrator.history.engine import create_history_engine
from orchestrator.history.migrate import current_revision, upgrade
from orchestrator.history.records import AttemptRecord, RunRecord
from orchestrator.history.store import GoalOwnershipError, HistoryStore, UnknownRunError

__all__ = [
    "AttemptRecord",
    "AuditAction",
    "AuditEntry",
    "GoalOwnershipError",
    "HistoryStore",
    "RunRecord",
    "UnknownRunError",
    "create_history_engine",
    "current_revision",
    "upgrade",
]
