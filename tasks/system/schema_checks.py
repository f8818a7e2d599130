"""Pure schema checks: daily price histories and upstream outputs against their models.

Nothing here reads a file, a database or the clock: callers hand in text or rows and get
:class:`CheckOutcome` values back, so every rule is tested without a broker.

Price rules (one check each, so a report says exactly which one broke):

* ``format``: a ``date,symbol,close`` header and three cells a row;
* ``closes``: every close a positive, finite number;
* ``dates``: ISO dates, strictly increasing within each symbol;
* ``gaps``: no more than ``max_gap_days`` calendar days between two closes of a symbol
  (a long weekend is 4 days; a missing week is not a holiday);
* ``stale``: every symbol priced until near the newest date of the data, and no run of
  ``flat_run`` identical closes (a feed that stopped updating repeats its last value).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError

from tasks.system.validation_models import CheckOutcome

MAX_GAP_DAYS = 7
MAX_LAG_DAYS = 7
FLAT_RUN = 10
#: How many offending rows a check's detail quotes.
_QUOTED = 5
#: Largest price file parsed (ten years of daily closes of 100 symbols is about 10 MB).
MAX_PRICE_CSV_BYTES = 16 * 1024**2


@dataclass(frozen=True)
class PriceRecord:
    """One raw row of a price history: text as found, so bad cells can be reported."""

    line: int
    day: str
    symbol: str
    close: str


def price_records_from_csv(text: str) -> tuple[list[PriceRecord], CheckOutcome]:
    """Rows of a long-format ``date,symbol,close`` CSV, and the ``format`` check.

    Text that is not CSV (a cell over the csv module's field limit, a NUL byte) or is
    larger than :data:`MAX_PRICE_CSV_BYTES` fails the check; it never raises.
    """
    if len(text) > MAX_PRICE_CSV_BYTES:
        return [], CheckOutcome(
            name="format",
            passed=False,
            detail=f"{len(text)} characters; a price file may have {MAX_PRICE_CSV_BYTES}",
        )
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        return [], CheckOutcome(name="format", passed=False, detail=f"not CSV: {exc}"[:300])
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if header[:3] != ["date", "symbol", "close"]:
        return [], CheckOutcome(
            name="format",
            passed=False,
            detail=f"expected a date,symbol,close header, found {','.join(header)[:80]!r}",
        )
    records: list[PriceRecord] = []
    malformed: list[int] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 3:
            malformed.append(line)
            continue
        records.append(PriceRecord(line, row[0].strip(), row[1].strip(), row[2].strip()))
    symbols = len({r.symbol for r in records})
    return records, CheckOutcome(
        name="format",
        passed=not malformed and bool(records),
        detail=(
            f"rows with fewer than 3 cells at lines {_lines(malformed)}"
            if malformed
            else (f"{len(records)} rows, {symbols} symbols" if records else "no price rows")
        ),
        figures={"rows": len(records), "symbols": symbols, "malformed_rows": len(malformed)},
    )


def price_records(closes: Mapping[str, Sequence[tuple[date, float]]]) -> list[PriceRecord]:
    """Rows from already-parsed closes (market data), numbered in symbol and date order."""
    records: list[PriceRecord] = []
    for symbol in sorted(closes):
        for day, close in closes[symbol]:
            records.append(PriceRecord(len(records) + 1, day.isoformat(), symbol, repr(close)))
    return records


def _lines(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:_QUOTED])
    return shown + (f" and {len(lines) - _QUOTED} more" if len(lines) > _QUOTED else "")


def _close(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def check_prices(
    records: Sequence[PriceRecord],
    *,
    max_gap_days: int = MAX_GAP_DAYS,
    max_lag_days: int = MAX_LAG_DAYS,
    flat_run: int = FLAT_RUN,
) -> list[CheckOutcome]:
    """The ``closes``, ``dates``, ``gaps`` and ``stale`` checks over one price history."""
    bad_closes = [r.line for r in records if _close(r.close) is None]
    series: dict[str, list[tuple[date, float | None, int]]] = {}
    bad_dates: list[int] = []
    for record in records:
        day = _day(record.day)
        if day is None:
            bad_dates.append(record.line)
            continue
        series.setdefault(record.symbol, []).append((day, _close(record.close), record.line))
    unordered = [
        points[i][2]
        for points in series.values()
        for i in range(1, len(points))
        if points[i][0] <= points[i - 1][0]
    ]
    checks = [
        CheckOutcome(
            name="closes",
            passed=not bad_closes,
            detail=(
                f"closes that are not positive finite numbers at lines {_lines(bad_closes)}"
                if bad_closes
                else f"{len(records)} closes, all positive and finite"
            ),
            figures={"bad_closes": len(bad_closes)},
        ),
        CheckOutcome(
            name="dates",
            passed=not bad_dates and not unordered,
            detail=(
                f"unreadable dates at lines {_lines(bad_dates)}"
                if bad_dates
                else f"dates not increasing within a symbol at lines {_lines(unordered)}"
                if unordered
                else "ISO dates, strictly increasing within each symbol"
            ),
            figures={"bad_dates": len(bad_dates), "unordered": len(unordered)},
        ),
    ]
    checks.append(_gaps(series, max_gap_days))
    checks.append(_stale(series, max_lag_days, flat_run))
    return checks


def _gaps(series: Mapping[str, list[tuple[date, float | None, int]]], limit: int) -> CheckOutcome:
    worst, where = 0, ""
    for symbol, points in sorted(series.items()):
        ordered = sorted(p[0] for p in points)
        for before, after in itertools.pairwise(ordered):
            if (after - before).days > worst:
                worst, where = (after - before).days, f"{symbol} {before} to {after}"
    return CheckOutcome(
        name="gaps",
        passed=worst <= limit,
        detail=(
            f"{worst} days without a close ({where}); at most {limit} allowed"
            if worst > limit
            else f"largest gap {worst} days ({where or 'none'})"
        ),
        figures={"largest_gap_days": worst, "max_gap_days": limit},
    )


def _stale(
    series: Mapping[str, list[tuple[date, float | None, int]]], max_lag: int, flat_run: int
) -> CheckOutcome:
    if not series:
        return CheckOutcome(name="stale", passed=False, detail="no dated closes at all")
    newest = max(p[0] for points in series.values() for p in points)
    lagging = sorted(
        f"{symbol} (last {max(p[0] for p in points)})"
        for symbol, points in series.items()
        if (newest - max(p[0] for p in points)).days > max_lag
    )
    flat: list[str] = []
    for symbol, points in sorted(series.items()):
        run, longest = 1, 1
        closes = [p[1] for p in sorted(points)]
        for before, after in itertools.pairwise(closes):
            run = run + 1 if before is not None and before == after else 1
            longest = max(longest, run)
        if longest >= flat_run:
            flat.append(f"{symbol} ({longest} equal closes in a row)")
    problems = [f"stopped before {newest}: {', '.join(lagging)}"] if lagging else []
    problems += [f"not updating: {', '.join(flat)}"] if flat else []
    return CheckOutcome(
        name="stale",
        passed=not problems,
        detail="; ".join(problems) or f"every symbol priced up to {newest}",
        figures={"newest": newest.isoformat(), "lagging": len(lagging), "flat": len(flat)},
    )


def check_output(name: str, output: Any, model: type[BaseModel]) -> CheckOutcome:
    """``output`` (a JSON dump) validates as ``model``, the producing task's output model."""
    try:
        model.model_validate(output)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}"
            for error in exc.errors()[:_QUOTED]
        )
        return CheckOutcome(
            name=name,
            passed=False,
            detail=f"not a valid {model.__name__}: {problems}",
            figures={"errors": exc.error_count()},
        )
    return CheckOutcome(name=name, passed=True, detail=f"a valid {model.__name__}")


