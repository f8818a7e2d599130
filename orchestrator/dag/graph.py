"""Pure graph functions over a chain's task ids and edges (no Celery, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter


@dataclass(frozen=True)
class Graph:
    """A DAG over task ids; ``parents[t]`` are the tasks ``t`` waits for."""

    nodes: tuple[str, ...]
    parents: Mapping[str, frozenset[str]]
    children: Mapping[str, frozenset[str]] = field(compare=False)

    @classmethod
    def build(cls, nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> Graph:
        parents: dict[str, set[str]] = {n: set() for n in nodes}
        children: dict[str, set[str]] = {n: set() for n in nodes}
        for src, dst in edges:
            parents[dst].add(src)
            children[src].add(dst)
        return cls(
            nodes=tuple(nodes),
            parents={n: frozenset(p) for n, p in parents.items()},
            children={n: frozenset(c) for n, c in children.items()},
        )

    def topological_order(self) -> list[str]:
        """Tasks in an order where each comes after all its parents (stable by input order).

        Raises :class:`CycleError` whose ``args[1]`` lists a cycle.
        """
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for node in self.nodes:
            sorter.add(node, *sorted(self.parents[node], key=self.nodes.index))
        return list(sorter.static_order())

    def ancestors(self, node: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.parents[node])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.parents[current])
        return seen

    def reachability(self) -> dict[str, frozenset[str]]:
        """For each node, every node reachable from it (its descendants)."""
        order = self.topological_order()
        reach: dict[str, frozenset[str]] = {}
        for node in reversed(order):
            below: set[str] = set()
            for child in self.children[node]:
                below.add(child)
                below |= reach[child]
            reach[node] = frozenset(below)
        return reach

    def levels(self) -> list[list[str]]:
        """Longest-path layering: level k holds tasks whose longest parent path has k edges."""
        depth: dict[str, int] = {}
        for node in self.topological_order():
            depth[node] = 1 + max((depth[p] for p in self.parents[node]), default=-1)
        layers: list[list[str]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
        for node in self.nodes:
            layers[depth[node]].append(node)
        return layers

    def critical_path_ms(self, duration_ms: Mapping[str, float]) -> float:
        """Length of the longest path, weighting each task by its duration."""
        finish: dict[str, float] = {}
        for node in self.topological_order():
            start = max((finish[p] for p in self.parents[node]), default=0.0)
            finish[node] = start + duration_ms[node]
        return max(finish.values(), default=0.0)


def find_cycle(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """A cycle among the tasks as a list of ids, or None when the graph is acyclic."""
    try:
        Graph.build(nodes, edges).topological_order()
    except CycleError as exc:
        return list(exc.args[1])
    return None
