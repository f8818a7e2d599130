"""What a handler receives besides its parameters and inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.models import AITask, TaskChain

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime


@dataclass(frozen=True)
class HandlerContext:
    """The run and task a handler works for, and the services it may use."""

    run_id: str
    task_id: str
    user_id: str
    attempt: int
    chain: TaskChain
    task: AITask
    runtime: Runtime
