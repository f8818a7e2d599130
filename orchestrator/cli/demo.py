"""``orchestrator demo``: the specification's two examples, end to end, every task real.

1. *"Create a new trading bot for my portfolio"* -- analyse the demo portfolio, scaffold a
   bot project, generate its code from the analysis, then test it and backtest it on the
   historical prices (``trading_bot`` workflow).
2. *"Analyze my portfolio performance and create a custom report generator"* -- analyse,
   research the market around the portfolio, derive the report's requirements, scaffold,
   generate, test and document a report generator (``portfolio_report_generator``).

With no ``ORCH_BROKER_URL`` it runs in this process (embedded workers, SQLite history);
with one, the same goals go to the worker pools of the distributed setup. The demo
portfolio (real prices of 20 US stocks and SPY) is created for the user if missing.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    console,
    err_console,
    fail,
    invalid_input_exits,
    parse_preferences,
    print_json,
    session,
)
from orchestrator.cli.render import chain_table, follow, result_summary
from orchestrator.context import utcnow
from orchestrator.control import Orchestrator, checked_user_id
from orchestrator.models import ExecutionResult, GoalContext, RunStatus, TaskChain, UserGoal
from orchestrator.models.goal import PreferenceValue

#: The specification's examples, in the order the demo runs them.
EXAMPLES: dict[str, str] = {
    "trading-bot": "Create a new trading bot for my portfolio",
    "report-generator": "Analyze my portfolio performance and create a custom report generator",
}
#: The workflows' default project names (``{pref.project_name|...}`` in their YAML).
PROJECT_NAMES: dict[str, str] = {
    "trading-bot": "my-trading-bot",
    "report-generator": "portfolio-report-generator",
}
#: A run of either example takes well under a minute here; this only stops a hung demo.
DEFAULT_TIMEOUT_S = 900.0


@dataclass
class Deliverables:
    """What one example's run produced that a person wants to open or check."""

    projects: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    generated_files: int = 0
    #: One line per test suite / validation: "12 passed, 0 failed (pytest)".
    tests: list[str] = field(default_factory=list)
    #: One line per backtest.
    backtests: list[str] = field(default_factory=list)
    #: Validation checks that did not pass, by name.
    failed_checks: list[str] = field(default_factory=list)


def _percent(value: object) -> str:
    return f"{value * 100:+.2f} %" if isinstance(value, int | float) else "n/a"


def _tests_line(tests: Mapping[str, Any]) -> str:
    counts = ", ".join(
        f"{tests.get(key, 0)} {key}"
        for key in ("passed", "failed", "errors", "skipped")
        if key in ("passed", "failed") or tests.get(key)
    )
    return f"{counts} ({tests.get('framework', 'tests')})"


def _backtest_line(simulation: Mapping[str, Any]) -> str:
    symbols = simulation.get("symbols") or []
    return (
        f"{simulation.get('start')} to {simulation.get('end')} on {len(symbols)} symbols: "
        f"{simulation.get('trades')} trades, return {_percent(simulation.get('total_return'))}, "
        f"max drawdown {_percent(simulation.get('max_drawdown'))}, "
        f"buy and hold {_percent(simulation.get('buy_and_hold_return'))}"
    )


def deliverables(chain: TaskChain, result: ExecutionResult) -> Deliverables:
    """Collect projects, reports, test counts and backtests from a run's task outputs."""
    types = {task.id: str(task.type) for task in chain.tasks}
    found = Deliverables()
    for task in result.completed_tasks:
        output = task.output if isinstance(task.output, dict) else {}
        task_type = types.get(task.task_id, "")
        if task_type == "create_project" and isinstance(output.get("path"), str):
            found.projects.append(output["path"])
        elif task_type == "generate_code":
            found.generated_files += len(output.get("files") or [])
        elif task_type == "generate_report":
            files = output.get("files") or {}
            found.reports += [str(v) for v in files.values() if isinstance(v, str)]
        elif task_type == "validate_data":
            _collect_validation(output, found)
    return found


def _collect_validation(output: Mapping[str, Any], found: Deliverables) -> None:
    if isinstance(output.get("tests"), dict):
        found.tests.append(_tests_line(output["tests"]))
    if isinstance(output.get("simulation"), dict):
        found.backtests.append(_backtest_line(output["simulation"]))
    found.reports += [str(p) for p in output.get("report_files") or [] if isinstance(p, str)]
    for check in output.get("checks") or []:
        if isinstance(check, dict) and check.get("passed") is False:
            found.failed_checks.append(str(check.get("name")))


