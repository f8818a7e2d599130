"""MONITOR_HEALTH: ping Redis, the history database, the broker and each module's workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from pydantic import Field

from orchestrator.models import Module
from orchestrator.models.base import StrictModel
from orchestrator.models.params import HealthCheck, MonitorHealthParams
from tasks.context import HandlerContext
from tasks.registry import Inputs


class CheckStatus(StrEnum):
    UP = "up"
    DOWN = "down"


class CheckResult(StrictModel):
    name: str
    status: CheckStatus
    latency_ms: float
    detail: str = ""


class HealthReport(StrictModel):
    healthy: bool
    checks: list[CheckResult]
    #: Worker hostnames consuming each module's queue.
    workers_by_queue: dict[str, list[str]] = Field(default_factory=dict)


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


def monitor_health(
    params: MonitorHealthParams, inputs: Inputs, ctx: HandlerContext
) -> HealthReport:
    runtime = ctx.runtime
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
        started = time.perf_counter()
        replies = runtime.celery.control.inspect(timeout=params.worker_timeout_s).active_queues()
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        for hostname, queues in (replies or {}).items():
            for queue in queues:
                workers_by_queue.setdefault(queue["name"], []).append(hostname)
        for module in Module:
            hosts = sorted(workers_by_queue.get(module.queue, []))
            checks.append(
                CheckResult(
                    name=f"workers:{module.queue}",
                    status=CheckStatus.UP if hosts else CheckStatus.DOWN,
                    latency_ms=latency_ms,
                    detail=", ".join(hosts) if hosts else "no worker consumes this queue",
                )
            )
    return HealthReport(
        healthy=all(c.status is CheckStatus.UP for c in checks),
        checks=checks,
        workers_by_queue={q: sorted(h) for q, h in workers_by_queue.items()},
    )
