"""Derive ReportRequirements from preferences, a portfolio analysis and optional research.

Pure: no I/O, no clock. Each decision is a small function that returns what it chose
together with the reason; what was considered and left out goes to ``omitted``. The
rules, in short:

* audience, detail level and formats are read from the preferences
  (:mod:`tasks.assistant.preferences`): the ``audience`` / ``detail_level``, else the
  audience's default level (an executive gets a summary, an advisor the details);
* sections: only those the analysis can fill (a benchmark section only with a benchmark,
  correlation only with a matrix), narrowed by the detail level;
* charts follow the sections; metrics are the figures the analysis actually has (non-null);
* formats: the preferred ``report_format`` first, then HTML and JSON;
* a market-context part only when research ran upstream;
* the generator project's structure (features and modules) follows from all of the above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.models.goal import PreferenceValue
from orchestrator.models.params import ReportFormat, ReportSection
from tasks.assistant.preferences import (
    choose_audience,
    choose_formats,
    normalise_preferences,
    pref_words,
)
from tasks.assistant.requirements_models import (
    ChartChoice,
    ChartKind,
    DetailLevel,
    FeatureChoice,
    FormatChoice,
    GeneratorFeature,
    GeneratorStructure,
    MarketContextPlan,
    MetricChoice,
    ModulePlan,
    Omission,
    ReportRequirements,
    SectionChoice,
)
from tasks.assistant.research_models import ResearchFindings
from tasks.portfolio.analysis_models import PortfolioAnalysis

#: Research statements a report's market-context part quotes, by detail level.
MARKET_STATEMENTS: dict[DetailLevel, int] = {
    DetailLevel.SUMMARY: 2,
    DetailLevel.STANDARD: 4,
    DetailLevel.DETAILED: 8,
}
#: Below this data confidence the data-quality section is always included.
QUALITY_SECTION_BELOW = 0.9

#: Figures a summary-level report shows; other levels show every non-null figure.
_HEADLINE_METRICS = frozenset(
    {
        "returns.total_return",
        "returns.annualized_return",
        "risk.volatility",
        "risk.sharpe",
        "drawdown.max_drawdown",
        "benchmark.excess_annualized_return",
        "concentration.top_weight",
    }
)
#: Modules every generator has, and what each optional feature adds.
_BASE_MODULES: tuple[tuple[str, str], ...] = (
    ("analysis", "load and validate the portfolio-analysis JSON"),
    ("report", "render the report's sections as Markdown"),
    ("config", "the sections, charts and features fixed at generation"),
)
_FEATURE_MODULES: dict[GeneratorFeature, tuple[str, str]] = {
    GeneratorFeature.CHART_GENERATION: ("charts", "value and drawdown charts (SVG)"),
    GeneratorFeature.DATA_VISUALIZATION: (
        "visualization",
        "allocation, contribution and correlation visuals",
    ),
    GeneratorFeature.PDF_EXPORT: ("pdf", "the report as a PDF file"),
    GeneratorFeature.EXPORT: ("export", "positions and series as CSV, figures as JSON"),
}


def choose_sections(
    analysis: PortfolioAnalysis, level: DetailLevel, omitted: list[Omission]
) -> list[SectionChoice]:
    """The sections in report order (ReportSection order), each with why it is there."""
    chosen: list[SectionChoice] = []

    def consider(section: ReportSection, reason: str | None, skip: str | None) -> None:
        if reason is not None:
            chosen.append(SectionChoice(section=section, reason=reason))
        else:
            omitted.append(Omission(what=f"section {section.value}", reason=skip or ""))

    detailed, summary = level is DetailLevel.DETAILED, level is DetailLevel.SUMMARY
    has_risk = any(getattr(analysis.risk, name) is not None for name in _RISK_FIGURES)
    n_positions = len(analysis.positions)
    quality = analysis.quality
    consider(ReportSection.SUMMARY, "every report opens with the headline figures", None)
    consider(
        ReportSection.PERFORMANCE,
        f"returns over {analysis.returns.observations} daily returns",
        None,
    )
    consider(
        ReportSection.RISK,
        "the analysis computed risk figures" if has_risk else None,
        "the analysis computed no risk figure",
    )
    consider(ReportSection.DRAWDOWN, "the drawdown is part of every analysis", None)
    consider(
        ReportSection.BENCHMARK,
        f"the analysis compares with {analysis.benchmark.symbol}" if analysis.benchmark else None,
        "the analysis has no benchmark",
    )
    consider(
        ReportSection.ALLOCATION,
        None if summary else f"weights of {n_positions} positions",
        "summary detail: the weights are left out",
    )
    consider(
        ReportSection.POSITIONS,
        None if summary else f"{n_positions} positions with returns and contributions",
        "summary detail: the positions table is left out",
    )
    matrix = analysis.correlation
    consider(
        ReportSection.CORRELATION,
        None
        if summary or matrix is None or len(matrix.symbols) < 2
        else f"correlations of {len(matrix.symbols)} holdings",
        "summary detail"
        if summary and matrix is not None
        else "the analysis has no correlation matrix of two or more holdings",
    )
    issues = bool(quality.reasons) or quality.confidence < QUALITY_SECTION_BELOW
    consider(
        ReportSection.DATA_QUALITY,
        f"data confidence {quality.confidence:.0%}: {len(quality.reasons)} note(s)"
        if issues or detailed
        else None,
        "clean data: nothing to qualify",
    )
    consider(
        ReportSection.CONVENTIONS,
        "detailed reports state how every figure is computed" if detailed else None,
        f"{level.value} detail: the conventions are left out",
    )
    return chosen


_RISK_FIGURES = (
    "volatility",
    "sharpe",
    "sortino",
    "beta",
    "alpha",
    "var_historical",
    "var_parametric",
    "cvar_historical",
    "cvar_parametric",
    "calmar",
)


def choose_charts(
    analysis: PortfolioAnalysis,
    sections: Sequence[SectionChoice],
    level: DetailLevel,
    omitted: list[Omission],
) -> list[ChartChoice]:
    """Charts of the chosen sections that the analysis has the data for."""
    present = {s.section for s in sections}
    has_series = len(analysis.series) >= 2
    charts: list[ChartChoice] = []

    def consider(chart: ChartKind, reason: str | None, skip: str) -> None:
        if reason is None:
            omitted.append(Omission(what=f"chart {chart.value}", reason=skip))
        else:
            charts.append(ChartChoice(chart=chart, reason=reason))

    overlay = f", with {analysis.benchmark.symbol} overlaid" if analysis.benchmark else ""
    consider(
        ChartKind.EQUITY_CURVE,
        f"{len(analysis.series)} points of the value series{overlay}" if has_series else None,
        "the analysis has no value series",
    )
    consider(
        ChartKind.DRAWDOWN,
        "the drawdown section shows its path" if has_series else None,
        "the analysis has no value series",
    )
    consider(
        ChartKind.ALLOCATION,
        "the allocation section shows the weights"
        if ReportSection.ALLOCATION in present and len(analysis.positions) >= 2
        else None,
        "no allocation section, or a single position",
    )
    consider(
        ChartKind.CONTRIBUTION,
        "detailed reports break the return down by position"
        if level is DetailLevel.DETAILED and analysis.positions
        else None,
        "only detailed reports chart contributions",
    )
    consider(
        ChartKind.CORRELATION_HEATMAP,
        "the correlation section is shown as a heatmap"
        if ReportSection.CORRELATION in present
        else None,
        "no correlation section",
    )
    return charts


def choose_metrics(
    analysis: PortfolioAnalysis, level: DetailLevel, omitted: list[Omission]
) -> list[MetricChoice]:
    """Every figure the analysis has (non-null); a summary keeps the headline ones."""
    groups: list[tuple[str, Mapping[str, object]]] = [
        ("returns", analysis.returns.model_dump()),
        ("risk", analysis.risk.model_dump(exclude={"risk_free_rate", "var_confidence"})),
        ("drawdown", analysis.drawdown.model_dump(include={"max_drawdown", "duration_days"})),
        ("concentration", analysis.concentration.model_dump(exclude={"top_symbol"})),
    ]
    if analysis.benchmark is not None:
        groups.append(("benchmark", analysis.benchmark.model_dump(exclude={"symbol"})))
    metrics: list[MetricChoice] = []
    for group, values in groups:
        for name, value in values.items():
            path = f"{group}.{name}"
            if value is None or isinstance(value, bool) or not isinstance(value, int | float):
                omitted.append(Omission(what=f"metric {path}", reason="not computed"))
            elif level is DetailLevel.SUMMARY and path not in _HEADLINE_METRICS:
                omitted.append(Omission(what=f"metric {path}", reason="not a headline figure"))
            else:
                metrics.append(
                    MetricChoice(metric=path, value=float(value), reason="computed by the analysis")
                )
    return metrics


def market_context_plan(
    research: tuple[str, ResearchFindings] | None, level: DetailLevel, omitted: list[Omission]
) -> MarketContextPlan | None:
    """The research's first statements, when research ran upstream."""
    if research is None:
        omitted.append(Omission(what="market context", reason="no research upstream"))
        return None
    task_id, findings = research
    statements = [f.statement for f in findings.findings][: MARKET_STATEMENTS[level]]
    return MarketContextPlan(
        source_task_id=task_id,
        statements=statements,
        reason=f"research of {task_id}: {len(findings.findings)} finding(s), "
        f"{len(statements)} quoted at {level.value} detail",
    )


