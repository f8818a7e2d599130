"""compile_chain: the Celery canvas a validated chain becomes (built, never sent)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import combinations
from typing import Any

import pytest
from celery import Celery
from celery.canvas import Signature, _chain, _chord, group, maybe_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.canvas import FINALIZE_ID, CompiledRun, compile_chain
from orchestrator.dag import Graph, validate_chain
from orchestrator.models import AITask, TaskChain, TaskDependency, UserGoal
from tasks.builtin import default_registry
from tasks.signatures import FINALIZE_TASK, JOIN_TASK

APP = Celery("canvas-tests", set_as_current=False)
REGISTRY = default_registry()
RUN = "run_42"
USER = "alice"

#: One valid task of each module, by module.
SAMPLES: dict[str, dict[str, Any]] = {
    "system": {"type": "monitor_health", "module": "system"},
    "portfolio": {
        "type": "analyze_portfolio",
        "module": "portfolio",
        "parameters": {"portfolio_id": "p1"},
    },
    "ai-assistant": {
        "type": "research_topic",
        "module": "ai-assistant",
        "parameters": {"topics": ["rates"]},
    },
    "workspace": {
        "type": "file_operation",
        "module": "workspace",
        "parameters": {"operation": "read", "path": "README.md"},
    },
}


def task(task_id: str, module: str = "system", **fields: Any) -> AITask:
    return AITask.model_validate({**SAMPLES[module], **fields, "id": task_id})


def make_chain(tasks: list[AITask], edges: list[tuple[str, str]]) -> TaskChain:
    return TaskChain(
        id="chain_canvas",
        goal=UserGoal(description="compile me"),
        tasks=tasks,
        dependencies=[TaskDependency.model_validate({"from": a, "to": b}) for a, b in edges],
    )


def compile_(task_chain: TaskChain, **kwargs: Any) -> tuple[CompiledRun, Graph]:
    graph = validate_chain(task_chain, REGISTRY)
    compiled = compile_chain(
        APP, task_chain, graph, REGISTRY, run_id=kwargs.pop("run_id", RUN), user_id=USER, **kwargs
    )
    return compiled, graph


# --- walking the canvas ----------------------------------------------------------------------


def sig(obj: Any) -> Signature:
    return maybe_signature(obj, app=APP)


def header_of(chord_sig: _chord) -> list[Signature]:
    header = chord_sig.tasks
    if isinstance(header, group):
        header = header.tasks
    return [sig(m) for m in header]


def walk(node: Any) -> Iterator[Signature]:
    """Every signature in the canvas, composite ones included."""
    node = sig(node)
    yield node
    if isinstance(node, _chord):
        for member in header_of(node):
            yield from walk(member)
        yield from walk(node.body)
    elif isinstance(node, _chain | group):
        for member in node.tasks:
            yield from walk(member)


def is_leaf(node: Signature) -> bool:
    return not isinstance(node, _chain | group | _chord)


def short_id(node: Signature, run_id: str = RUN) -> str:
    celery_id = node.options["task_id"]
    prefix = f"{run_id}:"
    assert celery_id.startswith(prefix), celery_id
    return celery_id[len(prefix) :]


def is_barrier(task_id: str) -> bool:
    return task_id.startswith("__join_")


def finished_before(
    node: Any, before: frozenset[str], pre: dict[str, list[frozenset[str]]], run_id: str = RUN
) -> frozenset[str]:
    """Structural interpretation: what has finished once ``node`` has, given ``before``.

    A chain runs its steps in order; a group or chord header runs its members side by side
    from the same ``before``; a chord body starts after every header member; a leaf records
    what had finished when it started (``pre``).
    """
    node = sig(node)
    if isinstance(node, _chord):
        done = before
        for member in header_of(node):
            done = done | finished_before(member, before, pre, run_id)
        return finished_before(node.body, done, pre, run_id)
    if isinstance(node, group):
        done = before
        for member in node.tasks:
            done = done | finished_before(member, before, pre, run_id)
        return done
    if isinstance(node, _chain):
        done = before
        for step in node.tasks:
            done = finished_before(step, done, pre, run_id)
        return done
    task_id = short_id(node, run_id)
    pre.setdefault(task_id, []).append(before)
    return before if is_barrier(task_id) else before | {task_id}


def interpret(compiled: CompiledRun, run_id: str = RUN) -> dict[str, frozenset[str]]:
    pre: dict[str, list[frozenset[str]]] = {}
    finished_before(compiled.signature, frozenset(), pre, run_id)
    for task_id, starts in pre.items():
        assert len(starts) == 1, f"{task_id} appears {len(starts)} times in the canvas"
    return {task_id: starts[0] for task_id, starts in pre.items()}


def last_step(node: Any) -> Signature:
    """The signature that runs last: the end of a chain, the body of a chord."""
    node = sig(node)
    if isinstance(node, _chain):
        return last_step(node.tasks[-1])
    if isinstance(node, _chord):
        return last_step(node.body)
    return node


def assert_safe_shape(compiled: CompiledRun) -> None:
    """Joins are explicit chords; no group in a chord header, no bare or one-member group."""
    for node in walk(compiled.signature):
        if isinstance(node, _chord):
            members = header_of(node)
            assert len(members) >= 2, "a one-member chord header is unrolled by Celery"
            for member in members:
                assert not isinstance(member, group), "group directly inside a chord header"
                assert not isinstance(member, _chord | _chain) or member.tasks
        elif isinstance(node, group):
            raise AssertionError(f"bare group in the canvas: {node!r}")


# --- fixed shapes ------------------------------------------------------------------------------


def diamond() -> TaskChain:
    return make_chain(
        [
            task("a", "portfolio"),
            task("b", "ai-assistant"),
            task("c", "workspace"),
            task("d", "system"),
        ],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
    )


def test_every_celery_id_is_run_id_colon_task_id() -> None:
    compiled, _ = compile_(diamond())
    ids = [n.options["task_id"] for n in walk(compiled.signature) if is_leaf(n)]
    assert Counter(ids) == Counter(compiled.celery_ids)
    assert {f"{RUN}:{t}" for t in "abcd"} | {f"{RUN}:{FINALIZE_ID}"} <= set(ids)
    assert all(i.startswith(f"{RUN}:") for i in ids)
    assert len(ids) == len(set(ids))


def test_two_runs_of_the_same_chain_share_no_celery_id() -> None:
    first, _ = compile_(diamond(), run_id="run_1")
    second, _ = compile_(diamond(), run_id="run_2")
    assert not set(first.celery_ids) & set(second.celery_ids)


def test_leaf_signatures_carry_ids_only_and_route_to_the_module_queue() -> None:
    compiled, _ = compile_(diamond())
    by_id = {short_id(n): n for n in walk(compiled.signature) if is_leaf(n)}
    expected = {
        "a": ("portfolio", "analyze_portfolio"),
        "b": ("assistant", "research_topic"),
        "c": ("workspace", "file_operation"),
        "d": ("system", "monitor_health"),
    }
    for task_id, (queue, task_type) in expected.items():
        leaf = by_id[task_id]
        assert leaf.immutable, task_id
        assert tuple(leaf.args) == (RUN, task_id, USER)
        assert not leaf.kwargs
        assert leaf.options["queue"] == queue
        assert leaf.task == f"{queue}.{task_type}"
        assert leaf.task == REGISTRY.get(task_type).celery_name


def test_time_limits_come_from_the_task_timeout_plus_grace() -> None:
    tc = make_chain([task("fast", timeout_s=12.5), task("slow", timeout_s=900)], [("fast", "slow")])
    compiled, _ = compile_(tc, time_limit_grace_s=7)
    by_id = {short_id(n): n for n in walk(compiled.signature) if is_leaf(n)}
    assert by_id["fast"].options["soft_time_limit"] == 12.5
    assert by_id["fast"].options["time_limit"] == 12.5 + 7
    assert by_id["slow"].options["soft_time_limit"] == 900
    assert by_id["slow"].options["time_limit"] == 907


def test_default_grace_is_added_to_the_time_limit() -> None:
    compiled, _ = compile_(make_chain([task("only", timeout_s=60)], []))
    leaf = next(n for n in walk(compiled.signature) if is_leaf(n) and short_id(n) == "only")
    assert leaf.options["soft_time_limit"] == 60
    assert leaf.options["time_limit"] > 60


def test_run_ends_with_the_finalize_signature() -> None:
    compiled, _ = compile_(diamond())
    finals = [n for n in walk(compiled.signature) if is_leaf(n) and n.task == FINALIZE_TASK]
    assert len(finals) == 1
    final = finals[0]
    assert final.task == "orchestrator.finalize_run"
    assert final.options["task_id"] == f"{RUN}:__finalize__"
    assert final.immutable
    assert tuple(final.args) == (RUN, USER)
    assert f"{RUN}:__finalize__" in compiled.celery_ids
    assert short_id(last_step(compiled.signature)) == FINALIZE_ID
    pre = interpret(compiled)
    assert pre[FINALIZE_ID] == frozenset("abcd")


def test_single_task_run_is_task_then_finalize() -> None:
    compiled, _ = compile_(make_chain([task("solo")], []))
    assert isinstance(compiled.signature, _chain)
    steps = [sig(s) for s in compiled.signature.tasks]
    assert [short_id(s) for s in steps] == ["solo", FINALIZE_ID]


def test_diamond_joins_with_an_explicit_chord() -> None:
    compiled, _ = compile_(diamond())
    assert_safe_shape(compiled)
    chords = [n for n in walk(compiled.signature) if isinstance(n, _chord)]
    assert len(chords) == 1
    assert sorted(short_id(m) for m in header_of(chords[0])) == ["b", "c"]
    pre = interpret(compiled)
    assert pre == {
        "a": frozenset(),
        "b": frozenset("a"),
        "c": frozenset("a"),
        "d": frozenset("abc"),
        FINALIZE_ID: frozenset("abcd"),
    }


def test_trailing_parallel_part_joins_on_a_barrier_before_finalize() -> None:
    compiled, _ = compile_(make_chain([task("a"), task("b"), task("c")], [("a", "b"), ("a", "c")]))
    assert_safe_shape(compiled)
    pre = interpret(compiled)
    assert pre[FINALIZE_ID] == frozenset("abc")
    assert pre["b"] == pre["c"] == frozenset("a")


def test_back_to_back_parallel_parts_use_a_join_barrier() -> None:
    # (a | b) -> (c | d): every one of c, d waits for both a and b
    tc = make_chain([task(t) for t in "abcd"], [("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")])
    compiled, _ = compile_(tc)
    assert_safe_shape(compiled)
    joins = [n for n in walk(compiled.signature) if is_leaf(n) and n.task == JOIN_TASK]
    assert joins, "two parallel parts in a row need a barrier between them"
    for join in joins:
        assert join.immutable
        assert tuple(join.args) == (RUN,)
    pre = interpret(compiled)
    assert pre["c"] == pre["d"] == frozenset("ab")
    assert pre[FINALIZE_ID] == frozenset("abcd")


def test_parallel_branches_that_are_chains_stay_chains_in_the_header() -> None:
    # a -> (b -> c | d) -> e
    tc = make_chain(
        [task(t) for t in "abcde"], [("a", "b"), ("b", "c"), ("a", "d"), ("c", "e"), ("d", "e")]
    )
    compiled, _ = compile_(tc)
    assert_safe_shape(compiled)
    pre = interpret(compiled)
    assert pre["c"] == frozenset("ab")
    assert pre["d"] == frozenset("a")
    assert pre["e"] == frozenset("abcd")


def test_n_shape_compiles_with_the_added_edge_and_no_lost_dependency() -> None:
    tc = make_chain([task(t) for t in "ABCD"], [("A", "C"), ("A", "D"), ("B", "D")])
    compiled, graph = compile_(tc)
    assert compiled.decomposition.added_edges == (("B", "C"),)
    assert_safe_shape(compiled)
    pre = interpret(compiled)
    for t in "ABCD":
        assert graph.ancestors(t) <= pre[t]
    assert "B" in pre["C"]  # the synchronisation edge, visible in the decomposition


def test_spec_example_1_shape_compiles() -> None:
    tc = make_chain(
        [
            task("task_001", "portfolio"),
            task("task_002", "workspace"),
            task("task_003", "workspace"),
            task("task_004", "system"),
        ],
        [("task_001", "task_003"), ("task_002", "task_003"), ("task_003", "task_004")],
    )
    compiled, _ = compile_(tc)
    assert_safe_shape(compiled)
    pre = interpret(compiled)
    assert pre["task_001"] == pre["task_002"] == frozenset()
    assert pre["task_003"] == frozenset({"task_001", "task_002"})
    assert pre["task_004"] == frozenset({"task_001", "task_002", "task_003"})


# --- the key property ---------------------------------------------------------------------------


@st.composite
def random_chains(draw: st.DrawFn) -> TaskChain:
    """Chains over random DAGs (1..14 tasks, edges i<j), tasks listed in shuffled order."""
    n = draw(st.integers(min_value=1, max_value=14))
    names = [f"t{i:02d}" for i in range(n)]
    pairs = list(combinations(range(n), 2))
    density = draw(st.sampled_from([0.1, 0.25, 0.5, 0.8]))
    chosen = draw(
        st.lists(st.floats(min_value=0, max_value=1), min_size=len(pairs), max_size=len(pairs))
    )
    edges = [(names[i], names[j]) for (i, j), x in zip(pairs, chosen, strict=True) if x < density]
    modules = list(SAMPLES)
    tasks = [task(name, modules[i % len(modules)]) for i, name in enumerate(names)]
    return make_chain(draw(st.permutations(tasks)), edges)


@settings(max_examples=250, deadline=None)
@given(random_chains())
def test_compiled_canvas_never_starts_a_task_before_its_dependencies(tc: TaskChain) -> None:
    compiled, graph = compile_(tc)
    assert_safe_shape(compiled)
    pre = interpret(compiled)
    task_ids = {t.id for t in tc.tasks}

    # every task exactly once (interpret checks once), none missing, nothing unknown
    assert {t for t in pre if not is_barrier(t)} == task_ids | {FINALIZE_ID}
    assert Counter(compiled.celery_ids) == Counter(
        n.options["task_id"] for n in walk(compiled.signature) if is_leaf(n)
    )

    # no task starts before all its dependencies (transitively) have finished
    for task_id in task_ids:
        missing = graph.ancestors(task_id) - pre[task_id]
        assert not missing, f"{task_id} may start before {sorted(missing)}"

    # finalize comes after everything, as the very last step
    assert pre[FINALIZE_ID] == frozenset(task_ids)
    assert short_id(last_step(compiled.signature)) == FINALIZE_ID

    # and a task waits for nothing beyond its dependencies and the visible added edges
    widened = Graph.build(
        [t.id for t in tc.tasks],
        [*((d.from_task, d.to_task) for d in tc.dependencies), *compiled.decomposition.added_edges],
    )
    for task_id in task_ids:
        assert pre[task_id] == frozenset(widened.ancestors(task_id))


@pytest.mark.parametrize("grace", [0, 30])
def test_every_leaf_is_immutable_and_has_time_limits(grace: int) -> None:
    compiled, _ = compile_(diamond(), time_limit_grace_s=grace)
    for node in walk(compiled.signature):
        if is_leaf(node):
            assert node.immutable
            if node.task not in (FINALIZE_TASK, JOIN_TASK):
                assert node.options["time_limit"] == node.options["soft_time_limit"] + grace


def test_canvas_survives_serialisation_with_the_same_order() -> None:
    from kombu.utils.json import dumps, loads

    tc = make_chain(
        [task(t) for t in "abcdefg"],
        [("a", "c"), ("b", "c"), ("c", "d"), ("c", "e"), ("d", "f"), ("e", "f"), ("a", "g")],
    )
    compiled, _ = compile_(tc)
    wire = Signature.from_dict(loads(dumps(compiled.signature)), app=APP)
    again = CompiledRun(signature=wire, decomposition=compiled.decomposition)
    assert interpret(again) == interpret(compiled)
    assert_safe_shape(again)
