"""VALIDATE_DATA: check data and outputs, run a generated project's tests, backtest a bot.

Every test type first checks the upstream outputs against their task types' models.
Then, by ``test_type``:

* ``schema``: the data source (the market closes of the relevant symbols, or the output it
  names) and, when a project is upstream, its price files (``data/*.csv``) and example
  analysis -- no code runs;
* ``unit``: the upstream project's own test suite, in the workspace jail;
* ``integration``: the suite, then the generated code on real data: a report generator
  on the upstream analysis, checked by ``validation_criteria`` (all when none); a trading
  bot as in ``simulation``;
* ``simulation``: the suite, then the trading bot's own backtest on the historical closes,
  next to buy-and-hold.

The result is a :class:`ValidationReport`; failed checks make it ``passed: false``, they
do not fail the task. The task fails (typed errors) when the validation cannot be carried
out: no project, unknown criteria, no prices, a bot that does not run. Audited as
VALIDATION_RUN.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import PurePosixPath
from typing import Any

from orchestrator.history.audit import AuditAction
from orchestrator.models.params import TestType, ValidateDataParams
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, ResourceUnavailableError
from tasks.registry import Inputs
from tasks.system import backtest
from tasks.system.project_tests import run_project_tests, suite_check
from tasks.system.report_check import (
    check_criteria,
    check_report_generator,
    generated_report_files,
)
from tasks.system.schema_checks import (
    MAX_PRICE_CSV_BYTES,
    check_output,
    check_price_csv,
    check_prices,
    labelled,
    price_records,
)
from tasks.system.validation_models import (
    CheckOutcome,
    SimulationSummary,
    SuiteRun,
    ValidationReport,
)
from tasks.system.validation_project import CodeKind, ValidationProject
from tasks.system.validation_sources import Upstream, read_upstream, upstream_checks
from tasks.workspace.common import audits_refusals
from tasks.workspace.sandbox import SandboxEscapeError, SandboxInputError

#: Most price files of a project the schema check reads.
_MAX_PRICE_FILES = 20
#: What reading a file project code wrote may refuse (a symlink, a hard link, too large).
_UNSAFE = (SandboxEscapeError, SandboxInputError)


@audits_refusals
def validate_data(
    params: ValidateDataParams, inputs: Inputs, ctx: HandlerContext
) -> ValidationReport:
    upstream = read_upstream(params.data_source, inputs, ctx)
    checks = upstream_checks(upstream, ctx)
    tests: SuiteRun | None = None
    simulation: SimulationSummary | None = None
    criteria: list[str] = []
    report_files: list[str] = []
    if params.test_type is TestType.SCHEMA:
        project = _optional_project(inputs, ctx)
        _no_criteria(params, "a schema check")
        checks += _schema_checks(params.data_source, upstream, project, ctx)
    else:
        project = ValidationProject.locate(inputs, ctx)
        criteria = _criteria(params, project)
        if params.test_type is TestType.SIMULATION and project.kind is not CodeKind.TRADING_BOT:
            raise InvalidInputError(
                f"a simulation backtests a trading bot; project {project.project_id!r} is "
                f"{project.kind.value!r} code",
                project_id=project.project_id,
            )
        report_on = None
        if params.test_type is TestType.INTEGRATION and project.kind is CodeKind.REPORT_GENERATOR:
            report_on = _real_analysis(upstream)  # refused before any code runs
        tests = run_project_tests(project)
        checks.append(suite_check(tests))
        simulate = params.test_type in (TestType.SIMULATION, TestType.INTEGRATION)
        if simulate and project.kind is CodeKind.TRADING_BOT:
            simulation, found = backtest.simulate(project, params.data_source, upstream.analysis())
            checks += found
        if report_on is not None:
            checks += check_report_generator(project, report_on, criteria)
            report_files = generated_report_files(project)
    report = ValidationReport(
        test_type=params.test_type,
        data_source=params.data_source,
        passed=all(c.passed for c in checks),
        checks=checks,
        tests=tests,
        simulation=simulation,
        criteria=criteria,
        project_id=project.project_id if project else None,
        project_path=str(project.project_dir) if project else None,
        report_files=report_files,
    )
    ctx.audit(
        AuditAction.VALIDATION_RUN,
        test_type=params.test_type.value,
        data_source=params.data_source,
        passed=report.passed,
        failed_checks=[c.name for c in checks if not c.passed],
        checks=len(checks),
        project_id=report.project_id,
        tests=None if tests is None else {"passed": tests.passed, "failed": tests.failed},
        simulation=None if simulation is None else simulation.model_dump(mode="json"),
    )
    return report


def _optional_project(inputs: Inputs, ctx: HandlerContext) -> ValidationProject | None:
    try:
        return ValidationProject.locate(inputs, ctx)
    except (InvalidInputError, ResourceUnavailableError):
        return None  # a schema check needs no project


def _no_criteria(params: ValidateDataParams, what: str) -> None:
    if params.validation_criteria:
        raise InvalidInputError(
            f"validation_criteria apply to a report generator's integration test, not to {what}",
            criteria=list(params.validation_criteria),
        )


def _criteria(params: ValidateDataParams, project: ValidationProject) -> list[str]:
    if params.test_type is TestType.INTEGRATION and project.kind is CodeKind.REPORT_GENERATOR:
        return check_criteria(params.validation_criteria)
    _no_criteria(params, f"a {params.test_type.value} test of {project.kind.value} code")
    return []


def _real_analysis(upstream: Upstream) -> Mapping[str, Any]:
    analysis = upstream.analysis()
    if analysis is None:
        raise InvalidInputError(
            "testing a report generator with real data needs a portfolio analysis upstream: "
            "name it as data_source (<task_id>_data)",
            data_source=upstream.data_source,
        )
    return analysis


def _schema_checks(
    data_source: str,
    upstream: Upstream,
    project: ValidationProject | None,
    ctx: HandlerContext,
) -> list[CheckOutcome]:
    checks: list[CheckOutcome] = []
    if data_source == backtest.HISTORICAL_MARKET_DATA:
        checks += _market_checks(upstream, project, ctx)
    elif upstream.source_task is None:
        raise InvalidInputError(
            f"data_source {data_source!r} is neither {backtest.HISTORICAL_MARKET_DATA!r} nor "
            "a reference to an upstream output (<task_id>_<part>)",
            data_source=data_source,
        )
    if project is not None:
        checks += _project_file_checks(project)
    return checks


def _market_checks(
    upstream: Upstream, project: ValidationProject | None, ctx: HandlerContext
) -> list[CheckOutcome]:
    """The shipped closes of the bot's symbols (or the analysed positions', or all)."""
    analysis = upstream.analysis()
    market = ctx.runtime.portfolio.market
    if project is not None and project.kind is CodeKind.TRADING_BOT:
        symbols = sorted(backtest.bot_weights(project, analysis))
    elif analysis is not None:
        symbols = sorted(str(p.get("symbol")) for p in analysis.get("positions") or [])
    else:
        symbols = market.symbols()
    latest = market.latest_date(symbols)
    if latest is None:
        return [CheckOutcome(name="market.closes", passed=False, detail="no market prices at all")]
    window = backtest.simulation_window(backtest.HISTORICAL_MARKET_DATA, analysis, latest)
    closes = backtest.load_closes(market, symbols, window)
    found = labelled("market", check_prices(price_records(closes)))
    missing = sorted(set(symbols) - set(closes))
    found.append(
        CheckOutcome(
            name="market.coverage",
            passed=not missing,
            detail=f"no closes for {', '.join(missing)}" if missing else _window(symbols, window),
            figures={"symbols": len(symbols), "missing": len(missing)},
        )
    )
    return found


def _window(symbols: list[str], window: tuple[date, date]) -> str:
    return f"closes for all {len(symbols)} symbols from {window[0]} to {window[1]}"


def _project_file_checks(project: ValidationProject) -> list[CheckOutcome]:
    """The project's price files and example analysis, as its code will read them.

    They are project output: a file that cannot be read safely (a symlink, too large) or
    parsed (nested too deep) is a failed check of that file, never an error of the task.
    """
    checks: list[CheckOutcome] = []
    data = PurePosixPath("data")
    try:
        entries = project.files.list_dir(data) if project.exists(data) else []
    except _UNSAFE as exc:
        checks.append(_unreadable(str(data), exc))
        entries = []
    csvs = [e.name for e in entries if e.kind == "file" and e.name.endswith(".csv")]
    for name in csvs[:_MAX_PRICE_FILES]:
        path = data / name
        try:
            raw = project.files.read_bytes(path, limit_bytes=MAX_PRICE_CSV_BYTES)
        except _UNSAFE as exc:
            checks.append(_unreadable(str(path), exc))
            continue
        checks += labelled(str(path), check_price_csv(raw.decode("utf-8", "replace")))
    example = PurePosixPath("examples/analysis.json")
    try:
        present = project.exists(example)
    except _UNSAFE as exc:  # examples/ is a symlink
        return [*checks, _unreadable(str(example), exc)]
    if present:
        checks.append(_example_check(project, example))
    return checks


def _example_check(project: ValidationProject, example: PurePosixPath) -> CheckOutcome:
    from tasks.portfolio.analysis_models import PortfolioAnalysis

    try:
        document = json.loads(project.read(example))
    except _UNSAFE as exc:
        return _unreadable(str(example), exc)
    except (ValueError, RecursionError) as exc:
        return CheckOutcome(name=str(example), passed=False, detail=f"not JSON: {exc}"[:300])
    try:
        return check_output(str(example), document, PortfolioAnalysis)
    except RecursionError:
        return CheckOutcome(name=str(example), passed=False, detail="nested too deeply")


def _unreadable(name: str, exc: Exception) -> CheckOutcome:
    return CheckOutcome(name=name, passed=False, detail=f"not read: {exc}"[:300])