def print_deliverables(title: str, found: Deliverables) -> None:
    # Paths must stay whole (a terminal may wrap them, rich must not break them).
    def line(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    line(f"\n[bold]{title}[/]")
    for path in found.projects:
        line(f"  project   {path}")
    if found.generated_files:
        line(f"  code      {found.generated_files} files generated")
    for text in found.tests:
        line(f"  tests     {text}")
    for text in found.backtests:
        line(f"  backtest  {text}")
    for path in found.reports:
        line(f"  report    {path}")
    if found.failed_checks:
        line(f"  [red]failed checks[/] {', '.join(found.failed_checks)}")


def free_project_name(workspace: Path, base: str) -> str:
    """``base``, else ``base-2``, ``base-3``, ...: the first name no project has yet.

    A project is never overwritten, so a second demo builds beside the first one's.
    """
    name, number = base, 1
    while (workspace / name).exists():
        number += 1
        name = f"{base}-{number}"
    return name


def seed_portfolio(orch: Orchestrator, user_id: str, portfolio_id: str) -> str:
    """Create the user's demo portfolio on the shipped prices unless it exists."""
    from orchestrator.portfolio.demo import seed_demo
    from orchestrator.portfolio.store import PortfolioExists

    try:
        portfolio = seed_demo(
            orch.runtime.history.engine, user_id=user_id, now=utcnow(), portfolio_id=portfolio_id
        )
    except PortfolioExists:
        fail(f"portfolio {portfolio_id} belongs to another user; choose another --portfolio")
    return f"{portfolio.name} ({portfolio.id}): {len(portfolio.positions)} positions"


def run_example(
    orch: Orchestrator, goal: UserGoal, user: str | None, as_json: bool, timeout_s: float
) -> tuple[TaskChain, ExecutionResult]:
    """Plan, show the plan, run with live progress; the plan and the result."""
    chain = orch.plan(goal)
    if not as_json:
        console.print(chain_table(chain))
    run_id = orch.submit(chain, user=user)
    if not as_json:
        err_console.print(f"run [bold]{run_id}[/] submitted", highlight=False)
        follow(
            console,
            orch.watch(run_id, user=user, timeout_s=timeout_s),
            lambda: orch.status(run_id, user=user),
        )
    result = orch.wait(run_id, timeout_s=timeout_s, user=user)
    if not as_json:
        console.print(result_summary(result), highlight=False)
    return chain, result


def demo_command(
    orch: Orchestrator,
    *,
    user: str | None,
    portfolio_id: str,
    only: Sequence[str],
    preferences: dict[str, PreferenceValue],
    as_json: bool,
    timeout_s: float,
) -> int:
    """Run the chosen examples one after the other; 0 only if every run completed."""
    user_id = checked_user_id(user or orch.runtime.settings.default_user)
    seeded = seed_portfolio(orch, user_id, portfolio_id)
    mode = "embedded workers in this process" if orch.runtime.settings.embedded else "worker pools"
    if not as_json:
        console.print(f"portfolio {seeded}; running on {mode}", highlight=False)
    outcomes: list[tuple[str, TaskChain, ExecutionResult]] = []
    workspace = orch.runtime.settings.resolved_workspace_root / user_id
    for name in only or list(EXAMPLES):
        wanted = dict(preferences)
        wanted.setdefault("project_name", free_project_name(workspace, PROJECT_NAMES[name]))
        goal = UserGoal(
            description=EXAMPLES[name],
            context=GoalContext(portfolio_id=portfolio_id, user_preferences=wanted),
        )
        if not as_json:
            console.rule(f"[bold]{goal.description}[/]")
        chain, result = run_example(orch, goal, user, as_json, timeout_s)
        outcomes.append((name, chain, result))
    if as_json:
        print_json(
            [
                {"example": name, "chain": chain.model_dump(mode="json"), **_json(chain, result)}
                for name, chain, result in outcomes
            ]
        )
    else:
        console.rule("[bold]What the demo made[/]")
        for name, chain, result in outcomes:
            print_deliverables(
                f"{EXAMPLES[name]} -- {result.status.value}", deliverables(chain, result)
            )
    completed = all(result.status is RunStatus.COMPLETED for _, _, result in outcomes)
    return EXIT_OK if completed else EXIT_FAILED


def _json(chain: TaskChain, result: ExecutionResult) -> dict[str, Any]:
    found = deliverables(chain, result)
    return {"result": result.model_dump(mode="json"), "deliverables": found.__dict__}


def register(main: click.Group) -> None:
    """Add ``demo`` to the ``orchestrator`` group."""

    @main.command()
    @click.option("--user", default=None, help="User the runs belong to (default: settings).")
    @click.option("--portfolio", "portfolio_id", default="demo", show_default=True)
    @click.option(
        "--only",
        multiple=True,
        type=click.Choice(list(EXAMPLES)),
        help="Run only this example (repeatable; default: both).",
    )
    @click.option(
        "--pref",
        multiple=True,
        metavar="KEY=VALUE",
        help="A user preference, e.g. --pref language=javascript for a Node.js bot.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
    @click.option(
        "--timeout", "timeout_s", type=float, default=DEFAULT_TIMEOUT_S, show_default=True
    )
    def demo(
        user: str | None,
        portfolio_id: str,
        only: tuple[str, ...],
        pref: tuple[str, ...],
        as_json: bool,
        timeout_s: float,
    ) -> None:
        """Run the specification's two examples end to end (see the README)."""
        preferences = parse_preferences(pref)
        with session() as orch, invalid_input_exits():
            code = demo_command(
                orch,
                user=user,
                portfolio_id=portfolio_id,
                only=only,
                preferences=preferences,
                as_json=as_json,
                timeout_s=timeout_s,
            )
        sys.exit(code)
