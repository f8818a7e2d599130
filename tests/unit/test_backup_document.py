"""The backup format, checked without any service: versions, checksum, signature,
consistency (ids, event ids), and who may restore what."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from orchestrator.backup import (
    BackupFormatError,
    SignatureStatus,
    content_digest,
    read_backup,
    sign_digest,
    signature_status,
)
from orchestrator.models import AITask, Module, TaskChain, TaskType, UserGoal
from orchestrator.permissions import Permissions, Role
from orchestrator.restore import may_restore, refusal

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC).isoformat()


def document(version: int = 2) -> dict[str, Any]:
    """A small, consistent backup of a finished one-task run, as a file holds it."""
    chain = TaskChain(
        goal=UserGoal(description="health"),
        tasks=[AITask(id="health", type=TaskType.MONITOR_HEALTH, module=Module.SYSTEM)],
    )
    run_id = "run_0123456789abcdef"
    doc: dict[str, Any] = {
        "format_version": version,
        "created_at": AT,
        "created_by_run": None,
        "run": {
            "run_id": run_id,
            "chain_id": chain.id,
            "goal_id": chain.goal.id,
            "user_id": "alice",
            "state": "completed",
            "chain": chain.model_dump(mode="json", by_alias=True),
            "result": None,
            "submitted_at": AT,
            "started_at": AT,
            "finished_at": AT,
            "goal_description": "health",
        },
        "attempts": [
            {
                "run_id": run_id,
                "task_id": "health",
                "task_type": "monitor_health",
                "attempt": 1,
                "state": "succeeded",
                "queue": "system",
                "worker": "system@h",
                "started_at": AT,
                "finished_at": AT,
                "duration_ms": 3.0,
                "error": None,
                "reason": None,
            }
        ],
        "audit": [{"user_id": "alice", "action": "run_submitted", "run_id": run_id, "at": AT}],
        "live_context": {"meta": None, "tasks": {}, "outputs": {}, "events": [], "modules": {}},
    }
    if version >= 2:
        doc["attempts"][0]["output"] = {"healthy": True}
        doc["content_sha256"] = content_digest(doc)
    return doc


def raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def problems_of(data: bytes) -> list[str]:
    with pytest.raises(BackupFormatError) as excinfo:
        read_backup(data)
    return excinfo.value.problems


def test_a_consistent_backup_reads_back_with_its_outputs() -> None:
    doc = read_backup(raw(document()))
    assert doc.run_id == "run_0123456789abcdef" and doc.owner == "alice"
    assert doc.attempts[0].output == {"healthy": True}


def test_a_version_1_file_is_still_read_and_its_goal_rebuilt_from_the_plan() -> None:
    doc = read_backup(raw(document(version=1)))
    goal = doc.goal_row()
    assert doc.attempts[0].output is None
    assert (goal.id, goal.user_id, goal.description) == (doc.run.goal_id, "alice", "health")


@pytest.mark.parametrize("version", [0, 3, "2", None])
def test_an_unknown_format_version_is_named(version: object) -> None:
    doc = document()
    doc["format_version"] = version
    (problem,) = problems_of(raw(doc))
    assert f"unsupported format_version {version!r}" in problem


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_what_is_not_a_backup_is_refused(data: bytes) -> None:
    (problem,) = problems_of(data)
    assert "not JSON" in problem or "JSON object" in problem


def test_an_edited_file_fails_its_checksum() -> None:
    doc = document()
    doc["run"]["state"] = "failed"
    (problem,) = problems_of(raw(doc))
    assert "content_sha256 does not match" in problem


def test_a_version_2_file_without_checksum_is_refused() -> None:
    doc = document()
    del doc["content_sha256"]
    assert "content_sha256 is missing" in problems_of(raw(doc))[0]


def test_parts_of_another_run_are_named_even_with_a_valid_checksum() -> None:
    doc = document()
    doc["attempts"][0]["run_id"] = "run_other"
    doc["audit"][0]["run_id"] = "run_other"
    doc["attempts"].append({**doc["attempts"][0], "run_id": doc["run"]["run_id"]})
    doc["attempts"].append({**doc["attempts"][0], "run_id": doc["run"]["run_id"]})
    doc["content_sha256"] = content_digest(doc)
    problems = problems_of(raw(doc))
    assert any("attempt health#1 belongs to run 'run_other'" in p for p in problems)
    assert any("attempt health#1 appears 3 times" in p for p in problems)
    assert any("audit entry run_submitted" in p for p in problems)


def test_a_field_of_the_wrong_type_is_named_by_its_path() -> None:
    doc = document()
    doc["attempts"][0]["attempt"] = "first"
    doc["content_sha256"] = content_digest(doc)
    assert any(p.startswith("attempts.0.attempt") for p in problems_of(raw(doc)))


def test_live_tasks_without_run_metadata_are_refused() -> None:
    doc = document()
    doc["live_context"]["outputs"] = {"health": {"healthy": True}}
    doc["content_sha256"] = content_digest(doc)
    assert "live_context has task data but no run metadata" in problems_of(raw(doc))


def test_only_the_owner_or_an_admin_may_restore() -> None:
    permissions = Permissions(
        roles={"admin": Role(task_types=["*"]), "analyst": Role(task_types=[])},
        users={"ops": "admin", "bob": "analyst"},
    )
    assert may_restore(permissions, "alice", "alice")
    assert may_restore(permissions, "ops", "alice")
    assert not may_restore(permissions, "bob", "alice")
    assert not may_restore(permissions, "stranger", "alice")


def sealed(doc: dict[str, Any], secret: str | None = None) -> bytes:
    """``doc`` with its checksum recomputed (as anyone can), signed with ``secret`` if given."""
    doc.pop("signature", None)
    doc["content_sha256"] = content_digest(doc)
    if secret is not None:
        doc["signature"] = sign_digest(doc["content_sha256"], SecretStr(secret))
    return raw(doc)


def with_live_events(event_ids: list[str]) -> dict[str, Any]:
    doc = document()
    run = doc["run"]
    meta = {k: run[k] for k in ("run_id", "user_id", "chain_id", "submitted_at")}
    doc["live_context"]["meta"] = {**meta, "goal": "health", "state": "completed"}
    doc["live_context"]["events"] = [
        {"id": i, "type": "run_submitted", "at": AT, "detail": {}} for i in event_ids
    ]
    return doc


def test_event_ids_must_rise_from_above_0_0() -> None:
    # Redis would refuse these XADDs at EXEC time, after the rest of the restore was written
    assert read_backup(sealed(with_live_events(["1-0", "1-1", "2-0"]))).live_context.events
    problems = problems_of(sealed(with_live_events(["0-0", "5-1", "5-1", "4-9", "", "x-1"])))
    assert problems == [
        "live_context.events[0] id 0-0 is not above the previous one (ids start above 0-0)",
        "live_context.events[2] id 5-1 is not above the previous one",
        "live_context.events[3] id 4-9 is not above the previous one",
        "live_context.events[4] has no stream id ('')",
        "live_context.events[5] has no stream id ('x-1')",
    ]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("run_id", "run_../../x", "run.run_id 'run_../../x' is not a run id"),
        ("run_id", "RUN_1", "run.run_id 'RUN_1' is not a run id"),
        ("user_id", "alice:*", "run.user_id 'alice:*' is not a valid user id"),
        ("user_id", "a" * 65, "is not a valid user id"),
    ],
)
def test_run_and_owner_ids_are_checked(field: str, value: str, problem: str) -> None:
    doc = document()
    doc["run"][field] = value
    assert any(problem in p for p in problems_of(sealed(doc)))


def test_a_signature_is_valid_only_under_the_secret_that_made_it() -> None:
    secret = SecretStr("s3cret")
    signed = read_backup(sealed(document(), "s3cret"))
    assert signature_status(signed, secret) is SignatureStatus.VALID
    assert signature_status(signed, SecretStr("other")) is SignatureStatus.INVALID
    assert signature_status(signed, None) is SignatureStatus.UNCHECKED
    assert signature_status(read_backup(sealed(document())), secret) is SignatureStatus.UNSIGNED
    v1 = read_backup(raw(document(version=1)))
    assert signature_status(v1, secret) is SignatureStatus.UNSIGNED
    # An edit with a recomputed checksum keeps the old signature, which no longer fits
    doc = json.loads(sealed(document(), "s3cret"))
    doc["audit"][0]["user_id"] = "bob"
    doc["content_sha256"] = content_digest(doc)
    assert signature_status(read_backup(raw(doc)), secret) is SignatureStatus.INVALID


PERMISSIONS = Permissions(
    roles={"admin": Role(task_types=["*"]), "analyst": Role(task_types=[])},
    users={"ops": "admin", "bob": "analyst"},
)


def why_not(
    data: bytes, user: str, *, key: str | None = None, unsigned: bool = False
) -> str | None:
    """Why ``user`` may not restore ``data`` on a server whose backup secret is ``key``."""
    doc = read_backup(data)
    status = signature_status(doc, None if key is None else SecretStr(key))
    return refusal(
        doc, permissions=PERMISSIONS, acting_user=user, signature=status, allow_unsigned=unsigned
    )


def test_only_an_admin_restores_audit_entries_the_owner_cannot_vouch_for() -> None:
    # Given alice's file names bob in its audit trail (bob approved a task, or a forgery)
    doc = document()
    doc["audit"].append({**doc["audit"][0], "user_id": "bob", "action": "task_approved"})
    unsigned, signed = sealed(doc), sealed(json.loads(raw(doc)), "k")
    # Then alice may not restore it unless this server signed it
    assert "entries of other users (bob)" in (why_not(unsigned, "alice") or "")
    assert "entries of other users (bob)" in (why_not(signed, "alice") or "")  # not checked
    assert why_not(signed, "alice", key="k") is None
    # and an admin may
    assert why_not(unsigned, "ops") is None
    assert why_not(signed, "ops", key="other", unsigned=True) is None


def test_with_a_secret_an_unsigned_file_needs_an_admin_and_unsigned() -> None:
    unsigned, forged = sealed(document()), sealed(document(), "not-the-key")
    for data in (unsigned, forged):
        assert "admin may restore it with --unsigned" in (why_not(data, "alice", key="k") or "")
        assert "admin may restore it with --unsigned" in (why_not(data, "ops", key="k") or "")
        assert "only an admin" in (why_not(data, "alice", key="k", unsigned=True) or "")
        assert why_not(data, "ops", key="k", unsigned=True) is None
    assert why_not(unsigned, "alice") is None  # no secret configured: nothing to check
    assert "only an admin" in (why_not(unsigned, "alice", unsigned=True) or "")
    assert "not yours" in (why_not(sealed(document(), "k"), "bob", key="k") or "")
