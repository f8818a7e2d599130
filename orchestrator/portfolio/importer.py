"""Import daily prices from CSV or Parquet: every bad row reported, nothing half-imported.

The file has one row per (date, symbol): ``date, symbol, close`` and optionally ``open,
high, low, volume`` (headers case-insensitive; what each must hold: ``price_rows``). The
whole file is validated first; any problem rejects the whole file with each bad row's line
number (CSV: the physical line the record starts on, the header being line 1, so a quoted
cell spanning lines does not shift the numbers; Parquet: the row number from 1). Every
problem is counted, the first ``MAX_KEPT_PROBLEMS`` are kept. A valid file is written in
one transaction, as an upsert, so importing the same file twice changes nothing.

CSV blank lines: those at the end of the file are ignored; any other blank line (a line
with no cell, or only empty cells) is a problem, as is a record with more or fewer cells
than the header.
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from orchestrator.history.portfolio_tables import MarketPriceRow
from orchestrator.models.base import StrictModel
from orchestrator.portfolio.price_rows import (
    MAX_KEPT_PROBLEMS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ProblemLog,
    RowProblem,
    RowProblems,
    validate_prices,
)

__all__ = [
    "MAX_KEPT_PROBLEMS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "ImportReport",
    "PriceImportError",
    "RowProblem",
    "RowProblems",
    "import_prices",
    "validate_prices",
    "wide_to_long",
    "write_prices",
]

#: Problems listed in the error message; the exception holds the first MAX_KEPT_PROBLEMS.
SHOWN_PROBLEMS = 20
_CHUNK_ROWS = 10_000
#: CSV records kept as Python lists before they become a (compact) text frame.
_CSV_CHUNK = 100_000


class PriceImportError(ValueError):
    """The file was rejected; ``problems`` says where and why. Nothing was written.

    ``problems`` holds the first problems (at most ``MAX_KEPT_PROBLEMS``), ``total`` counts
    all of them.
    """

    def __init__(
        self,
        path: Path,
        problems: Sequence[RowProblem],
        *,
        unit: str = "line",
        total: int | None = None,
    ) -> None:
        self.problems = list(problems)
        self.total = total if total is not None else getattr(problems, "total", len(problems))
        if self.total == 1 and self.problems and self.problems[0].line <= 0:
            message = f"{path}: {self.problems[0].message}; nothing imported"
        elif not self.problems:
            message = f"{path}: rejected; nothing imported"
        else:
            shown = "\n".join(
                f"  {p.message}" if p.line <= 0 else f"  {unit} {p.line}: {p.message}"
                for p in self.problems[:SHOWN_PROBLEMS]
            )
            more = self.total - min(len(self.problems), SHOWN_PROBLEMS)
            tail = f"\n  ... and {more} more" if more > 0 else ""
            message = f"{path}: {self.total} problem(s), nothing imported:\n{shown}{tail}"
        super().__init__(message)


class ImportReport(StrictModel):
    path: str
    rows: int
    symbols: list[str]
    first_date: date
    last_date: date


def import_prices(engine: Engine, path: Path) -> ImportReport:
    """Validate ``path`` as a whole, then upsert its prices in one transaction."""
    clean, problems, unit = _validated(path)
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


def _validated(path: Path) -> tuple[pd.DataFrame, RowProblems, str]:
    suffix = path.suffix.lower()
    log = ProblemLog()
    lines: array[int] | None = None
    if suffix == ".csv":
        unit = "line"
        frame, lines = _read_csv(path, log)
    elif suffix in (".parquet", ".pq"):
        unit = "row"
        frame = _read_parquet(path)
    else:
        raise PriceImportError(
            path, [RowProblem(line=0, message="unsupported file type (use .csv or .parquet)")]
        )
    try:
        clean, problems = validate_prices(frame, first_line=1, lines=lines, log=log)
    except (ValueError, TypeError, OverflowError) as exc:
        # A value no check foresaw (an exotic Parquet type, say): still a rejected file.
        problem = RowProblem(line=0, message=f"cannot validate: {exc}")
        raise PriceImportError(path, [problem], unit=unit) from exc
    return clean, problems, unit


def _read_csv(path: Path, log: ProblemLog) -> tuple[pd.DataFrame, array[int]]:
    """The records as text columns, and the line each starts on; reading problems go to ``log``.

    Read with the stdlib ``csv`` module: ``line_num`` counts physical lines, so a quoted
    cell holding a line break does not shift the line numbers of the records after it.
    """
    header: list[str] | None = None
    records: list[list[str]] = []
    chunks: list[pd.DataFrame] = []
    width = 0
    starts = array("q")  # the line each record starts on
    pending_blank: list[int] = []  # blank until a record follows them (trailing: ignored)
    blank: list[int] = []
    ragged: list[tuple[int, int]] = []
    end = 0
    reader = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for record in reader:
                start, end = end + 1, reader.line_num
                if not (record and record[0].strip()) and not any(c.strip() for c in record):
                    pending_blank.append(start)
                    continue
                blank += pending_blank
                pending_blank.clear()
                if header is None:
                    header, width = record, len(record)
                elif len(record) != width:
                    ragged.append((start, len(record)))
                else:
                    records.append(record)
                    starts.append(start)
                    if len(records) == _CSV_CHUNK:  # text columns hold cells far smaller
                        chunks.append(pd.DataFrame.from_records(records, columns=range(width)))
                        records.clear()
    except csv.Error as exc:
        line = reader.line_num if reader is not None else 0
        problem = RowProblem(line=line, message=f"cannot parse: {exc}")
        raise PriceImportError(path, [problem]) from exc
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        problem = RowProblem(line=0, message=f"cannot read: {exc}")
        raise PriceImportError(path, [problem]) from exc
    if header is None:
        raise PriceImportError(path, [RowProblem(line=0, message="the file is empty")])
    log.add(blank, "blank line")
    cells = np.array([n for _, n in ragged], dtype=np.int64)
    log.add(
        [line for line, _ in ragged],
        lambda positions: [f"has {cells[p]} cell(s), the header has {width}" for p in positions],
    )
    chunks.append(pd.DataFrame.from_records(records, columns=range(width)))
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    frame.columns = pd.Index(header)
    return frame, starts


def _read_parquet(path: Path) -> pd.DataFrame:
    from pyarrow import ArrowException  # type: ignore[import-untyped]

    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, TypeError, NotImplementedError, ArrowException) as exc:
        problem = RowProblem(line=0, message=f"cannot read: {exc}")
        raise PriceImportError(path, [problem], unit="row") from exc


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
