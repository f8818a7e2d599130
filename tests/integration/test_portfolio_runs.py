"""Portfolio tasks in runs on real prefork workers, the Redis broker and Postgres.

Exactly-once trades (a worker SIGKILLed mid-trade), the approval gate, permissions,
the spec's analysis -> report chain, the spec's first example, and alerts (also from beat).
"""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from orchestrator import Orchestrator
from orchestrator.context import utcnow
from orchestrator.history import AuditAction
from orchestrator.history.portfolio_tables import AlertEventRow, TradeRow
from orchestrator.models import (
    AITask,
    GoalContext,
    Module,
    RunStatus,
    TaskChain,
    TaskState,
    UserGoal,
)
from orchestrator.models.params import AlertKind, ExecuteTradeParams
from orchestrator.portfolio.demo import DEMO_HOLDINGS, seed_demo
from orchestrator.portfolio.store import PortfolioStore
from tasks.context import HandlerContext
from tasks.periodic import ALERTS_TASK
from tests.support.portfolios import new_portfolio
from tests.support.trading import KILL_TRADE_TYPE
from tests.support.waiting import wait_for_state

TIMEOUT_S = 60


def one_task_chain(task_type: str, parameters: dict[str, Any], module: Module) -> TaskChain:
    return TaskChain(
        goal=UserGoal(description=f"test {task_type}"),
        tasks=[AITask(id="t1", type=task_type, module=module, parameters=parameters)],
        dependencies=[],
    )


def trades_of(engine: Engine, portfolio_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(TradeRow)
                .where(TradeRow.portfolio_id == portfolio_id)
            ).scalar_one()
        )


@pytest.mark.parametrize("kill_at", ["before_commit", "after_commit"])
def test_worker_killed_mid_trade_fills_exactly_once(
    orch: Orchestrator, market_engine: Engine, tmp_path: Path, kill_at: str
) -> None:
    # Given a trade whose worker process is SIGKILLed inside the fill (once)
    portfolio = new_portfolio(market_engine, cash=10_000)
    marker = tmp_path / "killed"
    chain = one_task_chain(
        KILL_TRADE_TYPE,
        {
            "portfolio_id": portfolio.id,
            "symbol": "AAPL",
            "side": "buy",
            "quantity": 5,
            "kill_at": kill_at,
            "marker": str(marker),
        },
        Module.PORTFOLIO,
    )
    # When it runs (the message is redelivered to a fresh worker process)
    result = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    # Then the worker really died mid-trade, the run completed, and there is one fill
    assert marker.exists()
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    assert trades_of(market_engine, portfolio.id) == 1
    output = result.completed_tasks[0].output
    assert output is not None
    # Before the commit nothing survived, so the redelivery filled afresh; after it, the
    # redelivery found the fill under its key.
    assert output["replayed"] is (kill_at == "after_commit")
    after = PortfolioStore(market_engine).get(portfolio.id, "demo")
    trade = output["trade"]
    assert after.cash == round(10_000 - trade["notional"] - trade["fee"], 2)
    assert after.quantities() == {"AAPL": 5}


