"""Series-parallel decomposition, longest-path levels and the critical path."""

from __future__ import annotations

from collections import Counter
from itertools import combinations, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.dag import Graph, Leaf, Parallel, Series, SPNode, decompose

Edge = tuple[str, str]


def graph(nodes: str, edges: list[str]) -> Graph:
    """``graph("abc", ["ab", "bc"])``: single-letter task ids."""
    return Graph.build(list(nodes), [(e[0], e[1]) for e in edges])


def leaves(node: SPNode) -> list[str]:
    if isinstance(node, Leaf):
        return [node.task_id]
    children = node.parts if isinstance(node, Series) else node.branches
    return [leaf for child in children for leaf in leaves(child)]


def implied_order(node: SPNode) -> set[Edge]:
    """Pairs (a, b) where the tree runs a before b (series = every part before the next)."""
    if isinstance(node, Leaf):
        return set()
    if isinstance(node, Parallel):
        return set().union(*(implied_order(b) for b in node.branches))
    pairs: set[Edge] = set().union(*(implied_order(p) for p in node.parts))
    for i, earlier in enumerate(node.parts):
        for later in node.parts[i + 1 :]:
            pairs |= {(a, b) for a in leaves(earlier) for b in leaves(later)}
    return pairs


def closure(nodes: list[str], edges: list[Edge]) -> set[Edge]:
    g = Graph.build(nodes, edges)
    return {(a, b) for a, below in g.reachability().items() for b in below}


def assert_well_formed(node: SPNode) -> None:
    """Series has >= 2 parts, none a Series; Parallel has >= 2 branches, none a Parallel."""
    if isinstance(node, Series):
        assert len(node.parts) >= 2
        assert not any(isinstance(p, Series) for p in node.parts)
        for p in node.parts:
            assert_well_formed(p)
    elif isinstance(node, Parallel):
        assert len(node.branches) >= 2
        assert not any(isinstance(b, Parallel) for b in node.branches)
        for b in node.branches:
            assert_well_formed(b)


# --- shapes ----------------------------------------------------------------------------------


def test_single_task_is_a_leaf() -> None:
    result = decompose(graph("a", []))
    assert result.root == Leaf("a")
    assert result.exact


def test_chain_is_a_series_of_leaves_in_order() -> None:
    result = decompose(graph("abcd", ["ab", "bc", "cd"]))
    assert result.root == Series((Leaf("a"), Leaf("b"), Leaf("c"), Leaf("d")))
    assert result.added_edges == ()


def test_chain_order_follows_edges_not_listing_order() -> None:
    result = decompose(graph("cab", ["ab", "bc"]))
    assert result.root == Series((Leaf("a"), Leaf("b"), Leaf("c")))


def test_diamond_is_leaf_parallel_leaf() -> None:
    result = decompose(graph("abcd", ["ab", "ac", "bd", "cd"]))
    assert result.root == Series((Leaf("a"), Parallel((Leaf("b"), Leaf("c"))), Leaf("d")))
    assert result.exact


def test_independent_chains_run_in_parallel() -> None:
    result = decompose(graph("abcd", ["ab", "cd"]))
    assert isinstance(result.root, Parallel)
    assert set(result.root.branches) == {
        Series((Leaf("a"), Leaf("b"))),
        Series((Leaf("c"), Leaf("d"))),
    }
    assert result.exact


def test_independent_tasks_are_one_flat_parallel() -> None:
    result = decompose(graph("abc", []))
    assert result.root == Parallel((Leaf("a"), Leaf("b"), Leaf("c")))


def test_fan_out_then_fan_in_of_sub_chains() -> None:
    # a -> (b -> c | d) -> e
    result = decompose(graph("abcde", ["ab", "bc", "ad", "ce", "de"]))
    assert result.root == Series(
        (
            Leaf("a"),
            Parallel((Series((Leaf("b"), Leaf("c"))), Leaf("d"))),
            Leaf("e"),
        )
    )


def test_n_shape_is_not_exact_and_adds_only_b_before_c() -> None:
    # A->C, A->D, B->D without B->C
    nodes = ["A", "B", "C", "D"]
    edges = [("A", "C"), ("A", "D"), ("B", "D")]
    result = decompose(Graph.build(nodes, edges))
    assert not result.exact
    assert result.added_edges == (("B", "C"),)
    order = implied_order(result.root)
    assert set(edges) <= order
    assert order == closure(nodes, [*edges, *result.added_edges])
    assert sorted(leaves(result.root)) == nodes


def test_n_shape_inside_a_larger_dag_keeps_the_rest_exact() -> None:
    # s -> N(A, B, C, D) -> t, plus an unrelated x
    nodes = ["s", "A", "B", "C", "D", "t", "x"]
    edges = [("s", "A"), ("s", "B"), ("A", "C"), ("A", "D"), ("B", "D"), ("C", "t"), ("D", "t")]
    result = decompose(Graph.build(nodes, edges))
    assert result.added_edges == (("B", "C"),)
    assert isinstance(result.root, Parallel)
    assert Leaf("x") in result.root.branches
    assert implied_order(result.root) == closure(nodes, [*edges, *result.added_edges])


