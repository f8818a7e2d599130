"""The demo's decisions: project names, what it made, and what stops it before it starts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from orchestrator.demo import deliverables, missing_workers, project_names, readiness_problems
from orchestrator.models import (
    AITask,
    ExecutionResult,
    Module,
    RunStatus,
    TaskChain,
    TaskResult,
    UserGoal,
)
from orchestrator.permissions import Permissions, Role

CHAIN = TaskChain(
    goal=UserGoal(description="Create a new trading bot for my portfolio"),
    tasks=[
        AITask(id="p", type="create_project", module=Module.WORKSPACE),
        AITask(id="g", type="generate_code", module=Module.WORKSPACE),
        AITask(id="v", type="validate_data", module=Module.SYSTEM),
    ],
)


def result(*outputs: tuple[str, dict[str, Any]]) -> ExecutionResult:
    return ExecutionResult(
        chain_id=CHAIN.id,
        run_id="run_0123456789abcdef",
        status=RunStatus.COMPLETED,
        completed_tasks=[TaskResult(task_id=t, output=o) for t, o in outputs],
    )


def test_what_the_demo_made_is_read_from_the_outputs() -> None:
    made = deliverables(
        CHAIN,
        result(
            ("p", {"path": "/w/demo/my-trading-bot", "template": "python-trading-bot"}),
            ("g", {"files": ["a.py", "b.py", "c.py"]}),
            (
                "v",
                {
                    "passed": False,
                    "tests": {"framework": "pytest", "passed": 17, "failed": 1, "errors": 0},
                    "simulation": {
                        "start": "2016-04-11",
                        "end": "2018-04-11",
                        "symbols": ["AAPL", "MA"],
                        "trades": 12,
                        "total_return": 0.1739,
                        "max_drawdown": -0.0553,
                        "buy_and_hold_return": 0.6417,
                    },
                    "checks": [
                        {"name": "tests", "passed": False},
                        {"name": "prices.coverage", "passed": True},
                    ],
                    "report_files": ["/w/demo/r/report.pdf"],
                },
            ),
        ),
    )
    assert made.projects == ["/w/demo/my-trading-bot"]
    assert made.generated_files == 3
    assert made.tests == ["17 passed, 1 failed (pytest)"]
    assert made.backtests == [
        "2016-04-11 to 2018-04-11 on 2 symbols: 12 trades, return +17.39 %, "
        "max drawdown -5.53 %, buy and hold +64.17 %"
    ]
    assert made.failed_checks == ["tests"]
    assert made.reports == ["/w/demo/r/report.pdf"]


def test_a_second_demo_builds_beside_the_first_and_pools_get_stamped_names() -> None:
    taken = {"my-trading-bot", "my-trading-bot-2"}
    local = project_names(["trading-bot", "report-generator"], taken=taken.__contains__, stamp=None)
    assert local == {
        "trading-bot": "my-trading-bot-3",
        "report-generator": "portfolio-report-generator",
    }
    stamp = datetime(2026, 11, 25, 2, 13, 37, tzinfo=UTC)
    pooled = project_names(["trading-bot"], taken=lambda _: True, stamp=stamp)
    assert pooled == {"trading-bot": "my-trading-bot-20261125-021337"}


def permissions() -> Permissions:
    return Permissions(
        roles={"admin": Role(task_types=["*"]), "analyst": Role(task_types=["create_project"])},
        users={"root": "admin"},
        default_role="analyst",
    )


def test_a_user_who_may_not_run_the_demo_is_told_before_anything_runs() -> None:
    problems = readiness_problems(
        [CHAIN],
        user_id="bob",
        permissions=permissions(),
        code_roles=lambda role: role == "admin",
        jail_ready=False,
        settings=Settings(),
    )
    assert problems[0] == (
        "user bob (role analyst) may not run generate_code, validate_data (config/permissions.yaml)"
    )
    assert "may not run project code" in problems[1]
    assert "ORCH_TERMINAL_ISOLATION=none" in problems[2]


def test_an_admin_on_a_host_with_the_jail_is_ready() -> None:
    ready = readiness_problems(
        [CHAIN],
        user_id="root",
        permissions=permissions(),
        code_roles=lambda role: role == "admin",
        jail_ready=True,
        settings=Settings(),
    )
    assert ready == []


def test_the_pools_the_plans_need_must_have_workers() -> None:
    assert missing_workers([CHAIN], {"workspace", "system"}) == []
    (problem,) = missing_workers([CHAIN], {"workspace"})
    assert problem.startswith("no worker consumes the system queue(s)")
