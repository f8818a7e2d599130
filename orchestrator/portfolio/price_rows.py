"""Validation of daily price rows: ``date, symbol, close`` and optionally ``open, high, low,
volume`` (headers case-insensitive).

Rows come as text (CSV, the shipped demo files) or typed (Parquet), and are checked alike:

- ``date``: text must be exactly ``YYYY-MM-DD`` (``2020``, ``2020-03`` and
  ``2020-01-05T13:45`` are problems, not guesses); a date or timestamp column is fine, but a
  timestamp with a time of day is a problem (it is not silently cut to its date).
- ``symbol``: upper-cased, must match ``SYMBOL_PATTERN``; an empty or null cell is "missing".
- ``close``: a number > 0; ``open``, ``high``, ``low``: > 0 and ``volume`` >= 0 when given.
  An empty (CSV) or null (Parquet) cell of an optional column is "not given".
- ``high`` not below ``low``, and one row per (symbol, date).

Every problem is counted, but only the first ``MAX_KEPT_PROBLEMS`` (by line) become
records, so a file of millions of bad rows costs little more than one of a thousand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.models.base import StrictModel
from orchestrator.portfolio.records import SYMBOL_PATTERN

REQUIRED_COLUMNS = ("date", "symbol", "close")
OPTIONAL_COLUMNS = ("open", "high", "low", "volume")
#: Problems kept as records; all of them are counted.
MAX_KEPT_PROBLEMS = 1000
#: The one date format text may use (matched whole).
ISO_DATE = r"\d{4}-\d{2}-\d{2}"

Ints = np.ndarray[Any, np.dtype[np.int64]]
Bools = np.ndarray[Any, np.dtype[np.bool_]]
Floats = np.ndarray[Any, np.dtype[np.float64]]
#: Messages of some rows of a check, given their positions among the rows it flagged.
Describe = Callable[[Ints], Sequence[str]]


class RowProblem(StrictModel):
    line: int
    message: str


class RowProblems(list[RowProblem]):
    """The first problems by line (at most ``MAX_KEPT_PROBLEMS``); ``total`` counts all."""

    def __init__(self, kept: Iterable[RowProblem] = (), *, total: int | None = None) -> None:
        super().__init__(kept)
        self.total = len(self) if total is None else total


class ProblemLog:
    """Problems flagged one check at a time: all counted, only the first kept as records."""

    def __init__(self, keep: int = MAX_KEPT_PROBLEMS) -> None:
        self.keep = keep
        self._parts: list[tuple[Ints, Describe]] = []

    def add(self, lines: Sequence[int] | Ints, message: str | Describe) -> None:
        """Flag ``lines``; ``message`` is one text, or a function giving each row's text."""
        at = np.asarray(lines, dtype=np.int64)
        if len(at) == 0:
            return
        if isinstance(message, str):
            text = message
            self._parts.append((at, lambda positions: [text] * len(positions)))
        else:
            self._parts.append((at, message))

    @property
    def total(self) -> int:
        return sum(len(lines) for lines, _ in self._parts)

    def problems(self) -> RowProblems:
        """The first ``keep`` problems by line (checks in the order they were flagged)."""
        if not self._parts:
            return RowProblems()
        lines = np.concatenate([at for at, _ in self._parts])
        part = np.concatenate([np.full(len(at), i) for i, (at, _) in enumerate(self._parts)])
        position = np.concatenate([np.arange(len(at), dtype=np.int64) for at, _ in self._parts])
        first = np.lexsort((part, lines))[: self.keep]
        messages = np.empty(len(first), dtype=object)
        for i, (_, describe) in enumerate(self._parts):
            mine = np.flatnonzero(part[first] == i)
            if len(mine):
                messages[mine] = list(describe(position[first[mine]]))
        kept = (
            RowProblem(line=int(line), message=str(message))
            for line, message in zip(lines[first], messages, strict=True)
        )
        return RowProblems(kept, total=len(lines))


