"""Where a run's messages are: live workers, queues, and the broker's unacknowledged store.

Only the Redis transport keeps its queues and its unacknowledged messages where they can
be read (kombu's ``QoS``: the ``unacked`` hash, delivery tag -> ``[message, exchange,
routing_key]``, indexed by delivery time in ``unacked_index``). Restoring uses kombu's own
``QoS.restore_by_tag`` -- the very call its visibility-timeout sweep makes -- so the
message gets the ``redelivered`` flag and lands at the head of its queue.

Queues are read whole, in pages from the left (newest) end: a message pushed meanwhile
shifts the pages and is read twice, one taken by a worker meanwhile is on that worker,
read next. A queue longer than :data:`MAX_QUEUE_SCAN` is reported as not read whole.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from config.celery import MODULE_QUEUES
from orchestrator.reconcile.decisions import Where, WorkItem

log = logging.getLogger(__name__)

#: Messages read from one queue at most; a longer queue is not read whole.
MAX_QUEUE_SCAN = 100_000
#: Messages read from a queue per request.
QUEUE_PAGE = 1_000


def _run_id_of(celery_id: str, args: Any) -> str:
    """Every orchestrator task takes the run id first; else the id's ``<run>:`` prefix."""
    if isinstance(args, list | tuple) and args and isinstance(args[0], str):
        return args[0]
    return celery_id.split(":", 1)[0]


def _hard_limit(headers: dict[str, Any]) -> float | None:
    """The hard time limit Celery put in the message (``timelimit: [hard, soft]``)."""
    limits = headers.get("timelimit")
    if isinstance(limits, list | tuple) and limits:
        hard = limits[0]
        if isinstance(hard, int | float) and not isinstance(hard, bool) and hard > 0:
            return float(hard)
    return None


def _message_item(
    raw: str | bytes, where: Where, tag: str | None = None, delivered: float | None = None
) -> WorkItem | None:
    """The work item of one raw Redis-transport message (None if it is not a task)."""
    data = json.loads(raw)
    routing_key: str | None = None
    if where is Where.UNACKED:
        data, _exchange, routing_key = data
    headers = data.get("headers") or {}
    celery_id = headers.get("id")
    if not isinstance(celery_id, str):
        return None
    args: Any = None
    try:
        body = data["body"]
        if data.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (KeyError, ValueError, TypeError, IndexError):
        args = None  # an unreadable body still has its id
    if routing_key is None:
        routing_key = data.get("properties", {}).get("delivery_info", {}).get("routing_key")
    return WorkItem(
        celery_id=celery_id,
        run_id=_run_id_of(celery_id, args),
        where=where,
        queue=routing_key,
        delivery_tag=tag,
        delivered_at=None if delivered is None else datetime.fromtimestamp(delivered, UTC),
        hard_time_limit_s=_hard_limit(headers),
    )


@contextmanager
def _redis_channel(app: Celery) -> Iterator[tuple[Any, Any] | None]:
    """The broker channel and a Redis client of it when the broker is Redis, else None."""
    with app.connection_for_write() as conn:
        if conn.transport.driver_type != "redis":
            yield None
            return
        channel = conn.default_channel
        with channel.conn_or_acquire() as client:
            yield channel, client


def broker_is_readable(app: Celery) -> bool:
    with _redis_channel(app) as found:
        return found is not None


def queued_items(
    app: Celery, queues: Iterable[str] = MODULE_QUEUES, *, limit: int = MAX_QUEUE_SCAN
) -> tuple[list[WorkItem], bool]:
    """Messages waiting in the module queues (every priority sub-queue), and whether
    every queue was read whole (False: one held more than ``limit`` messages)."""
    items: list[WorkItem] = []
    complete = True
    with _redis_channel(app) as found:
        if found is None:
            return items, False
        channel, client = found
        for queue in queues:
            for priority in channel.priority_steps:
                key = channel._q_for_pri(queue, priority)  # kombu's own key naming
                length = int(client.llen(key))
                if length > limit:
                    complete = False
                for start in range(0, min(length, limit), QUEUE_PAGE):
                    stop = min(start + QUEUE_PAGE, limit) - 1
                    for raw in client.lrange(key, start, stop):
                        item = _message_item(raw, Where.QUEUE)
                        if item is not None:
                            items.append(item)
    return items, complete


def unacked_items(app: Celery) -> list[WorkItem]:
    """Messages delivered to a worker and not acknowledged yet (alive or not)."""
    items: list[WorkItem] = []
    with _redis_channel(app) as found:
        if found is None:
            return items
        channel, client = found
        for tag, raw in client.hgetall(channel.unacked_key).items():
            tag_text = tag.decode() if isinstance(tag, bytes) else str(tag)
            # Kombu indexes each delivery by the time the worker took it.
            delivered = client.zscore(channel.unacked_index_key, tag_text)
            item = _message_item(raw, Where.UNACKED, tag_text, delivered)
            if item is not None:
                items.append(item)
    return items


def restore_unacked(app: Celery, delivery_tags: Iterable[str]) -> int:
    """Put these unacknowledged messages back on their queues; how many were restored."""
    restored = 0
    with _redis_channel(app) as found:
        if found is None:
            return 0
        channel, client = found
        for tag in delivery_tags:
            if not client.hexists(channel.unacked_key, tag):
                continue  # acknowledged or restored meanwhile
            channel.qos.restore_by_tag(tag, client=client)
            restored += 1
    return restored


def worker_items(app: Celery, timeout_s: float) -> tuple[list[WorkItem], list[str]]:
    """Task messages active, reserved or scheduled on workers that answer now, and the
    node names of those workers.

    A worker that does not answer within ``timeout_s`` is not seen: it may be gone or
    only slow (a message it holds is left alone until it is certainly gone).
    """
    inspect = app.control.inspect(timeout=timeout_s)
    active = inspect.active() or {}
    # Every worker that will answer has answered once: stop waiting after that many.
    inspect = app.control.inspect(timeout=timeout_s, limit=len(active) or None)
    reserved = (inspect.reserved() or {}) if active else {}
    scheduled = (inspect.scheduled() or {}) if active else {}
    requests: list[dict[str, Any]] = []
    for replies in (active, reserved):
        for host_requests in replies.values():
            requests.extend(host_requests)
    for host_entries in scheduled.values():
        requests.extend(entry.get("request") or {} for entry in host_entries)
    items = [
        WorkItem(
            celery_id=r["id"],
            run_id=_run_id_of(r["id"], r.get("args")),
            where=Where.WORKER,
            queue=(r.get("delivery_info") or {}).get("routing_key"),
        )
        for r in requests
        if isinstance(r.get("id"), str)
    ]
    return items, sorted(active)
