"""The report's charts and its PDF, drawn with matplotlib's object API.

Worker threads render reports concurrently, so nothing here touches pyplot or the global
``rcParams``: every figure is a bare :class:`~matplotlib.figure.Figure` on its own
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`, styled explicitly. Output is
deterministic (no timestamps or software version in the PNG, a fixed PDF creation date),
so the same analysis always gives the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from tasks.portfolio.analysis_models import PortfolioAnalysis

#: Every chart a report can show, with its caption.
CHART_TITLES: dict[str, str] = {
    "equity_curve": "Equity curve (rebased to 100)",
    "drawdown": "Drawdown",
    "allocation": "Allocation (weights of the invested value)",
}

_DPI = 100
_PORTFOLIO_COLOUR = "#1f5fa8"
_BENCHMARK_COLOUR = "#8a8a8a"
_DRAWDOWN_COLOUR = "#c0392b"
#: Beyond this many bars the allocation chart groups the smallest positions into "Other".
_MAX_BARS = 20
_PDF_LINES_PER_PAGE = 74
# Axis values are already in percent; "%g" keeps -2.5 as "-2.5 %" (a fixed 0-decimal
# formatter would print it as "-2 %"), with the report's "12 %" spacing.
_PERCENT_TICKS = FuncFormatter(lambda x, _pos: f"{x:g} %")


def _plain(text: str) -> str:
    # Data-derived labels (symbols, names) must print as-is: an unescaped "$" pair would
    # otherwise switch matplotlib into mathtext.
    return text.replace("$", r"\$")


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Axes) -> None:
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _dates(analysis: PortfolioAnalysis) -> npt.NDArray[np.datetime64]:
    return np.array([p.date for p in analysis.series], dtype="datetime64[D]")


def _date_axis(ax: Axes, dates: npt.NDArray[np.datetime64]) -> None:
    # matplotlib.dates ships no annotations (no .pyi), hence the ignores.
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    if len(dates) == 1:
        # matplotlib widens a single date to +-2 years; a few days keep the label useful.
        day = np.timedelta64(3, "D")
        ax.set_xlim(dates[0] - day, dates[0] + day)


def _rebased(values: Sequence[float | None]) -> npt.NDArray[np.float64] | None:
    """Values rebased to 100 at the first known point; None when that base is 0 or missing."""
    series = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    known = series[np.isfinite(series)]
    if known.size == 0 or known[0] == 0:
        return None
    rebased: npt.NDArray[np.float64] = series / float(known[0]) * 100.0
    return rebased


def equity_curve_figure(analysis: PortfolioAnalysis) -> Figure:
    """The portfolio value against the benchmark's, both rebased to 100 at the start."""
    fig = _new_figure(9, 4)
    ax = fig.add_subplot()
    _style(ax)
    dates = _dates(analysis)
    # A one-point series draws no line: markers keep it visible.
    marker = "o" if len(dates) == 1 else None
    portfolio = _rebased([p.value for p in analysis.series])
    if portfolio is None:
        # A zero start value cannot be rebased: show the raw value instead.
        portfolio = np.array([p.value for p in analysis.series], dtype=np.float64)
        ax.set_ylabel(f"Value ({_plain(analysis.currency)})")
    else:
        ax.set_ylabel("Value (start = 100)")
    ax.plot(dates, portfolio, color=_PORTFOLIO_COLOUR, lw=1.6, marker=marker, label="Portfolio")
    # Only drawn when the series carries benchmark values (and they can be rebased).
    benchmark = _rebased([p.benchmark_value for p in analysis.series])
    if benchmark is not None:
        symbol = analysis.benchmark.symbol if analysis.benchmark is not None else "Benchmark"
        label = _plain(symbol)
        ax.plot(dates, benchmark, color=_BENCHMARK_COLOUR, lw=1.2, marker=marker, label=label)
    ax.legend(loc="upper left", frameon=False)
    ax.set_title(CHART_TITLES["equity_curve"], loc="left", fontsize=11)
    _date_axis(ax, dates)
    return fig


