"""``orchestrator sync``: reconcile live context with history; repair runs whose worker died."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from orchestrator.cli.common import EXIT_FAILED, EXIT_OK, console, print_json, session
from orchestrator.control import checked_user_id
from orchestrator.reconcile import (
    ALL_TARGETS,
    DEFAULT_GRACE_S,
    DEFAULT_INSPECT_TIMEOUT_S,
    MIN_GRACE_S,
    SyncReport,
    check_grace,
    reconcile,
)


def register(main: click.Group) -> None:
    """Add ``sync`` to the ``orchestrator`` group."""
    main.add_command(sync)


@click.command()
@click.option("--dry-run", is_flag=True, help="Report what would be repaired; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--user", default=None, help="Only this user's runs (default: settings).")
@click.option("--all-users", is_flag=True, help="Every user's runs (operators).")
@click.option(
    "--only",
    "targets",
    multiple=True,
    type=click.Choice(list(ALL_TARGETS)),
    help="context: rebuild lost live context; history: repair runs nothing runs any more. "
    "Default: both.",
)
@click.option(
    "--grace",
    "grace_s",
    type=click.FloatRange(min=0),
    default=DEFAULT_GRACE_S,
    show_default=True,
    help="Seconds of quiet before a run with nothing alive counts as stuck "
    f"(at least {MIN_GRACE_S:g} unless --dry-run).",
)
def sync(
    dry_run: bool,
    as_json: bool,
    user: str | None,
    all_users: bool,
    targets: tuple[str, ...],
    grace_s: float,
) -> None:
    """Repair runs whose workers died and rebuild live context lost from Redis.

    Exit 0 when every repair was applied (or nothing needed one), 1 otherwise.
    """
    try:
        check_grace(grace_s, DEFAULT_INSPECT_TIMEOUT_S, dry_run=dry_run)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from exc
    with session() as orch:
        settings = orch.runtime.settings
        user_id = None if all_users else checked_user_id(user or settings.default_user)
        report = reconcile(
            orch.runtime,
            targets=[t for t in ALL_TARGETS if t in targets] if targets else ALL_TARGETS,
            user_id=user_id,
            dry_run=dry_run,
            grace_s=grace_s,
            actor="cli",
        )
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        _print(report)
    sys.exit(EXIT_OK if all(a.done for a in report.applied) else EXIT_FAILED)


def _print(report: SyncReport) -> None:
    if not report.findings:
        click.echo(f"{report.runs_checked} run(s) checked: live context and history agree")
        return
    table = Table(title=f"sync: {report.runs_checked} run(s) checked")
    for column in ("run", "user", "finding", "detail"):
        table.add_column(column)
    for finding in report.findings:
        table.add_row(finding.run_id, finding.user_id, finding.verdict.value, finding.detail)
    console.print(table)
    if report.dry_run:
        for action in report.actions:
            click.echo(f"would {action.kind.value} {action.run_id}: {action.reason}")
        return
    for applied in report.applied:
        action, state = applied.action, "done" if applied.done else "FAILED"
        click.echo(f"{action.kind.value} {action.run_id}: {state}: {applied.detail}")
    if not report.actions:
        click.echo("nothing to repair")
