"""Steering writes on the live context (see ``ContextBase``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import redis

from orchestrator.context.base import (
    ContextBase,
    RedisMapping,
    pending_status,
    utcnow,
)
from orchestrator.context.events import EventType, RunEvent
from orchestrator.context.keys import RunKeys
from orchestrator.models import (
    AITask,
    RunState,
    TaskChain,
    TaskDependency,
    TaskError,
    TaskState,
    TaskStatus,
)


class RunSteering(ContextBase):
    """Writes that steer a running run: start, pause/resume, cancel, abort, recovery's
    changes to the plan and the context, and delivery counting."""

    def add_tasks(
        self,
        user_id: str,
        run_id: str,
        tasks: list[AITask],
        dependencies: list[TaskDependency],
        *,
        alternative_of: str,
    ) -> TaskChain:
        """Add tasks to a running plan (recovery's alternatives) and bump its version."""
        keys = self.keys(user_id, run_id)
        with self.client.pipeline(transaction=True) as pipe:
            while True:  # optimistic: two branches splitting at once both land
                try:
                    pipe.watch(keys.chain)  # type: ignore[no-untyped-call]
                    raw = self.client.get(keys.chain)
                    if raw is None:
                        raise KeyError(f"run {run_id} has no live context")
                    current = TaskChain.model_validate_json(cast(str, raw))
                    known = {t.id for t in current.tasks}
                    new_tasks = [t for t in tasks if t.id not in known]
                    updated = current.model_copy(
                        update={
                            "tasks": [*current.tasks, *new_tasks],
                            "dependencies": [*current.dependencies, *dependencies],
                        }
                    )
                    pipe.multi()
                    pipe.set(keys.chain, updated.model_dump_json(by_alias=True))
                    pipe.hincrby(keys.meta, "chain_version", 1)
                    pending: RedisMapping = {
                        t.id: pending_status(t, f"part of the alternative for {alternative_of}")
                        for t in new_tasks
                    }
                    if pending:
                        pipe.hset(keys.tasks, mapping=pending)
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue

    def mark_run_started(self, user_id: str, run_id: str, at: datetime) -> bool:
        """Record that the run's first task started; True only for the first caller."""
        keys = self.keys(user_id, run_id)
        if not self.client.hsetnx(keys.meta, "started_at", json.dumps(at.isoformat())):
            return False
        self._transition(
            keys,
            {RunState.PENDING},
            {"state": RunState.RUNNING.value},
            RunEvent(type=EventType.RUN_STARTED, at=at),
        )
        return True

    def _transition(
        self, keys: RunKeys, from_states: set[RunState], fields: dict[str, Any], event: RunEvent
    ) -> bool:
        """Write ``fields`` to the run's meta only while its state is one of ``from_states``.

        Optimistic (WATCH/MULTI): a run that finished meanwhile is never changed back.
        """
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(keys.meta)  # type: ignore[no-untyped-call]
                    raw_state = self.client.hget(keys.meta, "state")  # after WATCH: safe
                    if raw_state is None or RunState(json.loads(raw_state)) not in from_states:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(keys.meta, mapping={k: json.dumps(v) for k, v in fields.items()})
                    self._add_event(pipe, keys, event)
                    self._expire(pipe, keys)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def request_cancel(self, user_id: str, run_id: str) -> bool:
        """Mark the run cancelled; tasks that have not started yet will not start."""
        keys = self.keys(user_id, run_id)
        if not self.client.exists(keys.meta):
            return False
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.meta, "cancel_requested", "true")
        self._add_event(pipe, keys, RunEvent(type=EventType.CANCEL_REQUESTED, at=utcnow()))
        pipe.execute()
        return True

    def set_pause(self, user_id: str, run_id: str, paused: bool) -> bool:
        """Pause (tasks not yet started park) or resume a run; False if it is not live."""
        keys = self.keys(user_id, run_id)
        meta = self.run_meta(user_id, run_id)
        if meta is None:
            return False
        active = RunState.RUNNING if meta.started_at is not None else RunState.PENDING
        state = RunState.PAUSED if paused else active
        return self._transition(
            keys,
            {RunState.PENDING, RunState.RUNNING, RunState.PAUSED},
            {"pause_requested": paused, "state": state.value},
            RunEvent(type=EventType.RUN_PAUSED if paused else EventType.RUN_RESUMED, at=utcnow()),
        )

    def note_task_state(
        self,
        user_id: str,
        run_id: str,
        task_id: str,
        state: TaskState,
        reason: str,
        *,
        error: TaskError | None = None,
    ) -> None:
        """Record a non-final state change of a task (retrying, parked, compensated)."""
        keys = self.keys(user_id, run_id)
        raw = self.client.hget(keys.tasks, task_id)
        if raw is None:
            return
        status = TaskStatus.model_validate_json(raw).model_copy(
            update={
                "state": state,
                "reason": reason,
                "error": error if error is not None else TaskStatus.model_validate_json(raw).error,
            }
        )
        if state is TaskState.PENDING:
            status = status.model_copy(update={"finished_at": None, "duration_ms": None})
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.tasks, task_id, status.model_dump_json())
        self._add_event(
            pipe,
            keys,
            RunEvent(
                type=EventType.TASK_STATE,
                at=utcnow(),
                task_id=task_id,
                state=state.value,
                detail={"reason": reason},
            ),
        )
        self._expire(pipe, keys)  # a parked or paused run stays alive while it waits
        pipe.execute()

    def count_delivery(self, user_id: str, run_id: str, task_id: str, attempt: int) -> int:
        """Count this delivery of one attempt of a task; more than one means redelivery."""
        key = f"{self.keys(user_id, run_id).base}:deliveries"
        pipe = self.client.pipeline(transaction=True)
        pipe.hincrby(key, f"{task_id}#{attempt}", 1)
        pipe.expire(key, self.ttl_s)
        count, _ = pipe.execute()
        return int(count)

    def repair_from_history(
        self, user_id: str, run_id: str, outputs: Mapping[str, dict[str, Any]]
    ) -> int:
        """Write outputs recorded in history back into the live context; how many differed."""
        keys = self.keys(user_id, run_id)
        current = self.client.hgetall(keys.outputs)
        missing: RedisMapping = {
            task_id: json.dumps(output)
            for task_id, output in outputs.items()
            if task_id not in current or json.loads(current[task_id]) != output
        }
        if missing:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(keys.outputs, mapping=missing)
            pipe.expire(keys.outputs, self.ttl_s)
            pipe.execute()
        return len(missing)

    def set_abort(self, user_id: str, run_id: str, reason: str) -> None:
        """Abort the rest of the run (a task with a critical precondition failed)."""
        self.client.hsetnx(self.keys(user_id, run_id).meta, "abort_reason", json.dumps(reason))
