"""GENERATE_REPORT: render the upstream analysis (the spec's task_001 -> report chain).

The report is built from the ANALYZE_PORTFOLIO output passed through the run's live
context, never from a recomputation, so the report shows exactly the figures the rest
of the run used.
"""

from __future__ import annotations

from pydantic import ValidationError

from orchestrator.context import utcnow
from orchestrator.models.base import StrictModel
from orchestrator.models.params import GenerateReportParams
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
    files: ReportFiles
    total_return: float
    max_drawdown: float
    confidence: float


def _upstream_analysis(
    params: GenerateReportParams, inputs: Inputs
) -> tuple[str, PortfolioAnalysis]:
    candidates = [params.analysis.task_id] if params.analysis is not None else sorted(inputs)
    for task_id in candidates:
        if task_id not in inputs:
            continue
        try:
            return task_id, PortfolioAnalysis.model_validate(inputs[task_id])
        except ValidationError:
            if params.analysis is not None:
                raise InvalidInputError(
                    f"output of {task_id} is not a portfolio analysis", task_id=task_id
                ) from None
    raise InvalidInputError(
        "generate_report renders an upstream analyze_portfolio output: give the task a "
        "data_flow dependency on one (or the parameter analysis: <task_id>_results)"
    )


def generate_report(
    params: GenerateReportParams, inputs: Inputs, ctx: HandlerContext
) -> ReportOutput:
    load_portfolio(ctx, params.portfolio_id)
    task_id, analysis = _upstream_analysis(params, inputs)
    if analysis.portfolio_id != params.portfolio_id:
        raise InvalidInputError(
            f"the analysis of {task_id} is of portfolio {analysis.portfolio_id}, "
            f"not {params.portfolio_id}"
        )
    directory = ctx.runtime.settings.resolved_reports_dir / ctx.user_id / ctx.run_id
    try:
        files = render_report(
            analysis,
            formats=params.formats,
            out_dir=directory,
            sections=params.sections,
            generated_at=utcnow(),
            source=f"run {ctx.run_id}, task {ctx.task_id}, analysis of {task_id}",
        )
    except ValueError as exc:  # an unknown section name
        raise InvalidInputError(str(exc)) from exc
    return ReportOutput(
        portfolio_id=params.portfolio_id,
        analysis_task_id=task_id,
        files=files,
        total_return=analysis.returns.total_return,
        max_drawdown=analysis.drawdown.max_drawdown,
        confidence=analysis.quality.confidence,
    )
