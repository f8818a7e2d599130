"""The live context of runs, in Redis (or an in-process Redis-compatible server).

What lives here: each run's state and the TaskChain as planned, the state of each task,
task outputs that downstream tasks receive as inputs, and an event stream per run.
History (Postgres) is the durable record; this store is fast and expires (``ttl_s``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import fakeredis
import redis
from redis.typing import EncodableT, FieldT

from orchestrator.context.events import EventType, RunEvent
from orchestrator.context.keys import RunKeys
from orchestrator.models import (
    AITask,
    ExecutionResult,
    RunState,
    TaskChain,
    TaskDependency,
    TaskError,
    TaskState,
    TaskStatus,
)
from orchestrator.models.base import StrictModel

EVENT_STREAM_MAXLEN = 10_000
#: What redis-py accepts as a hash mapping (its own field and value types).
RedisMapping = Mapping[FieldT, EncodableT]
_CHAIN_CACHE_SIZE = 256


def utcnow() -> datetime:
    return datetime.now(UTC)


def _pending_status(task: AITask, reason: str | None = None) -> str:
    return TaskStatus(
        task_id=task.id,
        type=str(task.type),
        module=task.module.value,
        queue=task.module.queue,
        reason=reason,
    ).model_dump_json()


class RunMeta(StrictModel):
    run_id: str
    user_id: str
    chain_id: str
    goal: str
    state: RunState = RunState.PENDING
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: bool = False
    pause_requested: bool = False
    abort_reason: str | None = None
    #: Bumped when recovery adds tasks to the plan (alternative_approach).
    chain_version: int = 0


class ContextStore:
    """Per-user, per-run live context with a TTL."""

    def __init__(self, client: redis.Redis, *, prefix: str = "orch", ttl_s: int = 604_800) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        # The chain of a run never changes once submitted, so tasks parse it once per process.
        self._chains: OrderedDict[tuple[str, str, int], TaskChain] = OrderedDict()
        self._chains_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "orch", ttl_s: int = 604_800) -> ContextStore:
        client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        return cls(client, prefix=prefix, ttl_s=ttl_s)

    @classmethod
    def in_process(
        cls,
        *,
        prefix: str = "orch",
        ttl_s: int = 604_800,
        server: fakeredis.FakeServer | None = None,
    ) -> ContextStore:
        """A store backed by an in-process Redis-compatible server (the embedded mode)."""
        client = fakeredis.FakeRedis(server=server or fakeredis.FakeServer(), decode_responses=True)
        return cls(client, prefix=prefix, ttl_s=ttl_s)

    def keys(self, user_id: str, run_id: str) -> RunKeys:
        return RunKeys(self.prefix, user_id, run_id)

    def ping(self) -> None:
        self.client.ping()

    # --- runs ----------------------------------------------------------------------

    def create_run(self, meta: RunMeta, chain: TaskChain) -> None:
        keys = self.keys(meta.user_id, meta.run_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.meta, mapping=self._meta_fields(meta))
        pipe.set(keys.chain, chain.model_dump_json(by_alias=True))
        pending: RedisMapping = {t.id: _pending_status(t) for t in chain.tasks}
        pipe.hset(keys.tasks, mapping=pending)
        self._add_event(pipe, keys, RunEvent(type=EventType.RUN_SUBMITTED, at=meta.submitted_at))
        self._expire(pipe, keys)
        pipe.execute()

    @staticmethod
    def _meta_fields(meta: RunMeta) -> RedisMapping:
        # Unset fields stay absent so that HSETNX can claim them (first writer wins).
        fields = json.loads(meta.model_dump_json(exclude_none=True))
        return {k: json.dumps(v) for k, v in fields.items()}

    def run_meta(self, user_id: str, run_id: str) -> RunMeta | None:
        raw = self.client.hgetall(self.keys(user_id, run_id).meta)
        if not raw:
            return None
        fields = {k: json.loads(v) for k, v in raw.items() if k in RunMeta.model_fields}
        return RunMeta.model_validate(fields)

    def chain(self, user_id: str, run_id: str, *, version: int | None = None) -> TaskChain:
        """The run's plan; ``version`` (from RunMeta) lets a process reuse its parsed copy."""
        if version is None:
            meta = self.run_meta(user_id, run_id)
            version = meta.chain_version if meta is not None else 0
        cache_key = (user_id, run_id, version)
        with self._chains_lock:
            cached = self._chains.get(cache_key)
            if cached is not None:
                self._chains.move_to_end(cache_key)
                return cached
        raw = self.client.get(self.keys(user_id, run_id).chain)
        if raw is None:
            raise KeyError(f"run {run_id} has no live context (expired or never submitted)")
        chain = TaskChain.model_validate_json(raw)
        with self._chains_lock:
            self._chains[cache_key] = chain
            while len(self._chains) > _CHAIN_CACHE_SIZE:
                self._chains.popitem(last=False)
        return chain

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
                        t.id: _pending_status(t, f"part of the alternative for {alternative_of}")
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

    # --- tasks ---------------------------------------------------------------------

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

    # --- events --------------------------------------------------------------------

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
        }

    # --- helpers -------------------------------------------------------------------

    @staticmethod
    def _add_event(pipe: Any, keys: RunKeys, event: RunEvent) -> None:
        pipe.xadd(keys.events, event.to_fields(), maxlen=EVENT_STREAM_MAXLEN, approximate=True)

    def _expire(self, pipe: Any, keys: RunKeys) -> None:
        for key in keys.all():
            pipe.expire(key, self.ttl_s)
