"""Which embedded process is running which run: one ``flock``-ed file per live run.

In the embedded mode a run's workers and live context live in the process that submitted
it, so another process (``orchestrator sync``, a second CLI) cannot see whether the run is
still being worked on. The submitting process holds an exclusive lock on
``<data_dir>/running/<run_id>.lock`` until the run is waited for or the orchestrator is
closed; the kernel drops the lock when the process exits, however it exits, so a lock
that can be taken means nobody runs the run any more. The lock is taken before the run is
recorded in history, so no other process ever sees a recorded run unheld while it starts.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from config.settings import Settings

#: What a run id looks like (``Orchestrator.submit`` makes ``run_`` + 16 hex digits); anything
#: else never becomes a file name here, nor a restored run.
RUN_ID_RE = re.compile(r"run_[0-9a-f]{1,64}")


class EmbeddedRunLocks:
    """Locks of the runs this process runs, and a probe for other processes' locks."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[str, int] = {}

    def _path(self, run_id: str) -> Path:
        if not RUN_ID_RE.fullmatch(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.directory / f"{run_id}.lock"

    def hold(self, run_id: str) -> None:
        """Mark ``run_id`` as running in this process (until :meth:`release`/exit)."""
        if run_id in self._held:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(run_id), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._held[run_id] = fd

    def release(self, run_id: str) -> None:
        """The run is over for this process: drop its lock and its file."""
        fd = self._held.pop(run_id, None)
        if fd is None:
            return
        # Unlink while still holding the lock, so a prober never takes a stale file's lock
        # for a live run's.
        self._path(run_id).unlink(missing_ok=True)
        os.close(fd)

    def held(self) -> list[str]:
        """The runs whose locks this process holds."""
        return list(self._held)

    def release_all(self) -> None:
        for run_id in list(self._held):
            self.release(run_id)

    def held_elsewhere(self, run_id: str) -> bool:
        """Whether another live process holds ``run_id``'s lock (it still runs the run).

        An id that is not a run id never had a lock file: False, never an error (sync
        asks this of every run in history and must not stop at an odd one).
        """
        if run_id in self._held or not RUN_ID_RE.fullmatch(run_id):
            return False
        try:
            fd = os.open(self._path(run_id), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock we may have taken
        return False


def embedded_run_locks(settings: Settings) -> EmbeddedRunLocks:
    """The run locks of the embedded setup with these settings (under its data dir)."""
    return EmbeddedRunLocks(settings.data_dir.resolve() / "running")
