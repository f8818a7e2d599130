"""Raw Celery tasks: the baseline the orchestrator is measured against.

``shared_task`` registers them on every app that finalizes, so a worker started with
``celery -A orchestrator worker`` gets them once this module is imported -- the
``bench.tasks`` plug-in (loaded through ``ORCH_PLUGINS``) imports it. They run on the
same worker processes and queue as the orchestrator's ``bench_*`` types; senders route
them explicitly with ``queue=``.
"""

from __future__ import annotations

import time

from celery import shared_task

RAW_NOOP = "bench.raw_noop"
RAW_SLEEP = "bench.raw_sleep"


@shared_task(name=RAW_NOOP)  # type: ignore[untyped-decorator]
def raw_noop() -> None:
    """Does nothing: what is left is Celery's own cost per task."""


@shared_task(name=RAW_SLEEP)  # type: ignore[untyped-decorator]
def raw_sleep(sleep_ms: int) -> int:
    """Sleeps ``sleep_ms`` milliseconds (the makespan DAG)."""
    time.sleep(sleep_ms / 1000)
    return sleep_ms