def generator_structure(
    sections: Sequence[SectionChoice],
    charts: Sequence[ChartChoice],
    formats: Sequence[FormatChoice],
    prefs: Mapping[str, PreferenceValue],
) -> GeneratorStructure:
    """The generator project's features and modules, following the choices above."""
    kinds = {c.chart for c in charts}
    wanted = {f.format for f in formats}
    features: list[FeatureChoice] = []
    basic = sorted(kinds & {ChartKind.EQUITY_CURVE, ChartKind.DRAWDOWN})
    if basic:
        features.append(
            FeatureChoice(
                feature=GeneratorFeature.CHART_GENERATION,
                reason=f"charts {', '.join(k.value for k in basic)}",
            )
        )
    visual = sorted(kinds - {ChartKind.EQUITY_CURVE, ChartKind.DRAWDOWN})
    if visual:
        features.append(
            FeatureChoice(
                feature=GeneratorFeature.DATA_VISUALIZATION,
                reason=f"charts {', '.join(k.value for k in visual)}",
            )
        )
    if ReportFormat.PDF in wanted:
        features.append(FeatureChoice(feature=GeneratorFeature.PDF_EXPORT, reason="PDF format"))
    if ReportFormat.JSON in wanted:
        features.append(FeatureChoice(feature=GeneratorFeature.EXPORT, reason="JSON format"))
    modules = [ModulePlan(module=m, purpose=p, reason="every generator") for m, p in _BASE_MODULES]
    for choice in features:
        module, purpose = _FEATURE_MODULES[choice.feature]
        modules.append(ModulePlan(module=module, purpose=purpose, reason=choice.reason))
    notes = [
        f"preference {key}={', '.join(pref_words(prefs.get(key)))} recorded: the report "
        "generator is Python and draws its own SVG charts"
        for key in ("language", "chart_library")
        if pref_words(prefs.get(key))
    ]
    return GeneratorStructure(
        sections=[s.section for s in sections],
        charts=[c.chart for c in charts],
        formats=[f.format for f in formats],
        features=features,
        modules=modules,
        notes=notes,
    )


