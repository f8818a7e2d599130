"""RUN_TERMINAL_COMMAND: one allow-listed argv in a project directory, never a shell.

The allow-list (``config/commands.yaml``) is read per module and per the user's role; the
argv passes its argument rules; the executable is found on a fixed search path; the
command runs with a scrubbed environment, a timeout that kills its whole process group,
and bounded output (``tasks.workspace.terminal``). Each run is audited (COMMAND_RUN) and
each refusal too (WORKSPACE_REFUSED). A command is not an undoable effect: a retry runs
it again, so only commands that may safely run twice belong on the allow-list.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path, PurePosixPath

from sqlalchemy.engine import make_url

from config import CONFIG_DIR
from config.settings import Settings
from orchestrator.history.audit import AuditAction, utc_now
from orchestrator.models.base import StrictModel
from orchestrator.models.params import RunTerminalCommandParams
from tasks.context import HandlerContext
from tasks.errors import ResourceUnavailableError, TaskTimeoutError, ValidationFailureError
from tasks.registry import Inputs
from tasks.workspace.commands import CheckedCommand, CommandAllowList, resolve_executable
from tasks.workspace.common import (
    Scope,
    audits_refusals,
    existing_project,
    publish_context,
)
from tasks.workspace.context import RecentCommand
from tasks.workspace.jail import REPO_ROOT, jail_argv, namespaces_available, unshare_path
from tasks.workspace.sandbox import (
    RESERVED_NAMES,
    SandboxInputError,
    check_user_path,
    resolve_inside,
)
from tasks.workspace.terminal import command_environment, default_search_path, run_argv

#: How much of each stream an error message quotes.
_QUOTED_BYTES = 2_000
logger = logging.getLogger(__name__)


class CommandResult(StrictModel):
    project_id: str
    argv: list[str]
    cwd: str
    exit_code: int | None
    stdout_tail: str
    stderr_tail: str
    stdout_truncated: bool
    stderr_truncated: bool
    stdout_bytes: int
    stderr_bytes: int
    duration_ms: float
    timed_out: bool
    timeout_s: float
    #: "namespaces" (jailed) or "none" (a read-only utility run without the jail).
    isolation: str


@functools.lru_cache(maxsize=8)
def _allow_list(path: Path | None, mtime_ns: int) -> CommandAllowList:
    # Keyed by modification time: an operator's edit applies to the next command.
    return CommandAllowList.load(path)


def allow_list(path: Path | None) -> CommandAllowList:
    """The command allow-list at ``path`` (default ``config/commands.yaml``)."""
    file = path or CONFIG_DIR / "commands.yaml"
    return _allow_list(file, os.stat(file).st_mtime_ns)


def _jailed(
    checked: CheckedCommand,
    settings: Settings,
    *,
    executable: str,
    project_dir: Path,
    cwd: Path,
    timeout_s: float,
) -> tuple[list[str], str, str]:
    """``(argv, executable, isolation)`` to run: the jail's when the host supports it."""
    unshare = unshare_path()
    if settings.terminal_isolation == "none" or unshare is None or not namespaces_available():
        if checked.runs_code and settings.terminal_isolation != "none":
            # Project code unconfined would run as the worker's OS user: refuse instead.
            raise ResourceUnavailableError(
                f"{checked.argv[0]} runs project code and needs the terminal jail (user, "
                "mount and PID namespaces via util-linux unshare), which this host cannot "
                "create; set ORCH_TERMINAL_ISOLATION=none only on a single-user machine",
                executable=checked.argv[0],
            )
        return checked.argv, executable, "none"
    limits = {
        "nproc": settings.terminal_limit_nproc,
        "as": settings.terminal_limit_as_bytes,
        "fsize": settings.terminal_limit_fsize_bytes,
        "cpu": int(timeout_s) + 1 + settings.terminal_cpu_margin_s,
        "core": 0,
    }
    argv = jail_argv(
        checked.argv,
        unshare=unshare,
        executable=executable,
        project_dir=project_dir,
        cwd=cwd,
        hide=_hidden_directories(settings),
        read_only=[project_dir / name for name in sorted(RESERVED_NAMES)],
        limits=limits,
    )
    return argv, unshare, "namespaces"


def _hidden_directories(settings: Settings) -> list[Path]:
    """Everything the orchestrator keeps on disk: workspaces, data, reports, backups and
    an SQLite history; jailed code runs as the worker's uid and could read them all."""
    hidden = [
        settings.resolved_workspace_root,
        settings.data_dir,
        settings.resolved_reports_dir,
        settings.resolved_backup_dir,
    ]
    database = make_url(settings.resolved_database_url)
    if database.get_backend_name() == "sqlite" and database.database:
        hidden.append(Path(database.database).parent)
    # A directory that does not exist has nothing to hide (the jail skips it).
    return sorted({p.resolve() for p in hidden})


def _working_dir(project_dir: Path, raw: str | None) -> tuple[PurePosixPath, Path]:
    relative = check_user_path(raw) if raw else PurePosixPath(".")
    real = resolve_inside(project_dir, relative)
    if not real.is_dir():
        raise SandboxInputError(
            f"cwd {str(relative)!r} is not a directory of the project",
            value=raw,
            reason="cwd not a directory",
        )
    return relative, real


