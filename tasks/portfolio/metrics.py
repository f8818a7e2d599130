"""Pure portfolio metrics: one function per figure, numpy in, plain floats out, no I/O.

Every function follows :class:`tasks.portfolio.analysis_models.Conventions`: simple daily
returns, sample deviations (ddof=1), geometric annualisation of returns and
``sqrt(periods_per_year)`` scaling of deviations. Inputs are 1-D arrays (or Series) of
finite daily simple returns unless said otherwise.

A figure that is not defined for its input -- fewer than two returns, a zero deviation in
a denominator -- is ``None``, never NaN or inf, because the figures end up in pydantic
models serialised to JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Daily deviations below this are the rounding noise of a constant series, not risk:
#: subtracting a constant daily risk-free rate leaves ~1e-20 of noise, which would turn a
#: Sharpe ratio of "undefined" into -1e17. Real daily volatilities are 1e-4 or more.
ZERO_STD_TOLERANCE = 1e-12
#: A sample deviation needs two observations.
MIN_RETURNS_FOR_VARIANCE = 2

_STANDARD_NORMAL = NormalDist()


def as_returns(returns: npt.ArrayLike) -> FloatArray:
    """``returns`` as a 1-D float64 array; ValueError if it holds NaN or inf."""
    array = np.asarray(returns, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("returns must be finite (no NaN or inf)")
    return array


def daily_risk_free(annual_rate: float, periods_per_year: int) -> float:
    """The per-period rate that compounds to ``annual_rate``: ``(1 + rf)^(1/ppy) - 1``."""
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0)


def annualized_return(total: float, observations: int, periods_per_year: int) -> float | None:
    """Geometric annualisation ``(1 + total)^(ppy / n) - 1``.

    0.0 for no observations (nothing happened), -1.0 for a total loss, and None when the
    result overflows a float (a huge return over a handful of days).
    """
    if observations <= 0:
        return 0.0
    if total <= -1.0:
        return -1.0
    try:
        # log1p/expm1 keep precision for the small daily figures of short windows.
        return math.expm1(math.log1p(total) * periods_per_year / observations)
    except OverflowError:
        return None


def _sample_std(values: FloatArray) -> float:
    std = float(np.std(values, ddof=1))
    return 0.0 if std < ZERO_STD_TOLERANCE else std


def annualized_volatility(returns: npt.ArrayLike, periods_per_year: int) -> float | None:
    """``std(r, ddof=1) * sqrt(ppy)``; 0.0 for a constant series, None below two returns."""
    r = as_returns(returns)
    if r.size < MIN_RETURNS_FOR_VARIANCE:
        return None
    return _sample_std(r) * math.sqrt(periods_per_year)


def sharpe_ratio(
    returns: npt.ArrayLike, risk_free_daily: float, periods_per_year: int
) -> float | None:
    """``mean(r - rf_d) / std(r - rf_d) * sqrt(ppy)`` (empyrical's definition).

    None when the excess returns have no deviation (a constant series): the ratio is
    undefined there, and empyrical's inf or quantstats' NaN would not serialise.
    """
    r = as_returns(returns)
    if r.size < MIN_RETURNS_FOR_VARIANCE:
        return None
    excess = r - risk_free_daily
    std = _sample_std(excess)
    if std == 0.0:
        return None
    return float(np.mean(excess)) / std * math.sqrt(periods_per_year)


def sortino_ratio(
    returns: npt.ArrayLike, risk_free_daily: float, periods_per_year: int
) -> float | None:
    """``mean(r - rf_d) / downside_dev * sqrt(ppy)``; None with no downside at all."""
    r = as_returns(returns)
    if r.size < MIN_RETURNS_FOR_VARIANCE:
        return None
    # Over all periods, not only the losing ones (empyrical's downside_risk).
    downside = float(np.sqrt(np.mean(np.minimum(r - risk_free_daily, 0.0) ** 2)))
    if downside < ZERO_STD_TOLERANCE:
        return None
    return float(np.mean(r - risk_free_daily)) / downside * math.sqrt(periods_per_year)


def beta_alpha(
    portfolio_returns: npt.ArrayLike,
    benchmark_returns: npt.ArrayLike,
    risk_free_daily: float,
    periods_per_year: int,
) -> tuple[float | None, float | None]:
    """Beta ``cov(r_p, r_b) / var(r_b)`` and Jensen's alpha, annualised arithmetically.

    ``alpha = (mean(r_p - rf_d) - beta * mean(r_b - rf_d)) * ppy``. Both None below two
    paired returns or when the benchmark does not move.
    """
    rp, rb = as_returns(portfolio_returns), as_returns(benchmark_returns)
    if rp.shape != rb.shape:
        raise ValueError(f"paired returns differ in length: {rp.size} and {rb.size}")
    if rp.size < MIN_RETURNS_FOR_VARIANCE or _sample_std(rb) == 0.0:
        return None, None
    deviation_b = rb - rb.mean()
    # Same ddof in numerator and denominator, so it cancels; written out for clarity.
    beta = float(np.dot(rp - rp.mean(), deviation_b) / np.dot(deviation_b, deviation_b))
    alpha_daily = float(np.mean(rp - risk_free_daily)) - beta * float(np.mean(rb - risk_free_daily))
    return beta, alpha_daily * periods_per_year


def correlation(x: npt.ArrayLike, y: npt.ArrayLike) -> float | None:
    """Pearson correlation of two paired series; None if either does not move."""
    a, b = as_returns(x), as_returns(y)
    if a.shape != b.shape:
        raise ValueError(f"paired series differ in length: {a.size} and {b.size}")
    if a.size < MIN_RETURNS_FOR_VARIANCE or _sample_std(a) == 0.0 or _sample_std(b) == 0.0:
        return None
    da, db = a - a.mean(), b - b.mean()
    value = float(np.dot(da, db) / math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db))))
    return min(1.0, max(-1.0, value))


def tracking_error_information_ratio(
    portfolio_returns: npt.ArrayLike, benchmark_returns: npt.ArrayLike, periods_per_year: int
) -> tuple[float | None, float | None]:
    """Tracking error ``std(r_p - r_b) * sqrt(ppy)`` and IR ``mean(r_p - r_b) * ppy / TE``.

    The IR is None when the tracking error is zero (the portfolio is the benchmark).
    """
    active = as_returns(portfolio_returns) - as_returns(benchmark_returns)
    if active.size < MIN_RETURNS_FOR_VARIANCE:
        return None, None
    tracking_error = _sample_std(active) * math.sqrt(periods_per_year)
    if tracking_error == 0.0:
        return 0.0, None
    return tracking_error, float(np.mean(active)) * periods_per_year / tracking_error


def historical_var_cvar(returns: npt.ArrayLike, confidence: float) -> tuple[float, float] | None:
    """One-day historical VaR and CVaR at ``confidence``, as positive losses.

    ``VaR = -quantile(r, 1 - c)`` (linear interpolation), ``CVaR = -mean(r | r <= q)``.
    """
    r = as_returns(returns)
    if r.size < MIN_RETURNS_FOR_VARIANCE:
        return None
    quantile = float(np.quantile(r, 1.0 - confidence, method="linear"))
    # 0.0 - x rather than -x: a flat series reports 0.0, not -0.0.
    value_at_risk = 0.0 - quantile
    # The tail is never empty: a linear-interpolated quantile is >= min(r).
    expected_shortfall = 0.0 - float(np.mean(r[r <= quantile]))
    # The tail's mean lies between min(r) and q; only rounding could put it outside.
    return value_at_risk, min(max(expected_shortfall, value_at_risk), 0.0 - float(r.min()))


def parametric_var_cvar(returns: npt.ArrayLike, confidence: float) -> tuple[float, float] | None:
    """One-day normal VaR ``-(mu + z sigma)`` and CVaR ``-(mu - sigma phi(z) / (1 - c))``.

    ``z = z_(1 - c)`` is the standard normal quantile (negative for c > 0.5), ``sigma`` the
    sample deviation.
    """
    r = as_returns(returns)
    if r.size < MIN_RETURNS_FOR_VARIANCE:
        return None
    mu, sigma = float(np.mean(r)), _sample_std(r)
    tail_probability = 1.0 - confidence
    z = _STANDARD_NORMAL.inv_cdf(tail_probability)
    value_at_risk = 0.0 - (mu + z * sigma)
    expected_shortfall = 0.0 - (mu - sigma * _STANDARD_NORMAL.pdf(z) / tail_probability)
    return value_at_risk, expected_shortfall


def drawdown_series(values: npt.ArrayLike) -> FloatArray:
    """``V_t / max(V_0..V_t) - 1`` of a positive value series (0 at every new high)."""
    series = np.asarray(values, dtype=np.float64)
    return series / np.maximum.accumulate(series) - 1.0


@dataclass(frozen=True)
class MaxDrawdown:
    """The deepest drawdown and where it sits (row positions in the value series)."""

    #: Negative fraction, or 0.0 if the value never fell below a previous high.
    max_drawdown: float
    #: Last row at the high-water mark before the trough (empyrical's peak).
    peak_index: int | None
    trough_index: int | None
    #: First row after the trough where the value is back at the peak; None if never.
    recovery_index: int | None


def max_drawdown(values: npt.ArrayLike) -> MaxDrawdown:
    """The maximum drawdown of a positive value series, with peak, trough and recovery."""
    series = np.asarray(values, dtype=np.float64)
    if series.size == 0:
        return MaxDrawdown(0.0, None, None, None)
    drawdowns = drawdown_series(series)
    trough = int(np.argmin(drawdowns))
    deepest = float(drawdowns[trough])
    if deepest >= 0.0:
        return MaxDrawdown(0.0, None, None, None)
    # Row 0 is always at its own high, so the search is never empty.
    peak = int(np.flatnonzero(drawdowns[: trough + 1] == 0.0)[-1])
    regained = np.flatnonzero(series[trough + 1 :] >= series[peak])
    recovery = trough + 1 + int(regained[0]) if regained.size else None
    return MaxDrawdown(deepest, peak, trough, recovery)


def correlation_matrix(returns: npt.ArrayLike) -> FloatArray:
    """Pearson correlations of the columns of a (periods x instruments) return matrix.

    NaN marks a missing return; each pair then uses the periods where both are present
    (pandas' ``DataFrame.corr`` semantics), computed with five matrix products instead of
    a loop over pairs. A pair with fewer than two common periods or no deviation is NaN;
    the diagonal is 1 wherever the column moves.
    """
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"returns must be two-dimensional, got shape {x.shape}")
    if x.shape[0] < MIN_RETURNS_FOR_VARIANCE:
        return np.full((x.shape[1], x.shape[1]), np.nan)
    present = ~np.isnan(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        if present.all():
            centred = x - x.mean(axis=0)
            norms = np.sqrt(np.einsum("ij,ij->j", centred, centred))
            moving = norms >= ZERO_STD_TOLERANCE * math.sqrt(max(x.shape[0] - 1, 1))
            scaled = centred / np.where(moving, norms, 1.0)
            matrix = scaled.T @ scaled
            matrix[~moving, :] = np.nan
            matrix[:, ~moving] = np.nan
        else:
            mask = present.astype(np.float64)
            filled = np.where(present, x, 0.0)
            count = mask.T @ mask  # periods where both i and j are present
            sum_i = filled.T @ mask  # sum of x_i over those periods
            sum_sq_i = (filled * filled).T @ mask
            cross = filled.T @ filled
            covariance = cross - sum_i * sum_i.T / count
            variance_i = sum_sq_i - sum_i * sum_i / count
            variance_j = variance_i.T
            floor = ZERO_STD_TOLERANCE**2 * np.maximum(count - 1.0, 1.0)
            valid = (count >= MIN_RETURNS_FOR_VARIANCE) & (variance_i > floor)
            valid &= variance_j > floor
            matrix = np.where(valid, covariance / np.sqrt(variance_i * variance_j), np.nan)
    np.clip(matrix, -1.0, 1.0, out=matrix)
    diagonal = np.diagonal(matrix).copy()
    np.fill_diagonal(matrix, np.where(np.isnan(diagonal), np.nan, 1.0))
    result: FloatArray = matrix
    return result


def herfindahl_index(weights: npt.ArrayLike) -> float:
    """Herfindahl-Hirschman index ``sum(w^2)`` of weights that sum to 1."""
    w = np.asarray(weights, dtype=np.float64)
    return float(np.dot(w, w))


def forward_fill(prices: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
    """Forward-fill each column of a (periods x instruments) matrix; never back-fill.

    Returns the filled matrix (still NaN before each column's first value) and the row of
    each column's first value (the number of rows for an all-NaN column).
    """
    matrix = np.asarray(prices, dtype=np.float64)
    rows, columns = matrix.shape
    present = ~np.isnan(matrix)
    source_rows = np.where(present, np.arange(rows)[:, None], 0)
    np.maximum.accumulate(source_rows, axis=0, out=source_rows)
    filled = matrix[source_rows, np.arange(columns)]
    first_rows = np.where(present.any(axis=0), present.argmax(axis=0), rows).astype(np.intp)
    return filled, first_rows


def time_weighted_wealth(values: npt.ArrayLike, inflows: npt.ArrayLike) -> FloatArray:
    """Wealth index of a value series with external inflows: ``V_t / units_t``.

    ``units`` grows by ``V_t / (V_t - inflow_t)`` on an inflow date, like a fund issuing
    units at its price, so an inflow is not a gain: ``W_t / W_(t-1) - 1 = (V_t - inflow_t)
    / V_(t-1) - 1``. Without inflows every factor is exactly 1 and ``W`` is ``V`` exactly.
    """
    value = np.asarray(values, dtype=np.float64)
    inflow = np.asarray(inflows, dtype=np.float64)
    if not inflow.any():
        return value.copy()
    return value / np.cumprod(value / (value - inflow))


@dataclass(frozen=True)
class BuyAndHold:
    """A buy-and-hold valuation of fixed quantities plus cash, row by row."""

    prices: FloatArray  # forward-filled, NaN before each instrument's first price
    first_rows: IntArray  # row of each instrument's first price
    values: FloatArray  # market value of the holdings plus cash
    inflows: FloatArray  # market value of instruments first priced on that row (row > 0)
    wealth: FloatArray  # time-weighted wealth index, == values without late listings
    returns: FloatArray  # daily simple returns of the wealth index
    missing_ratio: float  # share of NaN prices before filling
    gap_ratio: float  # share of NaN prices after an instrument's first price


def buy_and_hold(prices: npt.ArrayLike, quantities: npt.ArrayLike, cash: float) -> BuyAndHold:
    """Value ``sum_i q_i P_(t,i) + cash`` of (periods x instruments) prices with NaN gaps.

    Prices are forward-filled, and NaN (worth 0) before an instrument's first price. An
    instrument first priced on row k > 0 brings ``q_i P_(k,i)`` on row k: an inflow, not
    a gain. The caller checks ``values - inflows > 0`` before trusting the returns.
    """
    raw = np.asarray(prices, dtype=np.float64)
    quantity = np.asarray(quantities, dtype=np.float64)
    filled, first_rows = forward_fill(raw)
    values = np.where(np.isnan(filled), 0.0, filled) @ quantity + cash
    late = np.flatnonzero((first_rows > 0) & (first_rows < raw.shape[0]))
    entry_values = quantity[late] * filled[first_rows[late], late]
    inflows = np.bincount(first_rows[late], weights=entry_values, minlength=values.size)
    with np.errstate(divide="ignore", invalid="ignore"):  # the caller rejects V <= 0
        wealth = time_weighted_wealth(values, inflows)
        returns = wealth[1:] / wealth[:-1] - 1.0
    missing, cells = np.isnan(raw), max(raw.size, 1)
    gaps = np.count_nonzero(missing & (np.arange(raw.shape[0])[:, None] > first_rows))
    return BuyAndHold(
        prices=filled,
        first_rows=first_rows,
        values=values,
        inflows=inflows.astype(np.float64),
        wealth=wealth,
        returns=returns,
        missing_ratio=float(np.count_nonzero(missing)) / cells,
        gap_ratio=float(gaps) / cells,
    )


def align_closes(closes: pd.Series, dates: pd.DatetimeIndex) -> tuple[FloatArray, int]:
    """``closes`` on ``dates`` (the last valid close on or before each date, else NaN).

    Also returns how many dates carry an earlier close because they have none of their
    own. Non-positive and non-finite closes are dropped first. The union reindex lets a
    close on a date missing from ``dates`` carry forward; nothing is carried backward.
    """
    if not isinstance(closes.index, pd.DatetimeIndex):
        raise TypeError("closes must have a DatetimeIndex")
    series = pd.Series(closes.to_numpy(dtype=np.float64, na_value=np.nan), closes.index)
    series = series[np.isfinite(series) & (series > 0.0)]
    series = series[~series.index.duplicated(keep="last")].sort_index()
    aligned = series.reindex(series.index.union(dates)).ffill().reindex(dates).to_numpy()
    carried = np.count_nonzero(~dates.isin(series.index) & ~np.isnan(aligned))
    return aligned.astype(np.float64), int(carried)


def downsample_indices(length: int, max_points: int, keep: set[int]) -> IntArray:
    """At most ``max_points`` sorted row positions out of ``length``, evenly spread.

    Always includes the first and last rows and every position in ``keep``.
    """
    wanted = {0, length - 1} | {i for i in keep if 0 <= i < length}
    if length <= max_points:
        return np.arange(length, dtype=np.intp)
    spare = max_points - len(wanted)
    if spare < 0:
        raise ValueError(f"{len(wanted)} rows must be kept, more than max_points={max_points}")
    # spare + 2 grid points include rows 0 and length - 1, which are already wanted.
    grid = np.round(np.linspace(0, length - 1, spare + 2)).astype(np.intp)
    return np.union1d(grid, np.fromiter(wanted, dtype=np.intp, count=len(wanted)))
