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
#: Not ``system.monitor_health``: that name is the MONITOR_HEALTH task type's own task.
HEALTH_TASK = "system.periodic_health"


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule`` for these settings."""
    return {
        "evaluate-alerts": {
            "task": ALERTS_TASK,
            "schedule": settings.alerts_interval_s,
            # A late evaluation is worthless once the next one is due.
            "options": {"expires": settings.alerts_interval_s},
        },
        "check-health": {
            "task": HEALTH_TASK,
            "schedule": settings.health_interval_s,
            # A stale check says nothing about now; the next one is due anyway.
            "options": {"expires": settings.health_interval_s},
        },
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

    @app.task(name=HEALTH_TASK, shared=False)  # type: ignore[untyped-decorator]
    def periodic_health() -> dict[str, object]:
        from orchestrator.history.health import BEAT_SOURCE, CheckStatus
        from tasks.system.monitor_health import UnrecordedHealth, check_and_record

        try:
            record = check_and_record(runtime_of(app), source=BEAT_SOURCE)
            recorded = True
        except UnrecordedHealth as exc:
            # History is down: that is a finding (the report says so), not a task failure.
            record, recorded = exc.record, False
        return {
            "healthy": record.healthy,
            "down": [c.name for c in record.checks if c.status is CheckStatus.DOWN],
            "recorded": recorded,
        }
