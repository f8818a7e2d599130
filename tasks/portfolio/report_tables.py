"""The report's content as format-neutral sections and tables, built from a PortfolioAnalysis.

HTML, Markdown and PDF all render these same tables, so the three documents can never
disagree on a figure: each figure is formatted once, here, and every cell keeps the raw
value it was formatted from (``Cell.value``) for the HTML's ``data-value`` attributes.
"""

from __future__ import annotations

from collections.abc import Sequence

from tasks.portfolio.analysis_models import PortfolioAnalysis, PositionAnalysis, RiskStats
from tasks.portfolio.report_cells import (
    NA,
    Cell,
    Row,
    Section,
    Table,
    date_cell,
    figure,
    finite,
    fmt_money,
    fmt_quantity,
    fmt_ratio,
    int_cell,
    kv_table,
    pct,
    ratio,
    raw_value,
)

#: Every section a report can have, in the order it is printed.
SECTION_SLUGS: tuple[str, ...] = (
    "summary",
    "performance",
    "risk",
    "drawdown",
    "benchmark",
    "allocation",
    "positions",
    "correlation",
    "data_quality",
    "conventions",
)

#: The correlation table stays readable (and the HTML small) up to this many symbols.
MAX_CORRELATION_SYMBOLS = 25

# --- sections ---------------------------------------------------------------------------


def _summary(a: PortfolioAnalysis) -> Section:
    money = a.currency
    rows = [
        ("Portfolio", figure("portfolio_name", a.portfolio_name, a.portfolio_name)),
        ("Portfolio id", figure("portfolio_id", a.portfolio_id, a.portfolio_id)),
        ("Analysis", figure("analysis_type", a.analysis_type.value, a.analysis_type.value)),
        ("Timeframe", figure("timeframe", a.timeframe.value, a.timeframe.value)),
        ("Start", date_cell("start", a.start)),
        ("End", date_cell("end", a.end)),
        ("Start value", figure("start_value", a.start_value, fmt_money(a.start_value, money))),
        ("End value", figure("end_value", a.end_value, fmt_money(a.end_value, money))),
        ("Cash", figure("cash", a.cash, fmt_money(a.cash, money))),
        ("Total return", pct("returns.total_return", a.returns.total_return)),
        ("Annualised return", pct("returns.annualized_return", a.returns.annualized_return)),
        ("Volatility (annualised)", pct("risk.volatility", a.risk.volatility)),
        ("Sharpe ratio", ratio("risk.sharpe", a.risk.sharpe)),
        ("Max drawdown", pct("drawdown.max_drawdown", a.drawdown.max_drawdown)),
        ("Data confidence", pct("quality.confidence", a.quality.confidence)),
    ]
    return Section("summary", "Summary", tables=(kv_table("summary", rows),))


def _performance(a: PortfolioAnalysis) -> Section:
    r = a.returns
    rows = [
        ("Total return", pct("returns.total_return", r.total_return)),
        ("Annualised return", pct("returns.annualized_return", r.annualized_return)),
        ("Observations (daily returns)", int_cell("returns.observations", r.observations)),
    ]
    notes = () if a.series else ("No value series: the equity curve cannot be drawn.",)
    charts = ("equity_curve",) if a.series else ()
    return Section("performance", "Performance", (kv_table("returns", rows),), charts, notes)


def risk_rows(risk: RiskStats) -> list[tuple[str, Cell]]:
    """Every RiskStats figure with its label; None figures print as ``n/a``."""
    conf = f"{risk.var_confidence * 100:g} %"
    return [
        ("Volatility (annualised)", pct("risk.volatility", risk.volatility)),
        ("Sharpe ratio", ratio("risk.sharpe", risk.sharpe)),
        ("Sortino ratio", ratio("risk.sortino", risk.sortino)),
        ("Beta", ratio("risk.beta", risk.beta)),
        ("Alpha (Jensen, annualised)", pct("risk.alpha", risk.alpha)),
        (f"VaR {conf}, one day (historical)", pct("risk.var_historical", risk.var_historical)),
        (f"VaR {conf}, one day (parametric)", pct("risk.var_parametric", risk.var_parametric)),
        (f"CVaR {conf}, one day (historical)", pct("risk.cvar_historical", risk.cvar_historical)),
        (
            f"CVaR {conf}, one day (parametric)",
            pct("risk.cvar_parametric", risk.cvar_parametric),
        ),
        ("Calmar ratio", ratio("risk.calmar", risk.calmar)),
        ("Risk-free rate (annual)", pct("risk.risk_free_rate", risk.risk_free_rate)),
        ("VaR confidence", pct("risk.var_confidence", risk.var_confidence)),
    ]


