"""Periodic jobs run by Celery beat (the Procfile's ``beat`` line, the compose ``beat`` service).

Each job is an ordinary Celery task routed to its module's queue, so the pool that owns
the data runs it; beat only sends the messages.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from config.settings import Settings
from tasks.base import runtime_of

ALERTS_TASK = "portfolio.evaluate_alerts"


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule`` for these settings."""
    return {
        "evaluate-alerts": {
            "task": ALERTS_TASK,
            "schedule": settings.alerts_interval_s,
            # A late evaluation is worthless once the next one is due.
            "options": {"expires": settings.alerts_interval_s},
        }
    }


def bind_periodic(app: Celery) -> None:
    """Register the periodic jobs' tasks on ``app``."""

    @app.task(name=ALERTS_TASK, shared=False)  # type: ignore[untyped-decorator]
    def evaluate_alerts() -> dict[str, int]:
        from tasks.portfolio.alerts_task import evaluate_all_alerts

        reports = evaluate_all_alerts(runtime_of(app))
        return {
            "portfolios": len(reports),
            "rules": sum(r.evaluated for r in reports),
            "new_triggers": sum(1 for r in reports for a in r.triggered if a.new),
        }
