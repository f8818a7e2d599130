"""The ``orchestrator`` command: a thin face over :class:`orchestrator.Orchestrator`.

Exit codes: 0 success (a run completed), 1 a run ended partial/failed/cancelled or an
operation failed, 2 invalid input (nothing was enqueued).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from config.settings import Settings
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
from orchestrator.cli.render import chain_table, follow, result_summary, status_table
from orchestrator.control import InvalidUserError, Orchestrator
from orchestrator.models import GoalContext, Priority, RunState, RunStatus, TaskChain, UserGoal


def goal_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--user", default=None, help="User the run belongs to (default: settings)."
            ),
            click.option("--portfolio", default=None, help="Portfolio id the goal is about."),
            click.option("--project", default=None, help="Project id the goal is about."),
            click.option(
                "--priority",
                type=click.Choice([p.value for p in Priority]),
                default=Priority.MEDIUM.value,
                show_default=True,
            ),
            click.option(
                "--pref",
                multiple=True,
                metavar="KEY=VALUE",
                help="A user preference (repeatable), e.g. --pref language=python.",
            ),
        ]
    ):
        func = option(func)
    return func


def build_goal(
    description: str,
    portfolio: str | None,
    project: str | None,
    priority: str,
    prefs: tuple[str, ...],
) -> UserGoal:
    preferences = parse_preferences(prefs)
    with invalid_input_exits():
        return UserGoal(
            description=description,
            priority=Priority(priority),
            context=GoalContext(
                portfolio_id=portfolio, project_id=project, user_preferences=preferences
            ),
        )


class OrchestratorGroup(click.Group):
    """Turns an invalid user id, from any command, into exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidUserError as exc:
            fail(str(exc))


@click.group(cls=OrchestratorGroup)
@click.version_option(package_name="ai-task-orchestrator")
def main() -> None:
    """Plan goals into task DAGs and run them on Celery worker pools."""


@main.command()
@click.argument("goal")
@goal_options
@click.option("--json", "as_json", is_flag=True, help="Print the TaskChain as JSON.")
def plan(
    goal: str,
    user: str | None,
    portfolio: str | None,
    project: str | None,
    priority: str,
    pref: tuple[str, ...],
    as_json: bool,
) -> None:
    """Plan GOAL into a validated TaskChain (nothing runs)."""
    user_goal = build_goal(goal, portfolio, project, priority, pref)
    with session() as orch, invalid_input_exits():
        chain = orch.plan(user_goal)
    if as_json:
        print_json(chain.model_dump(mode="json", by_alias=True))
    else:
        console.print(chain_table(chain))


def _run_and_report(
    orch: Orchestrator,
    target: UserGoal | TaskChain,
    user: str | None,
    as_json: bool,
    timeout_s: float | None,
) -> int:
    with invalid_input_exits():
        run_id = orch.submit(target, user=user)
    if not as_json:
        err_console.print(f"run [bold]{run_id}[/] submitted", highlight=False)
        follow(
            console,
            orch.watch(run_id, user=user, timeout_s=timeout_s),
            lambda: orch.status(run_id, user=user),
        )
    result = orch.wait(run_id, timeout_s=timeout_s, user=user)
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        console.print(result_summary(result), highlight=False, soft_wrap=True)
    return EXIT_OK if result.status is RunStatus.COMPLETED else EXIT_FAILED


@main.command()
@click.argument("goal")
@goal_options
@click.option("--json", "as_json", is_flag=True, help="Print the ExecutionResult as JSON.")
@click.option("--timeout", "timeout_s", type=float, default=None, help="Give up after seconds.")
def run(
    goal: str,
    user: str | None,
    portfolio: str | None,
    project: str | None,
    priority: str,
    pref: tuple[str, ...],
    as_json: bool,
    timeout_s: float | None,
) -> None:
    """Plan GOAL, run it, show live progress; exit 0 only if it completed."""
    user_goal = build_goal(goal, portfolio, project, priority, pref)
    with session() as orch:
        code = _run_and_report(orch, user_goal, user, as_json, timeout_s)
    sys.exit(code)


