"""Celery configuration derived from the settings: queues, routes, reliability."""

from __future__ import annotations

from typing import Any

from kombu.entity import Exchange, Queue

from config.settings import Settings

#: One queue per module; each module's worker pool consumes only its own.
MODULE_QUEUES = ("workspace", "portfolio", "assistant", "system")

# Celery's own helper tasks (chord_unlock, accumulate) and our run bookkeeping go here.
DEFAULT_QUEUE = "system"


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration for these settings (embedded when no broker is set)."""
    embedded = settings.embedded
    broker_url = settings.broker_url or "memory://localhost/"
    result_backend = settings.result_backend or (
        "cache+memory://" if embedded else settings.broker_url
    )
    transport_options: dict[str, Any] = {"visibility_timeout": settings.visibility_timeout_s}
    if embedded:
        # The memory transport polls; the default 1 s would add a second per hop.
        transport_options["polling_interval"] = 0.01
    exchange = Exchange("orchestrator", type="direct")  # type: ignore[no-untyped-call]
    return {
        "broker_url": broker_url,
        "result_backend": result_backend,
        "broker_transport_options": transport_options,
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout_s},
        "broker_connection_retry_on_startup": True,
        # JSON only: messages carry ids, never pickled objects.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # At-least-once delivery: ack after the task ran, requeue if its process died.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        # A redelivered message of a task that already succeeded is not run again (it
        # would count twice in its chord).
        "worker_deduplicate_successful_tasks": True,
        "task_queues": [
            Queue(q, exchange, routing_key=q)  # type: ignore[no-untyped-call]
            for q in MODULE_QUEUES
        ],
        "task_default_queue": DEFAULT_QUEUE,
        "task_default_exchange": "orchestrator",
        "task_default_routing_key": DEFAULT_QUEUE,
        "task_routes": {f"{q}.*": {"queue": q, "routing_key": q} for q in MODULE_QUEUES},
        "task_create_missing_queues": False,
        # Flower sees every task.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "result_expires": settings.context_ttl_s,
        "result_extended": True,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }
