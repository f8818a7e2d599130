"""INTEGRATION of a generated report generator: run it on the real analysis, check its output.

The upstream analysis is written into the project (``validation/analysis.json``) and the
generator's own command line runs on it in the jail, writing ``validation/report/``.
The criteria, each one check:

* ``pdf_generation``: ``report.pdf`` is a PDF (``%PDF-`` ... ``%%EOF``), of a real size,
  showing the analysis's total return;
* ``chart_accuracy``: every polyline of the value and drawdown charts is the analysis's
  series under one linear scale (same number of points, x in order, y an affine map of
  the values to within a rounding error), and the allocation chart shows each weight;
* ``data_integrity``: the analysis is a valid, self-consistent PortfolioAnalysis, and what
  the generator wrote back holds its figures: the Markdown report (total return, period,
  every position) and, when built with ``export``, ``summary.json`` and ``series.csv``.

The pure checks take file contents; :func:`check_report_generator` does the I/O.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from tasks.errors import InvalidInputError
from tasks.system.chart_checks import check_bar_labels, check_line_chart, series_lines
from tasks.system.schema_checks import check_analysis_consistency, check_output
from tasks.system.validation_models import CheckOutcome
from tasks.system.validation_project import VALIDATION_DIR, ValidationProject, config_literal
from tasks.workspace.sandbox import SandboxEscapeError, SandboxInputError

CRITERIA = ("chart_accuracy", "data_integrity", "pdf_generation")
ANALYSIS_FILE = "analysis.json"
REPORT_DIR = VALIDATION_DIR / "report"
#: A PDF smaller than this holds no report (an empty page is about 600 bytes).
MIN_PDF_BYTES = 1_000
#: What reading a file project code wrote may refuse (a symlink, a hard link, too large).
_UNSAFE = (SandboxEscapeError, SandboxInputError)


def check_criteria(criteria: Sequence[str]) -> list[str]:
    """The criteria asked for (all when none), InvalidInputError naming the known ones."""
    unknown = sorted(set(criteria) - set(CRITERIA))
    if unknown:
        raise InvalidInputError(
            f"unknown validation_criteria {', '.join(unknown)}; known: {', '.join(CRITERIA)}",
            criteria=list(criteria),
            valid=list(CRITERIA),
        )
    return sorted(set(criteria)) if criteria else list(CRITERIA)


def percent(value: Any) -> str:
    """A fraction as the generator prints it (``analysis.percent``)."""
    return f"{value * 100:.2f}%"


# --- pure checks ---------------------------------------------------------------------------


def check_pdf(data: bytes | None, analysis: Mapping[str, Any]) -> CheckOutcome:
    """The ``pdf_generation`` criterion over the bytes of ``report.pdf`` (None: missing)."""
    if data is None:
        return CheckOutcome(name="pdf_generation", passed=False, detail="no report.pdf written")
    total = (analysis.get("returns") or {}).get("total_return")
    shown = percent(total).encode() if isinstance(total, int | float) else None
    problems = []
    if not data.startswith(b"%PDF-"):
        problems.append("does not start with %PDF-")
    if b"%%EOF" not in data[-64:]:
        problems.append("has no %%EOF trailer")
    if len(data) < MIN_PDF_BYTES:
        problems.append(f"is only {len(data)} bytes")
    if b"/Type /Page" not in data:
        problems.append("has no page")
    if shown is not None and shown not in data:
        problems.append(f"does not show the total return {shown.decode()}")
    return CheckOutcome(
        name="pdf_generation",
        passed=not problems,
        detail="report.pdf " + ("; ".join(problems) if problems else "is a PDF with the figures"),
        figures={"bytes": len(data), "pages": data.count(b"/Type /Page") - data.count(b"/Pages")},
    )


def check_markdown(markdown: str | None, analysis: Mapping[str, Any]) -> list[str]:
    """What the Markdown report lacks of the analysis (empty: it holds every figure)."""
    if markdown is None:
        return ["no report.md written"]
    wanted = [str(analysis.get("start")), str(analysis.get("end"))]
    total = (analysis.get("returns") or {}).get("total_return")
    if isinstance(total, int | float):
        wanted.append(percent(total))
    wanted += [str(p.get("symbol")) for p in analysis.get("positions") or []]
    return [f"report.md lacks {text!r}" for text in wanted if text not in markdown]


def check_export(
    summary: str | None, series_csv: str | None, analysis: Mapping[str, Any]
) -> list[str]:
    """What the JSON/CSV export changed of the analysis (empty: a faithful round trip).

    The export is project output: anything that is not the expected shape (not a JSON
    object, positions that are not objects) is a problem found, never an exception.
    """
    problems: list[str] = []
    if summary is not None:
        try:
            exported = json.loads(summary)
        except (json.JSONDecodeError, RecursionError) as exc:
            return [f"export/summary.json is not JSON: {exc}"]
        if not isinstance(exported, dict):
            return [f"export/summary.json is a JSON {type(exported).__name__}, not an object"]
        for key in ("returns", "risk", "drawdown", "start", "end", "portfolio_id"):
            if exported.get(key) != analysis.get(key):
                problems.append(f"export/summary.json changes {key}")
        if _weights_of(exported.get("positions")) != _weights_of(analysis.get("positions")):
            problems.append("export/summary.json changes the positions' weights")
    if series_csv is not None:
        rows = max(len(series_csv.strip().splitlines()) - 1, 0)
        if rows != len(analysis.get("series") or []):
            problems.append(
                f"export/series.csv has {rows} rows for {len(analysis.get('series') or [])} points"
            )
    return problems


def _weights_of(positions: Any) -> dict[Any, Any] | None:
    """symbol -> weight of a positions list (None: not a list of objects)."""
    if positions is None:
        return {}
    if not isinstance(positions, list) or not all(isinstance(p, dict) for p in positions):
        return None
    return {p.get("symbol"): p.get("weight") for p in positions}


def data_integrity(
    analysis: Mapping[str, Any], model_check: CheckOutcome, written: Mapping[str, str | None]
) -> CheckOutcome:
    """The ``data_integrity`` criterion: schema, consistency, and the round trips."""
    problems = [] if model_check.passed else [model_check.detail]
    consistency = check_analysis_consistency(analysis)
    problems += [] if consistency.passed else [consistency.detail]
    problems += check_markdown(written.get("report.md"), analysis)
    problems += check_export(
        written.get("export/summary.json"), written.get("export/series.csv"), analysis
    )
    exported = written.get("export/summary.json") is not None
    return CheckOutcome(
        name="data_integrity",
        passed=not problems,
        detail="; ".join(problems)
        or "a valid PortfolioAnalysis; the report"
        + (" and the export hold" if exported else " holds")
        + " its figures",
        figures={"problems": len(problems), "export_checked": exported},
    )


# --- against the project -------------------------------------------------------------------


def built_features(project: ValidationProject) -> tuple[str, ...]:
    """``FEATURES`` of the generator's config (read as a literal, never executed)."""
    path = PurePosixPath("src", project.package(), "config.py")
    if not project.exists(path):
        return ()
    found = config_literal(project.read(path).decode("utf-8", "replace"), "FEATURES")
    return tuple(str(f) for f in found) if isinstance(found, tuple | list) else ()


