"""Error-analysis latency: TaskError -> ErrorAnalysis (budget: p99 ≤ 5 ms).

Pure analysis only -- severity, root cause, affected components, complexity and the
fingerprint (message normalisation). Counting previous occurrences in Postgres is a query
measured with history, not here. Cycles through errors of every ErrorType with realistic
messages and details, ``n`` analyses after a warm-up::

    .venv/bin/python bench/analysis_latency.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.models import AITask, ErrorType, Module, Priority, TaskError
from recovery.analysis import analyze_error

#: p99 budget of the issue, in milliseconds.
P99_BUDGET_MS = 5.0

_TASK = AITask(id="task_005", type="generate_code", module=Module.WORKSPACE, timeout_s=120)
_DETAILS = {
    "exception": "ConnectionError",
    "exception_module": "redis.exceptions",
    "phase": "handler",
    "cause": "ConnectionRefusedError",
    "api_endpoint": "/api/v1/code/generate",
    "status": 503,
}

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime


def _errors() -> list[TaskError]:
    return [
        TaskError(
            type=error_type,
            message=(
                f"{error_type.value}: run chain_3fa2c1 task task_005 failed after 120.5 s "
                f"talking to redis.internal:6379 at /var/lib/orch/{i}/state.json "
                "(id 550e8400-e29b-41d4-a716-446655440000)"
            ),
            details=dict(_DETAILS),
        )
        for i, error_type in enumerate(ErrorType)
    ]


def _percentile(sorted_ns: list[int], q: float) -> float:
    index = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[index] / 1e6


def measure_analysis_latency(n: int = 5000) -> dict[str, float]:
    """p50/p99/max/mean latency in ms of ``analyze_error`` over ``n`` analyses."""
    errors = _errors()
    priorities = list(Priority)

    def analyse(i: int) -> None:
        analyze_error(
            errors[i % len(errors)],
            task=_TASK,
            task_critical=i % 2 == 0,
            goal_priority=priorities[i % len(priorities)],
            attempt=1 + i % 4,
            previous_occurrences=i % 5,
            learnings_available=i % 3 == 0,
        )

    for i in range(200):  # warm-up: regex compilation, pydantic validators
        analyse(i)
    samples: list[int] = []
    for i in range(n):
        start = time.perf_counter_ns()
        analyse(i)
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return {
        "analyses": float(n),
        "p50_ms": round(_percentile(samples, 0.50), 4),
        "p99_ms": round(_percentile(samples, 0.99), 4),
        "max_ms": round(samples[-1] / 1e6, 4),
        "mean_ms": round(statistics.fmean(samples) / 1e6, 4),
        "p99_budget_ms": P99_BUDGET_MS,
    }


if __name__ == "__main__":
    print(json.dumps(measure_analysis_latency(), indent=2))


def measure_recorded_analysis_latency(runtime: Runtime, n: int = 300) -> dict[str, float]:
    """Latency of the recovery engine's ``analyse``: the pure analysis plus its history work.

    That is what a failing task pays: record the failure, count earlier failures with the
    same fingerprint and look for learnings, in Postgres (or SQLite).
    """
    errors = _errors()
    engine = runtime.recovery
    samples: list[int] = []
    for i in range(n + 20):
        start = time.perf_counter_ns()
        engine.analyse(
            run_id="bench_analysis",
            task=_TASK,
            error=errors[i % len(errors)],
            attempt=1 + i % 3,
            goal_priority=Priority.HIGH,
        )
        if i >= 20:  # warm-up: connections, prepared statements
            samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return {
        "analyses": float(n),
        "p50_ms": round(_percentile(samples, 0.50), 4),
        "p99_ms": round(_percentile(samples, 0.99), 4),
        "max_ms": round(samples[-1] / 1e6, 4),
    }
