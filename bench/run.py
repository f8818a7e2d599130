"""The orchestrator against raw Celery, same broker, same worker processes, same run.

    .venv/bin/python bench/run.py            # table
    .venv/bin/python bench/run.py --json     # one JSON object (also bench/results/latest.json)
    .venv/bin/python bench/run.py --quick    # fewer repetitions, < 60 s

What runs: one ``celery -A orchestrator worker -Q system`` prefork process (concurrency 2,
the project default) started with ``ORCH_PLUGINS='["bench.tasks:register"]'``; that plug-in
adds the ``bench_noop`` / ``bench_sleep`` task types (module system) and imports
``bench.raw_tasks``, so the raw baseline tasks live on the same app, queue and processes.
Broker, result backend and live context use a dedicated Redis database (flushed at start and
end); history goes to a fresh PostgreSQL database, created, upgraded and dropped here.

Each scenario is timed end to end, as a user sees it:

* ours: ``Orchestrator.submit(TaskChain)`` then ``wait(run_id)`` (validation, compilation,
  history and live-context writes, the finalize step, the event stream read);
* raw: the same canvas shape of ``.si()`` signatures routed to the same queue,
  ``apply_async()`` then ``get(interval=0.005)``. With the Redis result backend ``get()``
  waits on the backend's pub/sub channel (not polling), so raw is not slowed by the client.

Scenarios: a 10-task chain (per-hop ms = wall / 10), a fan-out/fan-in (root -> 10 parallel
-> join), throughput of 200 independent noop tasks, and the makespan of an uneven
series-parallel DAG of 12 sleep tasks against max(critical path, total work / slots). Each
is repeated (median reported) after a warm-up, ours and raw interleaved, alternating which
goes first. Planning latency comes from ``bench/plan_latency.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: the repository root goes first (bench/tasks.py must not shadow the
    # top-level ``tasks`` package).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import celery
import psycopg
import redis
from celery import Celery, chain, chord, group
from celery.signals import task_postrun, task_prerun

from bench.analysis_latency import (
    measure_analysis_latency,
    measure_recorded_analysis_latency,
)
from bench.plan_latency import measure_plan_latency
from bench.raw_tasks import RAW_NOOP, RAW_SLEEP
from bench.tasks import BENCH_MODULE, NOOP_TYPE, SLEEP_TYPE
from config.settings import Settings
from orchestrator import AITask, Orchestrator, TaskChain, TaskDependency, UserGoal
from orchestrator.history import upgrade
from orchestrator.models import RunStatus
from tasks.builtin import default_registry
from tests.support.workers import wait_for_workers, worker_argv

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "bench.tasks:register"
QUEUE = BENCH_MODULE.queue
RESULTS_DIR = REPO_ROOT / "bench" / "results"
TARGETS = {"hop_ratio": "<= 1.3", "throughput_ratio": ">= 0.8", "makespan_ratio": "<= 1.1"}
RUN_TIMEOUT_S = 120.0


# --- the DAGs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dag:
    """Task ids with their sleep (None: noop) and prerequisite edges, in topological order."""

    name: str
    sleep_ms: dict[str, int | None]
    edges: list[tuple[str, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.sleep_ms)

    def critical_path_ms(self) -> int:
        longest: dict[str, int] = {}
        for node, ms in self.sleep_ms.items():  # insertion order is topological
            before = [longest[a] for a, b in self.edges if b == node]
            longest[node] = max(before, default=0) + (ms or 0)
        return max(longest.values())

    def total_work_ms(self) -> int:
        return sum(ms or 0 for ms in self.sleep_ms.values())

    def task_chain(self) -> TaskChain:
        """A fresh TaskChain of this shape (ordering-only edges, like raw ``.si()``)."""
        return TaskChain(
            goal=UserGoal(description=f"benchmark {self.name}"),
            tasks=[
                AITask(
                    id=task_id,
                    type=NOOP_TYPE if ms is None else SLEEP_TYPE,
                    module=BENCH_MODULE,
                    parameters={} if ms is None else {"sleep_ms": ms},
                )
                for task_id, ms in self.sleep_ms.items()
            ],
            dependencies=[
                TaskDependency.model_validate({"from": a, "to": b, "type": "prerequisite"})
                for a, b in self.edges
            ],
        )


def _chain_dag(n: int) -> Dag:
    ids = [f"t{i}" for i in range(n)]
    return Dag("chain", dict.fromkeys(ids), list(pairwise(ids)))


def _fanin_dag(width: int) -> Dag:
    mids = [f"p{i}" for i in range(width)]
    return Dag(
        "fanin",
        dict.fromkeys(["root", *mids, "join"]),
        [("root", m) for m in mids] + [(m, "join") for m in mids],
    )


def _independent_dag(n: int) -> Dag:
    return Dag("throughput", dict.fromkeys(f"t{i}" for i in range(n)))


#: Uneven series-parallel DAG: a -> {b | c->d} -> e -> {f | g->h} -> i -> {j | k} -> l.
MAKESPAN_DAG = Dag(
    "makespan",
    {
        "a": 100,
        "b": 300,
        "c": 50,
        "d": 200,
        "e": 150,
        "f": 400,
        "g": 100,
        "h": 250,
        "i": 50,
        "j": 200,
        "k": 350,
        "l": 100,
    },
    [
        ("a", "b"),
        ("a", "c"),
        ("c", "d"),
        ("b", "e"),
        ("d", "e"),
        ("e", "f"),
        ("e", "g"),
        ("g", "h"),
        ("f", "i"),
        ("h", "i"),
        ("i", "j"),
        ("i", "k"),
        ("j", "l"),
        ("k", "l"),
    ],
)


class RawCanvas:
    """The raw Celery canvas of each DAG: ``.si()`` signatures on the bench queue."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def noop(self) -> Any:
        return self.app.signature(RAW_NOOP, immutable=True, queue=QUEUE)

    def sleep(self, task_id: str) -> Any:
        ms = MAKESPAN_DAG.sleep_ms[task_id]
        return self.app.signature(RAW_SLEEP, args=(ms,), immutable=True, queue=QUEUE)

    def chain(self, n: int) -> Any:
        return chain(*(self.noop() for _ in range(n)), app=self.app)

    def fanin(self, width: int) -> Any:
        header = [self.noop() for _ in range(width)]
        return chain(self.noop(), chord(header, self.noop(), app=self.app), app=self.app)

    def independent(self, n: int) -> Any:
        return group([self.noop() for _ in range(n)], app=self.app)

    def makespan(self) -> Any:
        # The shape the orchestrator's compiler gives MAKESPAN_DAG (minus its finalize step).
        s = self.sleep
        return chain(
            s("a"),
            chord([s("b"), chain(s("c"), s("d"), app=self.app)], s("e"), app=self.app),
            chord([s("f"), chain(s("g"), s("h"), app=self.app)], s("i"), app=self.app),
            chord([s("j"), s("k")], s("l"), app=self.app),
            app=self.app,
        )


