"""The Celery app the worker command loads: ``celery -A orchestrator worker -Q portfolio``.

Configured from ``ORCH_*`` settings, so workers and the submitting process agree.
"""

from __future__ import annotations

from celery.signals import worker_process_init

from orchestrator.app import create_app

app = create_app()


@worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
def _reset_connections_after_fork(**_: object) -> None:
    # A prefork child must not reuse the parent's database connections.
    app.runtime.history.after_fork()


__all__ = ["app"]
