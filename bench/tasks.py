"""Benchmark task types, added through the public extension API.

Workers load them with ``ORCH_PLUGINS='["bench.tasks:register"]'``. Importing this
module also imports :mod:`bench.raw_tasks`, so the same worker processes serve the raw
Celery baseline.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

import bench.raw_tasks  # noqa: F401  (registers the raw baseline tasks on the worker's app)
from orchestrator.models import Module
from tasks.context import HandlerContext
from tasks.registry import Inputs, TaskRegistry

NOOP_TYPE = "bench_noop"
SLEEP_TYPE = "bench_sleep"
#: Every benchmark task runs in this module, i.e. on the ``system`` queue, like the raw tasks.
BENCH_MODULE = Module.SYSTEM


class NoopParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sleep_ms: int = Field(default=0, ge=0, le=60_000)


class BenchOutput(BaseModel):
    slept_ms: int = 0


def noop(params: NoopParams, inputs: Inputs, ctx: HandlerContext) -> BenchOutput:
    return BenchOutput()


def sleep(params: SleepParams, inputs: Inputs, ctx: HandlerContext) -> BenchOutput:
    time.sleep(params.sleep_ms / 1000)
    return BenchOutput(slept_ms=params.sleep_ms)


def register(registry: TaskRegistry) -> None:
    """Add ``bench_noop`` and ``bench_sleep`` (params: ``sleep_ms``) to ``registry``."""
    if NOOP_TYPE not in registry:
        registry.register(
            NOOP_TYPE, module=BENCH_MODULE, params=NoopParams, handler=noop, expected_duration_ms=1
        )
    if SLEEP_TYPE not in registry:
        registry.register(
            SLEEP_TYPE,
            module=BENCH_MODULE,
            params=SleepParams,
            handler=sleep,
            expected_duration_ms=200,
        )
