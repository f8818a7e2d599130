"""The cells of the report's tables: how each kind of figure is printed.

A figure is formatted once, here, and keeps the raw value it was formatted from, so every
format (HTML, Markdown, PDF) prints the same text and the HTML can carry the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

NA = "n/a"


@dataclass(frozen=True)
class Cell:
    """One table cell: the text printed, and for figures the raw value and its metric path."""

    text: str
    #: Full-precision raw value (``repr`` of a float, ISO date); None when missing or text.
    value: str | None = None
    #: Stable path of the figure in the analysis, e.g. ``risk.sharpe``; None for labels.
    metric: str | None = None
    #: A row label (``<th scope="row">`` in HTML).
    header: bool = False
    numeric: bool = False
    #: Extra inline CSS (the correlation heat colours); HTML only.
    style: str | None = None


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    #: The row's symbol for per-instrument tables (``data-symbol`` in HTML).
    symbol: str | None = None


@dataclass(frozen=True)
class Table:
    key: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    tables: tuple[Table, ...] = ()
    #: Names of the charts this section shows (keys of the rendered chart images).
    charts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()


def finite(value: float) -> bool:
    return math.isfinite(value)


def fmt_percent(value: float | None) -> str:
    """``0.1234`` -> ``"12.34 %"``; None or a non-finite value -> ``"n/a"``."""
    if value is None or not finite(value):
        return NA
    return f"{value * 100:.2f} %"


def fmt_ratio(value: float | None, decimals: int = 2) -> str:
    if value is None or not finite(value):
        return NA
    return f"{value:.{decimals}f}"


def fmt_money(value: float | None, currency: str) -> str:
    if value is None or not finite(value):
        return NA
    return f"{value:,.2f} {currency}"


def fmt_quantity(value: float) -> str:
    if not finite(value):
        return NA
    if value == int(value):
        return f"{value:,.0f}"
    # Fractional shares: enough decimals for crypto-like quantities, no trailing zeros.
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def raw_value(value: float | int | date | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        # repr round-trips exactly: a test can compare float(data-value) == figure.
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def figure(metric: str, value: float | int | date | str | None, text: str) -> Cell:
    return Cell(
        text=text, value=raw_value(value), metric=metric, numeric=not isinstance(value, str)
    )


def pct(metric: str, value: float | None) -> Cell:
    return figure(metric, value, fmt_percent(value))


def ratio(metric: str, value: float | None, decimals: int = 2) -> Cell:
    return figure(metric, value, fmt_ratio(value, decimals))


def date_cell(metric: str, value: date | None) -> Cell:
    return figure(metric, value, value.isoformat() if value is not None else NA)


def int_cell(metric: str, value: int | None, unit: str = "") -> Cell:
    text = NA if value is None else f"{value:,}{unit}"
    return figure(metric, value, text)


def kv_table(key: str, rows: Sequence[tuple[str, Cell]]) -> Table:
    return Table(
        key=key,
        columns=("Figure", "Value"),
        rows=tuple(Row((Cell(label, header=True), cell)) for label, cell in rows),
    )