def _risk(a: PortfolioAnalysis) -> Section:
    return Section("risk", "Risk", tables=(kv_table("risk", risk_rows(a.risk)),))


def _drawdown(a: PortfolioAnalysis) -> Section:
    d = a.drawdown
    rows = [
        ("Max drawdown", pct("drawdown.max_drawdown", d.max_drawdown)),
        ("Peak", date_cell("drawdown.peak_date", d.peak_date)),
        ("Trough", date_cell("drawdown.trough_date", d.trough_date)),
        ("Recovery", date_cell("drawdown.recovery_date", d.recovery_date)),
        ("Duration", int_cell("drawdown.duration_days", d.duration_days, " days")),
    ]
    notes: list[str] = []
    if d.recovery_date is None and d.max_drawdown < 0:
        notes.append("Not recovered: the duration runs to the end of the window.")
    charts = ("drawdown",) if a.series else ()
    return Section("drawdown", "Drawdown", (kv_table("drawdown", rows),), charts, tuple(notes))


def _benchmark(a: PortfolioAnalysis) -> Section:
    b = a.benchmark
    if b is None:
        return Section("benchmark", "Benchmark", notes=("No benchmark in this analysis.",))
    rows = [
        ("Symbol", figure("benchmark.symbol", b.symbol, b.symbol)),
        ("Total return", pct("benchmark.total_return", b.total_return)),
        ("Annualised return", pct("benchmark.annualized_return", b.annualized_return)),
        ("Volatility (annualised)", pct("benchmark.volatility", b.volatility)),
        ("Max drawdown", pct("benchmark.max_drawdown", b.max_drawdown)),
        (
            "Excess annualised return",
            pct("benchmark.excess_annualized_return", b.excess_annualized_return),
        ),
        ("Tracking error", pct("benchmark.tracking_error", b.tracking_error)),
        ("Information ratio", ratio("benchmark.information_ratio", b.information_ratio)),
        ("Correlation with the portfolio", ratio("benchmark.correlation", b.correlation)),
    ]
    return Section("benchmark", "Benchmark", tables=(kv_table("benchmark", rows),))


def _cash_only(a: PortfolioAnalysis) -> str:
    return f"No positions: the portfolio holds only cash ({fmt_money(a.cash, a.currency)})."


def _allocation(a: PortfolioAnalysis) -> Section:
    c = a.concentration
    rows = [
        # HHI is small for broad portfolios (0.025 for 40 equal positions): 4 decimals.
        ("Herfindahl-Hirschman index", ratio("concentration.hhi", c.hhi, 4)),
        ("Effective positions", ratio("concentration.effective_positions", c.effective_positions)),
        (
            "Largest position",
            figure("concentration.top_symbol", c.top_symbol, c.top_symbol or NA),
        ),
        ("Largest weight", pct("concentration.top_weight", c.top_weight)),
    ]
    table = kv_table("concentration", rows)
    if not a.positions:
        return Section("allocation", "Allocation", (table,), notes=(_cash_only(a),))
    notes = ("Weights are shares of the invested value (cash excluded).",)
    return Section("allocation", "Allocation", (table,), ("allocation",), notes)


def _position_row(p: PositionAnalysis, currency: str) -> Row:
    m = f"positions[{p.symbol}]"
    return Row(
        (
            Cell(p.symbol, header=True),
            figure(f"{m}.quantity", p.quantity, fmt_quantity(p.quantity)),
            figure(f"{m}.price", p.price, fmt_money(p.price, currency)),
            figure(f"{m}.market_value", p.market_value, fmt_money(p.market_value, currency)),
            pct(f"{m}.weight", p.weight),
            pct(f"{m}.period_return", p.period_return),
            pct(f"{m}.contribution", p.contribution),
        ),
        symbol=p.symbol,
    )


def _positions(a: PortfolioAnalysis) -> Section:
    if not a.positions:
        return Section("positions", "Positions", notes=(_cash_only(a),))
    columns = ("Symbol", "Quantity", "Price", "Value", "Weight", "Period return", "Contribution")
    rows = tuple(_position_row(p, a.currency) for p in a.positions)
    notes = (f"Cash: {fmt_money(a.cash, a.currency)}.",)
    return Section("positions", "Positions", (Table("positions", columns, rows),), notes=notes)


