"""GENERATE_REPORT's rendering: every format prints exactly the analysis's figures."""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from orchestrator.models.params import AnalysisType, ReportFormat, Timeframe
from tasks.portfolio.analysis_models import (
    BenchmarkStats,
    Concentration,
    CorrelationMatrix,
    DataQuality,
    DrawdownStats,
    PortfolioAnalysis,
    PositionAnalysis,
    ReturnStats,
    RiskStats,
    SeriesPoint,
)
from tasks.portfolio.report import SECTION_SLUGS, ReportFiles, render_report, report_stem

GENERATED_AT = datetime(2024, 6, 28, 17, 30, 5, tzinfo=UTC)
ALL_FORMATS = list(ReportFormat)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _series(n: int, *, benchmark: bool, seed: int = 7) -> list[SeriesPoint]:
    rng = np.random.default_rng(seed)
    value, bench, peak = 100_000.0, 4_500.0, 100_000.0
    points = []
    for i in range(n):
        if i:
            value *= 1 + float(rng.normal(0.0004, 0.011))
            bench *= 1 + float(rng.normal(0.0003, 0.009))
        peak = max(peak, value)
        points.append(
            SeriesPoint(
                date=date(2023, 7, 3) + timedelta(days=i * 7 // 5),
                value=value,
                benchmark_value=bench if benchmark else None,
                drawdown=value / peak - 1,
            )
        )
    return points


def make_analysis(
    *,
    name: str = "Growth & Income",
    benchmark: bool = True,
    positions: int = 3,
    points: int = 250,
) -> PortfolioAnalysis:
    """A realistic analysis: ~1 year of daily points, 3 positions, an SPY benchmark."""
    series = _series(points, benchmark=benchmark)
    symbols = ["AAPL", "MSFT", "BRK.B"][:positions]
    raw_weights = [0.4612345678901234, 0.3287654321098765, 0.21][:positions]
    total = sum(raw_weights) or 1.0
    held = [
        PositionAnalysis(
            symbol=sym,
            quantity=[120.0, 45.5, 80.0][i],
            price=[210.123456789, 447.31, 411.9][i],
            market_value=[25214.81481468, 20352.6050, 32952.0][i],
            weight=raw_weights[i] / total,
            period_return=[0.23456789012345, -0.0412345678901, 0.1][i],
            contribution=[0.10123456789012, -0.0123456789012, 0.0212][i],
        )
        for i, sym in enumerate(symbols)
    ]
    weights = [p.weight for p in held]
    hhi = sum(w * w for w in weights) if held else 0.0
    return PortfolioAnalysis(
        portfolio_id="pf-Growth_01",
        portfolio_name=name,
        analysis_type=AnalysisType.COMPREHENSIVE,
        timeframe=Timeframe.ONE_YEAR,
        start=series[0].date,
        end=series[-1].date,
        start_value=series[0].value,
        end_value=series[-1].value,
        cash=1234.5678,
        returns=ReturnStats(
            total_return=series[-1].value / series[0].value - 1,
            annualized_return=0.1234567890123456,
            observations=points - 1,
        ),
        risk=RiskStats(
            volatility=0.1734567890123,
            sharpe=1.2345678901234,
            sortino=1.8765432109876,
            beta=0.9512345678 if benchmark else None,
            alpha=0.0234567890123 if benchmark else None,
            var_historical=0.0171234567,
            var_parametric=0.0180987654,
            cvar_historical=0.0251234567,
            cvar_parametric=0.0229876543,
            calmar=0.98765432101,
            risk_free_rate=0.04,
            var_confidence=0.95,
        ),
        drawdown=DrawdownStats(
            max_drawdown=min(p.drawdown for p in series),
            peak_date=date(2023, 9, 14),
            trough_date=date(2023, 10, 27),
            recovery_date=None,
            duration_days=288,
        ),
        benchmark=(
            BenchmarkStats(
                symbol="SPY",
                total_return=0.0987654321,
                annualized_return=0.0976543210,
                volatility=0.1412345678,
                max_drawdown=-0.1012345678,
                excess_annualized_return=0.0258024680,
                tracking_error=0.0612345678,
                information_ratio=0.4213579246,
                correlation=0.8123456789,
            )
            if benchmark
            else None
        ),
        positions=held,
        concentration=Concentration(
            hhi=hhi,
            effective_positions=1 / hhi if hhi else 0.0,
            top_symbol=held[0].symbol if held else None,
            top_weight=held[0].weight if held else 0.0,
        ),
        correlation=(
            CorrelationMatrix(
                symbols=symbols,
                matrix=[
                    [1.0 if i == j else 0.1234567 * (i + j) - 0.2 for j in range(len(symbols))]
                    for i in range(len(symbols))
                ],
            )
            if held
            else None
        ),
        series=series,
        quality=DataQuality(
            confidence=0.87654321,
            reasons=["2 days of missing prices filled forward", "MSFT listed <1y: short history"],
            observations=points - 1,
            missing_ratio=0.0026666,
        ),
    )


class _Doc(HTMLParser):
    """Collects figure cells, chart images, sections and every tag of an HTML report."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.metrics: dict[str, list[tuple[str | None, str]]] = {}
        self.charts: dict[str, str] = {}
        self.sections: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._cell: tuple[str, str | None] | None = None
        self._text: list[str] = []
        self.fields: dict[str, str] = {}
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in ("td", "th") and a.get("data-metric"):
            self._cell, self._text = (str(a["data-metric"]), a.get("data-value")), []
        if tag == "img" and a.get("data-chart"):
            self.charts[str(a["data-chart"])] = str(a["src"])
        if tag == "section":
            self.sections.append(str(a["data-section"]))
        if a.get("data-field"):
            self._field, self._text = str(a["data-field"]), []

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            metric, value = self._cell
            self.metrics.setdefault(metric, []).append((value, "".join(self._text)))
            self._cell = None
        elif self._field is not None and tag in ("span", "time"):
            self.fields[self._field] = "".join(self._text)
            self._field = None

    def value(self, metric: str) -> str | None:
        entries = self.metrics[metric]
        # A figure shown twice (summary and its own section) must read the same both times.
        assert len(set(entries)) == 1, entries
        return entries[0][0]

    def text(self, metric: str) -> str:
        return self.metrics[metric][0][1]


def _parse(path: str) -> _Doc:
    doc = _Doc()
    doc.feed(Path(path).read_text(encoding="utf-8"))
    doc.close()
    return doc


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _render(
    analysis: PortfolioAnalysis,
    out: Path,
    *,
    formats: Sequence[ReportFormat] = ALL_FORMATS,
    sections: Sequence[str] = (),
    generated_at: datetime = GENERATED_AT,
    source: str = "",
) -> ReportFiles:
    return render_report(
        analysis,
        formats=formats,
        out_dir=out,
        sections=sections,
        generated_at=generated_at,
        source=source,
    )


@pytest.fixture(scope="module")
def analysis() -> PortfolioAnalysis:
    return make_analysis()


@pytest.fixture(scope="module")
def rendered(analysis: PortfolioAnalysis, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return _render(analysis, tmp_path_factory.mktemp("report"), source="run r-123 task task_005")


def test_every_format_is_written_under_a_deterministic_name(rendered: ReportFiles) -> None:
    stem = "pf-growth-01-20240628T173005Z"
    directory = Path(rendered.directory)
    assert directory.is_absolute()
    assert rendered.html == str(directory / f"{stem}.html")
    assert rendered.json_path == str(directory / f"{stem}.json")
    assert rendered.markdown == str(directory / f"{stem}.md")
    assert rendered.pdf == str(directory / f"{stem}.pdf")
    assert rendered.charts == ["equity_curve", "drawdown", "allocation"]
    # Atomic writes leave no temp files behind.
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]


def test_html_tables_hold_exactly_the_analysis_figures(
    rendered: ReportFiles, analysis: PortfolioAnalysis
) -> None:
    assert rendered.html is not None
    doc = _parse(rendered.html)
    expected: dict[str, object] = {
        "start_value": analysis.start_value,
        "end_value": analysis.end_value,
        "cash": analysis.cash,
        "returns.total_return": analysis.returns.total_return,
        "returns.annualized_return": analysis.returns.annualized_return,
        "drawdown.max_drawdown": analysis.drawdown.max_drawdown,
        "concentration.hhi": analysis.concentration.hhi,
        "concentration.effective_positions": analysis.concentration.effective_positions,
        "quality.confidence": analysis.quality.confidence,
        "quality.missing_ratio": analysis.quality.missing_ratio,
    }
    for field, value in analysis.risk.model_dump().items():
        expected[f"risk.{field}"] = value
    assert analysis.benchmark is not None
    for field, value in analysis.benchmark.model_dump().items():
        if field != "symbol":
            expected[f"benchmark.{field}"] = value
    for p in analysis.positions:
        for field in ("quantity", "price", "market_value", "weight", "period_return"):
            expected[f"positions[{p.symbol}].{field}"] = getattr(p, field)
        expected[f"positions[{p.symbol}].contribution"] = p.contribution
    for metric, value in expected.items():
        assert isinstance(value, float), metric
        raw = doc.value(metric)
        assert raw is not None, metric
        assert float(raw) == value, metric
    assert doc.value("returns.observations") == str(analysis.returns.observations)
    assert doc.value("drawdown.peak_date") == "2023-09-14"
    assert doc.value("drawdown.trough_date") == "2023-10-27"
    assert doc.value("drawdown.duration_days") == "288"
    assert doc.text("drawdown.recovery_date") == "n/a"
    assert doc.value("benchmark.symbol") == "SPY"
    assert analysis.correlation is not None
    for i, a in enumerate(analysis.correlation.symbols):
        for j, b in enumerate(analysis.correlation.symbols):
            raw = doc.value(f"correlation[{a}][{b}]")
            assert raw is not None
            assert float(raw) == analysis.correlation.matrix[i][j]


def test_html_formats_percentages_and_ratios(rendered: ReportFiles) -> None:
    assert rendered.html is not None
    doc = _parse(rendered.html)
    assert doc.text("risk.sharpe") == "1.23"
    assert doc.text("risk.volatility") == "17.35 %"
    assert doc.text("returns.annualized_return") == "12.35 %"
    assert doc.text("positions[AAPL].quantity") == "120"
    assert doc.text("positions[MSFT].quantity") == "45.5"
    assert doc.text("concentration.top_symbol") == "AAPL"


def test_html_charts_are_embedded_pngs(rendered: ReportFiles) -> None:
    assert rendered.html is not None
    doc = _parse(rendered.html)
    assert set(doc.charts) == {"equity_curve", "drawdown", "allocation"}
    for name, src in doc.charts.items():
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix), name
        width, height = _png_size(base64.b64decode(src[len(prefix) :], validate=True))
        assert width > 100 and height > 100, name


def test_html_is_self_contained(rendered: ReportFiles) -> None:
    assert rendered.html is not None
    text = Path(rendered.html).read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", text, re.IGNORECASE)
    assert "<link" not in text.lower()
    assert "<script" not in text.lower()
    assert "@import" not in text and "url(" not in text
    doc = _parse(rendered.html)
    for _tag, attrs in doc.tags:
        for attr in ("src", "href"):
            target = attrs.get(attr)
            assert target is None or target.startswith(("data:", "#")), target


def test_the_portfolio_name_is_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script> & co"
    files = _render(make_analysis(name=evil), tmp_path, formats=[ReportFormat.HTML])
    assert files.html is not None
    text = Path(files.html).read_text(encoding="utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    doc = _parse(files.html)
    assert doc.fields["portfolio_name"] == evil
    assert doc.text("portfolio_name") == evil


def test_json_round_trips_into_the_analysis(
    rendered: ReportFiles, analysis: PortfolioAnalysis
) -> None:
    assert rendered.json_path is not None
    document = json.loads(Path(rendered.json_path).read_text(encoding="utf-8"))
    assert PortfolioAnalysis.model_validate(document["analysis"]) == analysis
    report = document["report"]
    assert report["title"] == "Growth & Income - portfolio report"
    assert report["generated_at"] == "2024-06-28T17:30:05+00:00"
    assert report["source"] == "run r-123 task task_005"
    assert report["sections"] == list(SECTION_SLUGS)
    assert report["charts"] == ["equity_curve", "drawdown", "allocation"]


def test_markdown_holds_the_figures_and_its_charts(
    rendered: ReportFiles, analysis: PortfolioAnalysis
) -> None:
    assert rendered.markdown is not None
    path = Path(rendered.markdown)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Growth &amp; Income - portfolio report\n")
    assert "| **Sharpe ratio** | 1.23 |" in text
    assert "| 17.35 % |" in text
    assert f"| {analysis.positions[0].weight * 100:.2f} % |" in text
    assert "BRK.B" in text
    assert "MSFT listed &lt;1y: short history" in text
    assert "run r-123 task task\\_005" in text
    for name in ("equity_curve", "drawdown", "allocation"):
        png = path.parent / f"{path.stem}_{name}.png"
        assert f"]({png.name})" in text
        width, height = _png_size(png.read_bytes())
        assert width > 100 and height > 100


def test_pdf_is_a_pdf(rendered: ReportFiles) -> None:
    assert rendered.pdf is not None
    data = Path(rendered.pdf).read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    # The text page and one page per chart.
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 4


def test_rendering_twice_gives_identical_files(analysis: PortfolioAnalysis, tmp_path: Path) -> None:
    first = _render(analysis, tmp_path / "a", source="s")
    second = _render(analysis, tmp_path / "b", source="s")
    for ext in ("html", "json", "md", "pdf"):
        stem = report_stem(analysis.portfolio_id, GENERATED_AT)
        a = (Path(first.directory) / f"{stem}.{ext}").read_bytes()
        b = (Path(second.directory) / f"{stem}.{ext}").read_bytes()
        assert a == b, ext


def test_worker_threads_render_the_same_bytes(analysis: PortfolioAnalysis, tmp_path: Path) -> None:
    # Handlers run in worker threads: no pyplot/rcParams state may leak between renders.
    serial = _render(analysis, tmp_path / "serial", formats=[ReportFormat.HTML])
    assert serial.html is not None
    expected = Path(serial.html).read_bytes()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(
                lambda i: _render(analysis, tmp_path / f"t{i}", formats=[ReportFormat.HTML]),
                range(4),
            )
        )
    for files in results:
        assert files.html is not None
        assert Path(files.html).read_bytes() == expected


def test_sections_filter_the_report(analysis: PortfolioAnalysis, tmp_path: Path) -> None:
    files = _render(analysis, tmp_path, sections=["risk", "summary", "risk"])
    assert files.html is not None and files.markdown is not None and files.json_path is not None
    doc = _parse(files.html)
    assert doc.sections == ["summary", "risk"]
    assert doc.charts == {}
    assert files.charts == []
    assert "positions[AAPL].weight" not in doc.metrics
    assert "## Positions" not in Path(files.markdown).read_text(encoding="utf-8")
    report = json.loads(Path(files.json_path).read_text(encoding="utf-8"))["report"]
    assert report["sections"] == ["summary", "risk"]

    only_drawdown = _render(analysis, tmp_path / "dd", sections=["drawdown"])
    assert only_drawdown.charts == ["drawdown"]


def test_unknown_sections_raise_naming_the_valid_ones(
    analysis: PortfolioAnalysis, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="bogus") as info:
        _render(analysis, tmp_path, sections=["risk", "bogus"])
    assert all(slug in str(info.value) for slug in SECTION_SLUGS)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_naive_time_and_no_format_are_rejected(analysis: PortfolioAnalysis, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone"):
        _render(analysis, tmp_path, generated_at=datetime(2024, 6, 28, 12, 0))
    with pytest.raises(ValueError, match="format"):
        _render(analysis, tmp_path, formats=[])


def test_file_name_uses_utc(analysis: PortfolioAnalysis, tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=2))
    files = _render(
        analysis,
        tmp_path,
        formats=[ReportFormat.JSON],
        generated_at=datetime(2024, 6, 28, 19, 30, 5, tzinfo=paris),
    )
    assert files.json_path is not None
    assert Path(files.json_path).name == "pf-growth-01-20240628T173005Z.json"
    assert files.html is files.markdown is files.pdf is None


def test_without_benchmark(tmp_path: Path) -> None:
    analysis = make_analysis(benchmark=False)
    files = _render(analysis, tmp_path)
    assert files.html is not None
    doc = _parse(files.html)
    assert doc.text("risk.beta") == "n/a" and doc.value("risk.beta") is None
    assert doc.text("risk.alpha") == "n/a"
    assert not any(m.startswith("benchmark.") for m in doc.metrics)
    assert "No benchmark in this analysis." in Path(files.html).read_text(encoding="utf-8")
    assert files.charts == ["equity_curve", "drawdown", "allocation"]
    assert files.json_path is not None
    document = json.loads(Path(files.json_path).read_text(encoding="utf-8"))
    assert PortfolioAnalysis.model_validate(document["analysis"]) == analysis


def test_cash_only_portfolio(tmp_path: Path) -> None:
    analysis = make_analysis(positions=0)
    files = _render(analysis, tmp_path)
    assert files.html is not None
    assert files.charts == ["equity_curve", "drawdown"]
    doc = _parse(files.html)
    assert "allocation" not in doc.charts
    assert not any(m.startswith("positions[") for m in doc.metrics)
    assert "holds only cash" in Path(files.html).read_text(encoding="utf-8")
    assert files.pdf is not None and Path(files.pdf).read_bytes().startswith(b"%PDF")


def test_single_position_and_single_point(tmp_path: Path) -> None:
    analysis = make_analysis(positions=1, points=1)
    files = _render(analysis, tmp_path)
    assert files.html is not None
    doc = _parse(files.html)
    assert doc.value("positions[AAPL].weight") == "1.0"
    assert set(doc.charts) == {"equity_curve", "drawdown", "allocation"}
    for src in doc.charts.values():
        _png_size(base64.b64decode(src.split(",", 1)[1]))


def test_empty_series_skips_the_line_charts(tmp_path: Path) -> None:
    analysis = make_analysis().model_copy(update={"series": []})
    files = _render(analysis, tmp_path)
    assert files.charts == ["allocation"]


def test_long_correlation_matrix_is_capped(tmp_path: Path) -> None:
    symbols = [f"S{i:02d}" for i in range(30)]
    matrix = [[1.0 if i == j else 0.5 for j in range(30)] for i in range(30)]
    analysis = make_analysis().model_copy(
        update={"correlation": CorrelationMatrix(symbols=symbols, matrix=matrix)}
    )
    files = _render(analysis, tmp_path, formats=[ReportFormat.HTML, ReportFormat.PDF])
    assert files.html is not None
    doc = _parse(files.html)
    shown = {m for m in doc.metrics if m.startswith("correlation[")}
    assert len(shown) == 25 * 25
    assert "Showing the 25 largest positions of 30 symbols" in Path(files.html).read_text(
        encoding="utf-8"
    )


def test_non_finite_figures_print_as_missing(tmp_path: Path) -> None:
    analysis = make_analysis()
    analysis = analysis.model_copy(
        update={"risk": analysis.risk.model_copy(update={"sortino": math.inf})}
    )
    files = _render(analysis, tmp_path, formats=[ReportFormat.HTML])
    assert files.html is not None
    doc = _parse(files.html)
    assert doc.text("risk.sortino") == "n/a"
    assert doc.value("risk.sortino") == "inf"
