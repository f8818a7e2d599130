"""The services one orchestrator process works with, held together explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import fakeredis

from config.settings import Settings
from orchestrator.context import ContextStore
from orchestrator.history import HistoryStore
from orchestrator.permissions import Permissions
from tasks.registry import TaskRegistry

if TYPE_CHECKING:
    from celery import Celery


@dataclass
class Runtime:
    """Settings, task registry, live context, history, permissions and the Celery app."""

    settings: Settings
    registry: TaskRegistry
    context: ContextStore
    history: HistoryStore
    permissions: Permissions
    celery: Celery

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
