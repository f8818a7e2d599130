"""BACKUP_STATE: write a run's live context and history to a JSON file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from orchestrator.models.base import StrictModel
from orchestrator.models.params import BackupStateParams
from tasks.atomic_write import write_atomically
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, PermissionDeniedError
from tasks.registry import Inputs

BACKUP_FORMAT_VERSION = 1


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
    record = runtime.history.get_run(run_id)
    if record is None:
        raise InvalidInputError(f"run {run_id} does not exist", run_id=run_id)
    if record.user_id != ctx.user_id:
        # Same message as a missing run: a user learns nothing of other users' runs.
        raise PermissionDeniedError(f"run {run_id} does not exist", run_id=run_id)

    live = runtime.context.snapshot(record.user_id, run_id)
    attempts = runtime.history.attempts(run_id)
    audit = runtime.history.audit_log(run_id=run_id)
    document: dict[str, Any] = {
        "format_version": BACKUP_FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "created_by_run": ctx.run_id,
        "run": record.model_dump(mode="json", by_alias=True),
        "attempts": [a.model_dump(mode="json") for a in attempts],
        "audit": [a.model_dump(mode="json") for a in audit],
        "live_context": live,
    }
    directory = (runtime.settings.resolved_backup_dir / ctx.user_id).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = (directory / (params.file_name or f"{run_id}-{stamp}.json")).resolve()
    if path.parent != directory:
        raise PermissionDeniedError(
            f"backup file name {params.file_name!r} leaves the backup directory"
        )
    payload = json.dumps(document, indent=2, sort_keys=True).encode()
    write_atomically(path, payload)
    return BackupResult(
        path=str(path),
        bytes_written=len(payload),
        run_id=run_id,
        tasks=len(record.chain.tasks),
        attempts=len(attempts),
        audit_entries=len(audit),
    )
