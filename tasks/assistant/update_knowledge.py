"""UPDATE_KNOWLEDGE: store what a run learned in the knowledge base, with its source run.

What is stored: ``text`` when given; else the upstream output ``source`` names (read by
``tasks.assistant.upstream``: from the inputs, or over a prerequisite edge from the live
context); else every input (the outputs of the upstream tasks this one depends on).
Empty outputs (null, "", [], {}) are left out. A ``source`` naming a part the output
does not have (``task_001_schema`` of an output without ``schema``) is refused; the
``results``/``output`` parts name the whole output. Outputs are turned into readable
Markdown (``orchestrator.knowledge.render``): insights, research findings, a report's
summary and figures, an analysis context. The document is split into items at its
headings, each recording the run and task it came from.

Exactly once per (run, task, restart): the items are keyed by ``ctx.effect_key``, so a
redelivered or retried task returns the items the first attempt stored. The
``knowledge_added`` audit entry is written in the items' own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.history.audit import AuditAction, AuditEntry
from orchestrator.knowledge import KnowledgeBase
from orchestrator.knowledge.base import effect_idempotency_key
from orchestrator.knowledge.markdown import word_count
from orchestrator.knowledge.render import humanize_key, render_markdown
from orchestrator.knowledge.tables import DocumentKind
from orchestrator.models.base import StrictModel
from orchestrator.models.params import UpdateKnowledgeParams
from tasks.assistant.upstream import require_output
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError
from tasks.registry import Inputs

#: Tag every item a run stores carries, besides the task's own tags.
RUN_TAG = "run"
#: Reference parts that name the whole output (unless it has a key of that name).
WHOLE_OUTPUT_PARTS = frozenset({"results", "output"})


class StoredItem(StrictModel):
    item_id: int
    title: str
    word_count: int


class UpdateKnowledgeOutput(StrictModel):
    """The items stored (or, on a repeat, found stored) for this task's effect key."""

    item_ids: list[int]
    items: list[StoredItem]
    #: Upstream task ids whose outputs were stored (empty when only ``text`` was).
    sources: list[str]
    #: False when an earlier attempt of the same effect had stored them already.
    created: bool
    effect_key: str


def _label(task_id: str, ctx: HandlerContext) -> str:
    task = next((t for t in ctx.chain.tasks if t.id == task_id), None)
    kind = humanize_key(str(task.type)) if task is not None else "Output"
    return f"{kind} ({task_id})"


def _narrow(output: Any, part: str, task_id: str) -> Any:
    """The ``part`` of ``output`` a reference names; InvalidInputError if it has none."""
    if isinstance(output, Mapping) and part in output:
        return output[part]
    if part in WHOLE_OUTPUT_PARTS:
        return output
    raise InvalidInputError(
        f"source {task_id}_{part} names the {part!r} of {task_id}'s output, which has none"
        + (
            f" (it has: {', '.join(sorted(map(str, output)))})"
            if isinstance(output, Mapping)
            else ""
        ),
        source=f"{task_id}_{part}",
    )


def is_empty(output: Any) -> bool:
    """Whether an output has nothing to store: None, or an empty string, list or mapping."""
    if output is None:
        return True
    if isinstance(output, str):
        return not output.strip()
    return isinstance(output, Mapping | list | tuple) and len(output) == 0


def knowledge_text(text: str | None, outputs: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The Markdown to store: ``text``, then each output under a heading of its label.

    Empty outputs (:func:`is_empty`) are left out; nothing at all gives "". A single
    output without ``text`` is rendered at the top level (no heading of its own).
    """
    outputs = {task_id: out for task_id, out in outputs.items() if not is_empty(out)}
    parts: list[str] = []
    if text is not None and text.strip():
        parts.append(text.strip())
    if not outputs:
        return "\n\n".join(parts).strip() + "\n" if parts else ""
    if len(outputs) == 1 and not parts:
        (output,) = outputs.values()
        return render_markdown(output, heading_level=2)
    for task_id, output in outputs.items():
        body = render_markdown(output, heading_level=3)
        parts.append(f"## {labels.get(task_id, task_id)}\n\n{body}")
    return "\n\n".join(parts).strip() + "\n"


def _selected_outputs(
    params: UpdateKnowledgeParams, inputs: Inputs, ctx: HandlerContext
) -> dict[str, Any]:
    """Non-empty outputs to store, by upstream task id."""
    if params.source is not None:
        ref = params.source
        if ref.task_id in inputs and is_empty(inputs[ref.task_id]):
            return {}  # it ran and produced nothing: nothing to store, not a missing task
        # Over a data_flow edge from the inputs, over a prerequisite from the live context.
        output = _narrow(require_output(ref, inputs, ctx), ref.part, ref.task_id)
        return {} if is_empty(output) else {ref.task_id: output}
    if params.text is not None:
        return {}
    return {task_id: inputs[task_id] for task_id in sorted(inputs) if not is_empty(inputs[task_id])}


def update_knowledge(
    params: UpdateKnowledgeParams, inputs: Inputs, ctx: HandlerContext
) -> UpdateKnowledgeOutput:
    outputs = _selected_outputs(params, inputs, ctx)
    labels = {task_id: _label(task_id, ctx) for task_id in outputs}
    text = knowledge_text(params.text, outputs, labels)
    if word_count(text) == 0:
        raise InvalidInputError(
            "update_knowledge has nothing to store: give it text, a source "
            "(<task_id>_results) or a data_flow dependency on a task with output"
        )
    kb = KnowledgeBase(ctx.runtime.history.engine)
    tags = sorted({*params.tags, RUN_TAG})
    # Written with the items (item ids and words added there): a worker dying after the
    # commit cannot leave stored knowledge unaudited.
    audit = AuditEntry(
        user_id=ctx.user_id,
        action=AuditAction.KNOWLEDGE_ADDED,
        run_id=ctx.run_id,
        task_id=ctx.task_id,
        detail={"title": params.title, "sources": list(outputs)},
    )
    item_ids, created = kb.add_document(
        user_id=ctx.user_id,
        kind=DocumentKind.RUN,
        title=params.title,
        text=text,
        origin=DocumentKind.RUN.value,
        tags=tags,
        source_run_id=ctx.run_id,
        source_task_id=ctx.task_id,
        idempotency_key=effect_idempotency_key(ctx.effect_key),
        audit=audit,
    )
    items = [kb.get(item_id, user_id=ctx.user_id) for item_id in item_ids]
    stored = [
        StoredItem(item_id=item.item_id, title=item.title, word_count=item.word_count)
        for item in items
        if item is not None
    ]
    return UpdateKnowledgeOutput(
        item_ids=item_ids,
        items=stored,
        sources=list(outputs),
        created=created,
        effect_key=ctx.effect_key,
    )
