"""Applying sync's repairs: each one written to the live context and history, and audited.

Every repair leaves a ``run_repaired`` audit entry for the run's user saying what was done
and why. A repair that fails is reported and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.context import RunMeta, utcnow
from orchestrator.history import AuditAction, AuditEntry, RunRecord
from orchestrator.history.records import history_task_states
from orchestrator.models import ErrorType, RunState, TaskError, TaskState, TaskStatus
from orchestrator.models.base import StrictModel
from orchestrator.reconcile.broker import restore_unacked
from orchestrator.reconcile.decisions import RepairAction, RepairKind
from tasks.finalize import finalize_run, summarize_run
from tasks.outcome import finish_task, record_attempt_row

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

log = logging.getLogger(__name__)


class AppliedRepair(StrictModel):
    action: RepairAction
    done: bool
    detail: str


def _record(runtime: Runtime, run_id: str) -> RunRecord:
    record = runtime.history.get_run(run_id)
    if record is None:
        raise LookupError(f"run {run_id} is not in history")
    return record


def rebuild_context(runtime: Runtime, action: RepairAction) -> str:
    record = _record(runtime, action.run_id)
    states = history_task_states(record, runtime.history.attempts(record.run_id))
    outputs = runtime.history.attempt_outputs(record.run_id)
    meta = RunMeta(
        run_id=record.run_id,
        user_id=record.user_id,
        chain_id=record.chain_id,
        goal=record.goal_description,
        state=record.state,
        submitted_at=record.submitted_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )
    if not runtime.context.rebuild_run(meta, record.chain, states, outputs, record.result):
        return "the live context exists again; left as it is"
    return f"rebuilt {len(states)} task state(s) and {len(outputs)} output(s) from history"


def mark_live_finished(runtime: Runtime, action: RepairAction) -> str:
    record = _record(runtime, action.run_id)
    if record.result is None or record.finished_at is None:
        raise LookupError(f"run {action.run_id} has no recorded result")
    runtime.context.finish_run(
        record.user_id, record.run_id, record.state, record.result, record.finished_at
    )
    return f"live context now says {record.state.value}, as history does"


def restore_messages(runtime: Runtime, action: RepairAction) -> str:
    restored = restore_unacked(runtime.celery, action.delivery_tags)
    for task_id in action.task_ids:
        # A person reading `status` sees why the task waits (note ignores non-tasks).
        runtime.context.note_task_state(
            action.user_id,
            action.run_id,
            task_id,
            TaskState.PENDING,
            "its worker was lost; sent back to its queue for the next worker",
        )
    return f"restored {restored} of {len(action.delivery_tags)} message(s) to their queues"


def finalize(runtime: Runtime, action: RepairAction) -> str:
    outcome = finalize_run(runtime, action.run_id, action.user_id)
    return f"run finalized: {outcome['status']}"


def _stopped(status: TaskStatus, lost: bool, reason: str, lost_ids: list[str]) -> TaskStatus:
    now = utcnow()
    if lost:
        error = TaskError(type=ErrorType.SERVICE_DOWN, message=reason)
        return status.model_copy(
            update={
                "state": TaskState.FAILED,
                "attempt": max(status.attempt, 1),
                "finished_at": now,
                "error": error,
                "reason": f"lost: {reason}",
            }
        )
    message = f"run stopped: {', '.join(lost_ids)} lost ({reason})"
    return status.model_copy(
        update={
            "state": TaskState.SKIPPED,
            "finished_at": now,
            "error": TaskError(type=ErrorType.SERVICE_DOWN, message=message),
            "reason": message,
        }
    )


def fail_run(runtime: Runtime, action: RepairAction) -> str:
    """The lost tasks fail, the rest of the run is skipped, and the run ends with a result."""
    lost = set(action.task_ids)
    context = runtime.context
    if context.run_meta(action.user_id, action.run_id) is not None:
        for status in context.task_states(action.user_id, action.run_id).values():
            if not status.state.is_final:
                stopped = _stopped(status, status.task_id in lost, action.reason, action.task_ids)
                finish_task(runtime, action.run_id, action.user_id, stopped, None, [])
        context.set_abort(action.user_id, action.run_id, action.reason)
        outcome = finalize_run(runtime, action.run_id, action.user_id)
        return f"run ended {outcome['status']}: {action.reason}"
    # No live context to go through (embedded: it died with its process): history only.
    record = _record(runtime, action.run_id)
    states = history_task_states(record, runtime.history.attempts(record.run_id))
    for task_id, status in states.items():
        if not status.state.is_final:
            states[task_id] = _stopped(status, task_id in lost, action.reason, action.task_ids)
            record_attempt_row(runtime, record.run_id, states[task_id], [])
    finished_at = utcnow()
    result = summarize_run(
        record.chain,
        record.run_id,
        states,
        runtime.history.attempt_outputs(record.run_id),
        cancel_requested=False,
        submitted_at=record.submitted_at,
        finished_at=finished_at,
    )
    runtime.history.record_run_finished(
        run_id=record.run_id,
        state=RunState(result.status.value),
        result=result,
        finished_at=finished_at,
    )
    return f"run ended {result.status.value}: {action.reason}"


APPLIERS: dict[RepairKind, Callable[[Runtime, RepairAction], str]] = {
    RepairKind.REBUILD_CONTEXT: rebuild_context,
    RepairKind.MARK_LIVE_FINISHED: mark_live_finished,
    RepairKind.RESTORE_MESSAGES: restore_messages,
    RepairKind.FINALIZE_RUN: finalize,
    RepairKind.FAIL_RUN: fail_run,
}


def apply_repairs(
    runtime: Runtime, actions: list[RepairAction], *, actor: str
) -> list[AppliedRepair]:
    """Apply each repair in order and audit it (``run_repaired``) for the run's user."""
    applied: list[AppliedRepair] = []
    for action in actions:
        try:
            detail = APPLIERS[action.kind](runtime, action)
        except Exception as exc:
            log.exception("sync could not %s run %s", action.kind.value, action.run_id)
            applied.append(AppliedRepair(action=action, done=False, detail=f"{exc}"))
            continue
        runtime.history.record_audit(
            [
                AuditEntry(
                    user_id=action.user_id,
                    action=AuditAction.RUN_REPAIRED,
                    run_id=action.run_id,
                    detail={
                        "repair": action.kind.value,
                        "reason": action.reason,
                        "tasks": action.task_ids,
                        "result": detail,
                        "by": actor,
                    },
                )
            ]
        )
        applied.append(AppliedRepair(action=action, done=True, detail=detail))
    return applied
