"""History: goals, runs, task attempts and the append-only audit log (PostgreSQL or SQLite).

Live state lives in Redis; this package is the durable record. Create or update the
schema with ``upgrade(url)`` before opening a ``HistoryStore``. The recovery layer's
durable state lives here too: failures and recovery outcomes (``RecoveryLog``), parked
tasks awaiting approval or resumption (``ParkingLot``) and poison messages
(``DeadLetterBox``); all of them share one engine.
"""

# Registers the portfolio and knowledge tables on the shared metadata (one schema, one chain).
from orchestrator.history import health as health
from orchestrator.history import portfolio_tables as portfolio_tables
from orchestrator.history.audit import AuditAction, AuditEntry
from orchestrator.history.dead_letters import DeadLetterBox
from orchestrator.history.engine import create_history_engine
from orchestrator.history.migrate import current_revision, upgrade, upgrade_if_sqlite
from orchestrator.history.parking import ParkingLot
from orchestrator.history.records import AttemptRecord, RunRecord
from orchestrator.history.recovery_log import RecoveryLog, UnknownRecoveryError
from orchestrator.history.recovery_records import (
    DeadLetterRecord,
    ParkDecision,
    ParkedTaskRecord,
    ParkKind,
    RecoveryAttemptRecord,
    RecoveryStatsRow,
)
from orchestrator.history.store import GoalOwnershipError, HistoryStore, UnknownRunError
from orchestrator.knowledge import tables as knowledge_tables  # noqa: F401

__all__ = [
    "AttemptRecord",
    "AuditAction",
    "AuditEntry",
    "DeadLetterBox",
    "DeadLetterRecord",
    "GoalOwnershipError",
    "HistoryStore",
    "ParkDecision",
    "ParkKind",
    "ParkedTaskRecord",
    "ParkingLot",
    "RecoveryAttemptRecord",
    "RecoveryLog",
    "RecoveryStatsRow",
    "RunRecord",
    "UnknownRecoveryError",
    "UnknownRunError",
    "create_history_engine",
    "current_revision",
    "upgrade",
    "upgrade_if_sqlite",
]
