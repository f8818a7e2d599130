"""SYNC_SERVICES: reconcile the live context with history and repair stuck runs.

The work is :func:`orchestrator.reconcile.reconcile`; this handler limits it to the
user's own runs and never judges the run it is part of (that run is alive: it runs this).
"""

from __future__ import annotations

from orchestrator.models.params import SyncServicesParams
from orchestrator.reconcile import SyncReport, reconcile
from tasks.context import HandlerContext
from tasks.registry import Inputs


def sync_services(params: SyncServicesParams, inputs: Inputs, ctx: HandlerContext) -> SyncReport:
    """Sync the user's runs; each repair is audited (``run_repaired``) by ``reconcile``."""
    return reconcile(
        ctx.runtime,
        targets=list(dict.fromkeys(params.services)),
        user_id=ctx.user_id,
        exclude_run_ids=[ctx.run_id],
        actor=f"{ctx.run_id}:{ctx.task_id}",
    )
