"""A trade task type that kills its own worker process once, mid-trade (registered by the
test plugin): the exactly-once test runs it on real prefork workers.

``kill_at`` says where: ``before_commit`` (the fill's rows are written, not committed) or
``after_commit`` (committed, the task's end not yet recorded). The marker file makes it
kill only on the first delivery; the redelivered message then runs to its end.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Literal

from orchestrator.models import Module
from orchestrator.models.params import ExecuteTradeParams
from orchestrator.portfolio.broker import FillListener
from orchestrator.portfolio.records import Trade
from tasks.context import HandlerContext
from tasks.portfolio.trade import TradeResult, trade_handler
from tasks.registry import Inputs, TaskRegistry

KILL_TRADE_TYPE = "test_kill_trade"


class KillTradeParams(ExecuteTradeParams):
    kill_at: Literal["before_commit", "after_commit"]
    marker: str


class KillOnce(FillListener):
    def __init__(self, kill_at: str, marker: Path) -> None:
        self.kill_at = kill_at
        self.marker = marker

    def _maybe_kill(self, point: str) -> None:
        if point != self.kill_at or self.marker.exists():
            return
        self.marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)

    def before_commit(self, trade: Trade) -> None:
        self._maybe_kill("before_commit")

    def after_commit(self, trade: Trade) -> None:
        self._maybe_kill("after_commit")


def kill_trade(params: KillTradeParams, inputs: Inputs, ctx: HandlerContext) -> TradeResult:
    handler = trade_handler(KillOnce(params.kill_at, Path(params.marker)))
    result = handler(params, inputs, ctx)
    assert isinstance(result, TradeResult)
    return result


def register_trading(registry: TaskRegistry) -> None:
    if KILL_TRADE_TYPE not in registry:
        registry.register(
            KILL_TRADE_TYPE, module=Module.PORTFOLIO, params=KillTradeParams, handler=kill_trade
        )
