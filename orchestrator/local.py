"""The embedded, zero-service mode: one threads worker per module queue, in this process.

Celery's threads pool does not enforce time limits; task timeouts in this mode are
enforced by the recovery layer's own timer, never by the pool.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from types import TracebackType

from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.worker import WorkController

from config.celery import MODULE_QUEUES

log = logging.getLogger(__name__)


class EmbeddedWorkers:
    """Start/stop in-process workers: one per queue, each consuming only its queue."""

    def __init__(
        self,
        app: Celery,
        *,
        queues: Sequence[str] = MODULE_QUEUES,
        concurrency: int = 2,
        loglevel: str = "WARNING",
    ) -> None:
        self.app = app
        self.queues = tuple(queues)
        self.concurrency = concurrency
        self.loglevel = loglevel
        self._stack: contextlib.ExitStack | None = None
        self._controllers: list[WorkController] = []

    @property
    def running(self) -> bool:
        return self._stack is not None

    def start(self) -> None:
        if self._stack is not None:
            return
        stack = contextlib.ExitStack()
        try:
            for queue in self.queues:
                worker = stack.enter_context(
                    start_worker(
                        self.app,
                        pool="threads",
                        concurrency=self.concurrency,
                        queues=[queue],
                        hostname=f"{queue}@embedded",
                        perform_ping_check=False,
                        loglevel=self.loglevel,
                        shutdown_timeout=30.0,
                    )
                )
                self._controllers.append(worker)
        except BaseException:
            stack.close()
            raise
        self._stack = stack

    def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            # Ask every pool to stop first, so they wind down together rather than one
            # broker poll after another when the stack joins their threads.
            for controller in self._controllers:
                controller.stop(in_sighandler=False)
            self._controllers.clear()
            stack.close()

    def __enter__(self) -> EmbeddedWorkers:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
