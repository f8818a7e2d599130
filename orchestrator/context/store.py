"""The live context of runs, in Redis (or an in-process Redis-compatible server).

What lives here: each run's state and the TaskChain as planned, the state of each task,
task outputs that downstream tasks receive as inputs, and an event stream per run.
History (Postgres) is the durable record; this store is fast and expires (``ttl_s``).
"""

from __future__ import annotations

import json
from datetime import datetime
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

    def snapshot(self, user_id: str, run_id: str) -> dict[str, Any]:
        """Everything this store holds of a run, as JSON-ready data (for backups)."""
        keys = self.keys(user_id, run_id)
        meta = self.run_meta(user_id, run_id)
        return {
            "meta": None if meta is None else meta.model_dump(mode="json"),
            "tasks": {
                k: v.model_dump(mode="json") for k, v in self.task_states(user_id, run_id).items()
            },
            "outputs": {k: json.loads(v) for k, v in self.client.hgetall(keys.outputs).items()},
            "events": [e.model_dump(mode="json") for e in self.read_events(user_id, run_id)],
            "modules": self.module_contexts(user_id, run_id),
        }
