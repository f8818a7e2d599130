"""Restoring a backed-up run into history and the live context (``orchestrator restore``).

What gets written: the goal (unless that goal id is already recorded for the same user),
the run (plan, state, result, times), every task attempt with its output, every audit
entry with its original time, then a ``run_restored`` entry by whoever restored it; all in
one history transaction. The live context (when the backup has one and the caller keeps
one) is written inside that transaction, before the commit, so a refused or failed history
write leaves Redis untouched, and a failed commit removes what was written there.

A file is not trusted beyond its own run:

- restored attempts lose their input fingerprint and finish no later than the restore, so
  their outputs never become a later run's ``last_good_output`` (graceful degradation);
- each restored audit entry's ``detail`` gains ``restored: {by, at, file_sha256}``, and
  the ``run_restored`` entry says whether the file's signature was valid.

Refused, writing nothing:

- a restoring user who neither owns the run nor has the ``admin`` role. The run keeps its
  owner either way; the audit entry names who restored it.
- with ``ORCH_BACKUP_SECRET`` set, a file without a valid signature, unless an admin
  restores it with ``allow_unsigned`` (``--unsigned``); ``allow_unsigned`` by a non-admin;
- by a non-admin, a file not validly signed (or with no secret to check it against) whose
  audit entries name other users than the owner: the owner cannot vouch for those;
- a run id already recorded, or already live: restoring never overwrites. There is no
  ``--replace``: the audit log is append-only, so a replaced run would keep the trail of
  the run it replaced next to the restored one. Restore into a store without that run.
- a goal id recorded for another user.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from pydantic import SecretStr
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from orchestrator.backup import BackupDocument, SignatureStatus, signature_status
from orchestrator.context import ContextStore, utcnow
from orchestrator.history import AuditAction, AuditEntry, HistoryStore
from orchestrator.history.records import audit_row_values
from orchestrator.history.tables import AuditLogRow, GoalRow, RunRow, TaskAttemptRow
from orchestrator.models import RunState
from orchestrator.models.base import StrictModel
from orchestrator.permissions import Permissions

#: The role that may restore other users' runs.
ADMIN_ROLE = "admin"


class RestoreRefused(Exception):
    """The backup is valid but cannot be restored here (permission or a conflict)."""


class BackupSource(StrictModel):
    """The file a document was read from, and the SHA-256 of its bytes."""

    file: str
    sha256: str

    @classmethod
    def of(cls, file: Path | str, data: bytes) -> Self:
        return cls(file=str(file), sha256=hashlib.sha256(data).hexdigest())


class RestoreReport(StrictModel):
    """What a restore wrote."""

    run_id: str
    owner: str
    restored_by: str
    state: RunState
    signature: SignatureStatus
    goal: str
    format_version: int
    tasks: int
    attempts: int
    audit_entries: int
    live_context: bool
    #: False when the run had not finished when it was backed up: it is restored as it
    #: was then, and nothing resumes it.
    finished: bool


def may_restore(permissions: Permissions, acting_user: str, owner: str) -> bool:
    """The owner may restore their run; an admin may restore anyone's."""
    return acting_user == owner or permissions.role_of(acting_user) == ADMIN_ROLE


def refusal(
    doc: BackupDocument,
    *,
    permissions: Permissions,
    acting_user: str,
    signature: SignatureStatus,
    allow_unsigned: bool,
) -> str | None:
    """Why ``acting_user`` may not restore ``doc`` (None: they may); no I/O."""
    admin = permissions.role_of(acting_user) == ADMIN_ROLE
    if not may_restore(permissions, acting_user, doc.owner):
        return f"run {doc.run_id} is not yours to restore"
    if allow_unsigned and not admin:
        return "only an admin may restore a file without a valid signature (--unsigned)"
    if signature in (SignatureStatus.UNSIGNED, SignatureStatus.INVALID) and not allow_unsigned:
        return (
            f"the file's signature is {signature.value}: it was not written by BACKUP_STATE "
            "with this server's ORCH_BACKUP_SECRET (an admin may restore it with --unsigned)"
        )
    others = sorted({e.user_id for e in doc.audit} - {doc.owner})
    if others and not admin and signature is not SignatureStatus.VALID:
        return (
            f"the file's audit trail has entries of other users ({', '.join(others)}); "
            "only an admin may restore it"
        )
    return None


def _restored_attempt(attempt: dict[str, Any], now: datetime) -> dict[str, Any]:
    # A file's fingerprint would let it plant outputs for later runs with those inputs,
    # and a future finish time would keep them the newest.
    attempt["input_fingerprint"] = None
    for key in ("started_at", "finished_at"):
        if attempt[key] is not None and attempt[key] > now:
            attempt[key] = now
    return attempt