@dataclass
class Scenario:
    key: str
    dag: Dag
    raw: Callable[[], Any]
    warm_up: bool = True
    #: Cheap, noisy latency scenarios take several samples per repetition.
    samples_per_rep: int = 1


# --- timing -------------------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


def time_ours(orch: Orchestrator, dag: Dag) -> tuple[float, float]:
    """(end-to-end ms, of which submit ms) of one orchestrator run of ``dag``."""
    task_chain = dag.task_chain()  # built by the caller in real use: not timed
    start = time.perf_counter()
    run_id = orch.submit(task_chain)
    submitted = time.perf_counter()
    result = orch.wait(run_id, timeout_s=RUN_TIMEOUT_S)
    end = time.perf_counter()
    if result.status is not RunStatus.COMPLETED or len(result.completed_tasks) != dag.size:
        raise BenchError(f"orchestrator run {run_id} of {dag.name} ended {result.status}")
    return (end - start) * 1000, (submitted - start) * 1000


def time_raw(build: Callable[[], Any], expected_results: int | None) -> float:
    """End-to-end ms of one raw canvas: apply_async, then get() (pub/sub on Redis)."""
    signature = build()  # fresh signatures every time: apply_async freezes task ids
    start = time.perf_counter()
    async_result = signature.apply_async()
    value = async_result.get(timeout=RUN_TIMEOUT_S, interval=0.005)
    end = time.perf_counter()
    if expected_results is not None and len(value) != expected_results:
        raise BenchError(f"raw group returned {len(value)} results, not {expected_results}")
    return (end - start) * 1000


