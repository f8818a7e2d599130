"""ANALYZE_CONTEXT: the user's preferences and the upstream work, turned into a typed plan.

``report_requirements`` (the spec's task_003) derives the report to build -- audience,
sections, charts, metrics, formats, data-quality notes and the generator project's
structure -- from the preferences, the upstream portfolio analysis (required) and
research (optional: a failed or skipped research task only removes the market context).
``market_context`` summarises upstream research (required). The decisions themselves are
pure functions (:mod:`tasks.assistant.report_requirements`,
:mod:`tasks.assistant.market_context`); this handler only gathers their inputs. It has no
side effect, so it writes no audit entry of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.models.goal import PreferenceValue
from orchestrator.models.params import AnalyzeContextParams
from tasks.assistant.market_context import summarise_research
from tasks.assistant.preferences import choose_audience, normalise_preferences
from tasks.assistant.report_requirements import derive_report_requirements
from tasks.assistant.requirements_models import MarketContext, ReportRequirements
from tasks.assistant.research_models import ResearchFindings
from tasks.assistant.upstream import required_model, upstream_model
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.registry import Inputs

#: What ANALYZE_CONTEXT returns, by analysis_type.
ContextAnalysis = ReportRequirements | MarketContext


def preferences_of(params: AnalyzeContextParams, ctx: HandlerContext) -> dict[str, PreferenceValue]:
    """The preferences given, or with ``from_context`` the goal's own."""
    if params.user_preferences == "from_context":
        return dict(ctx.chain.goal.context.user_preferences)
    return dict(params.user_preferences)


def _report_requirements(
    params: AnalyzeContextParams, inputs: Inputs, ctx: HandlerContext
) -> ContextAnalysis:
    task_id, analysis = required_model(
        PortfolioAnalysis,
        params.portfolio_data,
        inputs,
        ctx,
        what="a portfolio analysis",
        producer="analyze_portfolio",
    )
    research = upstream_model(
        ResearchFindings, params.market_data, inputs, ctx, what="research findings"
    )
    return derive_report_requirements(task_id, analysis, research, preferences_of(params, ctx))


def _market_context(
    params: AnalyzeContextParams, inputs: Inputs, ctx: HandlerContext
) -> ContextAnalysis:
    task_id, research = required_model(
        ResearchFindings,
        params.market_data,
        inputs,
        ctx,
        what="research findings",
        producer="research_topic",
    )
    prefs = normalise_preferences(preferences_of(params, ctx))
    level = choose_audience(prefs, []).detail_level
    return summarise_research(task_id, research, level)


_ANALYSES: dict[str, Callable[[AnalyzeContextParams, Inputs, HandlerContext], ContextAnalysis]] = {
    "report_requirements": _report_requirements,
    "market_context": _market_context,
}


def analyze_context(
    params: AnalyzeContextParams, inputs: Inputs, ctx: HandlerContext
) -> ContextAnalysis:
    """Dispatch on ``analysis_type``; an unknown one names the known ones."""
    analysis = _ANALYSES.get(params.analysis_type)
    if analysis is None:
        known = sorted(_ANALYSES)
        raise InvalidInputError(
            f"unknown analysis_type {params.analysis_type!r}; known: {', '.join(known)}",
            analysis_type=params.analysis_type,
            known=known,
        )
    return analysis(params, inputs, ctx)
