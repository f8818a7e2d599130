"""What a research covers, decided before any I/O: upstream analysis, window, queries, trust.

Pure functions over the task's parameters, the upstream outputs (read by
``tasks.assistant.upstream``) and figures already computed:

- the window: an upstream output's own dates, or a Timeframe counted back from a date;
- the knowledge-base query of each topic, and the merge of their ranked hits;
- how many daily returns the research rests on, its confidence and the reasons it is
  below 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.knowledge import KnowledgeHit
from orchestrator.models.params import Timeframe
from orchestrator.models.refs import OutputRef
from orchestrator.portfolio.sectors import UNCLASSIFIED
from tasks.assistant.research_findings import HOLDINGS_TOPIC, MARKET_CONTEXT_TOPIC
from tasks.assistant.research_models import (
    Correlations,
    CorrelationTarget,
    InstrumentFacts,
    KnowledgeRef,
    ResearchWindow,
)
from tasks.errors import DependencyFailureError, InvalidInputError
from tasks.portfolio.analysis_models import FEW_OBSERVATIONS

if TYPE_CHECKING:
    import pandas as pd

#: Search text of the known topics; any other topic slug is searched as its own words.
TOPIC_QUERIES: dict[str, str] = {
    "market_trends": "market trend moving average benchmark",
    "sector_performance": "sector performance diversification",
    "volatility": "volatility regime risk",
    "risk_metrics": "risk metrics volatility sharpe drawdown",
    "correlation": "correlation diversification",
    HOLDINGS_TOPIC: "correlation diversification concentration sector exposure",
    MARKET_CONTEXT_TOPIC: "market trend benchmark sector performance",
}
#: Topics about sectors: their search adds the holdings' sector names.
SECTOR_TOPICS = frozenset({"sector_performance", HOLDINGS_TOPIC, MARKET_CONTEXT_TOPIC})
#: Fewer daily returns than ``FEW_OBSERVATIONS`` make every figure shaky (as in the
#: portfolio analysis and the insights), and fewer than this make them little more than noise.
VERY_FEW_OBSERVATIONS = 20
_PENALTY_VERY_FEW = 0.4
_PENALTY_FEW = 0.2
_PENALTY_UNPRICED = 0.15
_PENALTY_NO_BENCHMARK = 0.15
_PENALTY_NO_KNOWLEDGE = 0.2
_PENALTY_NO_CORRELATION = 0.15
_PENALTY_PARTIAL = 0.05
_MIN_CONFIDENCE = 0.05


class _Window(BaseModel):
    """The dates of any upstream output that has them (an analysis, an earlier research)."""

    # Only the dates are read; the rest of the output is the upstream task's business.
    model_config = ConfigDict(extra="ignore")

    start: date
    end: date


def referenced_window(ref: OutputRef, output: Any) -> ResearchWindow:
    """The start and end of ``output``, the upstream output ``ref`` names.

    ``output`` is what ``upstream.referenced_output`` found (None: the run has none).
    """
    if output is None:
        raise DependencyFailureError(
            f"timeframe {ref!s} names {ref.task_id}, whose output this run does not have: "
            "add a data_flow or prerequisite edge from it",
            ref=str(ref),
            missing=[ref.task_id],
        )
    candidates = [output, output.get("timeframe")] if isinstance(output, Mapping) else []
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            try:
                found = _Window.model_validate(candidate)
            except ValidationError:
                continue
            if found.start > found.end:
                break
            return ResearchWindow(
                start=found.start,
                end=found.end,
                source=f"the window of {ref.task_id}'s output ({ref!s})",
            )
    raise InvalidInputError(
        f"timeframe {ref!s}: the output of {ref.task_id} has no valid start and end dates",
        ref=str(ref),
    )


def relative_window(timeframe: Timeframe, end: date, first_available: date) -> ResearchWindow:
    """``timeframe`` counted back from ``end`` (MAX: from the first available price)."""
    # Imported here: analytics pulls in pandas, and this module is imported cheaply.
    from tasks.portfolio.analytics import window_start

    return ResearchWindow(
        start=window_start(end, timeframe, first_available),
        end=end,
        timeframe=timeframe,
        source=f"{timeframe.value} up to the latest price date of the instruments studied",
    )


def topic_query(topic: str, sectors: Sequence[str] = ()) -> str:
    """Search text for ``topic``; sector topics add the holdings' sectors.

    The search ORs the words, so the sector names are only added where sectors are the
    subject: elsewhere they would outrank the topic's own words.
    """
    base = TOPIC_QUERIES.get(topic) or topic.replace("_", " ").replace("-", " ")
    if topic not in SECTOR_TOPICS:
        return base
    named = sorted({s for s in sectors if s != UNCLASSIFIED})
    return " ".join([base, *named])


def merge_hits(results: Sequence[tuple[str, Sequence[KnowledgeHit]]]) -> list[KnowledgeRef]:
    """One ranked list from per-topic searches: interleaved by position, first find kept.

    Scores of different searches are not comparable, so the merge takes each search's
    first hit, then each one's second, and so on; an item found twice keeps its earlier
    rank and lists every topic that found it.
    """
    merged: dict[int, KnowledgeRef] = {}
    depth = max((len(hits) for _, hits in results), default=0)
    for position in range(depth):
        for topic, hits in results:
            if position >= len(hits):
                continue
            hit = hits[position]
            known = merged.get(hit.item_id)
            if known is not None:
                if topic not in known.topics:
                    known.topics.append(topic)
                continue
            merged[hit.item_id] = KnowledgeRef(
                item_id=hit.item_id,
                title=hit.title,
                snippet=hit.snippet,
                rank=len(merged) + 1,
                score=hit.rank,
                tags=list(hit.tags),
                source=hit.source,
                topics=[topic],
            )
    return list(merged.values())


def research_confidence(
    *,
    observations: int,
    unpriced: Sequence[str],
    late_listed: Sequence[str],
    has_benchmark: bool,
    knowledge_hits: int,
    topics: Sequence[str],
    correlations: Correlations,
) -> tuple[float, list[str]]:
    """A confidence in [0.05, 1] and the reason for each point it loses."""
    score, reasons = 1.0, []
    if observations < VERY_FEW_OBSERVATIONS:
        score -= _PENALTY_VERY_FEW
        reasons.append(f"only {observations} daily returns in the window")
    elif observations < FEW_OBSERVATIONS:
        score -= _PENALTY_FEW
        reasons.append(f"only {observations} daily returns in the window")
    if unpriced:
        score -= _PENALTY_UNPRICED
        reasons.append(f"no prices in the window for {', '.join(sorted(unpriced))}")
    if late_listed:
        score -= _PENALTY_PARTIAL
        reasons.append(
            f"priced only from inside the window (listed later): {', '.join(sorted(late_listed))}"
        )
    if not has_benchmark:
        score -= _PENALTY_NO_BENCHMARK
        reasons.append("no benchmark prices in the window: no market trend")
    if knowledge_hits == 0:
        score -= _PENALTY_NO_KNOWLEDGE
        reasons.append(f"the knowledge base has nothing on {', '.join(topics)}")
    if correlations.target is not None and not correlations.computed:
        score -= _PENALTY_NO_CORRELATION
        reasons.append(f"correlations not computed: {correlations.skipped_reason}")
    elif correlations.computed and correlations.skipped_reason:
        score -= _PENALTY_PARTIAL
        reasons.append(f"correlations incomplete: {correlations.skipped_reason}")
    return max(_MIN_CONFIDENCE, round(score, 4)), reasons


def correlations_skipped(
    target: CorrelationTarget | None, has_analysis: bool, threshold: float
) -> Correlations | None:
    """Why no correlations are computed (None: they are, over the analysis's holdings)."""
    if target is None:
        return Correlations(
            target=None,
            computed=False,
            skipped_reason="correlate_with not set: nothing was asked to correlate with",
            threshold=threshold,
        )
    if not has_analysis:
        return Correlations(
            target=target,
            computed=False,
            skipped_reason="no portfolio analysis among the inputs: correlating with "
            "portfolio holdings needs an analyze_portfolio task upstream",
            threshold=threshold,
        )
    return None


def research_observations(
    facts: Sequence[InstrumentFacts], weights: Mapping[str, float], benchmark: int
) -> int:
    """Daily returns the findings rest on: the shortest holding's, else the market's best."""
    held = [f.observations for f in facts if f.symbol in weights]
    if held:
        return min(held)
    return max([benchmark, *(f.observations for f in facts)])


def trend_observations(bench: pd.Series | None, window: ResearchWindow) -> int:
    """Daily returns of the benchmark inside the window (0 without a benchmark)."""
    if bench is None:
        return 0
    # Imported here, like analytics above: this module is imported cheaply.
    import pandas as pd

    inside = bench.dropna()
    return max(int((inside.index >= pd.Timestamp(window.start)).sum()) - 1, 0)
