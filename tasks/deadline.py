"""Task timeouts where the pool does not enforce them (Celery's threads and solo pools).

Celery enforces ``soft_time_limit``/``time_limit`` only on prefork; the embedded mode
runs on threads, where they are silently ignored. There the handler runs in a helper
thread and the task gives up at its deadline with TASK_TIMEOUT. Python cannot kill a
thread: the abandoned handler finishes in the background and its result is discarded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tasks.errors import TaskTimeoutError

T = TypeVar("T")


def call_with_deadline(func: Callable[..., T], args: tuple[Any, ...], *, timeout_s: float) -> T:
    """``func(*args)``, or TaskTimeoutError once ``timeout_s`` has passed."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name="orchestrator-deadline", daemon=True)
    worker.start()
    if not done.wait(timeout_s):
        raise TaskTimeoutError(f"task exceeded its timeout of {timeout_s:g} s", timeout_s=timeout_s)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
