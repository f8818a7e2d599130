"""GENERATE_INSIGHTS: the rules of :mod:`tasks.assistant.insight_rules` over an analysis.

The analysis is the upstream ANALYZE_PORTFOLIO output that ``source`` names (or the first
one among the inputs). ``focus`` narrows the rules: a kind name (``drawdown``), or a
theme -- ``risk`` (concentration, drawdown, volatility regime, correlated clusters),
``diversification`` (concentration, correlated clusters), ``performance`` (relative
performance, drawdown); see ``insight_rules.FOCUS_KINDS``. An empty focus runs every rule.

The output lists every rule's outcome (evaluated, fired, why), so "no drawdown insight"
can be told apart from "the drawdown could not be judged". The handler reads and
computes only, so it writes no audit entry of its own.
"""

from __future__ import annotations

from orchestrator.models.params import GenerateInsightsParams
from tasks.assistant.insight_models import InsightReport
from tasks.assistant.insight_rules import evaluate, insight_confidence, resolve_focus
from tasks.assistant.upstream import required_model
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.registry import Inputs


def generate_insights(
    params: GenerateInsightsParams, inputs: Inputs, ctx: HandlerContext
) -> InsightReport:
    try:
        kinds = resolve_focus(params.focus)
    except ValueError as exc:
        raise InvalidInputError(str(exc), focus=list(params.focus)) from exc
    task_id, analysis = required_model(
        PortfolioAnalysis,
        params.source,
        inputs,
        ctx,
        what="a portfolio analysis",
        producer="analyze_portfolio",
    )
    insights, outcomes = evaluate(analysis, kinds)
    confidence, reasons = insight_confidence(analysis, outcomes)
    return InsightReport(
        portfolio_id=analysis.portfolio_id,
        analysis_task_id=task_id,
        start=analysis.start,
        end=analysis.end,
        focus=kinds,
        insights=insights,
        rules=outcomes,
        confidence=confidence,
        confidence_reasons=reasons,
    )
