"""The trading bot: its parameters, the deterministic sample data, and its rendering.

The bot's parameters come from an upstream portfolio analysis (or from documented
defaults without one); its sample price fixture, like the example analysis a report
generator ships (:func:`sample_analysis`), comes from fixed formulas on a fixed calendar,
so the same inputs always give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tasks.errors import InvalidInputError
from tasks.workspace.codegen_env import Code, RenderedFiles, base_values, render_layers
from tasks.workspace.codegen_inputs import analysed_risk, analysed_weights, find_analysis, unknown

#: file_type spellings the trading bot accepts, to the language it is generated in.
#: TypeScript gets the JavaScript bot (node 20 runs it with no compiler or install step).
_BOT_LANGUAGES: dict[str, str] = {
    "python": "python",
    "py": "python",
    "javascript": "javascript",
    "js": "javascript",
    "typescript": "javascript",
    "ts": "javascript",
}

#: Strategy defaults, used when no portfolio analysis is upstream (documented in the
#: generated STRATEGY.md and config module).
DEFAULT_SYMBOLS: tuple[str, ...] = ("AAA", "BBB", "CCC")
DEFAULT_WEIGHTS: tuple[float, ...] = (0.4, 0.35, 0.25)
DEFAULT_VOLATILITY_TARGET = 0.15
DEFAULT_DRAWDOWN_STOP = 0.20
#: Bounds on the analysis-derived figures, so a degenerate analysis (a zero-volatility
#: cash-like portfolio, a -100 % drawdown) still yields a bot that trades sensibly.
VOLATILITY_TARGET_BOUNDS = (0.05, 0.60)
DRAWDOWN_STOP_BOUNDS = (0.05, 0.50)
#: How many symbols the sample price fixture covers (the largest target weights first).
SAMPLE_SYMBOL_LIMIT = 5
SAMPLE_DAYS = 300
SAMPLE_START = date(2023, 1, 2)


# --- parameters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotParameters:
    """The trading bot's parameters, from the analysis or from the documented defaults."""

    source: str
    portfolio_name: str | None
    currency: str | None
    #: Symbols by target weight (largest first), then name.
    symbols: tuple[str, ...]
    target_weights: tuple[float, ...]
    volatility_target: float
    analysed_volatility: float | None
    drawdown_stop: float
    analysed_max_drawdown: float | None
    top_symbol: str | None
    sample_symbols: tuple[str, ...]


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def bot_parameters(analysis: Mapping[str, Any] | None) -> BotParameters:
    """Derive the bot's parameters from a PortfolioAnalysis dump (None: the defaults).

    Target weights are the analysed end weights (long only: negative weights count as 0,
    renormalised to sum to 1; equal weights when none is positive). The volatility target
    is the analysed annualised volatility and the drawdown stop the analysed worst drawdown,
    each clamped to sane bounds, so the bot runs at the risk the portfolio has shown.
    """
    if analysis is None:
        return BotParameters(
            source="defaults",
            portfolio_name=None,
            currency=None,
            symbols=DEFAULT_SYMBOLS,
            target_weights=DEFAULT_WEIGHTS,
            volatility_target=DEFAULT_VOLATILITY_TARGET,
            analysed_volatility=None,
            drawdown_stop=DEFAULT_DRAWDOWN_STOP,
            analysed_max_drawdown=None,
            top_symbol=None,
            sample_symbols=DEFAULT_SYMBOLS,
        )
    weights = analysed_weights(analysis)
    if not weights:
        raise InvalidInputError("portfolio analysis has no positions: nothing for a bot to trade")
    total = math.fsum(weights.values())
    normalised = (
        {s: w / total for s, w in weights.items()}
        if total > 0
        else {s: 1.0 / len(weights) for s in weights}
    )
    ordered = sorted(normalised.items(), key=lambda item: (-item[1], item[0]))
    volatility, max_drawdown, top = analysed_risk(analysis)
    name = analysis.get("portfolio_name")
    currency = analysis.get("currency")
    return BotParameters(
        source="analysis",
        portfolio_name=name if isinstance(name, str) else None,
        currency=currency if isinstance(currency, str) else None,
        symbols=tuple(s for s, _ in ordered),
        target_weights=tuple(w for _, w in ordered),
        volatility_target=(
            _clamp(volatility, VOLATILITY_TARGET_BOUNDS)
            if volatility is not None
            else DEFAULT_VOLATILITY_TARGET
        ),
        analysed_volatility=volatility,
        drawdown_stop=(
            _clamp(abs(max_drawdown), DRAWDOWN_STOP_BOUNDS)
            if max_drawdown is not None
            else DEFAULT_DRAWDOWN_STOP
        ),
        analysed_max_drawdown=max_drawdown,
        top_symbol=top,
        sample_symbols=tuple(s for s, _ in ordered[:SAMPLE_SYMBOL_LIMIT]),
    )


# --- deterministic sample data ---------------------------------------------------------------


