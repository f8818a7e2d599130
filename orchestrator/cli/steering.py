"""Steering commands: pause/resume, approvals, recovery statistics, dead letters."""

from __future__ import annotations

import click
from rich.table import Table

from orchestrator.cli.common import EXIT_FAILED, console, fail, print_json, session


def register(main: click.Group) -> None:
    """Add the steering commands to the ``orchestrator`` group."""
    for command in (pause, resume, approvals, approve, reject, recovery_stats, dead_letters):
        main.add_command(command)


@click.command()
@click.argument("run_id")
@click.option("--user", default=None)
def pause(run_id: str, user: str | None) -> None:
    """Pause RUN_ID: running tasks finish, the rest park until resume."""
    with session(live_run=True) as orch:
        changed = orch.pause(run_id, user=user)
    click.echo(f"{run_id} paused" if changed else f"{run_id} already finished")


@click.command()
@click.argument("run_id")
@click.option("--user", default=None)
def resume(run_id: str, user: str | None) -> None:
    """Resume RUN_ID: parked tasks run again with their original ids."""
    with session(live_run=True) as orch:
        count = orch.resume(run_id, user=user)
    click.echo(f"{run_id} resumed ({count} parked task(s) sent again)")


@click.command()
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
def approvals(user: str | None, as_json: bool) -> None:
    """List the tasks waiting for your approval."""
    with session() as orch:
        waiting = orch.approvals(user=user)
    if as_json:
        print_json([w.model_dump(mode="json", exclude={"signature"}) for w in waiting])
        return
    table = Table(title="waiting for approval")
    for column in ("run", "task", "parked at", "reason"):
        table.add_column(column)
    for w in waiting:
        table.add_row(w.run_id, w.task_id, f"{w.parked_at:%Y-%m-%d %H:%M:%S}", w.reason)
    console.print(table)


def _decide(run_id: str, task_id: str, user: str | None, approve_it: bool) -> None:
    with session(live_run=True) as orch:
        if approve_it:
            done = orch.approve(run_id, task_id, user=user)
        else:
            done = orch.reject(run_id, task_id, user=user)
    if not done:
        fail(f"{task_id} of {run_id} is not waiting for a decision", EXIT_FAILED)
    click.echo(f"{task_id} of {run_id} {'approved' if approve_it else 'rejected'}")


@click.command()
@click.argument("run_id")
@click.argument("task_id")
@click.option("--user", default=None)
def approve(run_id: str, task_id: str, user: str | None) -> None:
    """Approve TASK_ID of RUN_ID: it runs at once, in its chain."""
    _decide(run_id, task_id, user, approve_it=True)


@click.command()
@click.argument("run_id")
@click.argument("task_id")
@click.option("--user", default=None)
def reject(run_id: str, task_id: str, user: str | None) -> None:
    """Reject TASK_ID of RUN_ID: it is skipped; its dependents follow the skip rules."""
    _decide(run_id, task_id, user, approve_it=False)


@click.command("recovery-stats")
@click.option("--json", "as_json", is_flag=True)
def recovery_stats(as_json: bool) -> None:
    """Success rate and mean time to recover by error type x strategy."""
    with session() as orch:
        rows = orch.recovery_stats()
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table(title="recovery outcomes")
    for column in ("error type", "strategy", "attempts", "success rate", "mean time to recover"):
        table.add_column(column)
    for r in rows:
        mttr = "-" if r.mean_time_to_recover_ms is None else f"{r.mean_time_to_recover_ms:.0f} ms"
        table.add_row(
            str(r.error_type), str(r.strategy), str(r.attempts), f"{r.success_rate:.0%}", mttr
        )
    console.print(table)


@click.command("dead-letters")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def dead_letters(limit: int, as_json: bool) -> None:
    """Messages that could not be run, with their payload and reason."""
    with session() as orch:
        letters = orch.dead_letters(limit=limit)
    if as_json:
        print_json([d.model_dump(mode="json") for d in letters])
        return
    if not letters:
        click.echo("no dead letters")
    for d in letters:
        click.echo(
            f"{d.at:%Y-%m-%d %H:%M:%S}  {d.task_name or '-'}  {d.celery_task_id or '-'}  {d.reason}"
        )