def run_project_command(
    ctx: HandlerContext,
    scope: Scope,
    *,
    project_id: str,
    project_dir: Path,
    argv: list[str],
    cwd: str | None = None,
    timeout_s: float,
    max_output_bytes: int | None = None,
    module: str | None = None,
) -> CommandResult:
    """Run ``argv`` in ``project_dir`` with every check of a terminal command; audit it.

    The allow-list of ``module`` (default: the task's own) for the user's role, the
    argument rules, the fixed search path, the scrubbed environment, the jail, a timeout
    capped by the operator's maximum and the task's own, and bounded output. One
    COMMAND_RUN audit entry per run; a refusal raises the sandbox error (the caller's
    :func:`audits_refusals` records it). The exit status is the caller's to judge.
    """
    settings = ctx.runtime.settings
    cwd_relative, cwd_real = _working_dir(project_dir, cwd)
    role = ctx.runtime.permissions.role_of(ctx.user_id)
    checked = allow_list(settings.commands_file).check(
        argv,
        module=module or ctx.task.module.value,
        role=role,
        project_dir=project_dir,
        cwd=cwd_real,
    )
    search_path = settings.terminal_path or default_search_path()
    executable = resolve_executable(argv[0], search_path)
    env = command_environment(
        search_path=search_path,
        project_dir=project_dir,
        ceiling=scope.workspace.user_dir,
        passthrough=settings.terminal_env_passthrough,
    )
    # The command ends before the task's own deadline, so its group is always killed here.
    timeout_s = min(timeout_s, settings.terminal_max_timeout_s, ctx.task.timeout_s)
    limit = settings.terminal_max_output_bytes
    max_output_bytes = min(max_output_bytes or limit, limit)
    jailed_argv, launcher, isolation = _jailed(
        checked,
        settings,
        executable=executable,
        project_dir=project_dir,
        cwd=cwd_real,
        timeout_s=timeout_s,
    )
    outcome = run_argv(
        jailed_argv,
        executable=launcher,
        # The jail chdirs itself; `python -m tasks.workspace.jail` must start at the repo root.
        cwd=REPO_ROOT if isolation == "namespaces" else cwd_real,
        env=env,
        timeout_s=timeout_s,
        max_output_bytes=max_output_bytes,
    )
    result = CommandResult(
        project_id=project_id,
        argv=argv,
        cwd=str(cwd_relative),
        exit_code=outcome.exit_code,
        stdout_tail=outcome.stdout.text(),
        stderr_tail=outcome.stderr.text(),
        stdout_truncated=outcome.stdout.truncated,
        stderr_truncated=outcome.stderr.truncated,
        stdout_bytes=outcome.stdout.total_bytes,
        stderr_bytes=outcome.stderr.total_bytes,
        duration_ms=outcome.duration_ms,
        timed_out=outcome.timed_out,
        timeout_s=timeout_s,
        isolation=isolation,
    )
    ctx.audit(
        AuditAction.COMMAND_RUN,
        project_id=project_id,
        argv=checked.argv,
        executable=executable,
        isolation=isolation,
        cwd=result.cwd,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        duration_ms=result.duration_ms,
        stdout_bytes=result.stdout_bytes,
        stderr_bytes=result.stderr_bytes,
    )
    return result


@audits_refusals
def run_terminal_command(
    params: RunTerminalCommandParams, inputs: Inputs, ctx: HandlerContext
) -> CommandResult:
    scope = Scope.of(ctx)
    project_id, project_dir = existing_project(scope, params.project_id, inputs, ctx)
    result = run_project_command(
        ctx,
        scope,
        project_id=project_id,
        project_dir=project_dir,
        argv=params.argv,
        cwd=params.cwd,
        timeout_s=params.timeout_s,
        max_output_bytes=params.max_output_bytes,
    )
    timeout_s = result.timeout_s
    scope.state.append_command(
        RecentCommand(
            project_id=project_id,
            argv=params.argv,
            cwd=result.cwd,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            duration_ms=result.duration_ms,
            at=utc_now(),
            run_id=ctx.run_id,
            task_id=ctx.task_id,
        )
    )
    publish_context(ctx, scope, project_id)  # best effort: it never fails the task
    if params.check and result.timed_out:
        raise TaskTimeoutError(
            f"{params.argv[0]} did not finish within {timeout_s:g} s; its processes were killed",
            timeout_s=timeout_s,
            stdout_tail=result.stdout_tail[-_QUOTED_BYTES:],
            stderr_tail=result.stderr_tail[-_QUOTED_BYTES:],
        )
    if params.check and result.exit_code != 0:
        raise ValidationFailureError(
            f"{params.argv[0]} exited with status {result.exit_code}: "
            f"{(result.stderr_tail or result.stdout_tail)[-500:].strip()}",
            exit_code=result.exit_code,
            stdout_tail=result.stdout_tail[-_QUOTED_BYTES:],
            stderr_tail=result.stderr_tail[-_QUOTED_BYTES:],
        )
    return result