def run_scenarios(
    orch: Orchestrator, scenarios: list[Scenario], reps: int
) -> dict[str, dict[str, list[float]]]:
    """Samples per scenario: ours_ms, ours_submit_ms, raw_ms (warm-up not kept)."""
    samples: dict[str, dict[str, list[float]]] = {
        s.key: {"ours_ms": [], "ours_submit_ms": [], "raw_ms": []} for s in scenarios
    }

    def once(scenario: Scenario, ours_first: bool, keep: bool) -> None:
        expected = scenario.dag.size if scenario.key == "throughput" else None
        for side in ("ours", "raw") if ours_first else ("raw", "ours"):
            if side == "ours":
                wall, submit = time_ours(orch, scenario.dag)
                if keep:
                    samples[scenario.key]["ours_ms"].append(wall)
                    samples[scenario.key]["ours_submit_ms"].append(submit)
            else:
                wall = time_raw(scenario.raw, expected)
                if keep:
                    samples[scenario.key]["raw_ms"].append(wall)

    for scenario in scenarios:
        if scenario.warm_up:
            once(scenario, ours_first=True, keep=False)
    for rep in range(reps):
        for scenario in scenarios:
            for sample in range(scenario.samples_per_rep):
                once(scenario, ours_first=(rep + sample) % 2 == 0, keep=True)
    return samples


# --- where the orchestrator's time goes (in-process, eager) -----------------------------


class _Stats:
    def __init__(self) -> None:
        self.ns: dict[tuple[str, str, str], int] = defaultdict(int)
        self.calls: dict[tuple[str, str, str], int] = defaultdict(int)
        self.depth = 0  # > 0 while a Celery task body runs

    def phase(self) -> str:
        return "task" if self.depth > 0 else "client"


class _Timed:
    """Proxy timing every method call of a store (Redis context or Postgres history)."""

    def __init__(self, target: Any, label: str, stats: _Stats) -> None:
        self._target = target
        self._label = label
        self._stats = stats

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        stats, label = self._stats, self._label

        def timed(*args: Any, **kwargs: Any) -> Any:
            phase = stats.phase()
            start = time.perf_counter_ns()
            try:
                return attr(*args, **kwargs)
            finally:
                key = (phase, label, name)
                stats.ns[key] += time.perf_counter_ns() - start
                stats.calls[key] += 1

        return timed


