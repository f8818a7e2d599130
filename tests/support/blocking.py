"""A task type that blocks on its first delivery until its worker is killed (registered by
the test plugin): the sync tests kill the whole worker while it runs.

The marker file makes it block only once: the delivery after the worker's death (the
message restored by sync) finds the marker and finishes at once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import Field

from orchestrator.models import Module, TaskState
from orchestrator.models.base import StrictModel
from tasks.context import HandlerContext
from tasks.errors import HandlerError
from tasks.registry import Inputs, TaskRegistry

BLOCK_ONCE_TYPE = "test_block_once"
#: The reason of the second "running" state the task announces once it blocks.
BLOCKED_REASON = "blocked until its worker is killed"


class BlockOnceParams(StrictModel):
    marker: str
    block_s: float = Field(default=120.0, gt=0, le=600)


class BlockOnceOutput(StrictModel):
    blocked_in_pid: int
    finished_in_pid: int


class NeverKilledError(HandlerError):
    """The test meant to kill the worker but did not."""

    recoverable = False


def block_once(params: BlockOnceParams, inputs: Inputs, ctx: HandlerContext) -> BlockOnceOutput:
    marker = Path(params.marker)
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        # The test waits for this second "running" event: the handler is inside now.
        ctx.runtime.context.note_task_state(
            ctx.user_id, ctx.run_id, ctx.task_id, TaskState.RUNNING, BLOCKED_REASON
        )
        time.sleep(params.block_s)
        raise NeverKilledError(f"{ctx.task_id} blocked {params.block_s} s and was never killed")
    return BlockOnceOutput(blocked_in_pid=int(marker.read_text()), finished_in_pid=os.getpid())


def register_blocking(registry: TaskRegistry) -> None:
    if BLOCK_ONCE_TYPE not in registry:
        registry.register(
            BLOCK_ONCE_TYPE, module=Module.PORTFOLIO, params=BlockOnceParams, handler=block_once
        )