def _heat(value: float) -> str | None:
    # Blue for positive, red for negative correlations, deeper with |rho|; light enough
    # that the dark text stays readable.
    if not finite(value):
        return None
    strength = min(abs(value), 1.0)
    blend = round(255 - 120 * strength)
    colour = f"rgb({blend},{blend},255)" if value >= 0 else f"rgb(255,{blend},{blend})"
    return f"background-color:{colour}"


def _correlation(a: PortfolioAnalysis) -> Section:
    corr = a.correlation
    if corr is None or not corr.symbols:
        return Section("correlation", "Correlation", notes=("No correlation matrix computed.",))
    index = list(range(len(corr.symbols)))
    notes: list[str] = ["Pearson correlations of daily returns."]
    if len(index) > MAX_CORRELATION_SYMBOLS:
        # Keep the largest positions: they matter most for diversification. Python's sort
        # is stable, so ties keep the matrix order and the choice is deterministic.
        weights = {p.symbol: p.weight for p in a.positions}
        index = sorted(index, key=lambda i: -weights.get(corr.symbols[i], 0.0))
        index = sorted(index[:MAX_CORRELATION_SYMBOLS])
        notes.append(
            f"Showing the {MAX_CORRELATION_SYMBOLS} largest positions of "
            f"{len(corr.symbols)} symbols; the JSON report holds the full matrix."
        )
    symbols = [corr.symbols[i] for i in index]
    rows = []
    for i in index:
        sym = corr.symbols[i]
        cells = [Cell(sym, header=True)]
        for j in index:
            v = corr.matrix[i][j]
            metric = f"correlation[{sym}][{corr.symbols[j]}]"
            cells.append(
                Cell(fmt_ratio(v), raw_value(v), metric, numeric=True, style=_heat(v)),
            )
        rows.append(Row(tuple(cells), symbol=sym))
    table = Table("correlation", ("", *symbols), tuple(rows))
    return Section("correlation", "Correlation", (table,), notes=tuple(notes))


def _data_quality(a: PortfolioAnalysis) -> Section:
    q = a.quality
    rows = [
        ("Confidence", pct("quality.confidence", q.confidence)),
        ("Observations", int_cell("quality.observations", q.observations)),
        ("Missing prices (before filling)", pct("quality.missing_ratio", q.missing_ratio)),
    ]
    bullets = tuple(q.reasons) or ("No data-quality issues recorded.",)
    return Section("data_quality", "Data quality", (kv_table("quality", rows),), bullets=bullets)


def _conventions(a: PortfolioAnalysis) -> Section:
    rows = tuple(
        Row((Cell(name, header=True), Cell(str(value), metric=f"conventions.{name}")))
        for name, value in a.conventions.model_dump(mode="json").items()
    )
    return Section(
        "conventions",
        "Conventions",
        tables=(Table("conventions", ("Figure", "Definition"), rows),),
        notes=("Every figure is a plain fraction (0.12 = 12 %), annualised where named so.",),
    )


_BUILDERS = {
    "summary": _summary,
    "performance": _performance,
    "risk": _risk,
    "drawdown": _drawdown,
    "benchmark": _benchmark,
    "allocation": _allocation,
    "positions": _positions,
    "correlation": _correlation,
    "data_quality": _data_quality,
    "conventions": _conventions,
}


def select_sections(requested: Sequence[str]) -> tuple[str, ...]:
    """The slugs to print, in report order; empty = all. Unknown slugs raise ValueError."""
    unknown = sorted({s for s in requested if s not in SECTION_SLUGS})
    if unknown:
        raise ValueError(
            f"unknown report section(s): {', '.join(unknown)}; "
            f"valid sections: {', '.join(SECTION_SLUGS)}"
        )
    wanted = set(requested)
    return tuple(s for s in SECTION_SLUGS if not wanted or s in wanted)


def build_sections(analysis: PortfolioAnalysis, slugs: Sequence[str]) -> list[Section]:
    """The content of the given sections (already validated by :func:`select_sections`)."""
    return [_BUILDERS[slug](analysis) for slug in slugs]


def chart_names(sections: Sequence[Section]) -> list[str]:
    """The charts the sections show, in report order."""
    return [name for section in sections for name in section.charts]
