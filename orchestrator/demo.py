"""The spec's two examples as a demo: what it runs, what it may run, what it made.

1. *"Create a new trading bot for my portfolio"* -- analyse the demo portfolio, scaffold a
   bot project, generate its code from the analysis, then test it and backtest it on the
   historical prices (``trading_bot`` workflow).
2. *"Analyze my portfolio performance and create a custom report generator"* -- analyse,
   research the market around the portfolio, derive the report's requirements, scaffold,
   generate, test and document a report generator (``portfolio_report_generator``).

Pure functions over plans, results and settings; ``orchestrator.cli.demo`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from config.settings import Settings
from orchestrator.models import ExecutionResult, TaskChain
from orchestrator.permissions import Permissions

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
#: The command capability VALIDATE_DATA needs to run the generated projects' tests.
RUN_CODE = "run_code"


@dataclass
class Deliverables:
    """What one example's run produced that a person wants to open or check."""

    projects: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    generated_files: int = 0
    #: One line per test suite: "12 passed, 0 failed (pytest)".
    tests: list[str] = field(default_factory=list)
    #: One line per backtest.
    backtests: list[str] = field(default_factory=list)
    #: Validation checks (the projects' tests among them) that did not pass, by name.
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


def project_names(
    examples: Sequence[str],
    *,
    taken: Callable[[str], bool],
    stamp: datetime | None,
) -> dict[str, str]:
    """A new project name per example: a project is never overwritten.

    ``taken`` says whether a name is in use where the projects will be made (embedded:
    this process's own workspace); then the first free of ``base``, ``base-2``, ... is
    chosen. Where the workers' disks can't be seen (distributed), ``stamp`` makes the
    name unique instead: ``base-20261125-021337``.
    """
    names: dict[str, str] = {}
    for example in examples:
        base = PROJECT_NAMES[example]
        if stamp is not None:
            names[example] = f"{base}-{stamp:%Y%m%d-%H%M%S}"
            continue
        name, number = base, 1
        while taken(name):
            number += 1
            name = f"{base}-{number}"
        names[example] = name
    return names


def readiness_problems(
    chains: Sequence[TaskChain],
    *,
    user_id: str,
    permissions: Permissions,
    code_roles: Callable[[str | None], bool],
    jail_ready: bool | None,
    settings: Settings,
) -> list[str]:
    """What would make the demo fail part-way, said before anything runs.

    ``code_roles(role)`` says whether the role may run project code (the ``run_code``
    capability of ``config/commands.yaml``); ``jail_ready`` is whether this host can build
    the code jail (None: not known here, the workers' hosts decide).
    """
    role = permissions.role_of(user_id)
    problems: list[str] = []
    refused = sorted(
        {str(t.type) for c in chains for t in c.tasks if not permissions.allows(user_id, t.type)}
    )
    if refused:
        problems.append(
            f"user {user_id} (role {role}) may not run {', '.join(refused)} "
            "(config/permissions.yaml)"
        )
    if not code_roles(role):
        problems.append(
            f"user {user_id} (role {role}) may not run project code, which the demo needs to "
            f"test what it generates ({RUN_CODE} in config/commands.yaml)"
        )
    if jail_ready is False and settings.terminal_isolation == "namespaces":
        problems.append(
            "this host cannot create the user/mount/PID/network namespaces the code jail "
            "needs (unprivileged user namespaces are off); on a development machine "
            "ORCH_TERMINAL_ISOLATION=none runs project code unconfined"
        )
    return problems


def missing_workers(chains: Sequence[TaskChain], consumed: set[str]) -> list[str]:
    """A problem naming the queues the plans need that no worker consumes (distributed).

    The system queue is always needed: every run ends with its bookkeeping task there.
    """
    needed = {t.module.queue for c in chains for t in c.tasks} | {"system"}
    missing = sorted(needed - consumed)
    if not missing:
        return []
    return [
        f"no worker consumes the {', '.join(missing)} queue(s); start the pools first "
        "(make workers, or the Procfile's lines)"
    ]