def profile_overhead(orch: Orchestrator, dag: Dag, rounds: int) -> dict[str, Any]:
    """Per run of ``dag``, ms spent in live-context (Redis) and history (Postgres) calls.

    The canvas runs eagerly in this process (``task_always_eager``), through the same
    ``execute_task`` / ``finalize_run`` code the workers run, with the runtime's stores
    wrapped in timing proxies; the broker hop is the only part left out.
    """
    runtime = orch.runtime
    stats = _Stats()
    task_ns: list[int] = []
    started: dict[str, int] = {}

    def on_prerun(task_id: str, **_: Any) -> None:
        stats.depth += 1
        started[task_id] = time.perf_counter_ns()

    def on_postrun(task_id: str, **_: Any) -> None:
        stats.depth -= 1
        task_ns.append(time.perf_counter_ns() - started.pop(task_id))

    context, history = runtime.context, runtime.history
    task_prerun.connect(on_prerun, weak=False)
    task_postrun.connect(on_postrun, weak=False)
    runtime.context = _Timed(context, "redis", stats)  # type: ignore[assignment]
    runtime.history = _Timed(history, "postgres", stats)  # type: ignore[assignment]
    orch.app.conf.task_always_eager = True
    walls: list[float] = []
    try:
        for i in range(rounds + 1):
            if i == 1:  # the first round warms caches and connections: not counted
                stats.ns.clear()
                stats.calls.clear()
                task_ns.clear()
            start = time.perf_counter()
            run_id = orch.submit(dag.task_chain())
            result = orch.wait(run_id, timeout_s=RUN_TIMEOUT_S)
            if i > 0:
                walls.append((time.perf_counter() - start) * 1000)
            if result.status is not RunStatus.COMPLETED:
                raise BenchError(f"eager profile run ended {result.status}")
    finally:
        orch.app.conf.task_always_eager = False
        runtime.context, runtime.history = context, history
        task_prerun.disconnect(on_prerun)
        task_postrun.disconnect(on_postrun)

    def per_run_ms(phase: str, label: str) -> float:
        total = sum(ns for (p, lb, _), ns in stats.ns.items() if p == phase and lb == label)
        return round(total / rounds / 1e6, 3)

    executions = len(task_ns) / rounds  # tasks + joins + finalize per run
    task_wall = sum(task_ns) / rounds / 1e6
    task_redis, task_pg = per_run_ms("task", "redis"), per_run_ms("task", "postgres")
    methods = {
        f"{phase}:{label}.{name}": {
            "calls_per_run": round(stats.calls[(phase, label, name)] / rounds, 2),
            "ms_per_run": round(ns / rounds / 1e6, 3),
        }
        for (phase, label, name), ns in sorted(stats.ns.items(), key=lambda kv: -kv[1])
    }
    return {
        "dag": f"{dag.name} of {dag.size} noop tasks",
        "rounds": rounds,
        "wall_ms_per_run": round(statistics.median(walls), 3),
        "celery_task_executions_per_run": executions,
        "task_body_ms_per_execution": round(task_wall / executions, 3),
        "task_redis_ms_per_execution": round(task_redis / executions, 3),
        "task_postgres_ms_per_execution": round(task_pg / executions, 3),
        "task_other_ms_per_execution": round((task_wall - task_redis - task_pg) / executions, 3),
        "client_redis_ms_per_run": per_run_ms("client", "redis"),
        "client_postgres_ms_per_run": per_run_ms("client", "postgres"),
        "methods": methods,
    }


# --- services and workers -----------------------------------------------------------------


@contextmanager
def fresh_postgres(admin_dsn: str) -> Iterator[str]:
    """SQLAlchemy URL of a new, migrated database, dropped on exit."""
    name = f"orch_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def worker_env(settings_vars: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(settings_vars)
    env["ORCH_PLUGINS"] = json.dumps([PLUGIN])
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return env


