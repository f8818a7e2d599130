"""Task types the tests (and the benchmark) register through the public extension API.

Load with ``ORCH_PLUGINS='["tests.support.plugin:register"]'`` or call ``register(registry)``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from orchestrator.models import Module
from orchestrator.models.base import StrictModel
from tasks.context import HandlerContext
from tasks.errors import HandlerError
from tasks.registry import Inputs, TaskRegistry

#: Task type per module: each runs on its module's queue.
STEP_TYPES: dict[Module, str] = {
    Module.WORKSPACE: "test_workspace_step",
    Module.PORTFOLIO: "test_portfolio_step",
    Module.AI_ASSISTANT: "test_assistant_step",
    Module.SYSTEM: "test_system_step",
}


class StepParams(StrictModel):
    value: str = "x"
    sleep_ms: int = Field(default=0, ge=0, le=60_000)
    fail: bool = False


class StepOutput(StrictModel):
    value: str
    task_id: str
    inputs: dict[str, Any]
    started_at: datetime
    finished_at: datetime


class InjectedFailureError(HandlerError):
    """A failure the test asked for; final, so the run semantics are seen without recovery."""

    recoverable = False


def step(params: StepParams, inputs: Inputs, ctx: HandlerContext) -> StepOutput:
    started = datetime.now(UTC)
    if params.sleep_ms:
        time.sleep(params.sleep_ms / 1000)
    if params.fail:
        raise InjectedFailureError(f"injected failure in {ctx.task_id}")
    return StepOutput(
        value=params.value,
        task_id=ctx.task_id,
        inputs=inputs,
        started_at=started,
        finished_at=datetime.now(UTC),
    )


def register(registry: TaskRegistry) -> None:
    # Imported here: the trading support imports the portfolio module, which the step
    # types do not need.
    from tests.support.blocking import register_blocking
    from tests.support.trading import register_trading

    register_trading(registry)
    register_blocking(registry)
    for module, task_type in STEP_TYPES.items():
        if task_type not in registry:
            registry.register(
                task_type, module=module, params=StepParams, handler=step, expected_duration_ms=10
            )
