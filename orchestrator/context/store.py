"""The live context of runs, in Redis (or an in-process Redis-compatible server).

What lives here: each run's state and the TaskChain as planned, the state of each task,
task outputs that downstream tasks receive as inputs, and an event stream per run.
History (Postgres) is the durable record; this store is fast and expires (``ttl_s``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel

from orchestrator.context.base import (
    EVENT_STREAM_MAXLEN,
    RedisMapping,
    RunMeta,
    pending_status,
    utcnow,
)
from orchestrator.context.events import EventType, RunEvent
from orchestrator.context.steering import RunSteering
from orchestrator.models import ExecutionResult, RunState, TaskChain, TaskStatus

__all__ = ["EVENT_STREAM_MAXLEN", "ContextStore", "RunMeta", "utcnow"]


class ContextStore(RunSteering):
    """Per-user, per-run live context with a TTL."""

    def create_run(self, meta: RunMeta, chain: TaskChain) -> None:
        keys = self.keys(meta.user_id, meta.run_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.meta, mapping=self._meta_fields(meta))
        pipe.set(keys.chain, chain.model_dump_json(by_alias=True))
        pending: RedisMapping = {t.id: pending_status(t) for t in chain.tasks}
        pipe.hset(keys.tasks, mapping=pending)
        self._add_event(pipe, keys, RunEvent(type=EventType.RUN_SUBMITTED, at=meta.submitted_at))
        self._expire(pipe, keys)
        pipe.execute()

    def finish_run(
        self, user_id: str, run_id: str, state: RunState, result: ExecutionResult, at: datetime
    ) -> None:
        keys = self.keys(user_id, run_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            keys.meta,
            mapping={
                "state": json.dumps(state.value),
                "finished_at": json.dumps(at.isoformat()),
                "result": result.model_dump_json(),
            },
        )
        self._add_event(pipe, keys, RunEvent(type=EventType.RUN_FINISHED, at=at, state=state.value))
        self._expire(pipe, keys)
        pipe.execute()

    def result(self, user_id: str, run_id: str) -> ExecutionResult | None:
        raw = self.client.hget(self.keys(user_id, run_id).meta, "result")
        return None if raw is None else ExecutionResult.model_validate_json(raw)

    def task_states(
        self, user_id: str, run_id: str, *, only: list[str] | None = None
    ) -> dict[str, TaskStatus]:
        """Every task's state, or only those of the ``only`` task ids (one HMGET)."""
        key = self.keys(user_id, run_id).tasks
        if only is not None:
            values = cast(list[str | None], self.client.hmget(key, only))
            return {
                k: TaskStatus.model_validate_json(v)
                for k, v in zip(only, values, strict=True)
                if v is not None
            }
        raw = cast(dict[str, str], self.client.hgetall(key))
        return {k: TaskStatus.model_validate_json(v) for k, v in raw.items()}

    def record_task_start(self, user_id: str, run_id: str, status: TaskStatus) -> None:
        keys = self.keys(user_id, run_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.tasks, status.task_id, status.model_dump_json())
        self._add_event(
            pipe,
            keys,
            RunEvent(
                type=EventType.TASK_STARTED,
                at=status.started_at or utcnow(),
                task_id=status.task_id,
                state=status.state.value,
                detail={"worker": status.worker, "queue": status.queue, "attempt": status.attempt},
            ),
        )
        pipe.execute()

    def record_task_end(
        self, user_id: str, run_id: str, status: TaskStatus, output_json: str | None
    ) -> None:
        """Store the task's final state and output, and announce it, atomically."""
        keys = self.keys(user_id, run_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.tasks, status.task_id, status.model_dump_json())
        if output_json is not None:
            pipe.hset(keys.outputs, status.task_id, output_json)
        detail: dict[str, Any] = {"duration_ms": status.duration_ms}
        if status.error is not None:
            detail["error"] = status.error.model_dump(mode="json")
        if status.reason:
            detail["reason"] = status.reason
        self._add_event(
            pipe,
            keys,
            RunEvent(
                type=EventType.TASK_FINISHED,
                at=status.finished_at or utcnow(),
                task_id=status.task_id,
                state=status.state.value,
                detail=detail,
            ),
        )
        self._expire(pipe, keys)
        pipe.execute()

    def outputs(self, user_id: str, run_id: str, task_ids: list[str]) -> dict[str, Any]:
        if not task_ids:
            return {}
        raw = self.client.hmget(self.keys(user_id, run_id).outputs, task_ids)
        return {t: json.loads(v) for t, v in zip(task_ids, raw, strict=True) if v is not None}

    def put_module_context(
        self, user_id: str, run_id: str, module: str, context: BaseModel
    ) -> None:
        """Store a module's context for this run (the spec's WorkspaceContext, ...)."""
        keys = self.keys(user_id, run_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.modules, module, context.model_dump_json())
        self._expire(pipe, keys)
        pipe.execute()

    def module_contexts(self, user_id: str, run_id: str) -> dict[str, Any]:
        """Every module context stored for this run, by module name, as JSON data."""
        # decode_responses=True: field names come back as str.
        raw = cast(dict[str, str], self.client.hgetall(self.keys(user_id, run_id).modules))
        return {k: json.loads(v) for k, v in raw.items()}

    def read_events(
        self,
        user_id: str,
        run_id: str,
        after_id: str = "0",
        block_ms: int | None = None,
        count: int = 500,
    ) -> list[RunEvent]:
        """Events after ``after_id``; with ``block_ms`` wait that long for the next ones."""
        key = self.keys(user_id, run_id).events
        # decode_responses=True: stream names, ids and fields come back as str.
        reply = cast(
            list[tuple[str, list[tuple[str, dict[str, str]]]]] | None,
            self.client.xread({key: after_id}, count=count, block=block_ms),
        )
        events: list[RunEvent] = []
        for _stream, entries in reply or []:
            for event_id, fields in entries:
                events.append(RunEvent.from_fields(event_id, fields))
        return events

    def _queue_run(
        self,
        pipe: Any,
        meta: RunMeta,
        chain: TaskChain,
        states: Mapping[str, TaskStatus],
        outputs: Mapping[str, Any],
        result: ExecutionResult | None,
    ) -> None:
        """Queue the writes of a run's meta, plan, task states and outputs on ``pipe``.

        States, outputs and the plan never overwrite what the run has (NX): for a restore
        there is nothing yet, and a rebuild keeps what was written since the keys were lost.
        """
        keys = self.keys(meta.user_id, meta.run_id)
        pipe.hset(keys.meta, mapping=self._meta_fields(meta))
        if result is not None:
            pipe.hset(keys.meta, "result", result.model_dump_json())
        pipe.set(keys.chain, chain.model_dump_json(by_alias=True), nx=True)
        for task_id, status in states.items():
            pipe.hsetnx(keys.tasks, task_id, status.model_dump_json())
        for task_id, output in outputs.items():
            pipe.hsetnx(keys.outputs, task_id, json.dumps(output))

    def restore_run(
        self,
        meta: RunMeta,
        chain: TaskChain,
        *,
        tasks: dict[str, TaskStatus],
        outputs: dict[str, Any],
        events: list[RunEvent],
        modules: dict[str, Any],
        result: ExecutionResult | None,
    ) -> bool:
        """Write a run's live context back from a backup, events with their original ids.

        One MULTI; False, writing nothing, if the run has live context already. A command
        failing inside the MULTI (an event id Redis refuses) does not undo the others, so
        on any error the run's keys are deleted again before it is raised: all or nothing.
        ``delete_run`` undoes a successful restore.
        """
        keys = self.keys(meta.user_id, meta.run_id)
        if self.client.exists(*keys.all()):
            return False
        try:
            pipe = self.client.pipeline(transaction=True)
            self._queue_run(pipe, meta, chain, tasks, outputs, result)
            if modules:
                pipe.hset(keys.modules, mapping={k: json.dumps(v) for k, v in modules.items()})
            for event in events:
                # Original ids keep the order and let a reader resume where it stopped.
                pipe.xadd(keys.events, cast(Any, event.to_fields()), id=event.id or "*")
            self._expire(pipe, keys)
            pipe.execute()
        except BaseException:
            self.delete_run(meta.user_id, meta.run_id)
            raise
        return True

    def delete_run(self, user_id: str, run_id: str) -> None:
        """Remove every live key of a run (undoing a restore whose history write failed)."""
        self.client.delete(*self.keys(user_id, run_id).all())

    def last_event_at(self, user_id: str, run_id: str) -> datetime | None:
        """When the run's newest event was written (its stream id's time), or None."""
        reply = cast(
            list[tuple[str, dict[str, str]]],
            self.client.xrevrange(self.keys(user_id, run_id).events, count=1),
        )
        if not reply:
            return None
        millis = int(reply[0][0].split("-", 1)[0])
        return datetime.fromtimestamp(millis / 1000, UTC)

    def rebuild_run(
        self,
        meta: RunMeta,
        chain: TaskChain,
        states: Mapping[str, TaskStatus],
        outputs: Mapping[str, Any],
        result: ExecutionResult | None,
    ) -> bool:
        """Recreate a run's lost live context from history; False if its meta exists.

        Task states and outputs written since (a task that finished after the keys were
        lost) are newer than history's and are kept (HSETNX). A finished run gets its
        result and a ``run_finished`` event, so ``wait`` and ``watch`` end again.
        """
        keys = self.keys(meta.user_id, meta.run_id)
        # Claiming one meta field first: two syncs at once rebuild a run only once.
        if not self.client.hsetnx(keys.meta, "run_id", json.dumps(meta.run_id)):
            return False
        pipe = self.client.pipeline(transaction=True)
        self._queue_run(pipe, meta, chain, states, outputs, result)
        if result is not None and meta.finished_at is not None:
            finished = RunEvent(type=EventType.RUN_FINISHED, at=meta.finished_at, state=meta.state)
            self._add_event(pipe, keys, finished)
        self._expire(pipe, keys)
        pipe.execute()
        return True

    def snapshot(self, user_id: str, run_id: str, *, meta: RunMeta | None = None) -> dict[str, Any]:
        """Everything this store holds of a run, as JSON-ready data (for backups);
        ``meta`` saves reading the run's meta again when the caller has it."""
        keys = self.keys(user_id, run_id)
        meta = meta if meta is not None else self.run_meta(user_id, run_id)
        return {
            "meta": None if meta is None else meta.model_dump(mode="json"),
            "tasks": {
                k: v.model_dump(mode="json") for k, v in self.task_states(user_id, run_id).items()
            },
            "outputs": {k: json.loads(v) for k, v in self.client.hgetall(keys.outputs).items()},
            "events": [e.model_dump(mode="json") for e in self.read_events(user_id, run_id)],
            "modules": self.module_contexts(user_id, run_id),
        }
