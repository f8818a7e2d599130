"""VALIDATE_DATA's integration test of a generated report generator, on real workers.

The generator runs on the real portfolio analysis in the jail; its PDF, charts and
exports are checked against that analysis (``validation_criteria``), an edit that
misplots a chart is caught, and unknown criteria or a missing analysis are refused
before any code runs.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import pytest
from sqlalchemy import Engine

from orchestrator import Orchestrator
from orchestrator.context import utcnow
from orchestrator.history import AuditAction
from orchestrator.models import TaskChain
from orchestrator.models.params import ValidateDataParams
from orchestrator.portfolio.demo import seed_demo
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError
from tasks.system.validate_data import validate_data
from tests.integration.test_validate_data import (
    USER,
    chain_of,
    checks_of,
    output_of,
    project_path,
    run,
    task,
    unique,
)


@pytest.fixture
def demo_portfolio(market_engine: Engine) -> str:
    """The demo portfolio (7 US large caps, shipped prices), under a fresh id."""
    return seed_demo(market_engine, user_id=USER, now=utcnow(), portfolio_id=unique("demo")).id


def report_chain(portfolio: str, name: str, criteria: list[str]) -> TaskChain:
    return chain_of(
        [
            task("task_001", "analyze_portfolio", portfolio_id=portfolio, timeframe="1year"),
            task("task_004", "create_project", template="report_generator", name=name),
            task(
                "task_005",
                "generate_code",
                code_type="report_generator",
                features=["chart_generation", "pdf_export", "data_visualization"],
            ),
            task(
                "task_006",
                "validate_data",
                test_type="integration",
                data_source="task_001_data",
                validation_criteria=criteria,
            ),
        ],
        [
            ("task_001", "task_005", "data_flow"),
            ("task_004", "task_005", "prerequisite"),
            ("task_005", "task_006", "validation"),
        ],
    )


def call_handler(
    orch: Orchestrator, run_id: str, chain: TaskChain, **parameters: Any
) -> dict[str, Any]:
    """validate_data called in this process, as the last task of ``chain`` in ``run_id``."""
    checker = chain.tasks[-1]
    ctx = HandlerContext(
        run_id=run_id,
        task_id=checker.id,
        user_id=USER,
        attempt=1,
        chain=chain,
        task=checker,
        runtime=orch.runtime,
    )
    params = ValidateDataParams.model_validate(parameters)
    return validate_data(params, {}, ctx).model_dump(mode="json")


def test_the_report_generator_is_run_on_the_real_analysis_and_its_output_checked(
    orch: Orchestrator, demo_portfolio: str
) -> None:
    # Given the complex workflow's analysis -> project -> generator -> integration test
    name = unique("reports")
    criteria = ["chart_accuracy", "pdf_generation", "data_integrity"]
    _, result = run(orch, report_chain(demo_portfolio, name, criteria))
    report = output_of(result, "task_006")
    analysis = output_of(result, "task_001")
    checks = checks_of(report)
    # Then the project's tests pass and every criterion holds
    assert report["passed"] is True, [c for c in report["checks"] if not c["passed"]]
    assert report["criteria"] == sorted(criteria)
    assert report["tests"]["passed"] > 0 and report["tests"]["failed"] == 0
    assert all(checks[c]["passed"] for c in [*criteria, "generator.ran", "output.task_001"])
    # on exactly the analysis task_001 produced, with a real PDF showing its figures
    project = project_path(orch, name)
    assert json.loads((project / "validation/analysis.json").read_text()) == analysis
    pdf = (project / "validation/report/report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and checks["pdf_generation"]["figures"]["bytes"] == len(pdf)
    assert f"{analysis['returns']['total_return'] * 100:.2f}%".encode() in pdf

    # When the chart code is edited to misplot six points in seven, and validated again
    charts = PurePosixPath("src", name.replace("-", "_"), "charts.py")
    original = '[float(p["value"]) for p in points]'
    text = (project / charts).read_text()
    assert original in text
    tampered = '[float(p["value"]) * (1.05 if i % 7 else 1) for i, p in enumerate(points)]'
    chain = chain_of(
        [
            task("task_001", "analyze_portfolio", portfolio_id=demo_portfolio, timeframe="1year"),
            task(
                "edit",
                "file_operation",
                operation="write",
                project_id=name,
                path=str(charts),
                content=text.replace(original, tampered),
            ),
            task(
                "task_006",
                "validate_data",
                test_type="integration",
                data_source="task_001_data",
                validation_criteria=criteria,
            ),
        ],
        [("task_001", "task_006", "data_flow"), ("edit", "task_006", "validation")],
    )
    _, result = run(orch, chain)
    again = checks_of(output_of(result, "task_006"))
    # Then the chart criterion fails, naming the misplotted chart (the project's own tests
    # do not look at the plotted heights: they pass)
    assert {name for name, check in again.items() if not check["passed"]} == {"chart_accuracy"}
    assert "charts/value.svg" in again["chart_accuracy"]["detail"]
    assert again["pdf_generation"]["passed"] and again["data_integrity"]["passed"]


def test_unknown_criteria_and_a_missing_analysis_are_refused_before_code_runs(
    orch: Orchestrator,
) -> None:
    name = unique("reports")
    tasks = [
        task("task_004", "create_project", template="report_generator", name=name),
        task("task_005", "generate_code", code_type="report_generator", features=["pdf_export"]),
    ]
    run_id, _ = run(orch, chain_of(tasks, [("task_004", "task_005", "prerequisite")]))
    checker = task(
        "check", "validate_data", test_type="integration", data_source="historical_market_data"
    )
    direct = chain_of(
        [*tasks, checker],
        [("task_004", "task_005", "prerequisite"), ("task_005", "check", "validation")],
    )
    source = {"test_type": "integration", "data_source": "historical_market_data"}
    with pytest.raises(InvalidInputError, match="unknown validation_criteria speed; known: chart"):
        call_handler(orch, run_id, direct, **source, validation_criteria=["speed"])
    with pytest.raises(InvalidInputError, match="needs a portfolio analysis"):
        call_handler(orch, run_id, direct, **source)
    # Nothing was written into the project, no command ran
    assert not (project_path(orch, name) / "validation").exists()
    audit = orch.runtime.history.audit_log(run_id=run_id)
    assert not [a for a in audit if a.action is AuditAction.COMMAND_RUN]
