"""System commands: ``backup RUN_ID``, ``restore FILE`` and ``health``.

``backup`` runs a one-task chain (BACKUP_STATE of that run) like any other run, so the
same permissions, audit and workers apply; ``restore`` and ``health`` talk to the stores
directly. In the embedded mode ``restore`` writes history only: the live context of this
process ends with it, and other processes read finished runs from history anyway.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.backup import BackupFormatError, read_backup
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    console,
    err_console,
    fail,
    invalid_input_exits,
    print_json,
    session,
)
from orchestrator.context import utcnow
from orchestrator.control import checked_user_id
from orchestrator.history.health import (
    CLI_SOURCE,
    STALE_AFTER_INTERVALS,
    CheckStatus,
    HealthLog,
    HealthRecord,
    is_stale,
)
from orchestrator.models import AITask, Module, RunStatus, TaskChain, TaskType, UserGoal
from orchestrator.restore import BackupSource, RestoreRefused, restore_backup
from tasks.system.monitor_health import UnrecordedHealth, check_and_record

CHECK_STYLE = {CheckStatus.UP: "green", CheckStatus.DOWN: "bold red", CheckStatus.SKIPPED: "dim"}


def register(main: click.Group) -> None:
    """Add this module's commands to the ``orchestrator`` group."""
    main.add_command(backup)
    main.add_command(restore)
    main.add_command(health)


def backup_chain(run_id: str, file_name: str | None) -> TaskChain:
    """A one-task chain backing up ``run_id`` (to ``file_name`` in the user's backup dir)."""
    parameters: dict[str, str] = {"target_run_id": run_id}
    if file_name is not None:
        parameters["file_name"] = file_name
    return TaskChain(
        goal=UserGoal(description=f"Back up run {run_id}"),
        tasks=[
            AITask(
                id="backup",
                type=TaskType.BACKUP_STATE,
                module=Module.SYSTEM,
                description=f"Back up the live context and history of {run_id}",
                parameters=parameters,
            )
        ],
    )


