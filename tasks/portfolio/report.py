"""GENERATE_REPORT's rendering core: a PortfolioAnalysis as HTML, PDF, JSON and Markdown.

The report prints exactly the analysis's figures (the chain hands ANALYZE_PORTFOLIO's
output to the report; nothing is recomputed here). Content is built once as neutral
tables (:mod:`tasks.portfolio.report_tables`) and the charts once as figures
(:mod:`tasks.portfolio.charts`); each format only lays those out. No Celery, no database:
the task handler calls :func:`render_report` and stores the :class:`ReportFiles`.
"""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.models.base import StrictModel
from orchestrator.models.params import ReportFormat
from tasks.atomic_write import write_atomically
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.portfolio.charts import CHART_TITLES, chart_figures, pdf_bytes, png_bytes
from tasks.portfolio.report_cells import Section, Table
from tasks.portfolio.report_html import render_html
from tasks.portfolio.report_tables import (
    SECTION_SLUGS,
    build_sections,
    chart_names,
    select_sections,
)

__all__ = ["SECTION_SLUGS", "ReportFiles", "render_report", "report_stem"]

#: Bumped when the JSON report's layout changes, so readers can tell versions apart.
JSON_REPORT_VERSION = 1
_PDF_WIDTH = 110


class ReportFiles(StrictModel):
    """What :func:`render_report` wrote: absolute paths (None for formats not asked for)."""

    directory: str
    html: str | None = None
    json_path: str | None = None
    markdown: str | None = None
    pdf: str | None = None
    #: Names of the charts embedded, e.g. ``["equity_curve", "drawdown", "allocation"]``.
    charts: list[str]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80] or "portfolio"


def report_stem(portfolio_id: str, generated_at: datetime) -> str:
    """``<slug of portfolio_id>-<YYYYmmddTHHMMSSZ>``: the file name of every format."""
    return f"{_slug(portfolio_id)}-{generated_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


# --- Markdown ---------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def _md(text: str) -> str:
    # Markdown renderers pass raw HTML through, so data must not be able to inject tags;
    # pipes would split table cells and newlines would end the row.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", escaped).replace("\r", " ").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_md(c) for c in table.columns) + " |"]
    # A column of figures is right-aligned, even if a text cell (a symbol) is among them.
    align = [
        "---:" if any(row.cells[i].numeric for row in table.rows) else "---"
        for i in range(len(table.columns))
    ]
    lines.append("| " + " | ".join(align) + " |")
    for row in table.rows:
        cells = [f"**{_md(c.text)}**" if c.header else _md(c.text) for c in row.cells]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _markdown(
    title: str, meta: str, footer: str, sections: Sequence[Section], chart_files: dict[str, str]
) -> str:
    lines = [f"# {_md(title)}", "", _md(meta), ""]
    for section in sections:
        lines += [f"## {_md(section.title)}", ""]
        for name in section.charts:
            lines += [f"![{CHART_TITLES[name]}]({chart_files[name]})", ""]
        for table in section.tables:
            lines += [*_md_table(table), ""]
        for note in section.notes:
            lines += [f"_{_md(note)}_", ""]
        if section.bullets:
            lines += [*(f"- {_md(item)}" for item in section.bullets), ""]
    lines += ["---", "", _md(footer), ""]
    return "\n".join(lines)


# --- PDF text pages ---------------------------------------------------------------------


def _text_table(table: Table) -> list[str]:
    grid = [list(table.columns), *([c.text for c in row.cells] for row in table.rows)]
    if len(table.columns) == 2:
        # Label / value tables (conventions hold long definitions): hanging indent.
        label_width = max(len(r[0]) for r in grid)
        out = []
        for label, value in grid[1:]:
            wrapped = textwrap.wrap(value, _PDF_WIDTH - label_width - 2) or [""]
            out.append(f"{label.ljust(label_width)}  {wrapped[0]}")
            out += [" " * (label_width + 2) + more for more in wrapped[1:]]
        return out
    widths = [max(len(r[i]) for r in grid) for i in range(len(table.columns))]
    if sum(widths) + 2 * len(widths) > _PDF_WIDTH:
        return ["(too wide for this page: see the HTML or JSON report)"]
    # First column (labels, symbols) left-aligned, figures right-aligned.
    return [
        "  ".join(
            [r[0].ljust(widths[0]), *(t.rjust(w) for t, w in zip(r[1:], widths[1:], strict=True))]
        )
        for r in grid
    ]