def check_analysis_consistency(analysis: Mapping[str, Any]) -> CheckOutcome:
    """Figures of a (schema-valid) PortfolioAnalysis dump that must agree with each other:
    end weights sum to 1, the series is in date order and never above its running peak."""
    problems: list[str] = []
    weights = [p.get("weight") for p in analysis.get("positions") or []]
    total = math.fsum(w for w in weights if isinstance(w, int | float))
    if weights and abs(total - 1.0) > 1e-6:
        problems.append(f"position weights sum to {total:.6f}, not 1")
    days = [str(p.get("date")) for p in analysis.get("series") or []]
    if any(b <= a for a, b in itertools.pairwise(days)):
        problems.append("series dates are not strictly increasing")
    drawdowns = [p.get("drawdown") for p in analysis.get("series") or []]
    if any(isinstance(d, int | float) and d > 1e-9 for d in drawdowns):
        problems.append("a series drawdown is positive")
    return CheckOutcome(
        name="analysis.consistent",
        passed=not problems,
        detail="; ".join(problems) or "weights sum to 1; series ordered; drawdowns <= 0",
        figures={"weights_sum": round(total, 9), "series_points": len(days)},
    )


def check_price_csv(text: str) -> list[CheckOutcome]:
    """Every price check over the text of a long-format price file."""
    records, format_check = price_records_from_csv(text)
    return [format_check, *check_prices(records)] if records else [format_check]


def labelled(prefix: str, checks: Sequence[CheckOutcome]) -> list[CheckOutcome]:
    """The checks with ``prefix.`` before their names (which file or source they cover)."""
    return [c.model_copy(update={"name": f"{prefix}.{c.name}"}) for c in checks]