@click.command()
@click.argument("run_id")
@click.option("--file", "file_name", default=None, help="File name in your backup directory.")
@click.option("--user", default=None)
@click.option("--timeout", "timeout_s", type=float, default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the BACKUP_STATE output as JSON.")
def backup(
    run_id: str, file_name: str | None, user: str | None, timeout_s: float, as_json: bool
) -> None:
    """Back up RUN_ID (history and live context) to a JSON file; print its path."""
    with invalid_input_exits():
        chain = backup_chain(run_id, file_name)
    with session() as orch:
        with invalid_input_exits():
            backup_run = orch.submit(chain, user=user)
        result = orch.wait(backup_run, timeout_s=timeout_s, user=user)
    if result.status is not RunStatus.COMPLETED:
        messages = "; ".join(f.error.message for f in result.failed_tasks) or result.status.value
        fail(f"backup of {run_id} failed: {messages}", EXIT_FAILED)
    output = result.completed_tasks[0].output
    if as_json:
        print_json(output)
    else:
        click.echo(output["path"])


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", default=None, help="Who restores: the run's owner or an admin.")
@click.option(
    "--unsigned",
    "allow_unsigned",
    is_flag=True,
    help="Admins only: restore a file without a valid ORCH_BACKUP_SECRET signature.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was restored as JSON.")
def restore(file: Path, user: str | None, allow_unsigned: bool, as_json: bool) -> None:
    """Restore the run backed up in FILE into history (and the live context).

    Refused, writing nothing: a malformed or altered file, a run that already exists,
    a run that is neither yours nor restored by an admin; with ORCH_BACKUP_SECRET set, a
    file not signed with it (unless an admin passes --unsigned); from a non-admin, an
    unsigned file whose audit trail names other users.
    """
    data = file.read_bytes()
    try:
        document = read_backup(data)
    except BackupFormatError as exc:
        fail(f"{file}: {exc}")
    with session() as orch:
        runtime = orch.runtime
        settings = runtime.settings
        acting_user = checked_user_id(user or settings.default_user)
        try:
            report = restore_backup(
                document,
                history=runtime.history,
                context=None if settings.embedded else runtime.context,
                permissions=runtime.permissions,
                acting_user=acting_user,
                source=BackupSource.of(file.resolve(), data),
                secret=settings.backup_secret,
                allow_unsigned=allow_unsigned,
            )
        except RestoreRefused as exc:
            fail(str(exc), EXIT_FAILED)
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    # Embedded, the live context would live only as long as this command's process; an
    # old backup may hold none (it had expired). Either way status reads history.
    live_skipped = "not restored (embedded mode, or none in the file; status reads history)"
    click.echo(
        f"restored run {report.run_id} of {report.owner} ({report.state}, {report.tasks} "
        f"task(s), {report.attempts} attempt(s), {report.audit_entries} audit entries; "
        f"live context {'restored' if report.live_context else live_skipped}; signature "
        f"{report.signature.value}): {report.goal}"
    )
    if not report.finished:
        click.echo(
            f"note: the run was still {report.state} when it was backed up; it is restored "
            "as it was then and nothing resumes it"
        )


def health_table(records: list[HealthRecord]) -> Table:
    """One row per report, newest first; one column per check (status and latency)."""
    names: list[str] = []
    for record in records:
        names += [c.name for c in record.checks if c.name not in names]
    table = Table(title="System health")
    for column in ("when (UTC)", "source", "healthy", *names):
        table.add_column(column)
    for record in records:
        by_name = {c.name: c for c in record.checks}
        cells = []
        for name in names:
            check = by_name.get(name)
            if check is None:
                cells.append("-")
                continue
            latency = "" if check.status is CheckStatus.SKIPPED else f" {check.latency_ms:.0f} ms"
            cells.append(f"[{CHECK_STYLE[check.status]}]{check.status.value}[/]{latency}")
        table.add_row(
            f"{record.checked_at:%Y-%m-%d %H:%M:%S}",
            record.source,
            "[green]yes[/]" if record.healthy else "[bold red]no[/]",
            *cells,
        )
    return table


@click.command()
@click.option("--now", is_flag=True, help="Check right away (in this process) and record it.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True)
def health(now: bool, limit: int, as_json: bool) -> None:
    """Show the latest recorded health reports (beat, runs, --now); exit 1 if the newest
    is unhealthy, stale (older than 3 health intervals: beat or the system worker is not
    running) or there is none."""
    with session() as orch:
        runtime = orch.runtime
        settings = runtime.settings
        taken: HealthRecord | None = None
        if now:
            try:
                # Embedded: this process runs no worker threads until it runs a chain.
                taken = check_and_record(
                    runtime, source=CLI_SOURCE, probe_workers=not settings.embedded
                )
            except UnrecordedHealth as exc:
                taken = exc.record
                err_console.print(f"[bold red]not recorded:[/] {exc}", highlight=False)
        try:
            records = HealthLog(runtime.history.engine).latest(limit=limit)
        except SQLAlchemyError as exc:
            if taken is None:
                fail(f"cannot read health reports: {exc}", EXIT_FAILED)
            records = [taken]
    newest = taken if taken is not None else next(iter(records), None)
    stale = newest is not None and is_stale(
        newest, now=utcnow(), interval_s=settings.health_interval_s
    )
    if as_json:
        print_json([r.model_dump(mode="json") for r in records])
    elif not records:
        click.echo("no health reports yet: run 'orchestrator health --now', or start beat")
    else:
        console.print(health_table(records))
        down = [c for c in records[0].checks if c.status is CheckStatus.DOWN]
        for check in down:
            console.print(f"[bold red]down[/] {check.name}: {check.detail}", highlight=False)
    if stale and newest is not None:
        err_console.print(
            f"[bold red]stale:[/] the newest report is from {newest.checked_at:%Y-%m-%d %H:%M:%S}"
            f" UTC, more than {STALE_AFTER_INTERVALS} x {settings.health_interval_s:g} s "
            "(ORCH_HEALTH_INTERVAL_S) ago: is beat or the system worker stopped? "
            "'orchestrator health --now' checks now",
            highlight=False,
        )
    healthy = newest is not None and newest.healthy and not stale
    raise SystemExit(EXIT_OK if healthy else EXIT_FAILED)
