"""GENERATE_REPORT: render the upstream analysis (the spec's task_001 -> report chain).

The report is built from the ANALYZE_PORTFOLIO output passed through the run's live
context, never from a recomputation, so the report shows exactly the figures the rest
of the run used. When ANALYZE_CONTEXT's report requirements are upstream too, their
sections and formats apply wherever the task's own parameters leave them unset. Both
are found by ``tasks.assistant.upstream``: the analysis the ``analysis`` reference names
(over a data_flow edge or a prerequisite), else the first among the inputs.
"""

from __future__ import annotations

from pydantic import Field

from orchestrator.context import utcnow
from orchestrator.models.base import StrictModel
from orchestrator.models.params import GenerateReportParams, ReportFormat, ReportSection
from tasks.assistant.requirements_models import ReportRequirements
from tasks.assistant.upstream import find_model, required_model
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.portfolio.common import load_portfolio
from tasks.portfolio.report import ReportFiles, render_report
from tasks.registry import Inputs


class ReportOutput(StrictModel):
    portfolio_id: str
    #: The task whose analysis the report renders.
    analysis_task_id: str
    #: The task whose report requirements chose sections or formats (None: none did).
    requirements_task_id: str | None = None
    #: The sections asked for (empty: all of them) and the formats written.
    sections: list[ReportSection] = Field(default_factory=list)
    formats: list[ReportFormat] = Field(default_factory=list)
    files: ReportFiles
    total_return: float
    max_drawdown: float
    confidence: float


def _layout(
    params: GenerateReportParams, inputs: Inputs
) -> tuple[list[ReportSection], list[ReportFormat], str | None]:
    """Sections and formats: the task's own, else the upstream requirements' (and whose).

    Requirements for another portfolio are refused only when they would be used.
    """
    sections, formats = list(params.sections), list(params.formats)
    # formats has a default, so "left empty" means "not given" here.
    wants_sections = not sections
    wants_formats = "formats" not in params.model_fields_set
    found = find_model(ReportRequirements, inputs) if wants_sections or wants_formats else None
    if found is None:
        return sections, formats, None
    task_id, requirements = found
    if requirements.portfolio_id != params.portfolio_id:
        raise InvalidInputError(
            f"the report requirements of {task_id} are for portfolio "
            f"{requirements.portfolio_id}, not {params.portfolio_id}"
        )
    if wants_sections:
        sections = requirements.section_values
    if wants_formats:
        formats = requirements.format_values
    return sections, formats, task_id


def generate_report(
    params: GenerateReportParams, inputs: Inputs, ctx: HandlerContext
) -> ReportOutput:
    load_portfolio(ctx, params.portfolio_id)
    task_id, analysis = required_model(
        PortfolioAnalysis,
        params.analysis,
        inputs,
        ctx,
        what="a portfolio analysis",
        producer="analyze_portfolio",
    )
    if analysis.portfolio_id != params.portfolio_id:
        raise InvalidInputError(
            f"the analysis of {task_id} is of portfolio {analysis.portfolio_id}, "
            f"not {params.portfolio_id}"
        )
    sections, formats, requirements_task_id = _layout(params, inputs)
    directory = ctx.runtime.settings.resolved_reports_dir / ctx.user_id / ctx.run_id
    try:
        files = render_report(
            analysis,
            formats=formats,
            out_dir=directory,
            sections=sections,
            generated_at=utcnow(),
            source=f"run {ctx.run_id}, task {ctx.task_id}, analysis of {task_id}",
        )
    except ValueError as exc:  # an unknown section name
        raise InvalidInputError(str(exc)) from exc
    return ReportOutput(
        portfolio_id=params.portfolio_id,
        analysis_task_id=task_id,
        requirements_task_id=requirements_task_id,
        sections=sections,
        formats=formats,
        files=files,
        total_return=analysis.returns.total_return,
        max_drawdown=analysis.drawdown.max_drawdown,
        confidence=analysis.quality.confidence,
    )
