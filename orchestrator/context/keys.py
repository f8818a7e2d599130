"""Redis key layout of the live context: ``{prefix}:{user}:{run}:<part>``.

Keys are per user and per run, so one user's calls can never name another user's run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunKeys:
    prefix: str
    user_id: str
    run_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{self.user_id}:{self.run_id}"

    @property
    def meta(self) -> str:
        """Hash: chain_id, goal, state, submitted_at, finished_at, cancel, abort_reason, result."""
        return f"{self.base}:meta"

    @property
    def chain(self) -> str:
        """String: the TaskChain as planned (JSON)."""
        return f"{self.base}:chain"

    @property
    def tasks(self) -> str:
        """Hash: task id -> TaskStatus JSON."""
        return f"{self.base}:tasks"

    @property
    def outputs(self) -> str:
        """Hash: task id -> output JSON, read by downstream tasks as their inputs."""
        return f"{self.base}:outputs"

    @property
    def events(self) -> str:
        """Stream of run events, read by ``watch`` and ``wait``."""
        return f"{self.base}:events"

    @property
    def modules(self) -> str:
        """Hash: module name -> that module's context JSON (the spec's WorkspaceContext...)."""
        return f"{self.base}:modules"

    def all(self) -> tuple[str, ...]:
        return (self.meta, self.chain, self.tasks, self.outputs, self.events, self.modules)
