"""The one way a task of a run becomes a Celery signature (compiler, retries, restarts)."""

from __future__ import annotations

from celery import Celery
from celery.canvas import Signature

from orchestrator.models import AITask

FINALIZE_TASK = "orchestrator.finalize_run"
JOIN_TASK = "orchestrator.join"
MERGE_TASK = "orchestrator.merge_alternative"
CRASH_TASK = "orchestrator.task_crashed"


def celery_task_id(run_id: str, task_id: str) -> str:
    """``<run_id>:<task_id>``: a history row, a Flower row and an AsyncResult name it alike."""
    return f"{run_id}:{task_id}"


def leaf_signature(
    app: Celery,
    celery_name: str,
    task: AITask,
    *,
    run_id: str,
    user_id: str,
    grace_s: int,
    celery_id: str | None = None,
) -> Signature:
    """Immutable, ids only, on the module's queue, with the task's time limits.

    The errback finalizes the run if Celery itself fails the task (a hard time limit),
    since Celery then never runs the rest of the canvas.
    """
    signature = app.signature(
        celery_name,
        args=(run_id, task.id, user_id),
        immutable=True,
        task_id=celery_id or celery_task_id(run_id, task.id),
        queue=task.module.queue,
        soft_time_limit=task.timeout_s,
        time_limit=task.timeout_s + grace_s,
    )
    signature.on_error(app.signature(CRASH_TASK))
    return signature
