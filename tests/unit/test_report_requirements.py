"""ANALYZE_CONTEXT's pure decisions: report requirements and the market-context summary.

Analyses are built by hand (``tests.support.analyses``) so each decision can be tied to
the one figure or preference that drives it.
"""

from __future__ import annotations

import ast
from datetime import date
from typing import Any

import pytest

from orchestrator.models.params import ReportFormat, ReportSection
from tasks.assistant.market_context import SECTOR_OVERWEIGHT_MIN, summarise_research
from tasks.assistant.preferences import normalise_preferences
from tasks.assistant.report_requirements import derive_report_requirements
from tasks.assistant.requirements_models import (
    Audience,
    ChartKind,
    DetailLevel,
    GeneratorFeature,
    MarketRegime,
    MarketTrend,
    ReportRequirements,
)
from tasks.assistant.research_models import (
    BenchmarkTrend,
    CorrelatedPair,
    Correlations,
    Finding,
    FindingKind,
    MarketDataCitation,
    ResearchFindings,
    ResearchWindow,
    SectorFacts,
    VolatilityRegime,
)
from tasks.assistant.upstream import find_model
from tasks.errors import InvalidInputError
from tasks.portfolio.analysis_models import CorrelationMatrix, PortfolioAnalysis
from tasks.workspace.codegen import render_code
from tasks.workspace.codegen_report import REPORT_FEATURES
from tests.support.analyses import bench, build

SPEC_PREFS: dict[str, Any] = {
    "reportFormat": "pdf",
    "language": "typescript",
    "chartLibrary": "recharts",
}


def full_analysis(**kwargs: Any) -> PortfolioAnalysis:
    corr = CorrelationMatrix(symbols=["A", "B"], matrix=[[1.0, 0.4], [0.4, 1.0]])
    return build({"A": 0.6, "B": 0.4}, benchmark=bench(0.03), correlation=corr, **kwargs)


def research(
    *,
    distance: float | None = 0.05,
    regime: VolatilityRegime = VolatilityRegime.NORMAL,
    findings: int = 6,
) -> ResearchFindings:
    window = ResearchWindow(start=date(2024, 1, 1), end=date(2024, 12, 31), source="test")
    cite = MarketDataCitation(
        symbols=["SPY"], start=window.start, end=window.end, method="close / first close - 1"
    )
    return ResearchFindings(
        timeframe=window,
        topics=["market_trends"],
        queries=[],
        benchmark_symbol="SPY",
        knowledge=[],
        benchmark=BenchmarkTrend(
            symbol="SPY",
            total_return=0.12,
            annualized_volatility=0.15,
            max_drawdown=-0.08,
            last_close=105.0,
            sma_days=200,
            sma=100.0,
            sma_start=date(2024, 3, 15),
            distance_from_sma=distance,
            recent_vol_days=63,
            recent_volatility=0.25,
            baseline_vol_days=252,
            baseline_volatility=0.15,
            baseline_start=window.start,
            regime=regime,
        ),
        instrument_facts=[],
        sector_facts=[
            SectorFacts(
                sector="Energy",
                symbols=["XOM"],
                total_return=-0.07,
                annualized_volatility=0.2,
                max_drawdown=-0.15,
                best_symbol="XOM",
                worst_symbol="XOM",
                holdings_weight=0.4,
                universe_share=0.1,
            ),
            SectorFacts(
                sector="Technology",
                symbols=["AAPL"],
                total_return=0.2,
                annualized_volatility=0.25,
                max_drawdown=-0.1,
                best_symbol="AAPL",
                worst_symbol="AAPL",
                holdings_weight=0.3,
                universe_share=0.25,
            ),
        ],
        correlations=Correlations(
            target=None,
            computed=True,
            threshold=0.7,
            high_pairs=[CorrelatedPair(first="AAPL", second="MSFT", correlation=0.82)],
        ),
        findings=[
            Finding(
                kind=FindingKind.BENCHMARK_TREND,
                topic="market_trends",
                statement=f"finding {i}",
                figures={"x": float(i)},
                citations=[cite],
            )
            for i in range(findings)
        ],
        confidence=0.7,
        confidence_reasons=["no knowledge hits"],
    )


def omitted(req: ReportRequirements) -> dict[str, str]:
    return {o.what: o.reason for o in req.omitted}


def test_preference_keys_are_normalised_to_snake_case() -> None:
    assert normalise_preferences(SPEC_PREFS) == {
        "chart_library": "recharts",
        "language": "typescript",
        "report_format": "pdf",
    }