def drawdown_figure(analysis: PortfolioAnalysis) -> Figure:
    """The drawdown from the running peak, as a filled area below zero."""
    fig = _new_figure(9, 3)
    ax = fig.add_subplot()
    _style(ax)
    dates = _dates(analysis)
    drawdown = np.array([p.drawdown * 100.0 for p in analysis.series], dtype=np.float64)
    ax.fill_between(dates, drawdown, 0.0, color=_DRAWDOWN_COLOUR, alpha=0.3, linewidth=0)
    marker = "o" if len(dates) == 1 else None
    ax.plot(dates, drawdown, color=_DRAWDOWN_COLOUR, linewidth=1.0, marker=marker)
    finite = drawdown[np.isfinite(drawdown)]
    lowest = float(finite.min()) if finite.size else 0.0
    # Zero sits at the top; a flat (never-down) series still gets a visible band.
    ax.set_ylim(min(lowest * 1.08, -1.0), 0.0)
    ax.yaxis.set_major_formatter(_PERCENT_TICKS)
    ax.set_title(CHART_TITLES["drawdown"], loc="left", fontsize=11)
    _date_axis(ax, dates)
    return fig


def allocation_figure(analysis: PortfolioAnalysis) -> Figure:
    """Horizontal bars of the position weights, largest on top."""
    ranked = sorted(analysis.positions, key=lambda p: -p.weight)
    bars = [(_plain(p.symbol), p.weight) for p in ranked]
    if len(bars) > _MAX_BARS:
        rest = bars[_MAX_BARS - 1 :]
        bars = [*bars[: _MAX_BARS - 1], (f"Other ({len(rest)})", sum(w for _, w in rest))]
    fig = _new_figure(9, max(2.2, 0.38 * len(bars) + 1.0))
    ax = fig.add_subplot()
    _style(ax)
    ax.grid(False, axis="y")
    labels = [label for label, _ in reversed(bars)]
    weights = [weight * 100.0 for _, weight in reversed(bars)]
    positions = np.arange(len(bars))
    ax.barh(positions, weights, color=_PORTFOLIO_COLOUR, height=0.6)
    ax.set_yticks(positions, labels=labels)
    for y, weight in zip(positions, weights, strict=True):
        ax.annotate(
            f"{weight:.1f} %",
            (max(weight, 0.0), float(y)),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    top = max([*weights, 0.0])
    ax.set_xlim(min([*weights, 0.0]), top * 1.15 if top > 0 else 1.0)
    ax.xaxis.set_major_formatter(_PERCENT_TICKS)
    ax.set_title(CHART_TITLES["allocation"], loc="left", fontsize=11)
    return fig


_FIGURES: dict[str, Callable[[PortfolioAnalysis], Figure]] = {
    "equity_curve": equity_curve_figure,
    "drawdown": drawdown_figure,
    "allocation": allocation_figure,
}


def chart_figures(analysis: PortfolioAnalysis, names: Sequence[str]) -> dict[str, Figure]:
    """The named charts' figures (names from :data:`CHART_TITLES`), in the order given."""
    return {name: _FIGURES[name](analysis) for name in names}


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG, byte-for-byte reproducible (no Software/date metadata)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _text_page(lines: Sequence[str], heading: str) -> Figure:
    # A4 portrait.
    fig = Figure(figsize=(8.27, 11.69), dpi=_DPI)
    FigureCanvasAgg(fig)
    fig.text(0.06, 0.965, _plain(heading), fontsize=12, weight="bold", va="top")
    fig.text(
        0.06,
        0.935,
        _plain("\n".join(lines)),
        family="DejaVu Sans Mono",
        fontsize=7.5,
        va="top",
        linespacing=1.35,
    )
    return fig


def pdf_bytes(
    *,
    title: str,
    text_lines: Sequence[str],
    figures: Sequence[Figure],
    generated_at: datetime,
) -> bytes:
    """A PDF: the text lines flowed over A4 pages, then one page per chart."""
    buffer = io.BytesIO()
    metadata = {
        "Title": title,
        "Creator": "ai-task-orchestrator GENERATE_REPORT",
        # Pinned to the report's own time: the default (now) would make every PDF differ.
        "CreationDate": generated_at,
        "ModDate": generated_at,
    }
    pages = [
        text_lines[i : i + _PDF_LINES_PER_PAGE]
        for i in range(0, max(len(text_lines), 1), _PDF_LINES_PER_PAGE)
    ]
    with PdfPages(buffer, metadata=metadata) as pdf:
        for number, page in enumerate(pages, start=1):
            heading = title if len(pages) == 1 else f"{title} ({number}/{len(pages)})"
            pdf.savefig(_text_page(page, heading))
        for fig in figures:
            pdf.savefig(fig)
    return buffer.getvalue()