@main.command()
@click.argument("goal", required=False)
@goal_options
@click.option(
    "--chain-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Submit this TaskChain JSON instead of planning a goal.",
)
def submit(
    goal: str | None,
    user: str | None,
    portfolio: str | None,
    project: str | None,
    priority: str,
    pref: tuple[str, ...],
    chain_file: Path | None,
) -> None:
    """Enqueue GOAL (or --chain-file) on the worker pools; print the run id."""
    if (goal is None) == (chain_file is None):
        fail("give either GOAL or --chain-file")
    target: UserGoal | TaskChain
    if chain_file is not None:
        with invalid_input_exits():
            target = TaskChain.model_validate_json(chain_file.read_text())
    elif goal is not None:
        target = build_goal(goal, portfolio, project, priority, pref)
    with session() as orch, invalid_input_exits():
        if Settings().embedded:
            # Say what is wrong with the request first; then why it can't be queued here.
            orch.validate(target if isinstance(target, TaskChain) else orch.plan(target))
            fail(
                "submit needs shared workers: set ORCH_BROKER_URL (see .env.example) or use "
                "'orchestrator run', which runs in this process"
            )
        click.echo(orch.submit(target, user=user))


@main.command()
@click.argument("run_id")
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
def status(run_id: str, user: str | None, as_json: bool) -> None:
    """Show where RUN_ID is, task by task."""
    with session() as orch:
        current = orch.status(run_id, user=user)
    if as_json:
        print_json(current.model_dump(mode="json"))
    else:
        console.print(status_table(current))


@main.command()
@click.argument("run_id")
@click.option("--user", default=None)
@click.option("--timeout", "timeout_s", type=float, default=None)
def watch(run_id: str, user: str | None, timeout_s: float | None) -> None:
    """Follow RUN_ID live until it finishes."""
    with session(live_run=True) as orch:
        follow(
            console,
            orch.watch(run_id, user=user, timeout_s=timeout_s),
            lambda: orch.status(run_id, user=user),
        )
        final = orch.status(run_id, user=user)
        console.print(status_table(final))
    # Same rule as `run`: 0 only for a run that completed.
    sys.exit(EXIT_OK if final.state is RunState.COMPLETED else EXIT_FAILED)


@main.command()
@click.argument("run_id")
@click.option("--user", default=None)
def cancel(run_id: str, user: str | None) -> None:
    """Cancel RUN_ID: tasks not yet started never start."""
    with session(live_run=True) as orch:
        changed = orch.cancel(run_id, user=user)
    click.echo(f"cancel requested for {run_id}" if changed else f"{run_id} already finished")


@main.command()
@click.option("--user", default=None)
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def history(user: str | None, limit: int, as_json: bool) -> None:
    """List the user's recent runs."""
    with session() as orch:
        runs = orch.history(user=user, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json", by_alias=True, exclude={"chain"}) for r in runs])
        return
    for record in runs:
        click.echo(
            f"{record.submitted_at:%Y-%m-%d %H:%M:%S}  {record.run_id}  "
            f"{record.state.value:<10} {record.goal_description}"
        )


@main.command()
@click.argument("what", type=click.Choice(["goal", "chain"]))
def schema(what: str) -> None:
    """Print the JSON Schema of a goal or a chain (with each task type's parameters)."""
    from orchestrator.schema import chain_schema, goal_schema
    from tasks.builtin import default_registry

    # The chain's schema names every task type these settings know, plug-ins included.
    registry = default_registry()
    registry.load_plugins(Settings().plugins)
    print_json(goal_schema() if what == "goal" else chain_schema(registry))


@main.group()
def db() -> None:
    """History database commands."""


@db.command()
def upgrade() -> None:
    """Apply Alembic migrations to ORCH_DATABASE_URL (SQLite in data_dir if unset)."""
    from orchestrator.history import current_revision
    from orchestrator.history import upgrade as run_upgrade

    settings = Settings()
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_upgrade(url)
    click.echo(f"history database at revision {current_revision(url)}")


# Steering commands (pause, resume, approvals, recovery statistics, dead letters).
from orchestrator.cli.steering import register as _register_steering  # noqa: E402

_register_steering(main)

# Portfolio and market data commands.
from orchestrator.cli.portfolio import register as _register_portfolio  # noqa: E402

_register_portfolio(main)

# Knowledge base commands (add, search, list).
from orchestrator.cli.knowledge import register as _register_knowledge  # noqa: E402

_register_knowledge(main)

# System commands (restore, health).
from orchestrator.cli.system import register as _register_system  # noqa: E402

_register_system(main)

# Reconciling live context with history (sync).
from orchestrator.cli.sync import register as _register_sync  # noqa: E402

_register_sync(main)

# The specification's two examples, end to end.
from orchestrator.cli.demo import register as _register_demo  # noqa: E402

_register_demo(main)
