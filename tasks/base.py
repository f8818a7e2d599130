"""OrchestratedTask: the one Celery base class, and the binding of a registry to an app.

Every node of a compiled canvas is an immutable signature carrying only ids
``(run_id, task_id, user_id)``; data flows through the live context. Recovery, approval
and resume re-send a task with an ``invocation`` keyword (see ``tasks.control``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NoReturn

import redis
import sqlalchemy.exc
from celery import Celery, Task, chain, chord
from celery.canvas import Signature
from celery.exceptions import Ignore, Retry

from orchestrator.models import TaskError, TaskState
from tasks.control import HandedOff, Invocation, ParkKind
from tasks.crash import record_task_crash, stop_run_after_crash
from tasks.execution import Delivery, execute_task
from tasks.finalize import finalize_run
from tasks.merge import merge_alternative
from tasks.parking import park_task
from tasks.registry import TaskRegistry
from tasks.signatures import CRASH_TASK, FINALIZE_TASK, JOIN_TASK, MERGE_TASK, leaf_signature

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

log = logging.getLogger(__name__)

#: Failures of the services every task uses; the step is retried this often, 1, 2, 4… s apart.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    sqlalchemy.exc.OperationalError,
)
TRANSIENT_RETRIES = 5


def runtime_of(app: Celery) -> Runtime:
    runtime: Runtime | None = getattr(app, "runtime", None)
    if runtime is None:
        raise RuntimeError("this Celery app has no orchestrator runtime attached")
    return runtime


def task_signature(
    app: Celery,
    runtime: Runtime,
    run_id: str,
    task_id: str,
    user_id: str,
    *,
    celery_id: str | None = None,
) -> Signature:
    """The signature of one task of a running run (from its live plan)."""
    task = runtime.context.chain(user_id, run_id).task(task_id)
    return leaf_signature(
        app,
        runtime.registry.get(str(task.type)).celery_name,
        task,
        run_id=run_id,
        user_id=user_id,
        grace_s=runtime.settings.time_limit_grace_s,
        celery_id=celery_id,
    )


class OrchestratedTask(Task):  # type: ignore[misc]  # Celery's Task is untyped
    """Base of every task type; implements :class:`tasks.control.TaskControl`."""

    # Results only matter to chord counting; payloads are tiny markers.
    ignore_result = False
    acks_late = True
    reject_on_worker_lost = True
    # Retries are bounded by each task's RetryPolicy, not by Celery's default of 3.
    max_retries = None
    typing = True

    def delivery(self) -> Delivery:
        request = self.request
        info = request.delivery_info or {}
        return Delivery(
            attempt=int(request.retries or 0) + 1,
            worker=request.hostname,
            queue=info.get("routing_key"),
            redelivered=bool(info.get("redelivered")),
            celery_id=request.id,
        )

    # --- TaskControl ---------------------------------------------------------------

    @property
    def _runtime(self) -> Runtime:
        return runtime_of(self.app)

    def retry_later(self, *, countdown_s: float, invocation: Invocation) -> NoReturn:
        options: dict[str, Any] = {}
        if invocation.timeout_s is not None:
            options["soft_time_limit"] = invocation.timeout_s
            options["time_limit"] = invocation.timeout_s + self._runtime.settings.time_limit_grace_s
        try:
            self.retry(countdown=countdown_s, kwargs=invocation.as_kwargs(), **options)
        except Retry as exc:
            raise HandedOff(exc) from None
        raise AssertionError("Task.retry always raises")

    def replace_with(self, task_ids: list[str], *, recovery_id: int) -> NoReturn:
        run_id, task_id, user_id = self.request.args[:3]
        runtime = self._runtime
        parts = [task_signature(self.app, runtime, run_id, t, user_id) for t in task_ids]
        merge_sig = self.app.signature(
            MERGE_TASK,
            args=(run_id, task_id, user_id, list(task_ids), recovery_id),
            immutable=True,
            queue=runtime.context.chain(user_id, run_id).task(task_id).module.queue,
        )
        # Always an explicit chord, even for one part: Celery unrolls one-member groups.
        self._hand_off_to(chord(parts, merge_sig))

    def restart_with(self, task_ids: list[str], invocation: Invocation) -> NoReturn:
        run_id, task_id, user_id = self.request.args[:3]
        runtime = self._runtime
        generation = invocation.restart
        states = runtime.context.task_states(user_id, run_id)
        # Each re-run is a new attempt of its task (Celery's `retries` numbers attempts),
        # so history keeps the attempt it replaces. It carries the restart generation: its
        # side effect was compensated, so it must act again under a new effect key.
        rerun_kwargs = Invocation(restart=generation).as_kwargs()
        reruns = [
            task_signature(
                self.app, runtime, run_id, t, user_id, celery_id=f"{run_id}:{t}:restart{generation}"
            )
            .replace(kwargs=rerun_kwargs)
            .set(retries=states[t].attempt if t in states else 0)
            for t in task_ids
        ]
        # replace(), not clone(): an immutable signature ignores kwargs given to clone().
        again = (
            task_signature(self.app, runtime, run_id, task_id, user_id)
            .replace(kwargs=invocation.as_kwargs())
            .set(retries=int(self.request.retries or 0) + 1)
        )
        # replace() gives the chain's last step this task's id and appends the rest of
        # the original chain, so downstream tasks keep waiting on the same ids.
        self._hand_off_to(chain(*reruns, again))

    def park(
        self,
        *,
        kind: ParkKind,
        reason: str,
        invocation: Invocation,
        error: TaskError | None = None,
    ) -> NoReturn:
        run_id, task_id, user_id = self.request.args[:3]
        signature = self.signature_from_request(kwargs=invocation.as_kwargs())
        park_task(
            self._runtime,
            run_id=run_id,
            task_id=task_id,
            user_id=user_id,
            kind=kind,
            reason=reason,
            signature=dict(signature),
            error=error,
        )
        raise HandedOff(Ignore())

    def _hand_off_to(self, replacement: Signature) -> NoReturn:
        try:
            self.replace(replacement)
        except Ignore as exc:
            raise HandedOff(exc) from None
        raise AssertionError("Task.replace always raises Ignore")


def bind_registry(app: Celery, registry: TaskRegistry) -> None:
    """Create one Celery task per registered type, named ``<queue>.<type>``."""
    for spec in registry:

        def run(
            self: OrchestratedTask,
            run_id: str,
            task_id: str,
            user_id: str,
            invocation: dict[str, Any] | None = None,
        ) -> dict[str, Any]:
            runtime = runtime_of(self.app)
            try:
                return execute_task(
                    runtime,
                    run_id,
                    task_id,
                    user_id,
                    self.delivery(),
                    invocation=Invocation.model_validate(invocation or {}),
                    control=self,
                )
            except HandedOff as handed_off:
                raise handed_off.celery_exception from None
            except TRANSIENT_ERRORS as exc:
                # Redis or the database blinked: run the whole step again shortly.
                if self.request.retries < TRANSIENT_RETRIES:
                    raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
                record_task_crash(runtime, run_id, task_id, user_id, exc)
            except Exception as exc:  # a bug must not break the canvas: record it, go on
                log.exception("task %s of run %s crashed", task_id, run_id)
                record_task_crash(runtime, run_id, task_id, user_id, exc)
            return {"task_id": task_id, "state": TaskState.FAILED.value}

        app.task(name=spec.celery_name, base=OrchestratedTask, bind=True, shared=False)(run)

    @app.task(name=FINALIZE_TASK, base=OrchestratedTask, bind=True, shared=False)  # type: ignore[untyped-decorator]
    def finalize(self: OrchestratedTask, run_id: str, user_id: str) -> dict[str, str]:
        return finalize_run(runtime_of(self.app), run_id, user_id)

    @app.task(name=CRASH_TASK, shared=False)  # type: ignore[untyped-decorator]
    def task_crashed(request: Any, exc: BaseException, traceback: Any) -> None:
        # Celery calls this errback in the worker, with the failed task's request, when a
        # task failed outside our control (the hard time limit killed it). Not bound:
        # Celery passes (request, exc, traceback) only to unbound errbacks.
        args = list(getattr(request, "args", None) or [])
        if len(args) >= 3:
            stop_run_after_crash(runtime_of(app), args[0], args[1], args[2], exc)

    @app.task(name=JOIN_TASK, base=OrchestratedTask, bind=True, shared=False)  # type: ignore[untyped-decorator]
    def join(self: OrchestratedTask, run_id: str) -> str:
        # A barrier: a chord body where the next step is itself a parallel group.
        return run_id

    @app.task(name=MERGE_TASK, base=OrchestratedTask, bind=True, shared=False)  # type: ignore[untyped-decorator]
    def merge(
        self: OrchestratedTask,
        run_id: str,
        task_id: str,
        user_id: str,
        part_ids: list[str],
        recovery_id: int,
    ) -> dict[str, Any]:
        return merge_alternative(
            runtime_of(self.app), run_id, task_id, user_id, part_ids, recovery_id
        )
