"""OrchestratedTask: the one Celery base class, and the binding of a registry to an app.

Every node of a compiled canvas is an immutable signature carrying only ids
``(run_id, task_id, user_id)``; data flows through the live context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import Celery, Task

from tasks.execution import Delivery, execute_task
from tasks.finalize import finalize_run
from tasks.registry import TaskRegistry

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

FINALIZE_TASK = "orchestrator.finalize_run"
JOIN_TASK = "orchestrator.join"


def runtime_of(app: Celery) -> Runtime:
    runtime: Runtime | None = getattr(app, "runtime", None)
    if runtime is None:
        raise RuntimeError("this Celery app has no orchestrator runtime attached")
    return runtime


class OrchestratedTask(Task):  # type: ignore[misc]  # Celery's Task is untyped
    """Base of every task type: delivery info from the request, execution in ``tasks``."""

    # Results only matter to chord counting; payloads are tiny markers.
    ignore_result = False
    acks_late = True
    reject_on_worker_lost = True
    typing = True

    def delivery(self) -> Delivery:
        request = self.request
        info = request.delivery_info or {}
        redelivered = bool(info.get("redelivered"))
        return Delivery(
            attempt=int(request.retries or 0) + 1 + (1 if redelivered else 0),
            worker=request.hostname,
            queue=info.get("routing_key"),
        )


def bind_registry(app: Celery, registry: TaskRegistry) -> None:
    """Create one Celery task per registered type, named ``<queue>.<type>``."""
    for spec in registry:

        def run(self: OrchestratedTask, run_id: str, task_id: str, user_id: str) -> dict[str, Any]:
            return execute_task(runtime_of(self.app), run_id, task_id, user_id, self.delivery())

        app.task(name=spec.celery_name, base=OrchestratedTask, bind=True, shared=False)(run)

    @app.task(name=FINALIZE_TASK, base=OrchestratedTask, bind=True, shared=False)  # type: ignore[untyped-decorator]
    def finalize(self: OrchestratedTask, run_id: str, user_id: str) -> dict[str, str]:
        return finalize_run(runtime_of(self.app), run_id, user_id)

    @app.task(name=JOIN_TASK, base=OrchestratedTask, bind=True, shared=False)  # type: ignore[untyped-decorator]
    def join(self: OrchestratedTask, run_id: str) -> str:
        # A barrier: a chord body where the next step is itself a parallel group.
        return run_id