def _clear_report_dir(project: ValidationProject) -> None:
    # Output of an earlier run must not pass for this one's. Project code (a jailed command
    # of the same project, maybe running now) may swap ``validation`` or its ``report`` for
    # a symlink at any moment: the parent is opened without following links and the tree
    # is removed relative to that descriptor, so nothing outside the project is reached.
    try:
        with project.files.parent(REPORT_DIR) as (fd, name):
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):
                raise InvalidInputError(
                    f"{REPORT_DIR} in the project is not a directory", path=str(REPORT_DIR)
                )
            shutil.rmtree(name, dir_fd=fd)
    except FileNotFoundError:
        return  # no validation/ or no report/ yet


#: The generator's outputs a person opens, in the order a summary lists them.
REPORT_OUTPUTS = ("report.pdf", "dashboard.html", "report.md")


def generated_report_files(project: ValidationProject) -> list[str]:
    """Absolute paths of the report files the generator wrote in its validation run
    (regular files only: a symlink project code planted there is no report)."""
    found = []
    for name in REPORT_OUTPUTS:
        try:
            info = project.files.lstat(REPORT_DIR / name)
        except _UNSAFE:
            continue  # validation/ or report/ is not a directory any more
        if info is not None and stat.S_ISREG(info.st_mode):
            found.append(str(project.project_dir / REPORT_DIR / name))
    return found


