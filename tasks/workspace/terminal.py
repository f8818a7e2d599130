"""Running one allowed argv: no shell, scrubbed environment, timeout, bounded output.

* ``subprocess.Popen(argv, shell=False)``: arguments reach the program literally.
* The child starts a new session (its own process group); on timeout -- or any exit of
  ours, a soft time limit included -- the whole group is killed, so a command's children
  (``sleep`` forked by a test script) die with it.
* stdout and stderr are read by two threads into buffers that keep only the last
  ``max_output_bytes``: a command printing gigabytes costs that much memory, no more.
* The environment is built from nothing: PATH (fixed), HOME (the project), LANG, TZ,
  Python's no-bytecode flag, git's hardening, and the operator's explicit pass-through
  list. No ``ORCH_*`` variable and no secret of the worker ever reaches a command.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tasks.workspace.git_ops import hardened_git_env

#: How long a command gets between SIGTERM and SIGKILL after its timeout.
KILL_GRACE_S = 1.0
_READ_CHUNK_BYTES = 65_536
#: Time the reader threads get to drain the pipes once the process has ended.
_DRAIN_S = 2.0


def default_search_path() -> list[Path]:
    """The Python environment's bin (pytest, the venv's python), then the system's."""
    return [Path(sys.prefix) / "bin", Path("/usr/local/bin"), Path("/usr/bin"), Path("/bin")]


def command_environment(
    *,
    search_path: list[Path],
    project_dir: Path,
    ceiling: Path,
    passthrough: list[str],
) -> dict[str, str]:
    """The whole environment of a command (nothing inherited but ``passthrough``)."""
    env = {
        "PATH": os.pathsep.join(str(p) for p in search_path),
        "HOME": str(project_dir),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        # git run as a command is read-only (allow-list) and as hardened as git_operation.
        **hardened_git_env(ceiling),
    }
    for name in passthrough:
        # Never the orchestrator's own settings (database URLs, broker credentials).
        if not name.upper().startswith("ORCH_") and name in os.environ and name not in env:
            env[name] = os.environ[name]
    return env


class TailBuffer:
    """Keeps the last ``limit_bytes`` of a stream and counts everything it saw."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.data = bytearray()
        self.total_bytes = 0

    def feed(self, chunk: bytes) -> None:
        self.total_bytes += len(chunk)
        self.data += chunk[-self.limit_bytes :]
        excess = len(self.data) - self.limit_bytes
        if excess > 0:
            del self.data[:excess]

    @property
    def truncated(self) -> bool:
        return self.total_bytes > self.limit_bytes

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _drain(stream: IO[bytes], buffer: TailBuffer) -> None:
    with contextlib.suppress(OSError, ValueError):
        while chunk := stream.read1(_READ_CHUNK_BYTES):  # type: ignore[attr-defined]
            buffer.feed(chunk)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    # The group may be gone already (ESRCH); that is the goal, not an error.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass(frozen=True)
class CommandOutcome:
    exit_code: int | None
    stdout: TailBuffer
    stderr: TailBuffer
    duration_ms: float
    timed_out: bool


def run_argv(
    argv: list[str],
    *,
    executable: str,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    max_output_bytes: int,
) -> CommandOutcome:
    """Run ``argv`` (argv[0] found at ``executable``) and wait at most ``timeout_s``."""
    stdout, stderr = TailBuffer(max_output_bytes), TailBuffer(max_output_bytes)
    started = time.perf_counter()
    # argv list, shell=False: no shell parses anything; the allow-list checked argv first.
    process = subprocess.Popen(  # noqa: S603
        argv,
        executable=executable,
        cwd=cwd,
        env=env,
        shell=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
    )
    readers = [
        threading.Thread(target=_drain, args=(pipe, buffer), daemon=True)
        for pipe, buffer in ((process.stdout, stdout), (process.stderr, stderr))
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid, signal.SIGKILL)
                process.wait()
    finally:
        # Whatever happened (a soft time limit, an error here): nothing of the command's
        # process group outlives this call -- background children included.
        _kill_group(process.pid, signal.SIGKILL)
        if process.returncode is None:
            process.wait()
        for reader, pipe in zip(readers, (process.stdout, process.stderr), strict=True):
            reader.join(_DRAIN_S)
            # A reader still blocked (a child that left the group holds the pipe) keeps its
            # pipe: closing it under the reading thread could block on the buffer's lock.
            if pipe is not None and not reader.is_alive():
                pipe.close()
    return CommandOutcome(
        exit_code=process.returncode,
        stdout=stdout,
        stderr=stderr,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        timed_out=timed_out,
    )
