"""Compiling a validated TaskChain into a Celery canvas.

The DAG's series-parallel tree becomes chain / chord: a parallel part is always an
explicit ``chord`` whose body is the next step (or a ``join`` barrier when the next step
is itself parallel or there is none), so Celery never unrolls a one-member group and a
chord header never holds a group directly (its results would come back reversed).
Every node is an immutable signature with the Celery task id ``<run_id>:<task_id>``,
carrying ids only. Non-series-parallel DAGs are run with added synchronisation edges
(see ``orchestrator.dag.series_parallel``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

from celery import Celery, chain, chord
from celery.canvas import Signature

from orchestrator.dag import Graph, Leaf, Parallel, SPNode, decompose
from orchestrator.dag.series_parallel import Decomposition
from orchestrator.models import TaskChain
from tasks.registry import TaskRegistry
from tasks.signatures import FINALIZE_TASK, JOIN_TASK, celery_task_id, leaf_signature

FINALIZE_ID = "__finalize__"


@dataclass
class CompiledRun:
    signature: Signature
    decomposition: Decomposition
    #: Every Celery task id of the run (tasks, joins, finalize).
    celery_ids: list[str] = field(default_factory=list)


@dataclass
class _Compiler:
    app: Celery
    chain: TaskChain
    registry: TaskRegistry
    run_id: str
    user_id: str
    grace_s: int
    celery_ids: list[str] = field(default_factory=list)
    _joins: count[int] = field(default_factory=count)

    def leaf(self, task_id: str) -> Signature:
        task = self.chain.task(task_id)
        celery_id = celery_task_id(self.run_id, task_id)
        self.celery_ids.append(celery_id)
        return leaf_signature(
            self.app,
            self.registry.get(str(task.type)).celery_name,
            task,
            run_id=self.run_id,
            user_id=self.user_id,
            grace_s=self.grace_s,
        )

    def join(self) -> Signature:
        celery_id = celery_task_id(self.run_id, f"__join_{next(self._joins)}")
        self.celery_ids.append(celery_id)
        return self.app.signature(JOIN_TASK, args=(self.run_id,), immutable=True, task_id=celery_id)

    def finalize(self) -> Signature:
        celery_id = celery_task_id(self.run_id, FINALIZE_ID)
        self.celery_ids.append(celery_id)
        return self.app.signature(
            FINALIZE_TASK, args=(self.run_id, self.user_id), immutable=True, task_id=celery_id
        )

    def steps(self, node: SPNode) -> list[Parallel | Signature]:
        """Flatten a node into the steps of a chain (parallel parts still unlinked)."""
        if isinstance(node, Leaf):
            return [self.leaf(node.task_id)]
        if isinstance(node, Parallel):
            return [node]
        return [step for part in node.parts for step in self.steps(part)]

    def link(self, steps: list[Parallel | Signature]) -> list[Signature]:
        """Turn each parallel step into a chord whose body is the following step."""
        linked: list[Signature] = []
        i = 0
        while i < len(steps):
            step = steps[i]
            if isinstance(step, Signature):
                linked.append(step)
                i += 1
                continue
            header = [self.branch(b) for b in step.branches]
            following = steps[i + 1] if i + 1 < len(steps) else None
            if isinstance(following, Signature):
                body, i = following, i + 2
            else:
                body, i = self.join(), i + 1
            linked.append(chord(header, body))
        return linked

    def branch(self, node: SPNode) -> Signature:
        # Decomposition never nests a Parallel directly in a Parallel, so no header member
        # is a group (a group inside a chord header comes back reversed in Celery 5.7).
        linked = self.link(self.steps(node))
        return linked[0] if len(linked) == 1 else chain(*linked)


def compile_chain(
    app: Celery,
    task_chain: TaskChain,
    graph: Graph,
    registry: TaskRegistry,
    *,
    run_id: str,
    user_id: str,
    time_limit_grace_s: int = 30,
) -> CompiledRun:
    """The canvas running ``task_chain`` as run ``run_id``, ending in the finalize step."""
    decomposition = decompose(graph)
    compiler = _Compiler(app, task_chain, registry, run_id, user_id, time_limit_grace_s)
    steps = [*compiler.steps(decomposition.root), compiler.finalize()]
    linked = compiler.link(steps)
    signature = linked[0] if len(linked) == 1 else chain(*linked)
    return CompiledRun(
        signature=signature, decomposition=decomposition, celery_ids=compiler.celery_ids
    )
