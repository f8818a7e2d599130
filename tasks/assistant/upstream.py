"""Reading the upstream outputs a task works on: analyses, research, report requirements.

The one place where "which upstream output does this task use?" is answered:

- an OutputRef parameter (``task_001_results``) selects one upstream task; its output is
  read from the inputs, or from the run's live context when the reference runs over an
  edge that does not carry data (a prerequisite) -- :func:`referenced_output`;
- without a reference, the outputs are searched in task-id order for the first one that
  validates as the wanted model -- :func:`find_model`, pure, for renderers that are
  handed the upstream outputs already gathered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from orchestrator.models.refs import OutputRef
from tasks.errors import DependencyFailureError, InvalidInputError

if TYPE_CHECKING:
    from tasks.context import HandlerContext

ModelT = TypeVar("ModelT", bound=BaseModel)


def find_model(
    model: type[ModelT], outputs: Mapping[str, Any] | None, task_id: str | None = None
) -> tuple[str, ModelT] | None:
    """``(task id, output)`` of the first output (by task id) that is a ``model`` dump.

    With ``task_id`` only that task's output is considered. None when there is none.
    """
    found = outputs or {}
    candidates = [task_id] if task_id is not None else sorted(found, key=str)
    for candidate in candidates:
        output = found.get(candidate)
        if output is None:
            continue
        try:
            return str(candidate), model.model_validate(output)
        except ValidationError:
            continue
    return None


def referenced_output(ref: OutputRef, inputs: Mapping[str, Any], ctx: HandlerContext) -> Any:
    """The output ``ref`` names: from the inputs, else the run's live context; None if absent."""
    if ref.task_id in inputs:
        return inputs[ref.task_id]
    found = ctx.runtime.context.outputs(ctx.user_id, ctx.run_id, [ref.task_id])
    return found.get(ref.task_id)


def require_output(ref: OutputRef, inputs: Mapping[str, Any], ctx: HandlerContext) -> Any:
    """Like :func:`referenced_output`, but a missing (or empty) output is an error."""
    output = referenced_output(ref, inputs, ctx)
    if output is None:
        raise DependencyFailureError(
            f"{ref} names the output of {ref.task_id}, which this run does not have",
            missing=[ref.task_id],
            reference=str(ref),
        )
    return output


def upstream_model(
    model: type[ModelT],
    ref: OutputRef | None,
    inputs: Mapping[str, Any],
    ctx: HandlerContext,
    *,
    what: str,
) -> tuple[str, ModelT] | None:
    """``(task id, output)`` of the upstream ``model``; None when there is none.

    A reference to an output that exists but is not ``what`` is an InvalidInputError.
    """
    if ref is None:
        return find_model(model, inputs)
    output = referenced_output(ref, inputs, ctx)
    if output is None:
        return None
    found = find_model(model, {ref.task_id: output}, ref.task_id)
    if found is None:
        raise InvalidInputError(
            f"{ref} names the output of {ref.task_id}, which is not {what}",
            reference=str(ref),
        )
    return found


def required_model(
    model: type[ModelT],
    ref: OutputRef | None,
    inputs: Mapping[str, Any],
    ctx: HandlerContext,
    *,
    what: str,
    producer: str,
) -> tuple[str, ModelT]:
    """Like :func:`upstream_model`, but a missing output is an error naming what is needed."""
    found = upstream_model(model, ref, inputs, ctx, what=what)
    if found is not None:
        return found
    if ref is not None:
        raise DependencyFailureError(
            f"{ref} names the output of {ref.task_id}, which this run does not have",
            missing=[ref.task_id],
        )
    raise InvalidInputError(
        f"this task needs {what}: give it a data_flow dependency on a {producer} task "
        "(or a reference such as task_001_results)",
        needs=producer,
    )