def _restored_entry(entry: AuditEntry, marker: dict[str, str]) -> AuditEntry:
    return entry.model_copy(update={"detail": {**entry.detail, "restored": marker}})


def _write_history(
    session: Session, doc: BackupDocument, entry: AuditEntry, source: BackupSource
) -> None:
    run = doc.run
    if session.scalar(select(RunRow.run_id).where(RunRow.run_id == run.run_id)) is not None:
        raise RestoreRefused(f"run {run.run_id} already exists; restore into a store without it")
    goal = doc.goal_row()
    owner = session.scalar(select(GoalRow.user_id).where(GoalRow.id == goal.id))
    if owner is None:
        session.execute(
            insert(GoalRow).values({**goal.model_dump(), "priority": goal.priority.value})
        )
    elif owner != run.user_id:
        raise RestoreRefused(f"goal {goal.id} is recorded for another user")
    session.execute(
        insert(RunRow).values(
            run_id=run.run_id,
            chain_id=run.chain_id,
            goal_id=run.goal_id,
            user_id=run.user_id,
            state=run.state.value,
            chain=run.chain.model_dump(mode="json", by_alias=True),
            result=None if run.result is None else run.result.model_dump(mode="json"),
            submitted_at=run.submitted_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )
    )
    if doc.attempts:
        session.execute(
            insert(TaskAttemptRow),
            [
                _restored_attempt(
                    {
                        **a.model_dump(exclude={"state", "error"}),
                        "state": a.state.value,
                        "error": None if a.error is None else a.error.model_dump(mode="json"),
                    },
                    entry.at,
                )
                for a in doc.attempts
            ],
        )
    marker = {"by": entry.user_id, "at": entry.at.isoformat(), "file_sha256": source.sha256}
    # One statement per entry, in order: the ids (the log's order) follow the original.
    for audit in [*(_restored_entry(e, marker) for e in doc.audit), entry]:
        session.execute(insert(AuditLogRow).values(**audit_row_values(audit)))


def _write_live(context: ContextStore, doc: BackupDocument) -> bool:
    live = doc.live_context
    if live.meta is None:
        return False
    if not context.restore_run(
        live.meta,
        live.chain or doc.run.chain,
        tasks=live.tasks,
        outputs=live.outputs,
        events=live.events,
        modules=live.modules,
        result=live.result or doc.run.result,
    ):
        raise RestoreRefused(f"run {doc.run_id} already has live context")
    return True


def restore_backup(
    doc: BackupDocument,
    *,
    history: HistoryStore,
    context: ContextStore | None,
    permissions: Permissions,
    acting_user: str,
    source: BackupSource,
    secret: SecretStr | None = None,
    allow_unsigned: bool = False,
) -> RestoreReport:
    """Write the run in ``doc`` back (see the module docstring); ``context=None`` keeps
    history only. ``secret`` is ``ORCH_BACKUP_SECRET``. Raises ``RestoreRefused``; a
    database or Redis error rolls everything back."""
    signature = signature_status(doc, secret)
    refused = refusal(
        doc,
        permissions=permissions,
        acting_user=acting_user,
        signature=signature,
        allow_unsigned=allow_unsigned,
    )
    if refused is not None:
        raise RestoreRefused(refused)
    entry = AuditEntry(
        user_id=acting_user,
        action=AuditAction.RUN_RESTORED,
        run_id=doc.run_id,
        at=utcnow(),
        detail={
            "owner": doc.owner,
            "file": source.file,
            "file_sha256": source.sha256,
            "signature": signature.value,
            "format_version": doc.format_version,
            "backed_up_at": doc.created_at.isoformat(),
            "attempts": len(doc.attempts),
            "audit_entries": len(doc.audit),
        },
    )
    live_written = False
    try:
        with Session(history.engine) as session, session.begin():
            _write_history(session, doc, entry, source)
            if context is not None:
                live_written = _write_live(context, doc)
    except BaseException:
        if live_written and context is not None:
            context.delete_run(doc.owner, doc.run_id)
        raise
    return RestoreReport(
        run_id=doc.run_id,
        owner=doc.owner,
        restored_by=acting_user,
        state=doc.run.state,
        signature=signature,
        goal=doc.run.goal_description,
        format_version=doc.format_version,
        tasks=len(doc.run.chain.tasks),
        attempts=len(doc.attempts),
        audit_entries=len(doc.audit),
        live_context=live_written,
        finished=doc.run.state.is_final,
    )
