"""What a handler receives besides its parameters and inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.history.audit import AuditAction, AuditEntry
from orchestrator.models import AITask, TaskChain
from orchestrator.models.base import JsonScalar

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
    #: What a person approved at this task's approval gate (None: nothing approved yet).
    #: An approval of an escalated failure is not a gate approval.
    approval: Mapping[str, JsonScalar] | None = None
    #: Restart generation after rollback_and_restart; 0 for the original run. Handlers
    #: with side effects key them by (run, task, restart) so a restart may act again.
    restart: int = 0

    @property
    def approved(self) -> bool:
        """A person approved this task at its approval gate."""
        return self.approval is not None

    def audit(self, action: AuditAction, **detail: Any) -> None:
        """Write one audit entry for this task (its user, run and task)."""
        entry = AuditEntry(
            user_id=self.user_id,
            action=action,
            run_id=self.run_id,
            task_id=self.task_id,
            detail=detail,
        )
        self.runtime.history.record_audit([entry])

    def ancestors(self) -> list[str]:
        """Task ids upstream of this task, nearest first (breadth-first over every edge)."""
        parents: dict[str, list[str]] = {}
        for dependency in self.chain.dependencies:
            parents.setdefault(dependency.to_task, []).append(dependency.from_task)
        seen: list[str] = []
        frontier = [self.task_id]
        while frontier:
            following: list[str] = []
            for task_id in frontier:
                for parent in parents.get(task_id, []):
                    if parent not in seen:
                        seen.append(parent)
                        following.append(parent)
            frontier = following
        return seen

    @property
    def effect_key(self) -> str:
        """Idempotency key of this task's side effect: one per (run, task, restart)."""
        return f"{self.run_id}:{self.task_id}:{self.restart}"
