"""The services one orchestrator process works with, held together explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import fakeredis

from config.settings import Settings
from orchestrator.context import ContextStore
from orchestrator.history import DeadLetterBox, HistoryStore, ParkingLot, RecoveryLog
from orchestrator.permissions import Permissions
from tasks.registry import TaskRegistry

if TYPE_CHECKING:
    from celery import Celery

    from orchestrator.portfolio.services import PortfolioServices
    from recovery.engine import RecoveryEngine


@dataclass
class Runtime:
    """Settings, task registry, live context, history, permissions and the Celery app."""

    settings: Settings
    registry: TaskRegistry
    context: ContextStore
    history: HistoryStore
    permissions: Permissions
    celery: Celery
    recovery_log: RecoveryLog = field(init=False)
    parking: ParkingLot = field(init=False)
    dead_letters: DeadLetterBox = field(init=False)

    def __post_init__(self) -> None:
        # One engine (one connection pool) serves every history table.
        engine = self.history.engine
        self.recovery_log = RecoveryLog(engine)
        self.parking = ParkingLot(engine)
        self.dead_letters = DeadLetterBox(engine)

    @cached_property
    def recovery(self) -> RecoveryEngine:
        """The recovery engine (policy loaded on first use)."""
        from recovery.engine import RecoveryEngine

        return RecoveryEngine.for_runtime(self)

    @cached_property
    def portfolio(self) -> PortfolioServices:
        """Portfolios, market data, paper broker and alerts (on the history engine)."""
        from orchestrator.portfolio.services import PortfolioServices

        return PortfolioServices.build(self.history.engine, self.settings)

    def close(self) -> None:
        """Release every connection this runtime holds (database, Redis, broker pools)."""
        self.history.dispose()
        self.context.client.close()
        self.celery.close()


def build_context_store(settings: Settings) -> ContextStore:
    if settings.redis_url:
        return ContextStore.from_url(
            settings.redis_url, prefix=settings.key_prefix, ttl_s=settings.context_ttl_s
        )
    # Embedded: an in-process Redis-compatible server shared by this process's workers.
    return ContextStore.in_process(
        prefix=settings.key_prefix, ttl_s=settings.context_ttl_s, server=fakeredis.FakeServer()
    )
