"""The live context's foundation: the Redis client, key layout, run metadata and plan."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Self

import fakeredis
import redis
from redis.typing import EncodableT, FieldT

from orchestrator.context.events import RunEvent
from orchestrator.context.keys import RunKeys
from orchestrator.models import (
    AITask,
    RunState,
    TaskChain,
    TaskStatus,
)
from orchestrator.models.base import StrictModel

EVENT_STREAM_MAXLEN = 10_000
#: What redis-py accepts as a hash mapping (its own field and value types).
RedisMapping = Mapping[FieldT, EncodableT]
_CHAIN_CACHE_SIZE = 256


def utcnow() -> datetime:
    return datetime.now(UTC)


def pending_status(task: AITask, reason: str | None = None) -> str:
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


class ContextBase:
    """Connection, key layout and the helpers every part of the context store uses."""

    def __init__(self, client: redis.Redis, *, prefix: str = "orch", ttl_s: int = 604_800) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        # The chain of a run never changes once submitted, so tasks parse it once per process.
        self._chains: OrderedDict[tuple[str, str, int], TaskChain] = OrderedDict()
        self._chains_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "orch", ttl_s: int = 604_800) -> Self:
        client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        return cls(client, prefix=prefix, ttl_s=ttl_s)

    @classmethod
    def in_process(
        cls,
        *,
        prefix: str = "orch",
        ttl_s: int = 604_800,
        server: fakeredis.FakeServer | None = None,
    ) -> Self:
        """A store backed by an in-process Redis-compatible server (the embedded mode)."""
        client = fakeredis.FakeRedis(server=server or fakeredis.FakeServer(), decode_responses=True)
        return cls(client, prefix=prefix, ttl_s=ttl_s)

    def keys(self, user_id: str, run_id: str) -> RunKeys:
        return RunKeys(self.prefix, user_id, run_id)

    def ping(self) -> None:
        self.client.ping()

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

    @staticmethod
    def _add_event(pipe: Any, keys: RunKeys, event: RunEvent) -> None:
        pipe.xadd(keys.events, event.to_fields(), maxlen=EVENT_STREAM_MAXLEN, approximate=True)

    def _expire(self, pipe: Any, keys: RunKeys) -> None:
        for key in keys.all():
            pipe.expire(key, self.ttl_s)
