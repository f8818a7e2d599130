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
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

import click
from rich.markup import escape

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
from orchestrator.demo import (
    EXAMPLES,
    Deliverables,
    deliverables,
    missing_workers,
    project_names,
    readiness_problems,
)
from orchestrator.models import ExecutionResult, GoalContext, RunStatus, TaskChain, UserGoal
from orchestrator.models.goal import PreferenceValue

#: A run of either example takes well under a minute here; this only stops a hung demo.
DEFAULT_TIMEOUT_S = 900.0
#: How long the distributed demo waits for workers to say which queues they consume.
WORKER_PING_S = 2.0


def print_deliverables(title: str, found: Deliverables) -> None:
    # Paths must stay whole (a terminal may wrap them, rich must not break them), and a
    # path or check name is data, never markup.
    def line(label: str, text: str) -> None:
        console.print(f"  {label:<9} {escape(text)}", highlight=False, soft_wrap=True)

    console.print(f"\n[bold]{escape(title)}[/]", highlight=False, soft_wrap=True)
    for path in found.projects:
        line("project", path)
    if found.generated_files:
        line("code", f"{found.generated_files} files generated")
    for text in found.tests:
        line("tests", text)
    for text in found.backtests:
        line("backtest", text)
    for path in found.reports:
        line("report", path)
    if found.failed_checks:
        console.print(f"  [red]failed checks[/] {escape(', '.join(found.failed_checks))}")


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
    except ValueError as exc:
        fail(f"cannot create portfolio {portfolio_id!r}: {exc}")
    return f"{portfolio.name} ({portfolio.id}): {len(portfolio.positions)} positions"


def run_example(
    orch: Orchestrator, chain: TaskChain, user: str | None, as_json: bool, timeout_s: float
) -> ExecutionResult:
    """Show the plan, run it with live progress; its result (``timeout_s`` in all)."""
    deadline = time.monotonic() + timeout_s
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
    remaining_s = max(deadline - time.monotonic(), 0.001)
    result = orch.wait(run_id, timeout_s=remaining_s, user=user)
    if not as_json:
        console.print(result_summary(result), highlight=False, soft_wrap=True)
    return result


def _project_names(orch: Orchestrator, user_id: str, examples: Sequence[str]) -> dict[str, str]:
    settings = orch.runtime.settings
    workspace = settings.resolved_workspace_root / user_id
    return project_names(
        examples,
        taken=lambda name: (workspace / name).exists(),
        # The workers' workspaces are on their hosts, not necessarily this one's disk.
        stamp=None if settings.embedded else datetime.now(UTC),
    )


def _check_ready(orch: Orchestrator, user_id: str, chains: Sequence[TaskChain]) -> None:
    from tasks.workspace.commands import RUN_CODE
    from tasks.workspace.jail import namespaces_available
    from tasks.workspace.run_terminal_command import allow_list

    settings = orch.runtime.settings
    commands = allow_list(settings.commands_file).modules.get("workspace")
    problems = readiness_problems(
        chains,
        user_id=user_id,
        permissions=orch.runtime.permissions,
        code_roles=lambda role: (
            commands is not None and role is not None and RUN_CODE in commands.roles.get(role, [])
        ),
        jail_ready=namespaces_available() if settings.embedded else None,
        settings=settings,
    )
    if not settings.embedded:
        replies = orch.app.control.inspect(timeout=WORKER_PING_S).active_queues() or {}
        consumed = {q["name"] for queues in replies.values() for q in queues}
        problems += missing_workers(chains, consumed)
    if problems:
        fail("the demo cannot run here:\n  " + "\n  ".join(problems))


def demo_command(
    orch: Orchestrator,
    *,
    user: str | None,
    portfolio_id: str | None,
    only: Sequence[str],
    preferences: dict[str, PreferenceValue],
    as_json: bool,
    timeout_s: float,
) -> int:
    """Run the chosen examples one after the other; 0 only if every run completed with
    its tests and checks passing."""
    settings = orch.runtime.settings
    user_id = checked_user_id(user or settings.default_user)
    examples = list(only or EXAMPLES)
    if "project_name" in preferences and len(examples) > 1:
        fail("--pref project_name names one project: use it with one --only example")
    if portfolio_id is None:
        portfolio_id = "demo" if user_id == settings.default_user else f"demo-{user_id}"
    names = _project_names(orch, user_id, examples)
    chains: list[tuple[str, TaskChain]] = []
    for name in examples:
        wanted = {"project_name": names[name], **preferences}
        goal = UserGoal(
            description=EXAMPLES[name],
            context=GoalContext(portfolio_id=portfolio_id, user_preferences=wanted),
        )
        chains.append((name, orch.plan(goal)))
    _check_ready(orch, user_id, [chain for _, chain in chains])
    seeded = seed_portfolio(orch, user_id, portfolio_id)
    mode = "embedded workers in this process" if settings.embedded else "worker pools"
    if not as_json:
        console.print(f"portfolio {seeded}; running on {mode}", highlight=False)
    outcomes: list[tuple[str, TaskChain, ExecutionResult]] = []
    for name, chain in chains:
        if not as_json:
            console.rule(f"[bold]{escape(chain.goal.description)}[/]")
        outcomes.append((name, chain, run_example(orch, chain, user, as_json, timeout_s)))
    made = {name: deliverables(chain, result) for name, chain, result in outcomes}
    if as_json:
        print_json(
            [
                {
                    "example": name,
                    "chain": chain.model_dump(mode="json", by_alias=True),
                    "result": result.model_dump(mode="json"),
                    "deliverables": asdict(made[name]),
                }
                for name, chain, result in outcomes
            ]
        )
    else:
        console.rule("[bold]What the demo made[/]")
        for name, _, result in outcomes:
            print_deliverables(f"{EXAMPLES[name]} -- {result.status.value}", made[name])
    # A run that completed with failing tests or checks did not do what the demo shows.
    succeeded = all(
        result.status is RunStatus.COMPLETED and not made[name].failed_checks
        for name, _, result in outcomes
    )
    return EXIT_OK if succeeded else EXIT_FAILED


def register(main: click.Group) -> None:
    """Add ``demo`` to the ``orchestrator`` group."""

    @main.command()
    @click.option("--user", default=None, help="User the runs belong to (default: settings).")
    @click.option(
        "--portfolio",
        "portfolio_id",
        default=None,
        help="Portfolio to use, created on the shipped prices if missing "
        "(default: demo, or demo-USER for a user other than the default).",
    )
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
        portfolio_id: str | None,
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
