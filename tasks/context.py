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
    #: A person approved this execution (an approval gate, or an escalated failure).
    approved: bool = False
    #: Restart generation after rollback_and_restart; 0 for the original run. Handlers
    #: with side effects key them by (run, task, restart) so a restart may act again.
    restart: int = 0

    @property
    def effect_key(self) -> str:
        """Idempotency key of this task's side effect: one per (run, task, restart)."""
        return f"{self.run_id}:{self.task_id}:{self.restart}"