@contextmanager
def bench_worker(
    app: Celery, env: dict[str, str], concurrency: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """One prefork ``celery -A orchestrator worker -Q system`` process, as the Procfile runs."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 (argument list, no shell)
            worker_argv(QUEUE, concurrency=concurrency),
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_workers(app, (QUEUE,))
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- the run --------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    quick: bool = args.quick
    reps: int = args.reps or (3 if quick else 10)
    concurrency: int = args.concurrency
    chain_len, fan_width, n_independent = 10, 10, 200
    redis_url = f"{args.redis_url.rstrip('/')}/{args.redis_db}"
    started = time.perf_counter()

    plan = measure_plan_latency(n=500 if quick else 2000)
    analysis_pure = measure_analysis_latency(n=1000 if quick else 5000)

    redis.Redis.from_url(redis_url).flushdb()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with fresh_postgres(args.pg_dsn) as pg_url, tempfile.TemporaryDirectory() as data_dir:
        settings_vars = {
            "ORCH_BROKER_URL": redis_url,
            "ORCH_RESULT_BACKEND": redis_url,
            "ORCH_REDIS_URL": redis_url,
            "ORCH_DATABASE_URL": pg_url,
            "ORCH_DATA_DIR": data_dir,
            "ORCH_KEY_PREFIX": "orchbench",
            "ORCH_WORKER_CONCURRENCY": str(concurrency),
        }
        settings = Settings(
            broker_url=redis_url,
            result_backend=redis_url,
            redis_url=redis_url,
            database_url=pg_url,
            data_dir=Path(data_dir),
            key_prefix="orchbench",
            worker_concurrency=concurrency,
            plugins=[PLUGIN],
        )
        orch = Orchestrator.from_settings(settings, default_registry())
        try:
            raw = RawCanvas(orch.app)
            scenarios = [
                Scenario(
                    "hop", _chain_dag(chain_len), lambda: raw.chain(chain_len), samples_per_rep=5
                ),
                Scenario(
                    "fanin", _fanin_dag(fan_width), lambda: raw.fanin(fan_width), samples_per_rep=5
                ),
                # A user with 200 independent tasks submits them as ONE run of 200
                # unconnected tasks (one goal, one plan, one result), not 200 runs.
                Scenario(
                    "throughput",
                    _independent_dag(n_independent),
                    lambda: raw.independent(n_independent),
                ),
                # Sleep-dominated: the other warm-ups already warmed processes/connections.
                Scenario("makespan", MAKESPAN_DAG, raw.makespan, warm_up=False),
            ]
            worker_log = RESULTS_DIR / "worker.log"
            with bench_worker(orch.app, worker_env(settings_vars), concurrency, worker_log):
                samples = run_scenarios(orch, scenarios, reps)
            profile = None if args.no_profile else profile_overhead(orch, _chain_dag(10), 10)
            analysis = measure_recorded_analysis_latency(orch.runtime, n=100 if quick else 300)
        finally:
            orch.close()
    redis.Redis.from_url(redis_url).flushdb()

    med = {k: {side: _median(v) for side, v in s.items()} for k, s in samples.items()}
    hop_ours, hop_raw = med["hop"]["ours_ms"] / chain_len, med["hop"]["raw_ms"] / chain_len
    thr_ours = n_independent / (med["throughput"]["ours_ms"] / 1000)
    thr_raw = n_independent / (med["throughput"]["raw_ms"] / 1000)
    # All DAG tasks run on the one system pool: its processes are the usable slots.
    slots = concurrency
    lower_bound = max(MAKESPAN_DAG.critical_path_ms(), MAKESPAN_DAG.total_work_ms() / slots)
    python = os.path.relpath(sys.executable, Path.cwd())
    command = shlex.join([python, *sys.argv])
    return {
        "hop_ratio": round(hop_ours / hop_raw, 3),
        "fanin_ratio": round(med["fanin"]["ours_ms"] / med["fanin"]["raw_ms"], 3),
        "throughput_ratio": round(thr_ours / thr_raw, 3),
        "makespan_ratio": round(med["makespan"]["ours_ms"] / lower_bound, 3),
        "raw_makespan_ratio": round(med["makespan"]["raw_ms"] / lower_bound, 3),
        "plan_p50_ms": plan["p50_ms"],
        "plan_p99_ms": plan["p99_ms"],
        # Error analysis as a failing task pays it: pure analysis + its Postgres reads/write.
        "analysis_p99_ms": analysis["p99_ms"],
        "analysis_p50_ms": analysis["p50_ms"],
        "analysis_pure_p99_ms": analysis_pure["p99_ms"],
        "hop_ms_ours": round(hop_ours, 3),
        "hop_ms_raw": round(hop_raw, 3),
        "fanin_ms_ours": round(med["fanin"]["ours_ms"], 3),
        "fanin_ms_raw": round(med["fanin"]["raw_ms"], 3),
        "throughput_ours_per_s": round(thr_ours, 1),
        "throughput_raw_per_s": round(thr_raw, 1),
        "makespan_ms_ours": round(med["makespan"]["ours_ms"], 3),
        "makespan_ms_raw": round(med["makespan"]["raw_ms"], 3),
        "makespan_lower_bound_ms": round(lower_bound, 3),
        "makespan_critical_path_ms": MAKESPAN_DAG.critical_path_ms(),
        "makespan_total_work_ms": MAKESPAN_DAG.total_work_ms(),
        "submit_ms_ours": {k: round(v["ours_submit_ms"], 3) for k, v in med.items()},
        "targets": TARGETS,
        "repetitions": reps,
        "samples_per_repetition": {s.key: s.samples_per_rep for s in scenarios},
        "worker_slots": slots,
        "workers": f"1 prefork process, queue {QUEUE}, concurrency {concurrency}",
        "shapes": {
            "hop": f"chain of {chain_len} noop tasks",
            "fanin": f"root -> {fan_width} parallel -> join (noop)",
            "throughput": f"{n_independent} independent noop tasks: ours one run, raw one group",
            "makespan": f"{MAKESPAN_DAG.size} sleep tasks 50-400 ms, 3 joins (series-parallel)",
        },
        "samples_ms": {
            k: {side: [round(x, 2) for x in v] for side, v in s.items()} for k, s in samples.items()
        },
        "plan": plan,
        "overhead_profile": profile,
        "celery": celery.__version__,
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "quick": quick,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "command": command,
    }


def render_table(r: dict[str, Any]) -> str:
    rows = [
        ("metric", "ours", "raw", "ratio", "target"),
        ("hop latency, 10-chain (ms/hop)", r["hop_ms_ours"], r["hop_ms_raw"], r["hop_ratio"],
         TARGETS["hop_ratio"]),
        ("fan-out/fan-in 1-10-1 (ms)", r["fanin_ms_ours"], r["fanin_ms_raw"], r["fanin_ratio"],
         ""),
        ("throughput, 200 noop (tasks/s)", r["throughput_ours_per_s"], r["throughput_raw_per_s"],
         r["throughput_ratio"], TARGETS["throughput_ratio"]),
        ("makespan, 12 sleeps (ms)", r["makespan_ms_ours"], r["makespan_ms_raw"], "", ""),
        (f"  / lower bound {r['makespan_lower_bound_ms']:.0f} ms", r["makespan_ratio"],
         r["raw_makespan_ratio"], "", TARGETS["makespan_ratio"]),
        ("planning p50 / p99 (ms)", r["plan_p50_ms"], r["plan_p99_ms"], "", ""),
        ("error analysis p50 / p99 (ms)", r["analysis_p50_ms"], r["analysis_p99_ms"], "", ""),
    ]  # fmt: skip
    lines = [f"{a:<34}{b!s:>12}{c!s:>12}{d!s:>9}{e!s:>10}" for a, b, c, d, e in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.append(
        f"median of {r['repetitions']} repetitions; {r['workers']}; "
        f"celery {r['celery']}; {r['elapsed_s']} s"
    )
    profile = r.get("overhead_profile")
    if profile:
        lines.append(
            f"per orchestrated task execution (eager, in-process): "
            f"{profile['task_body_ms_per_execution']} ms, of which Redis "
            f"{profile['task_redis_ms_per_execution']} ms, Postgres "
            f"{profile['task_postgres_ms_per_execution']} ms"
        )
    lines.append(f"command: {r['command']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 60 s)")
    parser.add_argument("--reps", type=int, default=0, help="repetitions (default 10, quick 3)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (slots)")
    parser.add_argument("--no-profile", action="store_true", help="skip the overhead profile")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("ORCH_BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
        help="Redis server (without database number)",
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=int(os.environ.get("ORCH_BENCH_REDIS_DB", "12")),
        help="dedicated Redis database, flushed at start and end (default 12)",
    )
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get(
            "ORCH_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin DSN used to create and drop the benchmark's own database",
    )
    args = parser.parse_args(argv)
    result = benchmark(args)
    (RESULTS_DIR / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else render_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
