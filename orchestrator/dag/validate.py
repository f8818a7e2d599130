"""Validation of a TaskChain before anything is enqueued.

Every problem names the offending task(s); all problems are collected, not just the
first, so a backend can fix a request in one round trip.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ValidationError

from orchestrator.dag.graph import Graph, find_cycle
from orchestrator.models import Module, TaskChain, output_refs
from orchestrator.models.refs import string_refs


class TaskTypeSpec(Protocol):
    """What validation needs to know of a task type."""

    @property
    def module(self) -> Module: ...

    @property
    def params_model(self) -> type[BaseModel]: ...


class TaskCatalog(Protocol):
    """The registered task types (the task registry implements this)."""

    def spec_for(self, task_type: str) -> TaskTypeSpec | None: ...

    def known_types(self) -> list[str]: ...


@dataclass(frozen=True)
class Problem:
    task_ids: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        where = ", ".join(self.task_ids) if self.task_ids else "chain"
        return f"[{where}] {self.message}"


class ChainValidationError(ValueError):
    """The chain is not runnable; ``problems`` says why, task by task."""

    def __init__(self, chain_id: str, problems: list[Problem]) -> None:
        self.chain_id = chain_id
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"chain {chain_id} is invalid ({len(problems)} problem(s)):\n{lines}")


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(parameters)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _structure_problems(chain: TaskChain) -> list[Problem]:
    problems: list[Problem] = []
    counts = Counter(t.id for t in chain.tasks)
    for task_id, n in counts.items():
        if n > 1:
            problems.append(Problem((task_id,), f"task id used {n} times; ids must be unique"))
    ids = set(counts)
    seen_edges: set[tuple[str, str]] = set()
    for dep in chain.dependencies:
        ends = (dep.from_task, dep.to_task)
        missing = [e for e in ends if e not in ids]
        if missing:
            problems.append(
                Problem(
                    ends,
                    f"dependency {dep.from_task} -> {dep.to_task} names unknown "
                    f"task(s): {', '.join(missing)}",
                )
            )
        elif dep.from_task == dep.to_task:
            problems.append(Problem((dep.from_task,), "a task cannot depend on itself"))
        elif ends in seen_edges:
            problems.append(Problem(ends, f"dependency {dep.from_task} -> {dep.to_task} repeated"))
        seen_edges.add(ends)
    return problems


def _reference_problems(
    task_id: str, params: BaseModel, ids: set[str], upstream: set[str], checked: bool
) -> list[Problem]:
    """References to upstream outputs must name real tasks upstream of ``task_id``.

    Typed OutputRefs must name a task. A plain string in the same ``<task>_<part>`` form
    (the spec writes ``data_source: "task_001_data"`` where a dataset name such as
    ``"historical_market_data"`` may stand too) counts as a reference when it names a task.
    """
    problems: list[Problem] = []
    refs = [(ref.task_id, str(ref)) for ref in output_refs(params)]
    refs += [(t, text) for t, text in string_refs(params) if t in ids]
    for ref_task, text in dict.fromkeys(refs):
        if ref_task not in ids:
            message = f"parameter references {text!r} but there is no task {ref_task!r}"
            problems.append(Problem((task_id,), message))
        elif checked and ref_task not in upstream:
            message = (
                f"parameter references {text!r} but {ref_task} is not upstream of {task_id} "
                f"(add a dependency {ref_task} -> {task_id})"
            )
            problems.append(Problem((task_id, ref_task), message))
    return problems


def _task_problems(chain: TaskChain, catalog: TaskCatalog, graph: Graph | None) -> list[Problem]:
    problems: list[Problem] = []
    ids = {t.id for t in chain.tasks}
    for task in chain.tasks:
        spec = catalog.spec_for(str(task.type))
        if spec is None:
            problems.append(
                Problem(
                    (task.id,),
                    f"unknown task type {task.type!r}; known: "
                    f"{', '.join(sorted(catalog.known_types()))}",
                )
            )
            continue
        if spec.module is not task.module:
            problems.append(
                Problem(
                    (task.id,),
                    f"task type {task.type} belongs to module {spec.module.value}, "
                    f"not {task.module.value}",
                )
            )
        try:
            params = spec.params_model.model_validate(task.parameters)
        except ValidationError as exc:
            problems.append(
                Problem(
                    (task.id,),
                    f"invalid parameters for {task.type}: {_format_validation_error(exc)}",
                )
            )
            continue
        upstream = graph.ancestors(task.id) if graph is not None else set()
        problems.extend(_reference_problems(task.id, params, ids, upstream, graph is not None))
        for cond in (*task.preconditions, *task.postconditions):
            if cond.task_id is None:
                continue
            if cond.task_id not in ids:
                problems.append(
                    Problem((task.id,), f"condition names unknown task {cond.task_id!r}")
                )
            elif graph is not None and cond in task.preconditions and cond.task_id not in upstream:
                problems.append(
                    Problem(
                        (task.id, cond.task_id),
                        f"precondition names {cond.task_id}, which is not upstream of {task.id}",
                    )
                )
    return problems


def validate_chain(chain: TaskChain, catalog: TaskCatalog) -> Graph:
    """Check that ``chain`` can run; return its graph or raise :class:`ChainValidationError`."""
    problems = _structure_problems(chain)
    graph: Graph | None = None
    if not problems:
        nodes = [t.id for t in chain.tasks]
        edges = [(d.from_task, d.to_task) for d in chain.dependencies]
        cycle = find_cycle(nodes, edges)
        if cycle is not None:
            problems.append(
                Problem(tuple(dict.fromkeys(cycle)), f"dependency cycle: {' -> '.join(cycle)}")
            )
        else:
            graph = Graph.build(nodes, edges)
    problems.extend(_task_problems(chain, catalog, graph))
    if problems or graph is None:
        raise ChainValidationError(chain.id, problems)
    return graph
