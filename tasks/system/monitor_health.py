"""MONITOR_HEALTH: ping Redis, the history database, the broker and each module's workers.

The same check code serves three callers, and each report is recorded in history
(``health_reports``) with who took it: a run's MONITOR_HEALTH task (its run id), Celery
beat's periodic job (``beat``, see ``tasks.periodic``) and ``orchestrator health --now``
(``cli``). A report that cannot be recorded (history is down) is still returned, marked
``recorded=False``: a health check must not fail exactly when it finds the database down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.context import utcnow
from orchestrator.history.health import (
    CheckResult,
    CheckStatus,
    HealthLog,
    HealthRecord,
)
from orchestrator.models import Module
from orchestrator.models.base import StrictModel
from orchestrator.models.params import HealthCheck, MonitorHealthParams
from tasks.context import HandlerContext
from tasks.registry import Inputs

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

__all__ = [
    "CheckResult",
    "CheckStatus",
    "HealthReport",
    "UnrecordedHealth",
    "check_and_record",
    "check_health",
    "monitor_health",
    "record_report",
]

#: Detail of the workers check where no shared worker pools exist to ask.
EMBEDDED_WORKERS_DETAIL = "embedded mode: in-process worker threads start with each run"

log = logging.getLogger(__name__)


class HealthReport(StrictModel):
    """What one health check found; healthy when no check is down."""

    healthy: bool
    checks: list[CheckResult]
    #: Worker hostnames consuming each module's queue.
    workers_by_queue: dict[str, list[str]] = Field(default_factory=dict)
    #: Whether the report is in history's ``health_reports`` (not when history is down).
    recorded: bool = False


def _timed(name: str, probe: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = probe()
        status = CheckStatus.UP
    except Exception as exc:  # noqa: BLE001 -- a failing probe is a finding, not a crash
        detail = f"{type(exc).__name__}: {exc}"
        status = CheckStatus.DOWN
    latency_ms = (time.perf_counter() - started) * 1000
    return CheckResult(name=name, status=status, latency_ms=round(latency_ms, 3), detail=detail)


def is_healthy(checks: list[CheckResult]) -> bool:
    """Healthy when no check is down (a skipped check neither passes nor fails)."""
    return all(c.status is not CheckStatus.DOWN for c in checks)


def _queue_checks(
    workers_by_queue: Mapping[str, list[str]], latency_ms: float, missing: str
) -> list[CheckResult]:
    """One ``workers:<queue>`` check per module: up when a worker consumes its queue."""
    checks = []
    for module in Module:
        hosts = sorted(workers_by_queue.get(module.queue, []))
        checks.append(
            CheckResult(
                name=f"workers:{module.queue}",
                status=CheckStatus.UP if hosts else CheckStatus.DOWN,
                latency_ms=latency_ms,
                detail=", ".join(hosts) if hosts else missing,
            )
        )
    return checks


def _worker_checks(
    runtime: Runtime, timeout_s: float
) -> tuple[list[CheckResult], dict[str, list[str]]]:
    workers_by_queue: dict[str, list[str]] = {}
    started = time.perf_counter()
    replies = runtime.celery.control.inspect(timeout=timeout_s).active_queues()
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    for hostname, queues in (replies or {}).items():
        for queue in queues:
            workers_by_queue.setdefault(queue["name"], []).append(hostname)
    checks = _queue_checks(workers_by_queue, latency_ms, "no worker consumes this queue")
    return checks, {q: sorted(h) for q, h in workers_by_queue.items()}


def check_health(
    runtime: Runtime, params: MonitorHealthParams, *, probe_workers: bool = True
) -> HealthReport:
    """Run the checks ``params`` asks for against ``runtime``'s services.

    ``probe_workers=False`` reports the workers check as skipped: in the embedded mode a
    process that is not running a chain has no worker threads to ask.
    """
    checks: list[CheckResult] = []
    workers_by_queue: dict[str, list[str]] = {}

    def ping_redis() -> str:
        runtime.context.ping()
        return "PING ok"

    def ping_database() -> str:
        runtime.history.ping()
        return "SELECT 1 ok"

    def ping_broker() -> str:
        with runtime.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=params.worker_timeout_s)
            return f"connected to {conn.as_uri()}"

    if HealthCheck.REDIS in params.checks:
        checks.append(_timed("redis", ping_redis))
    if HealthCheck.DATABASE in params.checks:
        checks.append(_timed("database", ping_database))
    if HealthCheck.BROKER in params.checks:
        checks.append(_timed("broker", ping_broker))
    if HealthCheck.WORKERS in params.checks:
        if probe_workers:
            # Workers are asked through the broker; with the broker down, asking would retry
            # the connection for a long time and could only fail.
            broker = next((c for c in checks if c.name == "broker"), None) or _timed(
                "broker", ping_broker
            )
            if broker.status is CheckStatus.DOWN:
                missing = f"cannot ask the workers, the broker is down ({broker.detail})"
                checks.extend(_queue_checks({}, 0.0, missing))
            else:
                worker_checks, workers_by_queue = _worker_checks(runtime, params.worker_timeout_s)
                checks.extend(worker_checks)
        else:
            checks.append(
                CheckResult(
                    name="workers",
                    status=CheckStatus.SKIPPED,
                    latency_ms=0.0,
                    detail=EMBEDDED_WORKERS_DETAIL,
                )
            )
    return HealthReport(
        healthy=is_healthy(checks), checks=checks, workers_by_queue=workers_by_queue
    )


class UnrecordedHealth(RuntimeError):
    """The checks ran but the report could not be recorded (the database is down)."""

    def __init__(self, record: HealthRecord, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.record = record


def record_report(runtime: Runtime, report: HealthReport, *, source: str) -> HealthRecord:
    """Record ``report`` in history (pruning reports past ``health_keep_days``).

    Raises ``UnrecordedHealth``, carrying the report, when history cannot be written.
    """
    record = HealthRecord(
        checked_at=utcnow(), source=source, healthy=report.healthy, checks=report.checks
    )
    try:
        HealthLog(runtime.history.engine).record(
            record, keep_days=runtime.settings.health_keep_days
        )
    except SQLAlchemyError as exc:
        raise UnrecordedHealth(record, exc) from exc
    return record


def check_and_record(
    runtime: Runtime,
    *,
    source: str,
    params: MonitorHealthParams | None = None,
    probe_workers: bool = True,
) -> HealthRecord:
    """Check every service and record the report (beat's job and ``health --now``)."""
    report = check_health(runtime, params or MonitorHealthParams(), probe_workers=probe_workers)
    return record_report(runtime, report, source=source)


def monitor_health(
    params: MonitorHealthParams, inputs: Inputs, ctx: HandlerContext
) -> HealthReport:
    """The MONITOR_HEALTH handler: check, record under the run's id, return the report
    (``recorded=False`` when history is down: the report says so, the task succeeds)."""
    report = check_health(ctx.runtime, params)
    try:
        record_report(ctx.runtime, report, source=ctx.run_id)
    except UnrecordedHealth as exc:
        log.warning("health report of run %s not recorded: %s", ctx.run_id, exc)
        return report
    return report.model_copy(update={"recorded": True})
