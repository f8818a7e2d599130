"""The volatility regime: recent volatility against its baseline. Pure, no I/O.

One definition for every task that speaks of a "volatility regime": RESEARCH_TOPIC (of
the benchmark) and GENERATE_INSIGHTS (of the portfolio's value). The deviations are
:func:`tasks.portfolio.metrics.annualized_volatility`'s, so a baseline that does not move
(within ``ZERO_STD_TOLERANCE``) is no baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy.typing as npt

from tasks.portfolio.analysis_models import VolatilityRegime
from tasks.portfolio.metrics import annualized_volatility, as_returns

#: The volatility regime compares the last ``REGIME_RECENT_DAYS`` daily returns (a trading
#: month) with the last ``REGIME_BASELINE_DAYS`` (a trading year, the recent ones included) ...
REGIME_RECENT_DAYS = 21
REGIME_BASELINE_DAYS = 252
#: ... which needs clearly more returns than the recent figure, else both are one ...
REGIME_MIN_BASELINE_DAYS = 3 * REGIME_RECENT_DAYS
#: ... and is high at 1.25x the baseline or more, low at 0.8x or less.
REGIME_HIGH_RATIO = 1.25
REGIME_LOW_RATIO = 0.8


@dataclass(frozen=True)
class VolatilityReading:
    """The volatility regime of a return series and the figures it rests on."""

    regime: VolatilityRegime
    #: Annualised volatility of the last ``REGIME_RECENT_DAYS`` returns (None: fewer).
    recent: float | None
    #: Annualised volatility of the last ``baseline_days`` returns (None: too few).
    baseline: float | None
    #: recent / baseline (None when either is missing or the baseline is zero).
    ratio: float | None
    #: How many returns the baseline used (at most ``REGIME_BASELINE_DAYS``).
    baseline_days: int


def regime_of(recent: float | None, baseline: float | None) -> VolatilityRegime:
    """HIGH at ``REGIME_HIGH_RATIO`` x the baseline or more, LOW at ``REGIME_LOW_RATIO`` or less."""
    if recent is None or baseline is None or baseline <= 0.0:
        return VolatilityRegime.UNKNOWN
    ratio = recent / baseline
    if ratio >= REGIME_HIGH_RATIO:
        return VolatilityRegime.HIGH
    if ratio <= REGIME_LOW_RATIO:
        return VolatilityRegime.LOW
    return VolatilityRegime.NORMAL


def volatility_regime(returns: npt.ArrayLike, periods_per_year: int) -> VolatilityReading:
    """The volatility regime of daily ``returns`` (oldest first).

    Recent = the last ``REGIME_RECENT_DAYS`` returns, baseline = the last
    ``REGIME_BASELINE_DAYS`` (fewer if that is all there is, but at least
    ``REGIME_MIN_BASELINE_DAYS``); a baseline that does not move (within
    ``ZERO_STD_TOLERANCE``) gives UNKNOWN.
    """
    r = as_returns(returns)
    window = r[-REGIME_BASELINE_DAYS:]
    recent = (
        annualized_volatility(r[-REGIME_RECENT_DAYS:], periods_per_year)
        if r.size >= REGIME_RECENT_DAYS
        else None
    )
    baseline = (
        annualized_volatility(window, periods_per_year)
        if window.size >= REGIME_MIN_BASELINE_DAYS
        else None
    )
    usable = recent is not None and baseline is not None and baseline > 0.0
    return VolatilityReading(
        regime=regime_of(recent, baseline),
        recent=recent,
        baseline=baseline,
        ratio=recent / baseline if usable and recent is not None and baseline else None,
        baseline_days=int(window.size) if baseline is not None else 0,
    )