def test_spec_preferences_give_a_pdf_first_report_and_its_generator_structure() -> None:
    req = derive_report_requirements("task_001", full_analysis(), None, SPEC_PREFS)
    assert req.format_values == [ReportFormat.PDF, ReportFormat.HTML, ReportFormat.JSON]
    assert req.formats[0].reason == "preference report_format=pdf"
    assert req.audience.audience is Audience.INVESTOR
    assert req.audience.detail_level is DetailLevel.STANDARD
    assert req.section_values == [
        ReportSection.SUMMARY,
        ReportSection.PERFORMANCE,
        ReportSection.RISK,
        ReportSection.DRAWDOWN,
        ReportSection.BENCHMARK,
        ReportSection.ALLOCATION,
        ReportSection.POSITIONS,
        ReportSection.CORRELATION,
    ]
    assert all(s.reason for s in req.sections)
    # Clean data at standard detail: neither data quality nor conventions.
    assert "section data_quality" in omitted(req) and "section conventions" in omitted(req)
    structure = req.structure
    assert structure.sections == req.section_values
    assert set(structure.feature_names) == {
        "chart_generation",
        "data_visualization",
        "pdf_export",
        "export",
    }
    assert {m.module for m in structure.modules} >= {"report", "charts", "pdf", "export"}
    assert any("typescript" in n for n in structure.notes)
    assert any("recharts" in n for n in structure.notes)


def test_generator_features_are_the_generators_own() -> None:
    assert {f.value for f in GeneratorFeature} == set(REPORT_FEATURES)


def test_benchmark_section_only_with_a_benchmark() -> None:
    req = derive_report_requirements("t1", build(), None, {})
    assert ReportSection.BENCHMARK not in req.section_values
    assert omitted(req)["section benchmark"] == "the analysis has no benchmark"
    assert ReportSection.CORRELATION not in req.section_values
    assert ChartKind.CORRELATION_HEATMAP not in [c.chart for c in req.charts]


def test_metrics_are_the_non_null_figures_of_the_analysis() -> None:
    analysis = build()  # risk: volatility only
    req = derive_report_requirements("t1", analysis, None, {})
    metrics = {m.metric: m.value for m in req.metrics}
    assert metrics["risk.volatility"] == analysis.risk.volatility
    assert metrics["returns.total_return"] == analysis.returns.total_return
    assert metrics["drawdown.max_drawdown"] == analysis.drawdown.max_drawdown
    assert "risk.sharpe" not in metrics
    assert omitted(req)["metric risk.sharpe"] == "not computed"


def test_an_executive_gets_a_summary_unless_detail_is_asked_for() -> None:
    summary = derive_report_requirements("t1", full_analysis(), None, {"audience": "board"})
    assert summary.audience.audience is Audience.EXECUTIVE
    assert summary.audience.detail_level is DetailLevel.SUMMARY
    assert ReportSection.POSITIONS not in summary.section_values
    assert {m.metric for m in summary.metrics} <= {
        "returns.total_return",
        "returns.annualized_return",
        "risk.volatility",
        "risk.sharpe",
        "drawdown.max_drawdown",
        "benchmark.excess_annualized_return",
        "concentration.top_weight",
    }
    detailed = derive_report_requirements(
        "t1", full_analysis(), None, {"audience": "board", "detailLevel": "full"}
    )
    assert detailed.audience.detail_level is DetailLevel.DETAILED
    assert "preference detail_level=full" in detailed.audience.reason
    assert detailed.section_values[-2:] == [ReportSection.DATA_QUALITY, ReportSection.CONVENTIONS]
    assert ChartKind.CONTRIBUTION in [c.chart for c in detailed.charts]


def test_data_quality_notes_and_section_follow_the_analysis_quality() -> None:
    req = derive_report_requirements("t1", build(confidence=0.8), None, {})
    assert ReportSection.DATA_QUALITY in req.section_values
    assert req.data_quality_notes == ["data confidence 80%", "short history"]


def test_unknown_preferences_are_recorded_not_guessed() -> None:
    req = derive_report_requirements(
        "t1", build(), None, {"report_format": ["docx", "md"], "audience": "martians"}
    )
    assert req.format_values == [ReportFormat.MARKDOWN, ReportFormat.HTML, ReportFormat.JSON]
    assert omitted(req)["preference report_format=docx"] == "not a report format"
    assert omitted(req)["preference audience=martians"] == "not an audience"


def test_market_context_only_when_research_ran() -> None:
    without = derive_report_requirements("t1", build(), None, {})
    assert without.market_context is None
    assert omitted(without)["market context"] == "no research upstream"
    found = research(findings=6)
    with_research = derive_report_requirements("t1", build(), ("t2", found), {})
    plan = with_research.market_context
    assert plan is not None and plan.source_task_id == "t2"
    assert plan.statements == [f.statement for f in found.findings[:4]]  # standard: 4


def test_requirements_are_found_among_upstream_outputs() -> None:
    req = derive_report_requirements("t1", full_analysis(), None, SPEC_PREFS)
    upstream = {"t0": {"sections": ["x"]}, "t3": req.model_dump(mode="json")}
    found = find_model(ReportRequirements, upstream)
    assert found is not None and found == ("t3", req)
    assert find_model(ReportRequirements, {"t0": {"analysis_type": "report_requirements"}}) is None
    assert find_model(ReportRequirements, upstream, "t0") is None  # only t0 is looked at