def _pdf_lines(meta: str, footer: str, sections: Sequence[Section]) -> list[str]:
    lines = [*textwrap.wrap(meta, _PDF_WIDTH), ""]
    for section in sections:
        lines += [section.title.upper(), ""]
        for table in section.tables:
            lines += [*_text_table(table), ""]
        for text in [*section.notes, *(f"- {b}" for b in section.bullets)]:
            lines += textwrap.wrap(text, _PDF_WIDTH, subsequent_indent="  ")
        if section.notes or section.bullets:
            lines.append("")
    return [*lines, *textwrap.wrap(footer, _PDF_WIDTH)]


# --- entry point ------------------------------------------------------------------------


def render_report(
    analysis: PortfolioAnalysis,
    *,
    formats: Sequence[ReportFormat],
    out_dir: Path,
    title: str | None = None,
    sections: Sequence[str] = (),
    generated_at: datetime,
    source: str = "",
) -> ReportFiles:
    """Render ``analysis`` into ``out_dir`` in each of ``formats``; return what was written.

    Files are named ``<slug of portfolio_id>-<YYYYmmddTHHMMSSZ of generated_at>.<ext>``
    (Markdown's charts go next to it as ``<stem>_<chart>.png``) and written atomically.
    The same inputs always give the same bytes. ``sections`` picks a subset of
    :data:`SECTION_SLUGS` (empty = all). Raises ValueError for an unknown section, a
    naive ``generated_at`` or no format at all.
    """
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError("generated_at must be timezone-aware")
    wanted = list(dict.fromkeys(ReportFormat(f) for f in formats))
    if not wanted:
        raise ValueError(f"no report format given; choose from {', '.join(ReportFormat)}")
    slugs = select_sections(sections)
    content = build_sections(analysis, slugs)
    names = chart_names(content)
    figures = chart_figures(analysis, names)
    pngs = {name: png_bytes(fig) for name, fig in figures.items()}

    title = title or f"{analysis.portfolio_name} - portfolio report"
    stem = report_stem(analysis.portfolio_id, generated_at)
    generated = f"{generated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    meta = (
        f"{analysis.portfolio_name} ({analysis.portfolio_id}), "
        f"{analysis.start.isoformat()} to {analysis.end.isoformat()}, "
        f"{analysis.analysis_type.value} analysis. Generated {generated}."
    )
    footer = f"Generated {generated}" + (f" from {source}." if source else ".")

    out_dir.mkdir(parents=True, exist_ok=True)
    directory = out_dir.resolve()
    files = ReportFiles(directory=str(directory), charts=names)

    def write(ext: str, payload: bytes) -> str:
        path = directory / f"{stem}.{ext}"
        write_atomically(path, payload)
        return str(path)

    if ReportFormat.HTML in wanted:
        html = render_html(
            title=title,
            name=analysis.portfolio_name,
            portfolio_id=analysis.portfolio_id,
            start=analysis.start.isoformat(),
            end=analysis.end.isoformat(),
            generated=generated,
            generated_iso=generated_at.isoformat(),
            source=source,
            sections=content,
            charts=pngs,
        )
        files.html = write("html", html.encode("utf-8"))
    if ReportFormat.JSON in wanted:
        document = {
            "report": {
                "version": JSON_REPORT_VERSION,
                "title": title,
                "generated_at": generated_at.isoformat(),
                "source": source,
                "sections": list(slugs),
                "charts": names,
            },
            "analysis": analysis.model_dump(mode="json"),
        }
        payload = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        files.json_path = write("json", payload.encode("utf-8"))
    if ReportFormat.MARKDOWN in wanted:
        chart_files = {name: f"{stem}_{name}.png" for name in names}
        for name, file_name in chart_files.items():
            write_atomically(directory / file_name, pngs[name])
        text = _markdown(title, meta, footer, content, chart_files)
        files.markdown = write("md", text.encode("utf-8"))
    if ReportFormat.PDF in wanted:
        pdf = pdf_bytes(
            title=title,
            text_lines=_pdf_lines(meta, footer, content),
            figures=list(figures.values()),
            generated_at=generated_at,
        )
        files.pdf = write("pdf", pdf)
    return files
