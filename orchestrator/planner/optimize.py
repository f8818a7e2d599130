"""Pure rewrites of a chain's dependencies for ``optimize_plan``.

- :func:`redundant_prerequisites`: prerequisite edges implied by another path (ordering
  only, so dropping them changes nothing); data_flow and validation edges carry data and
  are always kept.
- :func:`width`: the most tasks that can ever run at once (Dilworth: the size of a
  minimum chain cover, from a maximum matching over the reachability relation).
- :func:`lane_edges`: prerequisite edges that cap parallelism at ``k`` by list-scheduling
  the tasks onto ``k`` lanes; each lane becomes a totally ordered path, so no more than
  ``k`` tasks are ever concurrent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.dag import Graph
from orchestrator.models import DependencyType, TaskDependency


def redundant_prerequisites(graph: Graph, deps: Sequence[TaskDependency]) -> set[tuple[str, str]]:
    """Prerequisite edges ``u -> v`` where ``v`` is also reachable from ``u`` another way."""
    reach = graph.reachability()
    redundant: set[tuple[str, str]] = set()
    for dep in deps:
        if dep.type is not DependencyType.PREREQUISITE:
            continue
        u, v = dep.from_task, dep.to_task
        if any(v in reach[w] for w in graph.children[u] if w != v):
            redundant.add((u, v))
    return redundant


def width(graph: Graph) -> int:
    """Maximum number of pairwise unordered tasks (maximum antichain)."""
    reach = graph.reachability()
    match_of: dict[str, str] = {}  # right node -> left node

    def augment(node: str, seen: set[str]) -> bool:
        for other in reach[node]:
            if other in seen:
                continue
            seen.add(other)
            if other not in match_of or augment(match_of[other], seen):
                match_of[other] = node
                return True
        return False

    matching = sum(1 for node in graph.nodes if augment(node, set()))
    return len(graph.nodes) - matching


def _bottom_levels(graph: Graph, duration_ms: Mapping[str, float]) -> dict[str, float]:
    level: dict[str, float] = {}
    for node in reversed(graph.topological_order()):
        level[node] = duration_ms[node] + max((level[c] for c in graph.children[node]), default=0.0)
    return level


def lane_edges(graph: Graph, duration_ms: Mapping[str, float], k: int) -> list[tuple[str, str]]:
    """Edges to add so that at most ``k`` tasks run at once (none if already so).

    Tasks are taken longest-remaining-path first among the ready ones and put on the lane
    where they can start earliest; a task follows the lane's previous task unless already
    ordered after it.
    """
    if k <= 0:
        raise ValueError("k must be positive")
    if width(graph) <= k:
        return []
    bottom = _bottom_levels(graph, duration_ms)
    index = {n: i for i, n in enumerate(graph.nodes)}
    waiting = {n: len(graph.parents[n]) for n in graph.nodes}
    ready = [n for n in graph.nodes if waiting[n] == 0]
    finish: dict[str, float] = {}
    lanes: list[tuple[float, str | None]] = [(0.0, None)] * k
    added: list[tuple[str, str]] = []
    while ready:
        ready.sort(key=lambda n: (-bottom[n], index[n]))
        task = ready.pop(0)
        earliest = max((finish[p] for p in graph.parents[task]), default=0.0)
        lane = min(range(k), key=lambda i: (max(lanes[i][0], earliest), i))
        free, last = lanes[lane]
        if last is not None and last not in graph.ancestors(task):
            added.append((last, task))
        finish[task] = max(free, earliest) + duration_ms[task]
        lanes[lane] = (finish[task], task)
        for child in graph.children[task]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return added