# --- market context ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance", "regime", "expected", "trend"),
    [
        (0.05, VolatilityRegime.NORMAL, MarketRegime.RISK_ON, MarketTrend.UP),
        (-0.05, VolatilityRegime.HIGH, MarketRegime.RISK_OFF, MarketTrend.DOWN),
        (0.05, VolatilityRegime.HIGH, MarketRegime.MIXED, MarketTrend.UP),
        (None, VolatilityRegime.UNKNOWN, MarketRegime.UNKNOWN, MarketTrend.UNKNOWN),
    ],
)
def test_the_regime_combines_trend_and_volatility(
    distance: float | None,
    regime: VolatilityRegime,
    expected: MarketRegime,
    trend: MarketTrend,
) -> None:
    context = summarise_research(
        "t1", research(distance=distance, regime=regime), DetailLevel.STANDARD
    )
    assert (context.regime.regime, context.regime.trend) == (expected, trend)
    if distance is not None:
        assert context.regime.figures["distance_from_sma"] == distance


def test_watch_list_names_what_needs_attention() -> None:
    found = research(distance=-0.04, regime=VolatilityRegime.HIGH)
    context = summarise_research("t1", found, DetailLevel.SUMMARY)
    subjects = [w.subject for w in context.watch]
    # Below the average, high volatility, a correlated pair, the overweight sector
    # (40 % held vs 10 % of the market), and the weakest sector (energy, -7 %).
    assert subjects == ["SPY", "SPY", "AAPL/MSFT", "Energy", "Energy"]
    assert 0.4 - 0.1 >= SECTOR_OVERWEIGHT_MIN > 0.3 - 0.25  # technology is not on it
    assert context.watch[0].figures == {"distance_from_sma": -0.04}
    assert len(context.key_findings) == 3  # summary detail
    # Typed: enums and dates, not their strings
    assert context.key_findings[0].kind is FindingKind.BENCHMARK_TREND
    assert context.regime.volatility is VolatilityRegime.HIGH
    assert (context.start, context.end) == (date(2024, 1, 1), date(2024, 12, 31))
    assert context.confidence == found.confidence
    assert "3 of 6 findings kept at summary detail" in context.confidence_reasons


# --- consumers: the generated report generator -------------------------------------------


def generated_config(files: dict[str, str], pkg: str) -> dict[str, Any]:
    tree = ast.parse(files[f"src/{pkg}/config.py"])
    return {
        node.target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value
    }


def test_the_generated_generator_follows_the_requirements() -> None:
    analysis = full_analysis()
    req = derive_report_requirements("task_001", analysis, None, SPEC_PREFS)
    upstream = {
        "task_001": analysis.model_dump(mode="json"),
        "task_003": req.model_dump(mode="json"),
    }
    files = render_code(
        "report_generator", project_name="rg", features=["chart_generation"], upstream=upstream
    )
    config = generated_config(files, "rg")
    assert config["REQUIREMENTS_SOURCE"] == "task_003"
    # ReportSection names in the generator's own vocabulary, in the requirements' order.
    assert config["SECTIONS"] == (
        "summary",
        "returns",
        "risk",
        "drawdown",
        "benchmark",
        "concentration",
        "positions",
        "correlation",
    )
    # The task asked for charts; PDF and JSON formats and the visuals add the rest.
    assert config["FEATURES"] == ("chart_generation", "data_visualization", "export", "pdf_export")
    assert config["CHARTS"] == tuple(c.chart.value for c in req.charts)
    assert {"src/rg/pdf.py", "src/rg/export.py", "src/rg/visualization.py"} <= set(files)
    without = generated_config(
        render_code("report_generator", project_name="rg", upstream={"t1": upstream["task_001"]}),
        "rg",
    )
    assert without["REQUIREMENTS_SOURCE"] is None and without["FEATURES"] == ()


def test_an_unclassified_holding_is_not_overweight_against_the_market() -> None:
    found = research()
    unclassified = found.sector_facts[0].model_copy(
        update={"sector": "Unclassified", "universe_share": 0.0, "market_sector": False}
    )
    found = found.model_copy(update={"sector_facts": [unclassified, found.sector_facts[1]]})
    subjects = [w.subject for w in summarise_research("t1", found, DetailLevel.SUMMARY).watch]
    assert "Unclassified" not in subjects


def test_the_report_structure_reference_picks_its_requirements() -> None:
    # Given two requirements upstream: t2's (a summary) and t5's (detailed)
    analysis = full_analysis()
    summary = derive_report_requirements("t1", analysis, None, {"audience": "executive"})
    detailed = derive_report_requirements("t1", analysis, None, {"detail_level": "detailed"})
    upstream = {
        "t1": analysis.model_dump(mode="json"),
        "t2": summary.model_dump(mode="json"),
        "t5": detailed.model_dump(mode="json"),
    }

    def source(structure_task: str | None) -> Any:
        files = render_code(
            "report_generator", project_name="rg", upstream=upstream, structure_task=structure_task
        )
        return generated_config(files, "rg")["REQUIREMENTS_SOURCE"]

    # Then the reference decides, not the task-id order
    assert source("t5") == "t5" and source(None) == "t2"
    # and a reference to an output that is no structure is refused
    with pytest.raises(InvalidInputError, match="no report structure"):
        source("t1")
