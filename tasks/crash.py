"""When the machinery itself fails: the run still ends, with the reason recorded.

A task's own failures go through recovery. This is for everything else: the live context
or history unreachable beyond a few retries, a bug, or Celery's hard time limit killing
the process (Celery then fails the rest of the chain without running it, finalize step
included). The task is recorded failed, the tasks that can no longer run are recorded
skipped, and the run is finalized here, so no run waits forever.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from orchestrator.context import utcnow
from orchestrator.models import TaskError, TaskState, TaskStatus
from recovery import to_task_error
from tasks.finalize import finalize_run
from tasks.outcome import finish_task

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

log = logging.getLogger(__name__)


def record_task_crash(
    runtime: Runtime, run_id: str, task_id: str, user_id: str, exc: BaseException
) -> TaskError:
    """Record ``task_id`` failed with ``exc`` (unless it already has a final state)."""
    error = to_task_error(exc)
    store = runtime.context
    current = store.task_states(user_id, run_id).get(task_id)
    if current is not None and current.state.is_final:
        return error
    now = utcnow()
    status = current or TaskStatus(task_id=task_id, type="unknown", module="unknown")
    status = status.model_copy(
        update={
            "state": TaskState.FAILED,
            "finished_at": now,
            "error": error,
            "reason": f"the task crashed: {error.message}",
        }
    )
    finish_task(runtime, run_id, user_id, status, None, [])
    return error


def stop_run_after_crash(
    runtime: Runtime, run_id: str, task_id: str, user_id: str, exc: BaseException
) -> None:
    """The canvas is broken past ``task_id``: skip what can't run and finalize the run."""
    error = record_task_crash(runtime, run_id, task_id, user_id, exc)
    store = runtime.context
    now = utcnow()
    for status in store.task_states(user_id, run_id).values():
        if status.state.is_final or status.state is TaskState.RUNNING:
            continue
        finish_task(
            runtime,
            run_id,
            user_id,
            status.model_copy(
                update={
                    "state": TaskState.SKIPPED,
                    "finished_at": now,
                    "error": TaskError(type=error.type, message=f"run stopped: {task_id} crashed"),
                    "reason": f"run stopped: {task_id} crashed ({error.message})",
                }
            ),
            None,
            [],
        )
    log.error("run %s stopped: task %s crashed: %s", run_id, task_id, error.message)
    finalize_run(runtime, run_id, user_id)
