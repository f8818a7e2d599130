"""Import daily prices from CSV or Parquet: every bad row reported, nothing half-imported.

The file has one row per (date, symbol): ``date, symbol, close`` and optionally ``open,
high, low, volume`` (headers case-insensitive). The whole file is validated first; any
problem rejects the whole file with each bad row's line number (CSV: the line in the file,
the header being line 1; Parquet: the row number from 1). A valid file is written in one
transaction, as an upsert, so importing the same file twice changes nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from orchestrator.history.portfolio_tables import MarketPriceRow
from orchestrator.models.base import StrictModel
from orchestrator.portfolio.records import SYMBOL_PATTERN

REQUIRED_COLUMNS = ("date", "symbol", "close")
OPTIONAL_COLUMNS = ("open", "high", "low", "volume")
#: Problems listed in the error message; the exception holds all of them.
SHOWN_PROBLEMS = 20
_CHUNK_ROWS = 10_000


class RowProblem(StrictModel):
    line: int
    message: str


class PriceImportError(ValueError):
    """The file was rejected; ``problems`` says where and why. Nothing was written."""

    def __init__(self, path: Path, problems: list[RowProblem], *, unit: str = "line") -> None:
        self.problems = problems
        shown = "\n".join(f"  {unit} {p.line}: {p.message}" for p in problems[:SHOWN_PROBLEMS])
        more = len(problems) - SHOWN_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"{path}: {len(problems)} bad row(s), nothing imported:\n{shown}{tail}"
            if problems and problems[0].line > 0
            else f"{path}: {problems[0].message if problems else 'rejected'}; nothing imported"
        )


class ImportReport(StrictModel):
    path: str
    rows: int
    symbols: list[str]
    first_date: date
    last_date: date


def import_prices(engine: Engine, path: Path) -> ImportReport:
    """Validate ``path`` as a whole, then upsert its prices in one transaction."""
    frame, unit, first_line = _read(path)
    clean, problems = validate_prices(frame, first_line=first_line)
    if problems:
        raise PriceImportError(path, problems, unit=unit)
    write_prices(engine, clean)
    return ImportReport(
        path=str(path),
        rows=len(clean),
        symbols=sorted(clean["symbol"].unique().tolist()),
        first_date=clean["date"].min(),
        last_date=clean["date"].max(),
    )


def _read(path: Path) -> tuple[pd.DataFrame, str, int]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # Everything as text: validation, not the parser, decides what a bad value is.
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
            return frame, "line", 2
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), "row", 1
    except (OSError, ValueError) as exc:
        raise PriceImportError(path, [RowProblem(line=0, message=f"cannot read: {exc}")]) from exc
    raise PriceImportError(
        path, [RowProblem(line=0, message="unsupported file type (use .csv or .parquet)")]
    )


def validate_prices(
    frame: pd.DataFrame, *, first_line: int = 2
) -> tuple[pd.DataFrame, list[RowProblem]]:
    """Check every row; returns the typed rows and the problems (with line numbers)."""
    columns = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = sorted(set(columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(unknown)}")
        allowed = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        return frame, [RowProblem(line=0, message=f"{'; '.join(parts)} (allowed: {allowed})")]
    if frame.empty:
        return frame, [RowProblem(line=0, message="the file has no rows")]

    lines = np.arange(first_line, first_line + len(frame))
    text = {
        name: frame[columns[name]].astype(str).str.strip().reset_index(drop=True)
        for name in columns
    }
    out = pd.DataFrame({"line": lines})
    out["date"] = pd.to_datetime(text["date"], format="ISO8601", errors="coerce")
    out["symbol"] = text["symbol"].str.upper()
    for name in ("close", *OPTIONAL_COLUMNS):
        # Empty cells of optional columns are "not given"; anything else must be a number.
        out[name] = pd.to_numeric(text[name], errors="coerce") if name in text else np.nan

    problems: list[RowProblem] = []

    def flag(mask: np.ndarray[Any, Any], message: str | pd.Series[str]) -> None:
        messages = message[mask] if isinstance(message, pd.Series) else [message] * mask.sum()
        for line, text_ in zip(lines[mask], messages, strict=True):
            problems.append(RowProblem(line=int(line), message=str(text_)))

    def given(name: str) -> np.ndarray[Any, Any]:
        return text[name].ne("").to_numpy() if name in text else np.zeros(len(out), bool)

    def quoted(name: str) -> pd.Series[str]:
        return text[name].map(repr).reset_index(drop=True)

    flag(out["date"].isna().to_numpy(), "date " + quoted("date") + " is not an ISO date")
    symbol_ok = out["symbol"].str.fullmatch(SYMBOL_PATTERN.pattern).fillna(False)
    flag(~symbol_ok.to_numpy(dtype=bool), "symbol " + quoted("symbol") + " is not a valid symbol")
    close = out["close"].to_numpy(dtype=float)
    flag(~(np.isfinite(close) & (close > 0)), "close " + quoted("close") + " must be a number > 0")
    for name in ("open", "high", "low"):
        prices = out[name].to_numpy(dtype=float)
        flag(given(name) & ~(np.isfinite(prices) & (prices > 0)), f"{name} must be a number > 0")
    volume = out["volume"].to_numpy(dtype=float)
    flag(given("volume") & ~(np.isfinite(volume) & (volume >= 0)), "volume must be >= 0")
    high, low = out["high"].to_numpy(dtype=float), out["low"].to_numpy(dtype=float)
    flag(high < low, "high is below low")
    duplicated = (
        out.duplicated(["symbol", "date"], keep="first").to_numpy() & out["date"].notna().to_numpy()
    )
    if duplicated.any():
        first_line_of = out.groupby(["symbol", "date"], dropna=False)["line"].transform("min")
        flag(duplicated, "duplicate of line " + first_line_of.astype(str))
    problems.sort(key=lambda p: p.line)
    clean = out.drop(columns="line")
    clean["date"] = clean["date"].dt.date
    return clean, problems


def write_prices(engine: Engine, prices: pd.DataFrame) -> int:
    """Upsert validated prices (columns date, symbol, close, open, high, low, volume)."""
    insert = _insert_for(engine)
    statement = insert(MarketPriceRow.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=["symbol", "date"],
        set_={c: statement.excluded[c] for c in ("open", "high", "low", "close", "volume")},
    )
    ordered = prices[["symbol", "date", "open", "high", "low", "close", "volume"]]
    # NaN is not NULL to a database driver.
    records = cast(
        list[dict[str, Any]],
        ordered.astype(object).where(ordered.notna(), None).to_dict("records"),
    )
    with engine.begin() as conn:
        for start in range(0, len(records), _CHUNK_ROWS):
            # executemany: SQLAlchemy batches the rows into multi-row INSERTs itself.
            conn.execute(statement, records[start : start + _CHUNK_ROWS])
    return len(records)


def _insert_for(engine: Engine) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def wide_to_long(frame: pd.DataFrame) -> pd.DataFrame:
    """``date, SYM1, SYM2, ...`` (one close column per symbol) -> ``date, symbol, close``."""
    long = frame.melt(id_vars="date", var_name="symbol", value_name="close")
    return long[long["close"].astype(str).str.strip() != ""].reset_index(drop=True)
