"""Series-parallel decomposition of a task DAG.

chain/group/chord can express exactly the series-parallel orders (those with no "N"
sub-order: A->C, A->D, B->D without B->C). ``decompose`` returns the decomposition
tree of the DAG's order. Where a part of the DAG is not series-parallel, that part is
split into longest-path levels run one after another: this adds synchronisation edges
(every task of a level waits for the whole previous level), which keeps every real
dependency but can delay a task behind an unrelated one. The added edges are returned
so the cost is visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from orchestrator.dag.graph import Graph


@dataclass(frozen=True)
class Leaf:
    task_id: str


@dataclass(frozen=True)
class Series:
    """Run ``parts`` one after another; at least two parts, none of them a Series."""

    parts: tuple[SPNode, ...]


@dataclass(frozen=True)
class Parallel:
    """Run ``branches`` side by side; at least two branches, none of them a Parallel."""

    branches: tuple[SPNode, ...]


SPNode = Leaf | Series | Parallel


@dataclass(frozen=True)
class Decomposition:
    root: SPNode
    #: Synchronisation edges added for non-series-parallel parts (empty when exact).
    added_edges: tuple[tuple[str, str], ...]

    @property
    def exact(self) -> bool:
        return not self.added_edges


def decompose(graph: Graph) -> Decomposition:
    """The series-parallel tree of ``graph`` (see the module docstring for non-SP parts)."""
    order = graph.topological_order()
    builder = _Builder(graph.reachability(), {n: i for i, n in enumerate(order)})
    root = builder.build(frozenset(order))
    return Decomposition(root=root, added_edges=tuple(builder.added_edges))


class _Builder:
    def __init__(self, reach: Mapping[str, frozenset[str]], position: Mapping[str, int]) -> None:
        self.reach = reach
        self.position = position
        self.added_edges: list[tuple[str, str]] = []

    def _sorted(self, nodes: Iterable[str]) -> list[str]:
        return sorted(nodes, key=self.position.__getitem__)

    def build(self, nodes: frozenset[str]) -> SPNode:
        if len(nodes) == 1:
            return Leaf(next(iter(nodes)))
        components = self._components(nodes)
        if len(components) > 1:
            return Parallel(tuple(self.build(c) for c in components))
        segments = self._series_segments(nodes)
        if len(segments) > 1:
            return _series([self.build(s) for s in segments])
        return self._layered(nodes)

    def _comparable(self, a: str, b: str) -> bool:
        return b in self.reach[a] or a in self.reach[b]

    def _components(self, nodes: frozenset[str]) -> list[frozenset[str]]:
        """Connected components of the comparability graph, in topological order."""
        remaining = set(nodes)
        components: list[frozenset[str]] = []
        for start in self._sorted(nodes):
            if start not in remaining:
                continue
            remaining.discard(start)
            component = {start}
            stack = [start]
            while stack:
                current = stack.pop()
                linked = [n for n in remaining if self._comparable(current, n)]
                for n in linked:
                    remaining.discard(n)
                    component.add(n)
                    stack.append(n)
            components.append(frozenset(component))
        return components

    def _series_segments(self, nodes: frozenset[str]) -> list[frozenset[str]]:
        """Split at every cut where all tasks before it precede all tasks after it."""
        ordered = self._sorted(nodes)
        segments: list[frozenset[str]] = []
        start = 0
        common: set[str] | None = None  # nodes reached by every node of the prefix
        for k in range(len(ordered) - 1):
            below = self.reach[ordered[k]] & nodes
            common = set(below) if common is None else common & below
            suffix = ordered[k + 1 :]
            if common.issuperset(suffix):
                segments.append(frozenset(ordered[start : k + 1]))
                start = k + 1
                common = None
        segments.append(frozenset(ordered[start:]))
        return segments

    def _layered(self, nodes: frozenset[str]) -> SPNode:
        depth: dict[str, int] = {}
        for node in self._sorted(nodes):
            parents = [p for p in nodes if node in self.reach[p]]
            depth[node] = 1 + max((depth[p] for p in parents), default=-1)
        levels = [
            self._sorted(n for n in nodes if depth[n] == d) for d in range(max(depth.values()) + 1)
        ]
        for upper, lower in pairwise(levels):
            for a in upper:
                for b in lower:
                    if b not in self.reach[a]:
                        self.added_edges.append((a, b))
        parts = [
            Leaf(level[0]) if len(level) == 1 else Parallel(tuple(Leaf(n) for n in level))
            for level in levels
        ]
        return _series(parts)


def _series(parts: Sequence[SPNode]) -> SPNode:
    flat: list[SPNode] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, Series) else (part,))
    return flat[0] if len(flat) == 1 else Series(tuple(flat))
