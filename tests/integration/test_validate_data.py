"""VALIDATE_DATA on real prefork workers, the Redis broker, Postgres and the shipped prices.

The spec's "Test trading bot with simulated data" for the Python and the Node.js bot, a
deliberately broken test, the report generator's integration criteria, and a corrupt
price file. Each figure the report gives is recomputed here independently: the bot's
backtest re-run outside the orchestrator on the same price file, buy-and-hold from the
market data with pandas.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from orchestrator import Orchestrator
from orchestrator.context import utcnow
from orchestrator.history import AuditAction
from orchestrator.models import (
    AITask,
    ExecutionResult,
    Module,
    RetryPolicy,
    RunStatus,
    TaskChain,
    TaskDependency,
    UserGoal,
)
from orchestrator.portfolio.demo import seed_demo
from orchestrator.portfolio.market_data import DatabaseMarketData

USER = "demo"  # admin: may run project code in the jail
TIMEOUT_S = 180
MODULES = {
    "analyze_portfolio": Module.PORTFOLIO,
    "validate_data": Module.SYSTEM,
}


def task(task_id: str, task_type: str, **parameters: Any) -> AITask:
    return AITask(
        id=task_id,
        type=task_type,
        module=MODULES.get(task_type, Module.WORKSPACE),
        parameters=parameters,
        retry_policy=RetryPolicy(max_attempts=1),
    )


def chain_of(tasks: list[AITask], edges: list[tuple[str, str, str]]) -> TaskChain:
    return TaskChain(
        goal=UserGoal(description="validate_data test"),
        tasks=tasks,
        dependencies=[
            TaskDependency.model_validate({"from": a, "to": b, "type": kind})
            for a, b, kind in edges
        ],
    )


def run(orch: Orchestrator, chain: TaskChain) -> tuple[str, ExecutionResult]:
    run_id = orch.submit(chain, user=USER)
    result = orch.wait(run_id, timeout_s=TIMEOUT_S, user=USER)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    return run_id, result


def output_of(result: ExecutionResult, task_id: str) -> dict[str, Any]:
    (found,) = [t for t in result.completed_tasks if t.task_id == task_id]
    assert isinstance(found.output, dict)
    return found.output


def checks_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def project_path(orch: Orchestrator, name: str) -> Path:
    return orch.runtime.settings.resolved_workspace_root / USER / name


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def portfolio_id(market_engine: Engine) -> str:
    """The demo portfolio (7 US large caps, shipped prices), under a fresh id."""
    return seed_demo(market_engine, user_id=USER, now=utcnow(), portfolio_id=unique("demo")).id


@pytest.fixture
def fresh_imports() -> Iterator[None]:
    # A generated package imported into this process is forgotten afterwards.
    before, path = set(sys.modules), list(sys.path)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]
    sys.path[:] = path


def bot_summary(
    project: Path, language: str, prices: Path
) -> tuple[dict[str, Any], dict[str, float]]:
    """The generated bot's backtest on ``prices`` and its target weights, run here."""
    if language == "javascript":
        summary = subprocess.run(
            ["node", "src/index.js", str(prices)],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        weights = subprocess.run(
            ["node", "-p", "JSON.stringify(require('./src/config.js').TARGET_WEIGHTS)"],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        data = json.loads(summary)
        return {"trades": data["trades"], "total_return": data["totalReturn"]}, json.loads(weights)
    pkg = project.name.replace("-", "_")
    sys.path.insert(0, str(project / "src"))
    backtest = importlib.import_module(f"{pkg}.backtest")
    config = importlib.import_module(f"{pkg}.config")
    summary = backtest.run_backtest(backtest.load_prices(prices)).summary()
    return {"trades": summary["trades"], "total_return": summary["total_return"]}, dict(
        config.TARGET_WEIGHTS
    )


# --- the trading bot ---------------------------------------------------------------------


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_the_generated_bot_is_tested_and_backtested_on_real_prices(
    orch: Orchestrator,
    market_engine: Engine,
    portfolio_id: str,
    language: str,
    fresh_imports: None,
) -> None:
    # Given the spec's first example: analysis -> project -> bot code -> simulation
    name = unique("bot")
    template = "python-trading-bot" if language == "python" else "nodejs-trading-bot"
    chain = chain_of(
        [
            task(
                "task_001",
                "analyze_portfolio",
                portfolio_id=portfolio_id,
                analysis_depth="detailed",
            ),
            task("task_002", "create_project", template=template, name=name),
            task(
                "task_003",
                "generate_code",
                file_type=language,
                code_type="trading-bot",
                context_data="task_001_results",
            ),
            task(
                "task_004",
                "validate_data",
                test_type="simulation",
                data_source="historical_market_data",
            ),
        ],
        [
            ("task_001", "task_003", "data_flow"),
            ("task_002", "task_003", "prerequisite"),
            ("task_003", "task_004", "validation"),
        ],
    )
    # When it runs
    run_id, result = run(orch, chain)
    report = output_of(result, "task_004")
    # Then the bot's own tests ran in the jail and passed
    assert report["passed"] is True, [c for c in report["checks"] if not c["passed"]]
    tests = report["tests"]
    assert tests["framework"] == ("pytest" if language == "python" else "node --test")
    assert tests["passed"] > 0 and tests["failed"] == 0 and tests["errors"] == 0
    # and the backtest ran on two years of real closes, ending at the last shipped date
    sim = report["simulation"]
    project = project_path(orch, name)
    prices = project / sim["prices_file"]
    market = DatabaseMarketData(market_engine)
    frame = market.closes(
        sim["symbols"], start=date.fromisoformat(sim["end"]) - timedelta(days=730)
    )
    assert sim["end"] == str(market.latest_date(sim["symbols"]))
    assert sim["start"] == frame.index[0].date().isoformat()
    assert len(prices.read_text().splitlines()) - 1 == int(frame.notna().sum().sum())
    assert sim["days"] == len(frame.index)
    # whose trades and return are what the generated backtest gives on that file
    recomputed, weights = bot_summary(project, language, prices)
    assert sim["symbols"] == sorted(weights)
    assert sim["trades"] == recomputed["trades"] > 0
    assert sim["total_return"] == pytest.approx(recomputed["total_return"], abs=1e-6)
    assert sim["final_equity"] == pytest.approx(
        sim["initial_capital"] * (1 + sim["total_return"]),
        abs=0.1,  # return has 6 decimals
    )
    # next to buy-and-hold of the same weights over the same closes
    filled = frame.ffill()
    growth = sum(w * filled[s].iloc[-1] / frame[s].dropna().iloc[0] for s, w in weights.items())
    hold = growth / sum(weights.values()) - 1
    assert sim["buy_and_hold_return"] == pytest.approx(hold, abs=1e-6)
    assert sim["beat_buy_and_hold"] is (sim["total_return"] > sim["buy_and_hold_return"])
    # and every step is audited: the commands in the jail and the validation
    audit = orch.runtime.history.audit_log(run_id=run_id)
    commands = [a.detail["argv"] for a in audit if a.action is AuditAction.COMMAND_RUN]
    assert any("validation/historical_prices.csv" in argv for argv in commands)
    assert all(
        a.detail["isolation"] == "namespaces" for a in audit if a.action is AuditAction.COMMAND_RUN
    )
    (validation,) = [a.detail for a in audit if a.action is AuditAction.VALIDATION_RUN]
    assert validation["passed"] is True and validation["simulation"]["trades"] == sim["trades"]


@pytest.mark.parametrize(
    ("template", "file_type", "test_file", "broken"),
    [
        (
            "python-trading-bot",
            "python",
            "tests/test_strategy.py",
            "\n\ndef test_deliberately_broken() -> None:\n    assert False\n",
        ),
        (
            "nodejs-trading-bot",
            "javascript",
            "test/strategy.test.js",
            "\ntest('deliberately broken', () => { assert.equal(1, 2); });\n",
        ),
    ],
)
def test_a_broken_test_of_the_project_is_reported_as_failed(
    orch: Orchestrator, template: str, file_type: str, test_file: str, broken: str
) -> None:
    name = unique("broken")
    chain = chain_of(
        [
            task("new", "create_project", template=template, name=name),
            task("gen", "generate_code", file_type=file_type, code_type="trading-bot"),
            task("edit", "file_operation", operation="append", path=test_file, content=broken),
            task("check", "validate_data", test_type="unit", data_source="historical_market_data"),
        ],
        [
            ("new", "gen", "prerequisite"),
            ("gen", "edit", "prerequisite"),
            ("edit", "check", "validation"),
        ],
    )
    _, result = run(orch, chain)
    report = output_of(result, "check")
    # A failing test is a finding: the task completes and its report says "failed"
    assert report["passed"] is False
    assert report["tests"]["failed"] == 1
    assert report["tests"]["passed"] > 0
    assert "deliberately" in report["tests"]["output_tail"]
    assert [c["name"] for c in report["checks"] if not c["passed"]] == ["tests"]
    assert report["simulation"] is None


# --- schema checks --------------------------------------------------------------------------


def test_a_schema_check_catches_a_corrupt_price_file_in_the_project(orch: Orchestrator) -> None:
    name = unique("corrupt")
    corrupt = "date,symbol,close\n2024-01-02,AAA,10.5\n2024-01-03,AAA,-4\n2024-01-01,AAA,11\n"
    chain = chain_of(
        [
            task("new", "create_project", template="python-trading-bot", name=name),
            task("gen", "generate_code", file_type="python", code_type="trading-bot"),
            task(
                "edit",
                "file_operation",
                operation="write",
                path="data/sample_prices.csv",
                content=corrupt,
            ),
            # The generated code's output is the data source: no market data involved.
            task("check", "validate_data", test_type="schema", data_source="gen_results"),
        ],
        [
            ("new", "gen", "prerequisite"),
            ("gen", "edit", "prerequisite"),
            ("edit", "check", "validation"),
        ],
    )
    _, result = run(orch, chain)
    report = output_of(result, "check")
    checks = checks_of(report)
    assert report["passed"] is False
    assert {n for n, c in checks.items() if not c["passed"]} == {
        "data/sample_prices.csv.closes",
        "data/sample_prices.csv.dates",
    }
    assert "lines 3" in checks["data/sample_prices.csv.closes"]["detail"]
    assert "lines 4" in checks["data/sample_prices.csv.dates"]["detail"]
    # The upstream outputs were checked against their models, and no code ran
    assert checks["output.gen"]["passed"] and checks["output.new"]["passed"]
    assert report["tests"] is None and report["simulation"] is None
