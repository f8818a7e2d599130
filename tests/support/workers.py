"""Worker pools as separate processes, started the way the Procfile starts them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from celery import Celery

from config.celery import MODULE_QUEUES

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.support.plugin:register"


def settings_env(
    settings_env_vars: Mapping[str, str], plugins: tuple[str, ...] = (PLUGIN,)
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(settings_env_vars)
    env["ORCH_PLUGINS"] = json.dumps(list(plugins))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return env


def worker_argv(queue: str, *, pool: str = "prefork", concurrency: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "orchestrator",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "-P",
        pool,
        "-c",
        str(concurrency),
        "-E",
        "--loglevel",
        os.environ.get("ORCH_TEST_WORKER_LOGLEVEL", "WARNING"),
        "--without-mingle",
        "--without-gossip",
    ]


def wait_for_workers(app: Celery, queues: tuple[str, ...], timeout_s: float = 90.0) -> None:
    """Return once a worker of every queue answers a ping (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    missing: set[str] = set(queues)
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5) or []
        alive = {name.split("@", 1)[0] for reply in replies for name in reply}
        missing = set(queues) - alive
        if not missing:
            return
    raise RuntimeError(f"workers for {sorted(missing)} did not start within {timeout_s} s")


def restart_workers(
    app: Celery,
    procs: dict[str, subprocess.Popen[bytes]],
    env_vars: Mapping[str, str],
    plugins: tuple[str, ...] = (PLUGIN,),
) -> None:
    """Stop every worker process (warm shutdown), start new ones, wait until they answer."""
    for proc in procs.values():
        proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        proc.wait(timeout=30)
    env = settings_env(env_vars, plugins)
    for queue in procs:
        procs[queue] = subprocess.Popen(
            worker_argv(queue),
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    wait_for_workers(app, tuple(procs))


@contextmanager
def worker_processes(
    app: Celery,
    env_vars: Mapping[str, str],
    queues: tuple[str, ...] = MODULE_QUEUES,
    log_dir: Path | None = None,
    plugins: tuple[str, ...] = (PLUGIN,),
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """One ``celery worker`` process per queue, stopped (TERM, then KILL) on exit."""
    env = settings_env(env_vars, plugins)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = []
    try:
        for queue in queues:
            log = open(log_dir / f"{queue}.log", "wb") if log_dir else subprocess.DEVNULL  # noqa: SIM115
            if log_dir:
                logs.append(log)
            procs[queue] = subprocess.Popen(
                worker_argv(queue), env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_workers(app, queues)
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()  # type: ignore[union-attr]


@contextmanager
def session_leader_worker(
    app: Celery,
    env_vars: Mapping[str, str],
    queue: str,
    log_path: Path | None = None,
    plugins: tuple[str, ...] = (PLUGIN,),
) -> Iterator[subprocess.Popen[bytes]]:
    """One ``celery worker`` for ``queue`` leading its own process group.

    The main process and its pool children share that group, so a test can SIGKILL the
    whole worker (``os.killpg``) without touching itself. Stopped (TERM, then KILL of the
    group) on exit.
    """
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        worker_argv(queue),
        env=settings_env(env_vars, plugins),
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_workers(app, (queue,))
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
        # Pool children outlive a killed main process; none may stay behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if log_path:
            log.close()  # type: ignore[union-attr]
