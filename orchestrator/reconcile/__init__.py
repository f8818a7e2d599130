"""Sync: reconcile the live context with history, and repair runs whose worker died.

``reconcile`` observes (``observe``), decides (``decisions.plan_sync``, pure) and, unless
it is a dry run, repairs (``apply``). It serves both the ``orchestrator sync`` command and
the SYNC_SERVICES task handler. Which repair applies when is explained in
``orchestrator.reconcile.decisions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import Field

from orchestrator.models.base import StrictModel
from orchestrator.models.params import SyncTarget
from orchestrator.reconcile.apply import AppliedRepair, apply_repairs
from orchestrator.reconcile.decisions import (
    EMBEDDED_EXIT_REASON,
    RepairAction,
    RepairKind,
    RunFinding,
    Verdict,
    plan_sync,
)
from orchestrator.reconcile.observe import observe

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

#: A run with any sign of life this recent is not judged (a message may be in flight).
DEFAULT_GRACE_S = 30.0
#: How long workers have to answer the remote-control inspection.
DEFAULT_INSPECT_TIMEOUT_S = 1.0
#: The shortest grace a repairing sync takes: the inspection's timeout and a few seconds
#: for the writes of a run in flight (history first, then the live context).
MIN_GRACE_S = DEFAULT_INSPECT_TIMEOUT_S + 9.0
ALL_TARGETS: tuple[SyncTarget, ...] = ("context", "history")


class SyncReport(StrictModel):
    """What sync found, what it decided, and (unless a dry run) what it did."""

    checked_at: datetime
    dry_run: bool
    embedded: bool
    targets: list[SyncTarget]
    broker_visible: bool
    runs_checked: int
    findings: list[RunFinding] = Field(default_factory=list)
    actions: list[RepairAction] = Field(default_factory=list)
    applied: list[AppliedRepair] = Field(default_factory=list)

    def runs_with(self, verdict: Verdict) -> list[str]:
        """Ids of the runs found with ``verdict``."""
        return [f.run_id for f in self.findings if f.verdict is verdict]


def reconcile(
    runtime: Runtime,
    *,
    targets: Sequence[SyncTarget] = ALL_TARGETS,
    user_id: str | None = None,
    exclude_run_ids: Sequence[str] = (),
    dry_run: bool = False,
    grace_s: float = DEFAULT_GRACE_S,
    inspect_timeout_s: float = DEFAULT_INSPECT_TIMEOUT_S,
    max_runs: int = 1000,
    actor: str = "sync",
    allow_short_grace: bool = False,
) -> SyncReport:
    """Find runs whose live context and reality disagree and repair them.

    ``user_id`` limits sync to that user's runs (None: every user's, for operators);
    ``exclude_run_ids`` are never judged (the run a SYNC_SERVICES task belongs to).
    A repairing sync needs ``grace_s`` of at least :data:`MIN_GRACE_S` (and the inspect
    timeout plus a few seconds), else ValueError; ``allow_short_grace`` lifts that for
    tests only, which stage their runs' timing themselves.
    """
    check_grace(grace_s, inspect_timeout_s, dry_run=dry_run or allow_short_grace)
    observation = observe(
        runtime,
        targets=list(targets),
        user_id=user_id,
        excluded_run_ids=list(exclude_run_ids),
        grace_s=grace_s,
        inspect_timeout_s=inspect_timeout_s,
        max_runs=max_runs,
    )
    plan = plan_sync(observation)
    applied = [] if dry_run else apply_repairs(runtime, plan.actions, actor=actor)
    return SyncReport(
        checked_at=observation.now,
        dry_run=dry_run,
        embedded=observation.embedded,
        targets=observation.targets,
        broker_visible=observation.broker_visible,
        runs_checked=len(observation.runs),
        findings=plan.findings,
        actions=plan.actions,
        applied=applied,
    )


def check_grace(grace_s: float, inspect_timeout_s: float, *, dry_run: bool) -> None:
    """ValueError when a repairing sync's grace would judge runs with writes in flight."""
    least = max(MIN_GRACE_S, inspect_timeout_s + MIN_GRACE_S - DEFAULT_INSPECT_TIMEOUT_S)
    if grace_s < 0 or (not dry_run and grace_s < least):
        raise ValueError(
            f"a grace of {grace_s:g} s is too short: a sync that repairs needs at least "
            f"{least:g} s (the workers' answer time and the writes of a run in flight)"
        )


__all__ = [
    "ALL_TARGETS",
    "DEFAULT_GRACE_S",
    "EMBEDDED_EXIT_REASON",
    "MIN_GRACE_S",
    "AppliedRepair",
    "RepairAction",
    "RepairKind",
    "RunFinding",
    "SyncReport",
    "Verdict",
    "check_grace",
    "reconcile",
]
