"""A plan's expected duration and confidence. Pure functions over a chain and the registry.

Per task type the registry gives ``expected_duration_ms`` and ``base_confidence``; learned
values (from execution history, a later issue) override them type by type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from orchestrator.dag import Graph
from orchestrator.models import TaskChain

#: How much the intent match score can lower confidence (a perfect match costs nothing).
MATCH_WEIGHT = 0.25


class EstimateSpec(Protocol):
    @property
    def expected_duration_ms(self) -> int: ...

    @property
    def base_confidence(self) -> float: ...


class EstimateCatalog(Protocol):
    """Where the defaults come from (the task registry implements this)."""

    def spec_for(self, task_type: str) -> EstimateSpec | None: ...


@dataclass(frozen=True)
class LearnedEstimate:
    """A learned override for one task type; ``None`` keeps the registry default."""

    duration_ms: float | None = None
    confidence: float | None = None


Learned = Mapping[str, LearnedEstimate]


def task_duration_ms(task_type: str, catalog: EstimateCatalog, learned: Learned | None) -> float:
    override = learned.get(task_type) if learned else None
    if override is not None and override.duration_ms is not None:
        return max(0.0, override.duration_ms)
    spec = catalog.spec_for(task_type)
    if spec is None:
        raise KeyError(f"unknown task type {task_type!r}")
    return float(spec.expected_duration_ms)


def task_confidence(task_type: str, catalog: EstimateCatalog, learned: Learned | None) -> float:
    override = learned.get(task_type) if learned else None
    if override is not None and override.confidence is not None:
        return min(1.0, max(0.0, override.confidence))
    spec = catalog.spec_for(task_type)
    if spec is None:
        raise KeyError(f"unknown task type {task_type!r}")
    return spec.base_confidence


def estimated_duration_ms(
    chain: TaskChain,
    catalog: EstimateCatalog,
    learned: Learned | None = None,
    graph: Graph | None = None,
) -> int:
    """The critical path: the longest dependency path, each task weighted by its type's
    duration (learned, else the registry's ``expected_duration_ms``).

    Tasks off the critical path run in parallel with it, so they add nothing.
    """
    if graph is None:
        graph = Graph.build(
            [t.id for t in chain.tasks], [(d.from_task, d.to_task) for d in chain.dependencies]
        )
    durations = {t.id: task_duration_ms(str(t.type), catalog, learned) for t in chain.tasks}
    return round(graph.critical_path_ms(durations))


def confidence_score(
    chain: TaskChain,
    catalog: EstimateCatalog,
    match_score: float = 1.0,
    learned: Learned | None = None,
) -> float:
    """How likely the plan is to succeed as planned and to be what the user asked for::

        reliability = (c_1 * c_2 * ... * c_n) ** (1 / sqrt(n))
        confidence  = reliability * (1 - MATCH_WEIGHT * (1 - match_score))

    ``c_i`` is each task's first-attempt success rate (learned, else ``base_confidence``).
    The product is the chance every task succeeds first time; retries and recovery make
    long chains less fragile than that, so it is softened by the root ``sqrt(n)`` (between
    the product, ``n``-th root 1, and the geometric mean, root ``n``): more and riskier tasks
    still lower confidence. ``match_score`` (0..1) is the intent match; a perfect match
    keeps the reliability, a match at score 0.6 costs 10%. Rounded to 4 places.
    """
    confidences = [task_confidence(str(t.type), catalog, learned) for t in chain.tasks]
    if any(c <= 0.0 for c in confidences):
        reliability = 0.0
    else:
        log_sum = sum(math.log(c) for c in confidences)
        reliability = math.exp(log_sum / math.sqrt(len(confidences)))
    match = min(1.0, max(0.0, match_score))
    return round(min(1.0, max(0.0, reliability * (1.0 - MATCH_WEIGHT * (1.0 - match)))), 4)
