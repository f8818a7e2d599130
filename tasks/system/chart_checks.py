"""Pure checks that a generated SVG chart plots the figures it was given.

A line chart is accurate when each named polyline has one point per value, x increasing
with the point's index and y an affine function of the value (one scale shared by every
line of the chart) to within the rounding of its coordinates. That holds whatever the
chart's size, margins or axis range, so it checks what a reader sees -- the shape of the
data -- without knowing the generator's layout constants.
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

SVG_NS = "{http://www.w3.org/2000/svg}"
#: Coordinates are printed with 2 decimals: a faithful plot is within this of the fit.
TOLERANCE_PX = 0.05
Lines = dict[str, list[float | None]]


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def series_lines(analysis: Mapping[str, Any]) -> tuple[Lines, Lines]:
    """The lines the value chart and the drawdown chart should show, by legend name."""
    points = sorted(
        (
            p
            for p in analysis.get("series") or []
            if isinstance(p, Mapping)
            and isinstance(p.get("date"), str)
            and _number(p.get("value")) is not None
        ),
        key=lambda p: str(p["date"]),
    )
    value: Lines = {"Portfolio": [_number(p["value"]) for p in points]}
    benchmark = [_number(p.get("benchmark_value")) for p in points]
    if any(v is not None for v in benchmark):
        value["Benchmark"] = benchmark
    return value, {"Drawdown": [_number(p.get("drawdown")) for p in points]}


def _coordinate(text: str) -> float:
    """One finite coordinate (``nan`` or ``inf`` plot nothing, and compare false)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"coordinate {text!r} is not a finite number")
    return value


def polylines(svg_text: str) -> dict[str, list[tuple[float, float]]]:
    """Each titled polyline's points; ValueError when the text is not SVG or a
    coordinate is not a finite number."""
    root = ET.fromstring(svg_text)  # noqa: S314 -- see the import
    found: dict[str, list[tuple[float, float]]] = {}
    for line in root.iter(f"{SVG_NS}polyline"):
        title = line.find(f"{SVG_NS}title")
        name = title.text if title is not None and title.text else ""
        pairs = [pair.split(",") for pair in (line.get("points") or "").split()]
        found[name] = [(_coordinate(x), _coordinate(y)) for x, y in pairs]
    return found


def _fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """``(slope, worst residual)`` of the least-squares line y = a + b x."""
    n = len(xs)
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        # Constant values: the plot must be flat too.
        return 0.0, max(abs(y - my) for y in ys)
    slope = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, max(abs(y - (my + slope * (x - mx))) for x, y in zip(xs, ys, strict=True))


def check_line_chart(name: str, svg_text: str | None, lines: Lines) -> str:
    """A problem with the chart (empty string: it plots ``lines`` faithfully)."""
    if svg_text is None:
        return f"{name} was not written"
    try:
        drawn = polylines(svg_text)
    except (ET.ParseError, ValueError) as exc:
        return f"{name} is not a readable SVG chart: {exc}"
    values: list[float] = []
    ys: list[float] = []
    for legend, wanted in lines.items():
        expected = [(i, v) for i, v in enumerate(wanted) if v is not None]
        if len(wanted) < 2 or not expected:
            continue  # the generator draws an empty frame for fewer than two points
        points = drawn.get(legend)
        if points is None:
            return f"{name} has no {legend} line"
        if len(points) != len(expected):
            return f"{name}: {legend} has {len(points)} points for {len(expected)} values"
        index_slope, index_error = _fit([i for i, _ in expected], [x for x, _ in points])
        if index_slope <= 0 or index_error > TOLERANCE_PX:
            return f"{name}: {legend}'s points are not evenly spaced in date order"
        values += [v for _, v in expected]
        ys += [y for _, y in points]
    if not values:
        return ""
    slope, error = _fit(values, ys)
    if slope > 0 or error > TOLERANCE_PX:
        return f"{name}: the plotted heights are off the values by up to {error:.2f} px"
    return ""


def check_bar_labels(name: str, svg_text: str, values: Mapping[str, float]) -> str:
    """A problem with a bar chart of percentages (empty: each label shows its value)."""
    try:
        root = ET.fromstring(svg_text)  # noqa: S314 -- see the import
    except ET.ParseError as exc:
        return f"{name} is not a readable SVG chart: {exc}"
    texts = [t.text or "" for t in root.iter(f"{SVG_NS}text")]
    # Each bar's label is followed by its value's label.
    following = dict(itertools.pairwise(texts))
    wrong = [s for s, v in values.items() if following.get(s) != f"{v * 100:.1f}%"]
    return f"{name} does not show the weight of {', '.join(sorted(wrong))}" if wrong else ""
