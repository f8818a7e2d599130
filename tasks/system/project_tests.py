"""A generated project's own test suite, run inside the workspace jail, and its counts.

Python projects run ``python -m pytest -q`` (their pyproject sets ``testpaths`` and the
src ``pythonpath``), Node.js projects ``node --test --test-reporter=tap``. The counts come
from the runner's closing summary, parsed by the pure functions below; a runner that
dies before printing one counts as one error, so a crash never reads as "0 failed".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tasks.system.validation_models import CheckOutcome, SuiteRun, TestFramework
from tasks.system.validation_project import ProjectLanguage, ValidationProject
from tasks.workspace.run_terminal_command import CommandResult

#: How much of the runner's output the report keeps.
OUTPUT_TAIL_CHARS = 4_000
PYTEST_ARGV = ["python", "-m", "pytest", "-q", "--tb=short"]
#: TAP asked for by name: Node >= 23 prints its spec reporter by default, even on a pipe.
NODE_TEST_ARGV = ["node", "--test", "--test-reporter=tap"]

_PYTEST_SUMMARY = re.compile(r"^=*\s*(?P<body>.*?)\s+in\s+[\d.]+s(?:\s+\([^)]*\))?\s*=*\s*$")
_PYTEST_COUNT = re.compile(
    r"(?P<n>\d+)\s+(?P<kind>passed|failed|errors?|skipped|xfailed|xpassed|deselected)"
)
_TAP_COUNT = re.compile(r"^#\s+(?P<kind>tests|pass|fail|cancelled|skipped|todo)\s+(?P<n>\d+)\s*$")


@dataclass(frozen=True)
class SuiteCounts:
    passed: int
    failed: int
    errors: int
    skipped: int


def parse_pytest_summary(output: str) -> SuiteCounts | None:
    """Counts from pytest's closing line (``3 failed, 10 passed, 1 skipped in 0.52s``).

    xfailed tests count as skipped and xpassed ones as passed (pytest's own verdict:
    neither fails the run unless strict). None when the output has no summary line.
    """
    for line in reversed(output.splitlines()):
        match = _PYTEST_SUMMARY.match(line.strip())
        if match is None:
            continue
        body = match.group("body")
        if not _PYTEST_COUNT.search(body) and "no tests ran" not in body:
            continue
        counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
        for found in _PYTEST_COUNT.finditer(body):
            kind, n = found.group("kind"), int(found.group("n"))
            key = {
                "error": "errors",
                "errors": "errors",
                "xfailed": "skipped",
                "xpassed": "passed",
                "deselected": None,
            }.get(kind, kind)
            if key is not None:
                counts[key] += n
        return SuiteCounts(**counts)
    return None


def parse_tap_summary(output: str) -> SuiteCounts | None:
    """Counts from the ``# pass N`` ... lines ``node --test`` ends its TAP output with.

    Cancelled tests (a hook failed, the file crashed) count as errors, todo as skipped.
    None when the output has no ``# tests`` line.
    """
    found: dict[str, int] = {}
    for line in output.splitlines():
        match = _TAP_COUNT.match(line.strip())
        if match is not None:
            # Nested runs print their own totals first; the last one is the whole suite's.
            found[match.group("kind")] = int(match.group("n"))
    if "tests" not in found:
        return None
    return SuiteCounts(
        passed=found.get("pass", 0),
        failed=found.get("fail", 0),
        errors=found.get("cancelled", 0),
        skipped=found.get("skipped", 0) + found.get("todo", 0),
    )


def suite_run(framework: TestFramework, argv: list[str], result: CommandResult) -> SuiteRun:
    """The report of one test run from the command's outcome (pure)."""
    output = result.stdout_tail + ("\n" + result.stderr_tail if result.stderr_tail else "")
    parse = parse_pytest_summary if framework is TestFramework.PYTEST else parse_tap_summary
    counts = parse(result.stdout_tail) or parse(output)
    if counts is None:
        # The runner died (or timed out) before its summary: never read that as a pass.
        counts = SuiteCounts(passed=0, failed=0, errors=1, skipped=0)
    return SuiteRun(
        framework=framework,
        argv=argv,
        passed=counts.passed,
        failed=counts.failed,
        errors=counts.errors,
        skipped=counts.skipped,
        duration_ms=result.duration_ms,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        output_tail=output[-OUTPUT_TAIL_CHARS:],
    )


def suite_check(run: SuiteRun) -> CheckOutcome:
    """The ``tests`` check: the project's own suite ran and passed."""
    if run.timed_out:
        detail = f"{run.framework} did not finish in time; its processes were killed"
    elif run.ok:
        detail = f"{run.passed} passed, {run.skipped} skipped"
    elif run.passed + run.failed + run.errors == 0:
        detail = f"{run.framework} ran no test (exit status {run.exit_code})"
    else:
        detail = (
            f"{run.failed} failed, {run.errors} errors, {run.passed} passed "
            f"(exit status {run.exit_code})"
        )
    return CheckOutcome(
        name="tests",
        passed=run.ok,
        detail=detail,
        figures={
            "passed": run.passed,
            "failed": run.failed,
            "errors": run.errors,
            "skipped": run.skipped,
        },
    )


def run_project_tests(project: ValidationProject) -> SuiteRun:
    """Run the project's own suite in its jail and count the results."""
    if project.language is ProjectLanguage.NODE:
        framework, argv = TestFramework.NODE_TEST, list(NODE_TEST_ARGV)
    else:
        framework, argv = TestFramework.PYTEST, list(PYTEST_ARGV)
    return suite_run(framework, argv, project.run(argv))