def test_a_large_trade_waits_for_approval_then_fills_once(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given a buy of about 34,500 against an approval limit of 25,000
    portfolio = new_portfolio(market_engine, cash=100_000)
    chain = one_task_chain(
        "execute_trade",
        {"portfolio_id": portfolio.id, "symbol": "AAPL", "side": "buy", "quantity": 200},
        Module.PORTFOLIO,
    )
    run_id = orch.submit(chain)
    # Then it parks without trading, listed for approval with its notional
    wait_for_state(orch, run_id, "t1", TaskState.PARKED)
    (waiting,) = [w for w in orch.approvals() if w.run_id == run_id]
    assert "above the approval limit of 25,000.00" in waiting.reason
    assert trades_of(market_engine, portfolio.id) == 0
    # When a person approves, it fills once and says so
    assert orch.approve(run_id, "t1") is True
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    output = result.completed_tasks[0].output
    assert output is not None and output["approved_by_person"] is True
    assert trades_of(market_engine, portfolio.id) == 1
    filled = orch.runtime.history.audit_log(run_id=run_id)
    actions = [a.action for a in filled]
    assert AuditAction.TASK_PARKED in actions and AuditAction.TASK_APPROVED in actions
    (fill_entry,) = [a for a in filled if a.action is AuditAction.TRADE_FILLED]
    assert fill_entry.detail["approved_by_person"] is True


def test_a_rejected_large_trade_never_fills(orch: Orchestrator, market_engine: Engine) -> None:
    portfolio = new_portfolio(market_engine, cash=100_000)
    chain = one_task_chain(
        "execute_trade",
        {"portfolio_id": portfolio.id, "symbol": "AMZN", "side": "buy", "quantity": 30},
        Module.PORTFOLIO,
    )
    run_id = orch.submit(chain)
    wait_for_state(orch, run_id, "t1", TaskState.PARKED)
    assert orch.reject(run_id, "t1") is True
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is not RunStatus.COMPLETED
    assert trades_of(market_engine, portfolio.id) == 0
    assert PortfolioStore(market_engine).get(portfolio.id, "demo").cash == 100_000


def test_a_user_without_trade_permission_cannot_trade(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # bob is an analyst: everything a trader may do except placing trades
    portfolio = new_portfolio(market_engine, user_id="bob", cash=10_000)
    chain = one_task_chain(
        "execute_trade",
        {"portfolio_id": portfolio.id, "symbol": "AAPL", "side": "buy", "quantity": 1},
        Module.PORTFOLIO,
    )
    run_id = orch.submit(chain, user="bob")
    result = orch.wait(run_id, timeout_s=TIMEOUT_S, user="bob")
    (failure,) = result.failed_tasks
    assert failure.error.type.value == "permission_denied"
    assert trades_of(market_engine, portfolio.id) == 0
    refused = [
        a
        for a in orch.runtime.history.audit_log(run_id=run_id)
        if a.action is AuditAction.TASK_REFUSED
    ]
    assert refused and refused[0].user_id == "bob"


def test_invalid_trade_fails_at_once_with_the_reason(
    orch: Orchestrator, market_engine: Engine
) -> None:
    portfolio = new_portfolio(market_engine, cash=100)
    chain = one_task_chain(
        "execute_trade",
        {"portfolio_id": portfolio.id, "symbol": "AAPL", "side": "buy", "quantity": 10},
        Module.PORTFOLIO,
    )
    result = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    (failure,) = result.failed_tasks
    assert failure.error.type.value == "invalid_input"
    assert "needs" in failure.error.message and "cash is 100.00" in failure.error.message
    assert failure.recovery_attempts == []


class _FigureParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.charts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("data-metric") and found.get("data-value") is not None:
            self.values[str(found["data-metric"])] = str(found["data-value"])
        if tag == "img" and found.get("data-chart"):
            self.charts.append(str(found["data-chart"]))


def test_report_renders_the_upstream_analysis_of_the_run(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given the demo-like portfolio and the spec's analysis -> report chain
    portfolio = new_portfolio(
        market_engine, cash=5_000, positions={"AAPL": (30, 150.0), "JPM": (40, 90.0)}
    )
    goal = UserGoal(
        description="Generate a performance report for my portfolio",
        context=GoalContext(portfolio_id=portfolio.id),
    )
    result = orch.wait(orch.submit(goal), timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    outputs = {t.task_id: t.output for t in result.completed_tasks}
    analysis_id, report_id = (
        next(k for k, v in outputs.items() if v and "returns" in v),
        next(k for k, v in outputs.items() if v and "files" in v),
    )
    analysis, report = outputs[analysis_id], outputs[report_id]
    assert report["analysis_task_id"] == analysis_id
    # Then the HTML shows exactly the analysis's figures, with its charts
    parser = _FigureParser()
    parser.feed(Path(report["files"]["html"]).read_text())
    assert float(parser.values["returns.total_return"]) == analysis["returns"]["total_return"]
    assert float(parser.values["drawdown.max_drawdown"]) == analysis["drawdown"]["max_drawdown"]
    assert {"equity_curve", "drawdown"} <= set(parser.charts)
    assert float(parser.values["risk.sharpe"]) == analysis["risk"]["sharpe"]


def test_spec_example_trading_bot_analyses_the_demo_portfolio(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # The spec's first example, on the demo portfolio (as `portfolio seed-demo` makes it)
    portfolio = seed_demo(
        market_engine, user_id="demo", now=utcnow(), portfolio_id=f"demo-{uuid.uuid4().hex[:8]}"
    )
    goal = UserGoal(
        description="Create a new trading bot for my portfolio",
        context=GoalContext(portfolio_id=portfolio.id),
    )
    run_id = orch.submit(goal)
    result = orch.wait(run_id, timeout_s=TIMEOUT_S * 2)
    outputs = {t.task_id: t.output for t in result.completed_tasks}
    # Its portfolio step (task_001, analyze_portfolio) ran on the portfolio's real prices
    analysis = outputs["task_001"]
    assert analysis is not None and analysis["portfolio_id"] == portfolio.id
    assert {p["symbol"] for p in analysis["positions"]} == set(DEMO_HOLDINGS)
    assert analysis["returns"]["observations"] > 200
    assert analysis["end"] == "2018-04-11"  # the last shipped close of the demo's stocks
    assert analysis["benchmark"]["symbol"] == "SPY"
    # and the plan's next steps ran: the bot's project, then its code from the analysis
    assert outputs["task_002"] is not None
    assert outputs["task_002"]["template"] == "python-trading-bot"
    assert outputs["task_003"] is not None
    # and the portfolio module published its context into the run's live context
    modules = orch.runtime.context.module_contexts("demo", run_id)
    assert modules["portfolio"]["active_portfolio"]["portfolio_id"] == portfolio.id


def test_alerts_trigger_with_their_values_once_per_price_date(
    orch: Orchestrator, market_engine: Engine
) -> None:
    portfolio = new_portfolio(market_engine, cash=1_000, positions={"AAPL": (10, 100.0)})
    rules = [
        {"kind": "price_above", "symbol": "AAPL", "threshold": 150.0},  # 172.44: fires
        {"kind": "price_below", "symbol": "AAPL", "threshold": 50.0},  # does not
        {"kind": "percent_move", "symbol": "AAPL", "threshold": 0.001},  # +0.9 % that day
        {"kind": "drawdown", "threshold": 0.5},  # no 50 % fall in the last year
    ]
    chain = one_task_chain(
        "update_alerts", {"portfolio_id": portfolio.id, "rules": rules}, Module.PORTFOLIO
    )
    first = orch.wait(orch.submit(chain), timeout_s=TIMEOUT_S)
    assert first.status is RunStatus.COMPLETED, first.failed_tasks
    output = first.completed_tasks[0].output
    assert output is not None and output["rules_added"] == 4
    fired = {a["kind"]: a for a in output["report"]["triggered"]}
    assert set(fired) == {AlertKind.PRICE_ABOVE.value, AlertKind.PERCENT_MOVE.value}
    assert fired["price_above"]["observed_value"] == pytest.approx(172.440002)
    assert fired["price_above"]["price_date"] == "2018-04-11"
    move = fired["percent_move"]["detail"]
    assert move["move"] == pytest.approx(move["close"] / move["previous_close"] - 1)
    # When beat's periodic job evaluates every portfolio again on the same prices
    summary = orch.app.send_task(ALERTS_TASK).get(timeout=TIMEOUT_S)
    assert summary["portfolios"] >= 1
    # Then nothing is recorded twice, and the audit log has each trigger once
    with market_engine.connect() as conn:
        events = conn.execute(
            select(func.count())
            .select_from(AlertEventRow)
            .where(AlertEventRow.portfolio_id == portfolio.id)
        ).scalar_one()
    assert events == 2
    audited = [
        a
        for a in orch.runtime.history.audit_log(run_id=first.run_id)
        if a.action is AuditAction.ALERT_TRIGGERED
    ]
    assert len(audited) == 2


def test_rollback_compensation_reverses_the_fill_once(
    orch: Orchestrator, market_engine: Engine
) -> None:
    # Given a trade that filled in a run
    portfolio = new_portfolio(market_engine, cash=10_000)
    params = {"portfolio_id": portfolio.id, "symbol": "AAPL", "side": "buy", "quantity": 5}
    chain = one_task_chain("execute_trade", params, Module.PORTFOLIO)
    run_id = orch.submit(chain)
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    output = result.completed_tasks[0].output
    assert output is not None
    # When rollback calls the registered compensation (twice: a redelivered rollback)
    compensation = orch.runtime.registry.hooks.compensation_for("execute_trade")
    assert compensation is not None
    ctx = HandlerContext(
        run_id=run_id,
        task_id="t1",
        user_id="demo",
        attempt=1,
        chain=chain,
        task=chain.tasks[0],
        runtime=orch.runtime,
    )
    for _ in range(2):
        compensation(ExecuteTradeParams.model_validate(params), output, ctx)
    # Then the portfolio is back where it was, with one reversing trade on record
    after = PortfolioStore(market_engine).get(portfolio.id, "demo")
    assert after.cash == 10_000 and after.quantities() == {}
    assert trades_of(market_engine, portfolio.id) == 2
    reversed_ = [
        a
        for a in orch.runtime.history.audit_log(run_id=run_id)
        if a.action is AuditAction.TRADE_REVERSED
    ]
    assert len(reversed_) == 1 and reversed_[0].detail["reverses"] == output["trade"]["id"]