# --- levels and critical path ------------------------------------------------------------------


def test_levels_use_the_longest_path() -> None:
    g = graph("abcd", ["ab", "bc", "ac", "ad"])
    assert g.levels() == [["a"], ["b", "d"], ["c"]]


def test_levels_of_spec_example_shape() -> None:
    g = graph("1234", ["13", "23", "34"])
    assert g.levels() == [["1", "2"], ["3"], ["4"]]


def test_critical_path_takes_the_slowest_branch() -> None:
    g = graph("abcd", ["ab", "ac", "bd", "cd"])
    durations = {"a": 100.0, "b": 500.0, "c": 50.0, "d": 10.0}
    assert g.critical_path_ms(durations) == pytest.approx(610.0)


def test_critical_path_of_independent_tasks_is_the_longest_task() -> None:
    g = graph("abc", [])
    assert g.critical_path_ms({"a": 3.0, "b": 7.0, "c": 5.0}) == pytest.approx(7.0)


def test_critical_path_prefers_longer_weight_over_more_hops() -> None:
    g = graph("abcx", ["ab", "bc"])
    assert g.critical_path_ms({"a": 1.0, "b": 1.0, "c": 1.0, "x": 10.0}) == pytest.approx(10.0)


def test_ancestors_are_transitive() -> None:
    g = graph("abcd", ["ab", "bc", "dc"])
    assert g.ancestors("c") == {"a", "b", "d"}
    assert g.ancestors("a") == set()


# --- property ------------------------------------------------------------------------------------


@st.composite
def random_dags(draw: st.DrawFn) -> tuple[list[str], list[Edge]]:
    """A DAG with 1..14 nodes; edges only from lower to higher index; nodes listed shuffled."""
    n = draw(st.integers(min_value=1, max_value=14))
    names = [f"t{i}" for i in range(n)]
    pairs = list(combinations(range(n), 2))
    density = draw(st.sampled_from([0.1, 0.25, 0.5, 0.8]))
    chosen = draw(
        st.lists(st.floats(min_value=0, max_value=1), min_size=len(pairs), max_size=len(pairs))
    )
    edges = [(names[i], names[j]) for (i, j), x in zip(pairs, chosen, strict=True) if x < density]
    listing = draw(st.permutations(names))
    return list(listing), edges


@settings(max_examples=300, deadline=None)
@given(random_dags())
def test_decomposition_covers_every_task_once_and_respects_every_edge(
    dag: tuple[list[str], list[Edge]],
) -> None:
    nodes, edges = dag
    result = decompose(Graph.build(nodes, edges))
    assert_well_formed(result.root)

    # (a) every task appears exactly once
    counts = Counter(leaves(result.root))
    assert set(counts) == set(nodes)
    assert all(c == 1 for c in counts.values())

    # (b) the tree's order contains every dependency (and so its transitive closure)
    order = implied_order(result.root)
    real = closure(nodes, edges)
    assert real <= order

    # added edges are never already implied by the DAG, and only they widen the order
    for edge in result.added_edges:
        assert edge not in real
    assert order == closure(nodes, [*edges, *result.added_edges])

    # (c) exact decomposition runs nothing later than its dependencies require
    if result.exact:
        assert order == real


@st.composite
def series_parallel_dags(draw: st.DrawFn) -> tuple[list[str], list[Edge]]:
    """A DAG built by series and parallel composition only (no N anywhere)."""
    counter = iter(range(10_000))

    def build(depth: int) -> tuple[list[str], list[str], list[str], list[Edge]]:
        """(nodes, sources, sinks, edges) of a random series-parallel part."""
        kind = draw(
            st.sampled_from(["leaf", "series", "parallel"]) if depth < 3 else st.just("leaf")
        )
        if kind == "leaf":
            name = f"n{next(counter)}"
            return [name], [name], [name], []
        parts = [build(depth + 1) for _ in range(draw(st.integers(2, 3)))]
        nodes = [n for p in parts for n in p[0]]
        edges = [e for p in parts for e in p[3]]
        if kind == "parallel":
            return (
                nodes,
                [s for p in parts for s in p[1]],
                [s for p in parts for s in p[2]],
                edges,
            )
        for earlier, later in pairwise(parts):
            edges += [(a, b) for a in earlier[2] for b in later[1]]
        return nodes, parts[0][1], parts[-1][2], edges

    nodes, _, _, edges = build(0)
    return list(draw(st.permutations(nodes))), edges


@settings(max_examples=200, deadline=None)
@given(series_parallel_dags())
def test_series_parallel_dags_decompose_exactly(dag: tuple[list[str], list[Edge]]) -> None:
    nodes, edges = dag
    result = decompose(Graph.build(nodes, edges))
    assert result.added_edges == ()
    assert implied_order(result.root) == closure(nodes, edges)