class _Column:
    """One column's cells: whether each is given, and its stripped text ("" if missing)."""

    def __init__(self, raw: pd.Series[Any], *, as_text: bool = False) -> None:
        self.raw = raw.reset_index(drop=True)
        present = self.raw.notna().to_numpy(dtype=bool)
        self.textual = as_text or _is_textual(self.raw)
        if self.textual:
            # Missing cells become "" *before* the conversion: None is not the text "None".
            self.text = self.raw.where(pd.Series(present), "").astype(str).str.strip()
            self.given: Bools = present & self.text.ne("").to_numpy(dtype=bool)
        else:
            self.text = pd.Series([""] * len(self.raw), dtype=object)
            self.given = present

    def shown(self, row: int) -> str:
        return repr(str(self.raw.iat[row]).strip())

    def numbers(self) -> Floats:
        """The cells as floats: NaN where missing or not a number."""
        if not self.textual:
            return np.asarray(self.raw.to_numpy(dtype=float, na_value=np.nan), dtype=float)
        parsed = pd.to_numeric(self.text.where(pd.Series(self.given)), errors="coerce")
        return np.asarray(parsed.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _is_textual(raw: pd.Series[Any]) -> bool:
    """Text or anything not plainly numeric (Parquet decimals, booleans, mixed objects)."""
    dtype = raw.dtype
    return not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _says(template: str, *columns: _Column) -> Callable[[Ints], list[str]]:
    """Messages from ``template`` with ``{0}``, ``{1}`` ... the shown cells of ``columns``."""
    return lambda rows: [template.format(*(c.shown(int(r)) for c in columns)) for r in rows]


def _dates(column: _Column) -> tuple[pd.Series[Any], Bools]:
    """The parsed dates (NaT where not a date) and which cells had a time of day."""
    raw = column.raw
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        stamps = pd.Series(pd.DatetimeIndex(raw).tz_localize(None))  # the local wall time
        timed = (stamps.notna() & stamps.ne(stamps.dt.normalize())).to_numpy(dtype=bool)
        return stamps.dt.normalize().where(pd.Series(~timed)), timed
    kind = pd.api.types.infer_dtype(raw[pd.Series(column.given)], skipna=True)
    if kind in ("string", "empty"):
        shaped = column.text.str.fullmatch(ISO_DATE).fillna(False).astype(bool)
        parsed = pd.to_datetime(column.text.where(shaped), format="%Y-%m-%d", errors="coerce")
        return pd.Series(parsed), np.zeros(len(raw), dtype=bool)
    # Dates, datetimes or a mix (a Parquet object column): cell by cell.
    cells = [_one_date(value) for value in raw]
    parsed = pd.Series([stamp for stamp, _ in cells], dtype="datetime64[ns]")
    return parsed, np.array([timed for _, timed in cells], dtype=bool)


def _one_date(value: object) -> tuple[pd.Timestamp | None, bool]:
    if isinstance(value, datetime):  # before date: a datetime is a date too
        midnight = value.hour == value.minute == value.second == value.microsecond == 0
        return (pd.Timestamp(value.date()), False) if midnight else (None, True)
    if isinstance(value, date):
        return pd.Timestamp(value), False
    if isinstance(value, str) and re.fullmatch(ISO_DATE, value.strip()):
        try:
            return pd.Timestamp(datetime.strptime(value.strip(), "%Y-%m-%d")), False
        except ValueError:  # 2020-13-01
            return None, False
    return None, False


def validate_prices(
    frame: pd.DataFrame,
    *,
    first_line: int = 2,
    lines: Sequence[int] | Ints | None = None,
    log: ProblemLog | None = None,
) -> tuple[pd.DataFrame, RowProblems]:
    """Check every row; returns the typed rows and the first problems (with line numbers).

    ``lines`` gives each row's line (a CSV record may span lines); by default the rows are
    numbered from ``first_line``. ``log`` may already hold problems found while reading.
    """
    log = log if log is not None else ProblemLog()
    at: Ints = (
        np.arange(first_line, first_line + len(frame), dtype=np.int64)
        if lines is None
        else np.asarray(lines, dtype=np.int64)
    )
    columns: dict[str, Any] = {}
    repeated: list[str] = []
    for label in frame.columns:
        name = str(label).strip().lower()
        if name in columns:
            repeated.append(name)
        columns[name] = label
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = sorted(set(columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if missing or unknown or repeated:
        parts = [
            f"{what} column(s): {', '.join(names)}"
            for what, names in (("missing", missing), ("unknown", unknown), ("repeated", repeated))
            if names
        ]
        allowed = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        log.add([0], f"{'; '.join(parts)} (allowed: {allowed})")
        return frame, log.problems()
    if frame.empty:
        if log.total == 0:
            log.add([0], "the file has no rows")
        return frame, log.problems()

    cells = {
        name: _Column(frame[label], as_text=name in ("date", "symbol"))
        for name, label in columns.items()
    }
    nothing = _Column(pd.Series([np.nan] * len(frame), dtype=float))
    for name in OPTIONAL_COLUMNS:
        cells.setdefault(name, nothing)

    def flag(mask: Bools, message: str | Callable[[Ints], Sequence[str]]) -> None:
        rows = np.flatnonzero(mask)
        if isinstance(message, str):
            log.add(at[rows], message)
        else:
            describe = message
            log.add(at[rows], lambda positions: describe(rows[positions]))

    day, symbol, close = cells["date"], cells["symbol"], cells["close"]
    dates, timed = _dates(day)
    flag(~day.given, "date is missing")
    not_iso = day.given & dates.isna().to_numpy(dtype=bool) & ~timed
    flag(not_iso, _says("date {0} is not an ISO date (YYYY-MM-DD)", day))
    flag(timed, _says("date {0} has a time of day (expected a date)", day))
    symbols = symbol.text.str.upper()
    symbol_ok = symbol.given & symbols.str.fullmatch(SYMBOL_PATTERN.pattern).fillna(False).to_numpy(
        dtype=bool
    )
    flag(~symbol.given, "symbol is missing")
    flag(symbol.given & ~symbol_ok, _says("symbol {0} is not a valid symbol", symbol))
    numbers = {name: cells[name].numbers() for name in ("close", *OPTIONAL_COLUMNS)}
    flag(~close.given, "close is missing")
    with np.errstate(invalid="ignore"):
        bad_close = close.given & ~(np.isfinite(numbers["close"]) & (numbers["close"] > 0))
        flag(bad_close, _says("close {0} must be a number > 0", close))
        for name in ("open", "high", "low"):
            ok = np.isfinite(numbers[name]) & (numbers[name] > 0)
            flag(cells[name].given & ~ok, _says(f"{name} {{0}} must be a number > 0", cells[name]))
        ok = np.isfinite(numbers["volume"]) & (numbers["volume"] >= 0)
        flag(
            cells["volume"].given & ~ok, _says("volume {0} must be a number >= 0", cells["volume"])
        )
        below = numbers["high"] < numbers["low"]
    flag(below, _says("high {0} is below low {1}", cells["high"], cells["low"]))

    keyed = np.flatnonzero(symbol_ok & dates.notna().to_numpy(dtype=bool))
    keys = pd.DataFrame(
        {
            "symbol": symbols.to_numpy()[keyed],
            "date": dates.to_numpy()[keyed],
            "line": at[keyed],
        }
    )
    repeats = keys.duplicated(["symbol", "date"], keep="first").to_numpy(dtype=bool)
    if repeats.any():
        first_of = keys.groupby(["symbol", "date"])["line"].transform("min").to_numpy()[repeats]
        log.add(
            at[keyed[repeats]],
            lambda positions: [f"duplicate of line {first_of[p]}" for p in positions],
        )

    clean = pd.DataFrame(
        {
            "date": dates.dt.date.to_numpy(),
            "symbol": symbols.to_numpy(),
            **{name: numbers[name] for name in ("close", *OPTIONAL_COLUMNS)},
        }
    )
    return clean, log.problems()
