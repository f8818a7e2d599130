"""Hand-built PortfolioAnalysis objects for pure tests (no pandas, no analytics code)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta

from orchestrator.models.params import AnalysisType, Timeframe
from tasks.assistant.insight_models import Insight
from tasks.portfolio.analysis_models import (
    BenchmarkStats,
    Concentration,
    CorrelationMatrix,
    DataQuality,
    DrawdownStats,
    PortfolioAnalysis,
    PositionAnalysis,
    ReturnStats,
    RiskStats,
    SeriesPoint,
)

START = date(2024, 1, 1)


def build(
    weights: dict[str, float] | None = None,
    values: Sequence[float] | None = None,
    *,
    max_drawdown: float = -0.05,
    recovered: bool = True,
    benchmark: BenchmarkStats | None = None,
    correlation: CorrelationMatrix | None = None,
    confidence: float = 1.0,
    observations: int | None = None,
) -> PortfolioAnalysis:
    """A PortfolioAnalysis with the given weights and value series (other figures dull)."""
    weights = weights or {"A": 0.2, "B": 0.2, "C": 0.2, "D": 0.2, "E": 0.2}
    values = list(values) if values is not None else [100.0 + i for i in range(10)]
    hhi = sum(w * w for w in weights.values())
    top = max(weights, key=lambda s: weights[s])
    series, peak = [], values[0]
    for i, value in enumerate(values):
        peak = max(peak, value)
        series.append(
            SeriesPoint(date=START + timedelta(days=i), value=value, drawdown=value / peak - 1)
        )
    return PortfolioAnalysis(
        portfolio_id="pf_1",
        portfolio_name="Test",
        analysis_type=AnalysisType.COMPREHENSIVE,
        timeframe=Timeframe.ONE_YEAR,
        start=START,
        end=START + timedelta(days=len(values) - 1),
        start_value=values[0],
        end_value=values[-1],
        cash=0.0,
        returns=ReturnStats(
            total_return=values[-1] / values[0] - 1,
            annualized_return=0.08,
            observations=len(values) - 1 if observations is None else observations,
        ),
        risk=RiskStats(volatility=0.2),
        drawdown=DrawdownStats(
            max_drawdown=max_drawdown,
            peak_date=START,
            trough_date=START + timedelta(days=1),
            recovery_date=START + timedelta(days=2) if recovered else None,
            duration_days=2 if recovered else len(values) - 1,
        ),
        benchmark=benchmark,
        positions=[
            PositionAnalysis(
                symbol=s,
                quantity=1.0,
                price=1.0,
                market_value=w * 1000,
                weight=w,
                period_return=0.0,
                contribution=0.0,
            )
            for s, w in weights.items()
        ],
        concentration=Concentration(
            hhi=hhi, effective_positions=1 / hhi, top_symbol=top, top_weight=weights[top]
        ),
        correlation=correlation,
        series=series,
        quality=DataQuality(
            confidence=confidence,
            reasons=[] if confidence == 1.0 else ["short history"],
            observations=len(values) - 1,
            missing_ratio=0.0,
        ),
    )


def bench(excess: float, information_ratio: float | None = None) -> BenchmarkStats:
    return BenchmarkStats(
        symbol="SPY",
        total_return=0.1,
        annualized_return=0.08 - excess,
        volatility=0.15,
        max_drawdown=-0.1,
        excess_annualized_return=excess,
        tracking_error=0.05,
        information_ratio=information_ratio,
        correlation=0.9,
    )


_NUMBER = re.compile(r"(?<![A-Za-z])-?\d+(?:\.\d+)?")


def assert_statement_numbers_from_evidence(insight: Insight) -> None:
    """Every number printed in the statement is an evidence figure, as % or plain."""
    for token in _NUMBER.findall(insight.statement):
        decimals = len(token.partition(".")[2])
        shown = abs(float(token))
        candidates = [abs(v) for v in insight.evidence.values()]
        candidates += [abs(v) * 100 for v in insight.evidence.values()]
        assert any(round(c, decimals) == shown for c in candidates), (token, insight)
