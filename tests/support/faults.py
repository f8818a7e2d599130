"""Fault-injecting task types, registered through the public extension API.

Each one fails in a known way so the recovery layer can be watched applying a strategy:
a timeout, flaky-then-succeeds, connection refused (with a fallback), permission denied,
invalid input, an effect with a compensation plus a task that needs a rollback, a process
crash, and the spec's code generation that times out unless it is split.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from orchestrator.models import AITask, Module, TaskError, TaskType
from orchestrator.models.base import StrictModel
from orchestrator.models.params import GenerateCodeParams
from tasks.context import HandlerContext
from tasks.errors import (
    ConflictingGoalsError,
    DependencyFailureError,
    InvalidInputError,
    NetworkError,
    PermissionDeniedError,
    StateInconsistencyError,
)
from tasks.hooks import AlternativePlan
from tasks.registry import Inputs, TaskRegistry


class FaultParams(StrictModel):
    #: A file the task uses to count its calls (and, for effects, to write to).
    ledger: str = ""
    succeed_on_call: int = Field(default=1, ge=1)
    sleep_ms: int = Field(default=0, ge=0)


class FaultOutput(StrictModel):
    call: int
    value: str = "ok"
    degraded_by: str | None = None


def _next_call(ledger: str, task_id: str) -> int:
    """Count calls of ``task_id`` in a file shared by every worker process."""
    path = Path(ledger).with_suffix(f".{task_id}.calls")
    with path.open("a+") as handle:
        handle.write("x")
    return len(path.read_text())


def flaky(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    call = _next_call(params.ledger, ctx.task_id)
    if call < params.succeed_on_call:
        raise NetworkError(f"connection reset by quotes-api on call {call}")
    return FaultOutput(call=call)


def slow(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    call = _next_call(params.ledger, ctx.task_id)
    if call < params.succeed_on_call:
        time.sleep(params.sleep_ms / 1000)
    return FaultOutput(call=call)


def refused(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    # A real refused connection: nothing listens on this freshly released port.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return FaultOutput(call=0)


def quotes_fallback(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    return FaultOutput(call=0, value="stale quotes", degraded_by="fallback")


def sometimes_down(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    """Answers on its first call, then its service is down (refused) for good."""
    call = _next_call(params.ledger, "sometimes_down")
    if call > 1:
        refused(params, inputs, ctx)
    return FaultOutput(call=call, value="fresh quotes")


def denied(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    raise PermissionDeniedError("the broker account may not trade options")


def invalid(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    raise InvalidInputError("symbol 'XXXX' is not listed")


def effect(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    """A side effect: appends '+<task>' to the ledger (compensation appends '-<task>')."""
    with open(params.ledger, "a") as handle:
        handle.write(f"+{ctx.task_id}\n")
    return FaultOutput(call=_next_call(params.ledger, ctx.task_id), value=ctx.task_id)


def undo_effect(params: FaultParams, output: dict[str, Any], ctx: HandlerContext) -> None:
    with open(params.ledger, "a") as handle:
        handle.write(f"-{ctx.task_id}\n")


def inconsistent(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    call = _next_call(params.ledger, ctx.task_id)
    if call < params.succeed_on_call:
        raise StateInconsistencyError(f"positions disagree with the ledger (call {call})")
    with open(params.ledger, "a") as handle:
        handle.write(f"={ctx.task_id}\n")
    return FaultOutput(call=call)


def conflict(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    call = _next_call(params.ledger, ctx.task_id)
    if call < params.succeed_on_call:
        raise ConflictingGoalsError("rebalancing conflicts with the tax-loss harvest goal")
    return FaultOutput(call=call)


#: The stubborn task works in slices this long, swallowing the soft limit between them.
STUBBORN_WORK_SLICE_S = 0.05


def stubborn(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    """Ignores the soft time limit and keeps working: only the hard limit stops it."""
    deadline = time.monotonic() + params.sleep_ms / 1000
    while time.monotonic() < deadline:
        # The point of this task: it swallows SoftTimeLimitExceeded.
        with contextlib.suppress(Exception):
            time.sleep(STUBBORN_WORK_SLICE_S)
    return FaultOutput(call=0)


def orphaned(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    """Its upstream data never arrives: no repair or retry can help."""
    _next_call(params.ledger, ctx.task_id)
    raise DependencyFailureError("the quotes feed this task reads was never published")


def crash(params: FaultParams, inputs: Inputs, ctx: HandlerContext) -> FaultOutput:
    _next_call(params.ledger, ctx.task_id)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


# --- the spec's "Error Recovery in Action": code generation split into components -----


class GeneratedCode(StrictModel):
    features: list[str]
    files: dict[str, str]


#: More features than this in one request and generation "times out" (like the spec's API).
MAX_FEATURES_PER_CALL = 1


def generate_code(params: GenerateCodeParams, inputs: Inputs, ctx: HandlerContext) -> GeneratedCode:
    if len(params.features) > MAX_FEATURES_PER_CALL:
        time.sleep(ctx.task.timeout_s + 5)  # the time limit fires first
    return GeneratedCode(
        features=list(params.features),
        files={f"{f}.ts": f"// {f} for {params.code_type}" for f in params.features},
    )


SPLIT_COMPONENTS = ("charts", "pdf", "api", "utils")


def split_generation(task: AITask, params: Any, error: TaskError) -> AlternativePlan | None:
    assert isinstance(params, GenerateCodeParams)
    if len(params.features) <= MAX_FEATURES_PER_CALL:
        return None
    subtasks = [
        task.model_copy(
            update={
                "id": f"{task.id}_{component}",
                "description": f"{task.description} ({component})",
                "parameters": {**task.parameters, "features": [feature]},
                "preconditions": [],
            }
        )
        for component, feature in zip(SPLIT_COMPONENTS, params.features, strict=False)
    ]

    def merge(outputs: dict[str, Any]) -> GeneratedCode:
        files: dict[str, str] = {}
        features: list[str] = []
        for sub in subtasks:
            part = outputs[sub.id]
            features += part["features"]
            files.update(part["files"])
        return GeneratedCode(features=features, files=files)

    return AlternativePlan(subtasks=subtasks, merge=merge)


class Done(StrictModel):
    task_id: str
    inputs: list[str]


def done(params: Any, inputs: Inputs, ctx: HandlerContext) -> Done:
    return Done(task_id=ctx.task_id, inputs=sorted(inputs))


FAULT_TYPES = {
    "fault_flaky": (Module.SYSTEM, flaky),
    "fault_slow": (Module.WORKSPACE, slow),
    "fault_refused": (Module.PORTFOLIO, refused),
    "fault_denied": (Module.PORTFOLIO, denied),
    "fault_invalid": (Module.AI_ASSISTANT, invalid),
    "fault_effect": (Module.WORKSPACE, effect),
    "fault_inconsistent": (Module.SYSTEM, inconsistent),
    "fault_crash": (Module.SYSTEM, crash),
    "fault_orphaned": (Module.AI_ASSISTANT, orphaned),
    "fault_stubborn": (Module.WORKSPACE, stubborn),
    "fault_conflict": (Module.AI_ASSISTANT, conflict),
    "fault_sometimes_down": (Module.PORTFOLIO, sometimes_down),
}

#: The spec's report-generator chain with stand-in handlers (the modules land later).
SPEC_STANDINS = (
    TaskType.ANALYZE_PORTFOLIO,
    TaskType.RESEARCH_TOPIC,
    TaskType.ANALYZE_CONTEXT,
    TaskType.CREATE_PROJECT,
    TaskType.VALIDATE_DATA,
)


def register(registry: TaskRegistry) -> None:
    for name, (module, handler) in FAULT_TYPES.items():
        if name not in registry:
            registry.register(name, module=module, params=FaultParams, handler=handler)
    registry.hooks.register_fallback("fault_refused", quotes_fallback)
    registry.hooks.register_compensation("fault_effect", undo_effect)
    for task_type in SPEC_STANDINS:
        spec = registry.get(task_type)
        registry.register(
            task_type, module=spec.module, params=spec.params_model, handler=done, replace=True
        )
    registry.register(
        TaskType.GENERATE_CODE,
        module=Module.WORKSPACE,
        params=GenerateCodeParams,
        handler=generate_code,
        replace=True,
    )
    registry.hooks.register_alternative(TaskType.GENERATE_CODE, split_generation)