def business_days(start: date, count: int) -> list[date]:
    """``count`` consecutive weekdays from ``start`` (holidays are not modelled)."""
    days: list[date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def sample_close(index: int, day: int) -> float:
    """The fixture's close of the ``index``-th symbol on trading day ``day``.

    A drifting price with a slow cycle (so moving averages cross a few times a year) and a
    fast wiggle (so realised volatility is not zero); rounded to cents, so the CSV text is
    the same on every platform.
    """
    base = 40.0 + 15.0 * index
    drift = 0.0003 + 0.0001 * (index % 3)
    slow = 0.10 * math.sin(2 * math.pi * day / (70 + 17 * index) + 0.7 * index)
    fast = 0.02 * math.sin(2 * math.pi * day / (9 + 2 * index))
    return round(base * math.exp(drift * day) * (1 + slow) * (1 + fast), 2)


def sample_prices_csv(symbols: Sequence[str], days: int = SAMPLE_DAYS) -> str:
    """The sample price fixture as long-format CSV text: ``date,symbol,close``."""
    out = io.StringIO()
    # The csv module quotes symbols holding commas, quotes or newlines, so a hostile
    # symbol stays one cell.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "symbol", "close"])
    for t, day in enumerate(business_days(SAMPLE_START, days)):
        for i, symbol in enumerate(symbols):
            writer.writerow([day.isoformat(), symbol, f"{sample_close(i, t):.2f}"])
    return out.getvalue()


def sample_analysis() -> dict[str, Any]:
    """A small PortfolioAnalysis dump (JSON mode) for a report generator without upstream.

    Figures are consistent with each other (weights sum to 1, the series' drawdown is the
    running drawdown of its values) so reports made from it look plausible.
    """
    days = business_days(date(2024, 1, 1), 24)
    values: list[float] = []
    bench: list[float] = []
    for t in range(len(days)):
        values.append(round(100_000 * (1 + 0.004 * t + 0.03 * math.sin(t / 3)), 2))
        bench.append(round(100_000 * (1 + 0.003 * t + 0.02 * math.sin(t / 4)), 2))
    series: list[dict[str, Any]] = []
    peak = values[0]
    for day, value, bvalue in zip(days, values, bench, strict=True):
        peak = max(peak, value)
        series.append(
            {
                "date": day.isoformat(),
                "value": value,
                "benchmark_value": bvalue,
                "drawdown": round(value / peak - 1, 6),
            }
        )
    positions = [
        ("AAA", 120.0, 310.25, 0.45, 0.18, 0.081),
        ("BBB", 200.0, 150.10, 0.36, 0.09, 0.032),
        ("CCC", 80.0, 199.40, 0.19, -0.04, -0.008),
    ]
    return {
        "portfolio_id": "sample",
        "portfolio_name": "Sample portfolio",
        "currency": "USD",
        "analysis_type": "comprehensive",
        "timeframe": "1month",
        "start": days[0].isoformat(),
        "end": days[-1].isoformat(),
        "start_value": values[0],
        "end_value": values[-1],
        "cash": 2_500.0,
        "returns": {
            "total_return": round(values[-1] / values[0] - 1, 6),
            "annualized_return": 0.412,
            "observations": len(days) - 1,
        },
        "risk": {
            "volatility": 0.142,
            "sharpe": 1.31,
            "sortino": 1.9,
            "beta": 0.92,
            "alpha": 0.021,
            "var_historical": 0.0141,
            "var_parametric": 0.0152,
            "cvar_historical": 0.0188,
            "cvar_parametric": 0.0191,
            "calmar": 4.1,
            "risk_free_rate": 0.0,
            "var_confidence": 0.95,
        },
        "drawdown": {
            "max_drawdown": min(p["drawdown"] for p in series),
            "peak_date": None,
            "trough_date": None,
            "recovery_date": None,
            "duration_days": None,
        },
        "benchmark": {
            "symbol": "BENCH",
            "total_return": round(bench[-1] / bench[0] - 1, 6),
            "annualized_return": 0.33,
            "volatility": 0.12,
            "max_drawdown": -0.031,
            "excess_annualized_return": 0.082,
            "tracking_error": 0.05,
            "information_ratio": 1.64,
        },
        "positions": [
            {
                "symbol": symbol,
                "quantity": quantity,
                "price": price,
                "market_value": round(quantity * price, 2),
                "weight": weight,
                "period_return": period_return,
                "contribution": contribution,
            }
            for symbol, quantity, price, weight, period_return, contribution in positions
        ],
        "concentration": {
            "hhi": 0.3682,
            "effective_positions": 2.716,
            "top_symbol": "AAA",
            "top_weight": 0.45,
        },
        "correlation": {
            "symbols": ["AAA", "BBB", "CCC"],
            "matrix": [[1.0, 0.42, -0.1], [0.42, 1.0, 0.18], [-0.1, 0.18, 1.0]],
        },
        "series": series,
        "quality": {
            "confidence": 0.9,
            "reasons": ["built-in sample data, not a real portfolio"],
            "observations": len(days) - 1,
            "missing_ratio": 0.0,
        },
    }


# --- rendering -------------------------------------------------------------------------------


def _bot_language(file_type: str | None) -> str:
    if file_type is None:
        return "python"
    if file_type not in _BOT_LANGUAGES:
        raise unknown("file_type", file_type, sorted(_BOT_LANGUAGES))
    return _BOT_LANGUAGES[file_type]


def render_bot(
    project_name: str, file_type: str | None, upstream: Mapping[str, Any] | None
) -> RenderedFiles:
    """The ``trading-bot`` code type (``project_name`` is an already validated slug)."""
    language = _bot_language(file_type)
    params = bot_parameters(find_analysis(upstream))
    values = {
        **base_values(project_name),
        "p": params,
        "weights": dict(zip(params.symbols, params.target_weights, strict=True)),
        "typescript_note": file_type in ("typescript", "ts"),
        "sample_csv": Code(sample_prices_csv(params.sample_symbols)),
        "sample_days": SAMPLE_DAYS,
        "vol_bounds": VOLATILITY_TARGET_BOUNDS,
        "stop_bounds": DRAWDOWN_STOP_BOUNDS,
        "defaults": {
            "volatility_target": DEFAULT_VOLATILITY_TARGET,
            "drawdown_stop": DEFAULT_DRAWDOWN_STOP,
            "symbols": DEFAULT_SYMBOLS,
        },
    }
    return render_layers(
        ("code/trading-bot/common", f"code/trading-bot/{language}"),
        values,
        pkg=str(values["pkg"]),
    )
