"""Rendering runs for people: live per-task progress, status tables, results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from rich.console import Console
from rich.live import Live
from rich.table import Table

from orchestrator.context import EventType, RunEvent
from orchestrator.models import (
    ExecutionResult,
    ExecutionStatus,
    FailureStatus,
    RecoveryAttempt,
    TaskChain,
    TaskState,
)

STATE_STYLE = {
    TaskState.PENDING: "dim",
    TaskState.RUNNING: "bold yellow",
    TaskState.RETRYING: "yellow",
    TaskState.PARKED: "cyan",
    TaskState.SUCCEEDED: "green",
    TaskState.FAILED: "bold red",
    TaskState.SKIPPED: "magenta",
    TaskState.CANCELLED: "magenta",
}


def chain_table(chain: TaskChain) -> Table:
    table = Table(title=f"{chain.id}: {chain.goal.description}")
    for column in ("task", "type", "module", "after", "description"):
        table.add_column(column)
    for task in chain.tasks:
        after = ", ".join(
            f"{d.from_task} ({d.type.value})" for d in chain.dependencies if d.to_task == task.id
        )
        table.add_row(task.id, str(task.type), task.module.value, after or "-", task.description)
    table.caption = (
        f"estimated {chain.estimated_duration_ms / 1000:.1f} s, "
        f"confidence {chain.confidence_score:.2f}"
    )
    return table


def status_table(status: ExecutionStatus) -> Table:
    table = Table(title=f"{status.run_id} [{status.state.value}] {status.goal}")
    for column in ("task", "type", "queue", "state", "worker", "ms", "recovery", "note"):
        table.add_column(column)
    for task in status.tasks:
        note = task.reason or (task.error.message if task.error else "")
        table.add_row(
            task.task_id,
            task.type,
            task.queue or "-",
            f"[{STATE_STYLE[task.state]}]{task.state.value}[/]",
            task.worker or "-",
            f"{task.duration_ms:.0f}" if task.duration_ms is not None else "-",
            recovery_summary(task.recovery_attempts),
            note,
        )
    done = [t for t in status.tasks if t.state.is_final]
    counts = Counter(t.state.value for t in done if t.state is not TaskState.SUCCEEDED)
    others = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    table.caption = f"{len(done)}/{len(status.tasks)} tasks finished" + (
        f" ({others})" if others else ""
    )
    return table


def recovery_summary(attempts: list[RecoveryAttempt]) -> str:
    """One mark per recovery attempt: ok, failed, or still in progress."""
    marks = {True: "ok", False: "failed", None: "..."}
    return ", ".join(f"{a.strategy.value} {marks[a.succeeded]}" for a in attempts) or "-"


def event_line(event: RunEvent) -> str:
    at = event.at.strftime("%H:%M:%S.%f")[:-3]
    if event.type is EventType.TASK_STARTED:
        return f"{at}  {event.task_id:<12} started on {event.detail.get('worker')}"
    if event.type is EventType.TASK_FINISHED:
        extra = event.detail.get("reason") or (event.detail.get("error") or {}).get("message", "")
        duration = event.detail.get("duration_ms")
        took = f" in {duration:.0f} ms" if isinstance(duration, int | float) else ""
        return f"{at}  {event.task_id:<12} {event.state}{took}" + (f": {extra}" if extra else "")
    if event.type is EventType.TASK_STATE:
        return f"{at}  {event.task_id:<12} {event.state}: {event.detail.get('reason', '')}"
    return f"{at}  run {event.type.value.removeprefix('run_')}" + (
        f" ({event.state})" if event.state else ""
    )


def follow(
    console: Console, events: Iterable[RunEvent], refresh: Callable[[], ExecutionStatus]
) -> None:
    """Show progress as events arrive: a live table on a terminal, a line per event elsewhere."""
    if console.is_terminal:
        with Live(status_table(refresh()), console=console, auto_refresh=False) as live:
            for event in events:
                live.update(status_table(refresh()), refresh=True)
                if event.type is EventType.RUN_FINISHED:
                    break
        return
    for event in events:
        console.print(event_line(event), highlight=False, markup=False)


#: Report files in a generate_report output's ``files``.
_REPORT_FIELDS = ("html", "json_path", "markdown", "pdf")
#: Fields marking outputs whose ``path`` is something the task created (a backup, a
#: project), unlike a file operation's ``path``, which may only have been read.
_CREATED_MARKERS = ("bytes_written", "template")


def written_files(output: object) -> list[str]:
    """Paths of the files a task's output says it created, for the run's summary."""
    if not isinstance(output, dict):
        return []
    found: list[str] = []
    if isinstance(output.get("path"), str) and any(k in output for k in _CREATED_MARKERS):
        found.append(output["path"])
    files = output.get("files")
    if isinstance(files, dict):
        found += [str(files[k]) for k in _REPORT_FIELDS if isinstance(files.get(k), str)]
    return found


def result_summary(result: ExecutionResult) -> str:
    not_done = [f for f in result.failed_tasks if f.final_status is not FailureStatus.RECOVERED]
    lines = [
        f"run {result.run_id}: {result.status.value} in {result.duration_ms / 1000:.2f} s "
        f"({len(result.completed_tasks)} completed, {len(not_done)} not)"
    ]
    if result.degraded_tasks:
        lines.append(f"  degraded output: {', '.join(result.degraded_tasks)}")
    for task in result.completed_tasks:
        lines.extend(f"  {task.task_id}: {path}" for path in written_files(task.output))
    for failure in result.failed_tasks:
        lines.append(
            f"  {failure.task_id}: {failure.final_status.value} - "
            f"{failure.error.type.value}: {failure.error.message}"
            + (
                f" [{recovery_summary(failure.recovery_attempts)}]"
                if failure.recovery_attempts
                else ""
            )
        )
    return "\n".join(lines)
