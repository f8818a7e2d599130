"""BACKUP_STATE: write a run's live context and history to a JSON file.

The file's format is ``orchestrator.backup`` (``orchestrator restore FILE`` reads it back);
the run's history is read as one snapshot (``orchestrator.backup_snapshot``). With
``ORCH_BACKUP_SECRET`` set, the file is signed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from orchestrator.backup import BACKUP_FORMAT_VERSION
from orchestrator.backup_snapshot import build_backup, read_history
from orchestrator.models.base import StrictModel
from orchestrator.models.params import BackupStateParams
from tasks.atomic_write import write_atomically
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, PermissionDeniedError
from tasks.registry import Inputs

__all__ = ["BACKUP_FORMAT_VERSION", "BackupResult", "backup_state"]


class BackupResult(StrictModel):
    path: str
    bytes_written: int
    run_id: str
    tasks: int
    attempts: int
    audit_entries: int


def backup_state(params: BackupStateParams, inputs: Inputs, ctx: HandlerContext) -> BackupResult:
    runtime = ctx.runtime
    run_id = params.target_run_id or ctx.run_id
    history = read_history(runtime.history.engine, run_id)
    if history is None:
        raise InvalidInputError(f"run {run_id} does not exist", run_id=run_id)
    if history.record.user_id != ctx.user_id:
        # Same message as a missing run: a user learns nothing of other users' runs.
        raise PermissionDeniedError(f"run {run_id} does not exist", run_id=run_id)

    directory = (runtime.settings.resolved_backup_dir / ctx.user_id).resolve()
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    path = (directory / (params.file_name or f"{run_id}-{stamp}.json")).resolve()
    if path.parent != directory:
        raise PermissionDeniedError(
            f"backup file name {params.file_name!r} leaves the backup directory"
        )
    document = build_backup(
        history=history,
        context=runtime.context,
        created_at=now,
        created_by_run=ctx.run_id,
        secret=runtime.settings.backup_secret,
    )
    directory.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(document, indent=2, sort_keys=True).encode()
    write_atomically(path, payload)
    return BackupResult(
        path=str(path),
        bytes_written=len(payload),
        run_id=run_id,
        tasks=len(history.record.chain.tasks),
        attempts=len(history.attempts),
        audit_entries=len(history.audit),
    )
