"""VALIDATE_DATA's output: named checks, a project's test run, a backtest, one verdict.

A check that fails is a finding, not an error: the report says ``passed: false`` and why.
The task itself fails only when the validation could not be carried out (no project, no
prices, a bot that does not run).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from orchestrator.models.base import JsonScalar, StrictModel
from orchestrator.models.params import TestType


class CheckOutcome(StrictModel):
    """One named check: whether it held, what was found, and the figures behind it."""

    name: str
    passed: bool
    detail: str
    figures: dict[str, JsonScalar] = Field(default_factory=dict)


class TestFramework(StrEnum):
    __test__ = False  # not a pytest test class

    PYTEST = "pytest"
    NODE_TEST = "node --test"


class SuiteRun(StrictModel):
    """A generated project's own test suite, run in the workspace jail."""

    framework: TestFramework
    argv: list[str]
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    errors: int = Field(ge=0)
    skipped: int = Field(ge=0)
    duration_ms: float
    exit_code: int | None
    timed_out: bool
    #: The end of the runner's output (its summary and the last failures).
    output_tail: str

    @property
    def ok(self) -> bool:
        """Every test that ran passed, at least one ran, and the runner agreed."""
        return (
            not self.timed_out
            and self.exit_code == 0
            and self.failed == 0
            and self.errors == 0
            and self.passed > 0
        )


class SimulationSummary(StrictModel):
    """The generated bot's own backtest on real closes, next to buy-and-hold."""

    start: date
    end: date
    symbols: list[str]
    #: Trading days in the price file.
    days: int = Field(ge=0)
    trades: int = Field(ge=0)
    initial_capital: float
    final_equity: float
    #: Fractions: 0.12 = 12 %; drawdowns are negative.
    total_return: float
    max_drawdown: float
    #: The day the bot's drawdown stop sold everything (None: it never fired).
    stopped_on: str | None = None
    #: The bot's target weights bought on each symbol's first day and held, no costs.
    buy_and_hold_return: float
    buy_and_hold_max_drawdown: float
    beat_buy_and_hold: bool
    #: The closes the bot ran on, relative to the project.
    prices_file: str


class ValidationReport(StrictModel):
    """What VALIDATE_DATA checked and found; ``passed`` is every check and the tests."""

    test_type: TestType
    data_source: str
    passed: bool
    checks: list[CheckOutcome]
    tests: SuiteRun | None = None
    simulation: SimulationSummary | None = None
    criteria: list[str] = Field(default_factory=list)
    project_id: str | None = None
    project_path: str | None = None
    #: The report a generated report generator wrote from the real data (PDF first).
    report_files: list[str] = Field(default_factory=list)
