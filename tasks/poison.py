"""Poison messages become dead letters in history, never silently dropped.

Celery acks and only logs a message it cannot decode (``Consumer.on_decode_error``), and
rejects a malformed one (``task_rejected``) or one whose task name no worker knows
(``task_unknown``); all three are recorded with their payload and reason -- the first
through a consumer bootstep that wraps the decode-error callback. A message that keeps
killing its worker is caught at delivery time (``tasks.execution``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, bootsteps
from celery.signals import task_rejected, task_unknown

from orchestrator.context import utcnow


def _payload(message: Any) -> dict[str, Any]:
    body = getattr(message, "body", b"")
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    return {
        "headers": dict(getattr(message, "headers", None) or {}),
        "properties": {k: str(v) for k, v in (getattr(message, "properties", None) or {}).items()},
        "content_type": getattr(message, "content_type", None),
        "body": body[:100_000] if isinstance(body, str) else str(body)[:100_000],
    }


def install_dead_letter_handlers(app: Celery) -> None:
    """Record this app's rejected and unknown messages as dead letters."""

    def owned(sender: Any) -> bool:
        return getattr(sender, "app", None) is app

    def on_rejected(sender: Any = None, message: Any = None, exc: Any = None, **_: Any) -> None:
        if not owned(sender):
            return
        headers = getattr(message, "headers", None) or {}
        app.runtime.dead_letters.record(
            reason=f"message rejected: {exc!r}",
            payload=_payload(message),
            celery_task_id=headers.get("id"),
            task_name=headers.get("task"),
            at=utcnow(),
        )

    def on_unknown(
        sender: Any = None,
        name: str | None = None,
        id: str | None = None,
        message: Any = None,
        exc: Any = None,
        **_: Any,
    ) -> None:
        if not owned(sender):
            return
        app.runtime.dead_letters.record(
            reason=f"unknown task type {name!r}: {exc}",
            payload=_payload(message),
            celery_task_id=id,
            task_name=name,
            at=utcnow(),
        )

    class DeadLetterOnDecodeError(bootsteps.StartStopStep):  # type: ignore[misc]
        """Records undecodable messages before Celery acks them away."""

        def __init__(self, consumer: Any, **kwargs: Any) -> None:
            super().__init__(consumer, **kwargs)
            acknowledge = consumer.on_decode_error

            def on_decode_error(message: Any, exc: Exception) -> None:
                try:
                    app.runtime.dead_letters.record(
                        reason=f"message could not be decoded: {exc!r}",
                        payload=_payload(message),
                        at=utcnow(),
                    )
                finally:
                    acknowledge(message, exc)

            consumer.on_decode_error = on_decode_error

    task_rejected.connect(on_rejected, weak=False)
    task_unknown.connect(on_unknown, weak=False)
    app.steps["consumer"].add(DeadLetterOnDecodeError)
