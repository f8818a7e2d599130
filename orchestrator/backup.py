"""The backup document of one run: what BACKUP_STATE writes and ``orchestrator restore`` reads.

A backup holds the run as history recorded it (goal, plan, state, result), every task
attempt with its output, the run's audit entries, and the live context as it was (run
metadata, the plan as adapted, task states, outputs, the event stream, module contexts).

Format versions:

- 1: the first release. Attempts carry no output, the live context no plan and no result,
  there is no goal row and no checksum. Still read: the missing parts come from the run.
- 2 (written now): adds those, and ``content_sha256``, the SHA-256 of the document's
  canonical JSON without that field and ``signature``. It catches a truncated or
  hand-edited file; it is not a signature (anyone who edits the file can recompute it).
  With ``ORCH_BACKUP_SECRET`` set, BACKUP_STATE adds ``signature``: an HMAC-SHA256 of
  ``content_sha256`` under that secret, which only holders of the secret can make.

``read_backup`` turns bytes into a checked ``BackupDocument`` or raises ``BackupFormatError``
naming every problem; it does no I/O, so it is tested without any service. Writing one
is ``orchestrator.backup_snapshot``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, Field, SecretStr, ValidationError

from orchestrator.context import RunEvent, RunMeta
from orchestrator.control import USER_ID_RE
from orchestrator.history.audit import AuditEntry
from orchestrator.history.records import RunRecord
from orchestrator.models import (
    ExecutionResult,
    Priority,
    TaskChain,
    TaskError,
    TaskState,
    TaskStatus,
)
from orchestrator.models.base import StrictModel
from orchestrator.run_locks import RUN_ID_RE

#: The version ``build_backup`` writes.
BACKUP_FORMAT_VERSION = 2
#: Every version ``read_backup`` reads.
READABLE_VERSIONS = (1, 2)
#: Fields outside the checksummed content.
_UNHASHED = ("content_sha256", "signature")


class BackupFormatError(ValueError):
    """A backup file that is not one, or not a consistent one; ``problems`` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid backup: " + "; ".join(problems))
        self.problems = problems


class BackupGoal(StrictModel):
    """The ``goals`` row of the run (shared by every run of that goal id)."""

    id: str
    user_id: str
    description: str
    priority: Priority
    payload: dict[str, Any]
    created_at: AwareDatetime


class BackupAttempt(StrictModel):
    """One ``task_attempts`` row, output and input fingerprint included (format 2)."""

    run_id: str
    task_id: str
    task_type: str
    attempt: int
    state: TaskState
    queue: str | None
    worker: str | None
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    duration_ms: float | None
    error: TaskError | None
    reason: str | None
    output: dict[str, Any] | None = None
    input_fingerprint: str | None = None


class LiveContextSnapshot(StrictModel):
    """What the live context held of the run; ``meta`` is None once it had expired."""

    meta: RunMeta | None
    tasks: dict[str, TaskStatus] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    events: list[RunEvent] = Field(default_factory=list)
    modules: dict[str, Any] = Field(default_factory=dict)
    #: The plan as it ran (recovery may have added tasks); format 2.
    chain: TaskChain | None = None
    #: The ExecutionResult once the run finished; format 2.
    result: ExecutionResult | None = None


class BackupDocument(StrictModel):
    """One backup file."""

    format_version: Literal[1, 2]
    created_at: AwareDatetime
    #: The run whose BACKUP_STATE task wrote the file (None: written outside a run).
    created_by_run: str | None
    run: RunRecord
    goal: BackupGoal | None = None
    attempts: list[BackupAttempt]
    audit: list[AuditEntry]
    live_context: LiveContextSnapshot
    content_sha256: str | None = None
    #: HMAC-SHA256 of ``content_sha256`` under ``ORCH_BACKUP_SECRET`` (format 2, optional).
    signature: str | None = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def owner(self) -> str:
        return self.run.user_id

    def goal_row(self) -> BackupGoal:
        """The goal row to restore (format 1 has none: rebuilt from the run's plan)."""
        if self.goal is not None:
            return self.goal
        goal = self.run.chain.goal
        return BackupGoal(
            id=goal.id,
            user_id=self.run.user_id,
            description=goal.description,
            priority=goal.priority,
            payload=goal.model_dump(mode="json"),
            created_at=self.run.submitted_at,
        )


def content_digest(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``document`` without ``content_sha256`` and
    ``signature``."""
    body = {k: v for k, v in document.items() if k not in _UNHASHED}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class SignatureStatus(StrEnum):
    """What the ``signature`` of a backup says, checked against this server's secret."""

    VALID = "valid"
    #: Signed, but not with this secret (another installation's, or altered).
    INVALID = "invalid"
    UNSIGNED = "unsigned"
    #: No ``ORCH_BACKUP_SECRET`` here: nothing can be checked.
    UNCHECKED = "unchecked"


def sign_digest(content_sha256: str, secret: SecretStr) -> str:
    """The ``signature`` of a document whose ``content_sha256`` is ``content_sha256``."""
    key = secret.get_secret_value().encode()
    return hmac.new(key, b"orchestrator-backup:" + content_sha256.encode(), "sha256").hexdigest()


def signature_status(doc: BackupDocument, secret: SecretStr | None) -> SignatureStatus:
    """Check ``doc.signature``; ``read_backup`` has checked ``content_sha256`` already."""
    if secret is None:
        return SignatureStatus.UNCHECKED
    if doc.signature is None or doc.content_sha256 is None:
        return SignatureStatus.UNSIGNED
    expected = sign_digest(doc.content_sha256, secret)
    valid = hmac.compare_digest(expected, doc.signature)
    return SignatureStatus.VALID if valid else SignatureStatus.INVALID


# -- reading -------------------------------------------------------------------------------


def read_backup(raw: bytes | str) -> BackupDocument:
    """Parse and check a backup file; raises ``BackupFormatError`` naming each problem."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BackupFormatError([f"not JSON: {exc}"]) from exc
    if not isinstance(data, dict):
        raise BackupFormatError(["not a backup document (a JSON object is expected)"])
    version = data.get("format_version")
    if version not in READABLE_VERSIONS:
        raise BackupFormatError(
            [
                f"unsupported format_version {version!r}: this orchestrator reads "
                + ", ".join(str(v) for v in READABLE_VERSIONS)
            ]
        )
    if version >= 2:
        recorded = data.get("content_sha256")
        if not isinstance(recorded, str):
            raise BackupFormatError(["content_sha256 is missing (required from format 2)"])
        if recorded != content_digest(data):
            raise BackupFormatError(
                ["content_sha256 does not match the content: the file was changed or truncated"]
            )
    try:
        document = BackupDocument.model_validate_json(raw)
    except ValidationError as exc:
        raise BackupFormatError(
            [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from exc
    problems = consistency_problems(document)
    if problems:
        raise BackupFormatError(problems)
    return document


def _stream_id(event_id: str) -> tuple[int, int] | None:
    """``(milliseconds, sequence)`` of a Redis stream id, None if it is not one."""
    match = re.fullmatch(r"([0-9]{1,20})-([0-9]{1,20})", event_id)
    return None if match is None else (int(match[1]), int(match[2]))


def _event_id_problems(events: list[RunEvent]) -> list[str]:
    # XADD refuses an explicit id at or below the stream's last one (and 0-0) at EXEC time,
    # after the rest of the MULTI was applied: refuse such a file before writing anything.
    problems: list[str] = []
    last = (0, 0)
    for n, event in enumerate(events):
        parsed = _stream_id(event.id)
        if parsed is None:
            problems.append(f"live_context.events[{n}] has no stream id ({event.id!r})")
        elif parsed <= last:
            problems.append(
                f"live_context.events[{n}] id {event.id} is not above the previous one"
                + ("" if n else " (ids start above 0-0)")
            )
        last = max(last, parsed or last)
    return problems


def consistency_problems(doc: BackupDocument) -> list[str]:
    """Every way the parts of ``doc`` contradict each other (empty when consistent)."""
    run = doc.run
    problems: list[str] = []
    # The ids become Redis keys, lock file names and CLI arguments.
    if not RUN_ID_RE.fullmatch(run.run_id):
        problems.append(f"run.run_id {run.run_id!r} is not a run id (run_<hex>)")
    if not USER_ID_RE.fullmatch(run.user_id):
        problems.append(f"run.user_id {run.user_id!r} is not a valid user id")
    if run.chain.id != run.chain_id:
        problems.append(f"run.chain_id {run.chain_id!r} is not the plan's id {run.chain.id!r}")
    if run.chain.goal.id != run.goal_id:
        problems.append(f"run.goal_id {run.goal_id!r} is not the plan's goal {run.chain.goal.id!r}")
    if doc.goal is not None and (doc.goal.id, doc.goal.user_id) != (run.goal_id, run.user_id):
        problems.append("goal does not belong to the run's goal id and user")
    problems += [
        f"attempt {a.task_id}#{a.attempt} belongs to run {a.run_id!r}"
        for a in doc.attempts
        if a.run_id != run.run_id
    ]
    twice = Counter((a.task_id, a.attempt) for a in doc.attempts)
    problems += [f"attempt {t}#{n} appears {c} times" for (t, n), c in twice.items() if c > 1]
    problems += [
        f"audit entry {e.action.value} at {e.at.isoformat()} belongs to run {e.run_id!r}"
        for e in doc.audit
        if e.run_id != run.run_id
    ]
    live = doc.live_context
    if live.meta is not None:
        if (live.meta.run_id, live.meta.user_id) != (run.run_id, run.user_id):
            problems.append("live_context.meta names another run or user")
        if live.meta.chain_id != run.chain_id:
            problems.append("live_context.meta names another chain")
        known = {t.id for t in (live.chain or run.chain).tasks}
        problems += [
            f"live_context.tasks has unknown task {t!r}" for t in sorted(set(live.tasks) - known)
        ]
        problems += [
            f"live_context.tasks[{k!r}] is the status of task {s.task_id!r}"
            for k, s in live.tasks.items()
            if k != s.task_id
        ]
    elif live.tasks or live.outputs or live.events:
        problems.append("live_context has task data but no run metadata")
    problems += _event_id_problems(live.events)
    return problems
