"""SIMULATION: the generated trading bot's own backtest on the real historical closes.

The bot's symbols and target weights are read from its generated config (the upstream
analysis's positions when the config cannot be read); their daily closes over the window
are written into the project as ``validation/historical_prices.csv`` in the bot's own
``date,symbol,close`` format; the bot's backtest runs on that file in the jail
(``node src/index.js FILE`` or the package's ``__main__`` through the runner script) and
its JSON summary is read back. Buy-and-hold of the same weights over the same closes is
computed here, so the report says whether the bot beat holding.

A bot that loses money is a result. The task fails only when the bot cannot be run:
no prices for its symbols, a crash, no summary (ValidationFailureError), a timeout.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import PurePosixPath
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from orchestrator.models.base import StrictModel
from orchestrator.portfolio.market_data import MarketDataProvider
from tasks.errors import InvalidInputError, TaskTimeoutError, ValidationFailureError
from tasks.system.schema_checks import check_prices, labelled, price_records
from tasks.system.validation_models import CheckOutcome, SimulationSummary
from tasks.system.validation_project import ProjectLanguage, ValidationProject, config_literal
from tasks.workspace.codegen_bot import bot_parameters

#: data_source of the shipped history: this many calendar days up to its latest close.
HISTORICAL_MARKET_DATA = "historical_market_data"
HISTORY_WINDOW_DAYS = 730
PRICES_FILE = "historical_prices.csv"
#: Closes of one symbol on each date: symbol -> [(date, close)], dates ascending.
Closes = dict[str, list[tuple[date, float]]]
_JS_WEIGHTS = re.compile(
    r"TARGET_WEIGHTS:\s*Object\.freeze\(Object\.fromEntries\((?P<pairs>\[.*?\])\)\)", re.DOTALL
)
_CAMEL = {
    "initialCapital": "initial_capital",
    "finalEquity": "final_equity",
    "totalReturn": "total_return",
    "maxDrawdown": "max_drawdown",
    "stoppedOn": "stopped_on",
}


class BotSummary(StrictModel):
    """What the generated backtest prints (Python's snake_case or Node's camelCase keys).

    Figures are finite: a bot printing ``Infinity`` or ``NaN`` (which ``json.loads``
    accepts) has printed no summary, and must not beat buy-and-hold by it.
    """

    model_config = ConfigDict(**StrictModel.model_config, allow_inf_nan=False)

    days: int = Field(ge=0)
    trades: int = Field(ge=0)
    initial_capital: float = Field(gt=0)
    final_equity: float
    total_return: float
    max_drawdown: float = Field(le=0)
    stopped_on: str | None = None


# --- pure ----------------------------------------------------------------------------------


def weights_from_python_config(text: str) -> dict[str, float] | None:
    """``TARGET_WEIGHTS`` of a generated ``config.py``, read as a literal (never executed)."""
    return _weights(config_literal(text, "TARGET_WEIGHTS"))


def weights_from_js_config(text: str) -> dict[str, float] | None:
    """``TARGET_WEIGHTS`` of a generated ``config.js`` (a JSON list of [symbol, weight])."""
    match = _JS_WEIGHTS.search(text)
    if match is None:
        return None
    try:
        pairs = json.loads(match.group("pairs"))
    except json.JSONDecodeError:
        return None
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        return None
    return _weights(dict(pairs))


def _weights(value: Any) -> dict[str, float] | None:
    if not isinstance(value, dict) or not value:
        return None
    weights: dict[str, float] = {}
    for symbol, weight in value.items():
        if not isinstance(symbol, str) or not isinstance(weight, int | float):
            return None
        if math.isfinite(weight) and weight > 0:
            weights[symbol] = float(weight)
    return weights or None


def simulation_window(
    data_source: str, analysis: Mapping[str, Any] | None, latest: date
) -> tuple[date, date]:
    """``(start, end)`` of the closes to simulate on.

    ``historical_market_data``: the last :data:`HISTORY_WINDOW_DAYS` days up to ``latest``
    (the newest close of the bot's symbols); a reference to an analysis: its window.
    """
    if data_source == HISTORICAL_MARKET_DATA:
        return latest - timedelta(days=HISTORY_WINDOW_DAYS), latest
    if analysis is not None:
        return date.fromisoformat(str(analysis["start"])), date.fromisoformat(str(analysis["end"]))
    raise InvalidInputError(
        f"data_source {data_source!r} names no price history: use {HISTORICAL_MARKET_DATA!r} "
        "or a reference to a portfolio analysis (<task_id>_data)",
        data_source=data_source,
    )


def prices_csv(closes: Closes) -> str:
    """The bot's long format, one row per day and symbol; closes in shortest exact form."""
    rows = sorted(
        (day, symbol, close) for symbol, points in closes.items() for day, close in points
    )
    lines = ["date,symbol,close"]
    # Generated symbols are slugs of the market table ([A-Z0-9.-]): no CSV quoting needed.
    lines += [f"{day.isoformat()},{symbol},{close!r}" for day, symbol, close in rows]
    return "\n".join(lines) + "\n"


def buy_and_hold(closes: Closes, weights: Mapping[str, float]) -> tuple[float, float]:
    """``(total_return, max_drawdown)`` of buying ``weights`` and holding them, no costs.

    Each symbol is bought at its first close in ``closes`` (its weight waits in cash until
    then); a day without a close keeps the last one. Weights of symbols without closes
    are left out and the rest renormalised.
    """
    held = {s: w for s, w in weights.items() if closes.get(s)}
    total = math.fsum(held.values())
    if total <= 0:
        raise ValueError("no weighted symbol has a close")
    lookup = {s: dict(closes[s]) for s in held}
    first = {s: closes[s][0][1] for s in held}
    last: dict[str, float] = {}
    peak, worst, value = -math.inf, 0.0, 1.0
    for day in sorted({d for s in held for d in lookup[s]}):
        for s in held:
            if day in lookup[s]:
                last[s] = lookup[s][day]
        value = math.fsum(
            held[s] / total * (last[s] / first[s] if s in last else 1.0) for s in held
        )
        peak = max(peak, value)
        worst = min(worst, value / peak - 1)
    return value - 1.0, worst


def parse_bot_summary(stdout: str) -> BotSummary:
    """The backtest's JSON summary; ValidationFailureError when it is not one."""
    try:
        data = json.loads(stdout)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return BotSummary.model_validate({_CAMEL.get(k, k): v for k, v in data.items()})
    except (ValueError, ValidationError) as exc:
        raise ValidationFailureError(
            f"the bot's backtest printed no valid summary: {exc}"[:500], stdout_tail=stdout[-500:]
        ) from exc


# --- against the project -------------------------------------------------------------------


def bot_weights(project: ValidationProject, analysis: Mapping[str, Any] | None) -> dict[str, float]:
    """The bot's target weights: its config, else the analysis's, else an error."""
    if project.language is ProjectLanguage.NODE:
        config, parse = PurePosixPath("src/config.js"), weights_from_js_config
    else:
        config = PurePosixPath("src", project.package(), "config.py")
        parse = weights_from_python_config
    weights = (
        parse(project.read(config).decode("utf-8", "replace")) if project.exists(config) else None
    )
    if weights is None and analysis is not None:
        params = bot_parameters(analysis)
        weights = dict(zip(params.symbols, params.target_weights, strict=True))
    if not weights:
        raise InvalidInputError(
            f"cannot tell which symbols the bot trades: {config} has no TARGET_WEIGHTS and no "
            "portfolio analysis is upstream",
            project_id=project.project_id,
        )
    return weights


def load_closes(
    market: MarketDataProvider, symbols: Sequence[str], window: tuple[date, date]
) -> Closes:
    """Daily closes of ``symbols`` from the market data, NaN days left out."""
    frame = market.closes(list(symbols), start=window[0], end=window[1])
    closes: Closes = {}
    for symbol in frame.columns:
        points = [
            (day.date(), float(v))
            for day, v in zip(frame.index, frame[symbol], strict=True)
            if math.isfinite(v)
        ]
        if points:
            closes[str(symbol)] = points
    return closes


def simulate(
    project: ValidationProject, data_source: str, analysis: Mapping[str, Any] | None
) -> tuple[SimulationSummary, list[CheckOutcome]]:
    """Export the closes, run the bot's backtest on them in the jail, compare with holding."""
    weights = bot_weights(project, analysis)
    market = project.ctx.runtime.portfolio.market
    latest = market.latest_date(sorted(weights))
    if latest is None:
        raise InvalidInputError(
            f"no historical prices for the bot's symbols ({', '.join(sorted(weights))}): "
            "load them first (orchestrator market import, or portfolio seed-demo)",
            symbols=sorted(weights),
        )
    start, end = simulation_window(data_source, analysis, latest)
    closes = load_closes(market, sorted(weights), (start, end))
    if not closes:
        raise InvalidInputError(
            f"no closes of {', '.join(sorted(weights))} between {start} and {end}",
            symbols=sorted(weights),
        )
    missing = sorted(set(weights) - set(closes))
    checks = labelled("prices", check_prices(price_records(closes)))
    checks.append(
        CheckOutcome(
            name="prices.coverage",
            passed=not missing,
            detail=(
                f"no closes for {', '.join(missing)}: the bot trades the other symbols only"
                if missing
                else f"closes for all {len(closes)} symbols the bot trades"
            ),
            figures={"symbols": len(closes), "missing": len(missing)},
        )
    )
    prices_file = project.write(PRICES_FILE, prices_csv(closes).encode())
    if project.language is ProjectLanguage.NODE:
        argv = ["node", "src/index.js", str(prices_file)]
    else:
        argv = ["python", str(project.python_runner()), project.package(), str(prices_file)]
    result = project.run(argv)
    if result.timed_out:
        raise TaskTimeoutError(
            f"the bot's backtest did not finish within {result.timeout_s:g} s",
            timeout_s=result.timeout_s,
        )
    if result.exit_code != 0:
        raise ValidationFailureError(
            f"the bot's backtest failed on the historical prices (exit status "
            f"{result.exit_code}): {(result.stderr_tail or result.stdout_tail)[-500:].strip()}",
            exit_code=result.exit_code,
            prices_file=str(prices_file),
        )
    bot = parse_bot_summary(result.stdout_tail)
    hold_return, hold_drawdown = buy_and_hold(closes, weights)
    days = sorted({d for points in closes.values() for d, _ in points})
    summary = SimulationSummary(
        start=days[0],
        end=days[-1],
        symbols=sorted(closes),
        days=bot.days,
        trades=bot.trades,
        initial_capital=bot.initial_capital,
        final_equity=bot.final_equity,
        total_return=bot.total_return,
        max_drawdown=bot.max_drawdown,
        stopped_on=bot.stopped_on,
        buy_and_hold_return=round(hold_return, 6),
        buy_and_hold_max_drawdown=round(hold_drawdown, 6),
        beat_buy_and_hold=bot.total_return > hold_return,
        prices_file=str(prices_file),
    )
    checks.append(
        CheckOutcome(
            name="simulation.ran",
            passed=bot.days == len(days),
            detail=(
                f"{bot.trades} trades over {bot.days} days: {bot.total_return:+.2%} "
                f"(buy and hold {hold_return:+.2%}), max drawdown {bot.max_drawdown:.2%}"
                if bot.days == len(days)
                else f"the bot simulated {bot.days} days of the {len(days)} in the file"
            ),
            figures={"trades": bot.trades, "days": bot.days, "price_days": len(days)},
        )
    )
    return summary, checks
