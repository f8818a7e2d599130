"""Planning latency of the template planner: goal in plain words -> validated TaskChain.

Plans every workflow's example goals (``example`` and ``examples`` of each template) in
turn, ``n`` plans in all, after a warm-up, and reports percentiles of the wall time of
``create_task_chain`` (matching, filling, validation and estimates)::

    .venv/bin/python bench/plan_latency.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.models import GoalContext, UserGoal
from orchestrator.planner import TemplatePlanner
from tasks.builtin import default_registry

CONTEXT = GoalContext(
    portfolio_id="portfolio_123",
    project_id="proj_456",
    user_preferences={"language": "typescript", "framework": "node", "reportFormat": "pdf"},
)


def _percentile(sorted_ns: list[int], q: float) -> float:
    index = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[index] / 1e6


def measure_plan_latency(n: int = 2000) -> dict[str, float]:
    """p50/p99/max/mean planning latency in ms over ``n`` plans of all example goals."""
    planner = TemplatePlanner(default_registry())
    goals = [
        UserGoal(description=text, context=CONTEXT)
        for workflow in planner.workflows.values()
        for text in (workflow.template.example, *workflow.template.examples)
    ]
    for goal in goals * 5:  # warm-up
        planner.create_task_chain(goal)
    samples: list[int] = []
    for i in range(n):
        goal = goals[i % len(goals)]
        start = time.perf_counter_ns()
        planner.create_task_chain(goal)
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return {
        "plans": float(n),
        "goals": float(len(goals)),
        "workflows": float(len(planner.workflows)),
        "p50_ms": round(_percentile(samples, 0.50), 4),
        "p99_ms": round(_percentile(samples, 0.99), 4),
        "max_ms": round(samples[-1] / 1e6, 4),
        "mean_ms": round(statistics.fmean(samples) / 1e6, 4),
    }


if __name__ == "__main__":
    print(json.dumps(measure_plan_latency(), indent=2))