def read_report_files(
    project: ValidationProject, names: Sequence[str]
) -> tuple[dict[str, bytes | None], list[CheckOutcome]]:
    """The generator's files (None: not written), and a failed check for each one that
    cannot be read safely (a symlink, a hard link, not a regular file, too large)."""
    found: dict[str, bytes | None] = {}
    refused: list[CheckOutcome] = []
    for name in names:
        path = REPORT_DIR / name
        try:
            found[name] = project.read(path) if project.exists(path) else None
        except _UNSAFE as exc:
            found[name] = None
            refused.append(
                CheckOutcome(name=f"report.{name}", passed=False, detail=f"not read: {exc}")
            )
    return found, refused


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


def check_report_generator(
    project: ValidationProject, analysis: Mapping[str, Any], criteria: Sequence[str]
) -> list[CheckOutcome]:
    """Run the generator on ``analysis`` in the jail, then check each criterion."""
    from tasks.portfolio.analysis_models import PortfolioAnalysis

    model_check = check_output("analysis", analysis, PortfolioAnalysis)
    analysis_file = project.write(ANALYSIS_FILE, json.dumps(analysis, indent=2).encode())
    _clear_report_dir(project)
    argv = ["python", str(project.python_runner()), project.package(), str(analysis_file)]
    result = project.run([*argv, "--out", str(REPORT_DIR)])
    ran = result.exit_code == 0 and not result.timed_out
    features = built_features(project)
    checks = [
        CheckOutcome(
            name="generator.ran",
            passed=ran,
            detail=(
                f"wrote {len(result.stdout_tail.split())} files from the real analysis"
                if ran
                else f"exit status {result.exit_code}"
                + (" (timed out)" if result.timed_out else "")
                + f": {(result.stderr_tail or result.stdout_tail)[-300:].strip()}"
            ),
            figures={"exit_code": result.exit_code, "features": ",".join(features)},
        )
    ]
    names = ["report.md", "export/summary.json", "export/series.csv"]
    names += ["charts/value.svg", "charts/drawdown.svg", "visuals/allocation.svg"]
    raw, refused = read_report_files(project, [*names, "report.pdf"])
    checks += refused
    written = {name: _text(raw[name]) for name in names}
    for criterion in criteria:
        if criterion == "pdf_generation":
            check = check_pdf(raw.get("report.pdf"), analysis)
        elif criterion == "chart_accuracy":
            check = chart_accuracy(written, analysis)
        else:
            check = data_integrity(analysis, model_check, written)
        missing_feature = {"pdf_generation": "pdf_export", "chart_accuracy": "chart_generation"}
        needed = missing_feature.get(criterion)
        if not check.passed and needed is not None and needed not in features:
            check = check.model_copy(
                update={"detail": f"the generator was built without {needed}; {check.detail}"}
            )
        checks.append(check)
    return checks


def chart_accuracy(written: Mapping[str, str | None], analysis: Mapping[str, Any]) -> CheckOutcome:
    """The ``chart_accuracy`` criterion over the chart files the generator wrote."""
    value_lines, drawdown_lines = series_lines(analysis)
    parts = [
        check_line_chart("charts/value.svg", written.get("charts/value.svg"), value_lines),
        check_line_chart("charts/drawdown.svg", written.get("charts/drawdown.svg"), drawdown_lines),
    ]
    allocation = written.get("visuals/allocation.svg")
    if allocation is not None:
        weights = {
            str(p.get("symbol")): float(p["weight"])
            for p in analysis.get("positions") or []
            if isinstance(p.get("weight"), int | float)
        }
        parts.append(check_bar_labels("visuals/allocation.svg", allocation, weights))
    problems = [problem for problem in parts if problem]
    return CheckOutcome(
        name="chart_accuracy",
        passed=not problems,
        detail="; ".join(problems)
        or f"{len(parts)} charts plot the analysis's figures "
        f"({len(value_lines.get('Portfolio', []))} series points)",
        figures={"charts": len(parts), "problems": len(problems)},
    )