def derive_report_requirements(
    analysis_task_id: str,
    analysis: PortfolioAnalysis,
    research: tuple[str, ResearchFindings] | None,
    preferences: Mapping[str, PreferenceValue],
) -> ReportRequirements:
    """The report requirements for ``analysis`` (and ``research``, when it ran)."""
    prefs = normalise_preferences(preferences)
    omitted: list[Omission] = []
    audience = choose_audience(prefs, omitted)
    level = audience.detail_level
    sections = choose_sections(analysis, level, omitted)
    charts = choose_charts(analysis, sections, level, omitted)
    metrics = choose_metrics(analysis, level, omitted)
    formats = choose_formats(prefs, omitted)
    quality = analysis.quality
    notes = [f"data confidence {quality.confidence:.0%}", *quality.reasons]
    if quality.missing_ratio > 0:
        notes.append(f"{quality.missing_ratio:.2%} of prices missing before filling")
    return ReportRequirements(
        portfolio_id=analysis.portfolio_id,
        analysis_task_id=analysis_task_id,
        audience=audience,
        sections=sections,
        charts=charts,
        metrics=metrics,
        formats=formats,
        market_context=market_context_plan(research, level, omitted),
        data_quality_notes=notes,
        omitted=omitted,
        preferences=prefs,
        structure=generator_structure(sections, charts, formats, prefs),
    )
