"""Pure parts of VALIDATE_DATA: test-runner summaries, the bot's config and summary,
buy-and-hold, the simulation window and the chart checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import pytest

from tasks.errors import HandlerError, InvalidInputError, ValidationFailureError
from tasks.system.backtest import (
    buy_and_hold,
    parse_bot_summary,
    prices_csv,
    simulation_window,
    weights_from_js_config,
    weights_from_python_config,
)
from tasks.system.chart_checks import check_bar_labels, check_line_chart, series_lines
from tasks.system.project_tests import (
    NODE_TEST_ARGV,
    SuiteCounts,
    parse_pytest_summary,
    parse_tap_summary,
)
from tasks.system.report_check import check_criteria, check_export, check_pdf
from tasks.system.schema_checks import check_price_csv
from tasks.workspace.codegen import render_code
from tasks.workspace.codegen_bot import sample_analysis
from tasks.workspace.commands import CommandAllowList

D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


@pytest.mark.parametrize(
    ("output", "counts"),
    [
        ("....\n18 passed in 0.55s\n", SuiteCounts(18, 0, 0, 0)),
        ("F.\n1 failed, 17 passed in 0.60s\n", SuiteCounts(17, 1, 0, 0)),
        (
            "== 2 failed, 10 passed, 1 skipped, 1 xfailed, 3 warnings, 1 error in 1.2s ==\n",
            SuiteCounts(10, 2, 1, 2),
        ),
        ("ERROR tests/x.py\n!!! Interrupted !!!\n1 error in 0.12s\n", SuiteCounts(0, 0, 1, 0)),
        ("\nno tests ran in 0.01s\n", SuiteCounts(0, 0, 0, 0)),
        ("1 passed in 61.50s (0:01:01)\n", SuiteCounts(1, 0, 0, 0)),
    ],
)
def test_pytest_closing_lines_are_counted(output: str, counts: SuiteCounts) -> None:
    assert parse_pytest_summary(output) == counts


def test_pytest_output_without_a_summary_is_not_a_pass() -> None:
    assert parse_pytest_summary("Traceback (most recent call last):\nKilled\n") is None


def test_tap_totals_of_node_test_are_counted() -> None:
    tap = "ok 1 - a\nnot ok 2 - b\n1..3\n# tests 3\n# suites 0\n# pass 1\n# fail 1\n"
    tap += "# cancelled 1\n# skipped 1\n# todo 1\n# duration_ms 76.7\n"
    assert parse_tap_summary(tap) == SuiteCounts(passed=1, failed=1, errors=1, skipped=2)
    assert parse_tap_summary("TAP version 13\n") is None


def test_the_bots_weights_are_read_from_either_generated_config() -> None:
    analysis = sample_analysis()
    for file_type, path, parse in [
        ("python", "src/demo_bot/config.py", weights_from_python_config),
        ("javascript", "src/config.js", weights_from_js_config),
    ]:
        files = render_code(
            "trading-bot", project_name="demo-bot", file_type=file_type, upstream={"a": analysis}
        )
        weights = parse(files[path])
        assert weights == pytest.approx({"AAA": 0.45, "BBB": 0.36, "CCC": 0.19})
    assert weights_from_python_config("TARGET_WEIGHTS = compute()\n") is None
    assert weights_from_python_config("def broken(:\n") is None
    assert weights_from_js_config("module.exports = {};") is None


def test_the_bots_summary_is_read_in_either_spelling() -> None:
    python = '{"days": 3, "trades": 2, "initial_capital": 100000.0, "final_equity": 99000.0, '
    python += '"total_return": -0.01, "max_drawdown": -0.02, "stopped_on": null}'
    node = '{"days": 3, "trades": 2, "initialCapital": 100000, "finalEquity": 99000, '
    node += '"totalReturn": -0.01, "maxDrawdown": -0.02, "stoppedOn": null}'
    assert parse_bot_summary(python) == parse_bot_summary(node)
    assert parse_bot_summary(node).total_return == -0.01
    with pytest.raises(ValidationFailureError, match="no valid summary"):
        parse_bot_summary("Traceback ...")
    with pytest.raises(ValidationFailureError):
        parse_bot_summary(python.replace('"max_drawdown": -0.02', '"max_drawdown": 0.5'))


def test_buy_and_hold_buys_each_symbol_on_its_first_close_and_holds() -> None:
    closes = {"AAA": [(D1, 10.0), (D2, 5.0), (D3, 15.0)], "BBB": [(D2, 20.0), (D3, 30.0)]}
    total, drawdown = buy_and_hold(closes, {"AAA": 0.75, "BBB": 0.25, "ZZZ": 1.0})
    # ZZZ has no closes: weights renormalise to 0.75 / 0.25; BBB waits in cash until D2.
    assert total == pytest.approx(0.75 * 1.5 + 0.25 * 1.5 - 1)
    assert drawdown == pytest.approx(0.75 * 0.5 + 0.25 - 1)
    with pytest.raises(ValueError, match="no weighted symbol"):
        buy_and_hold(closes, {"ZZZ": 1.0})


def test_the_exported_prices_are_the_bots_long_format_and_exact() -> None:
    text = prices_csv({"BBB": [(D1, 2.5)], "AAA": [(D1, 0.1 + 0.2), (D2, 101.25)]})
    assert text.splitlines() == [
        "date,symbol,close",
        "2024-01-02,AAA,0.30000000000000004",
        "2024-01-02,BBB,2.5",
        "2024-01-03,AAA,101.25",
    ]
    assert {c.name for c in check_price_csv(text) if not c.passed} == set()


def test_the_simulation_window_follows_the_data_source() -> None:
    latest = date(2018, 4, 11)
    assert simulation_window("historical_market_data", None, latest) == (date(2016, 4, 11), latest)
    analysis = {"start": "2017-04-11", "end": "2018-04-10"}
    assert simulation_window("task_001_data", analysis, latest) == (
        date(2017, 4, 11),
        date(2018, 4, 10),
    )
    with pytest.raises(InvalidInputError, match="historical_market_data"):
        simulation_window("sample_data", None, latest)


def test_unknown_criteria_are_named_with_the_known_ones() -> None:
    assert check_criteria([]) == ["chart_accuracy", "data_integrity", "pdf_generation"]
    with pytest.raises(InvalidInputError, match="unknown validation_criteria speed; known: chart"):
        check_criteria(["pdf_generation", "speed"])


def _svg(lines: Mapping[str, Sequence[tuple[float, float]]], texts: Sequence[str] = ()) -> str:
    polylines = [
        " ".join(f"{x:.2f},{y:.2f}" for x, y in points) + f"|{name}"
        for name, points in lines.items()
    ]
    body = "".join(
        f'<polyline points="{coords}"><title>{name}</title></polyline>'
        for coords, name in (p.split("|") for p in polylines)
    )
    body += "".join(f"<text>{t}</text>" for t in texts)
    return f'<svg xmlns="http://www.w3.org/2000/svg">{body}</svg>'


def test_a_line_chart_must_plot_the_values_under_one_linear_scale() -> None:
    analysis = sample_analysis()
    value_lines, _ = series_lines(analysis)
    portfolio = [v for v in value_lines["Portfolio"] if v is not None]
    benchmark = [v for v in value_lines["Benchmark"] if v is not None]

    def y(v: float) -> float:
        return 300 - v / 1000

    faithful = {
        "Portfolio": [(10.0 + 5 * i, y(v)) for i, v in enumerate(portfolio)],
        "Benchmark": [(10.0 + 5 * i, y(v)) for i, v in enumerate(benchmark)],
    }
    assert check_line_chart("value.svg", _svg(faithful), value_lines) == ""
    shifted = dict(faithful, Benchmark=[(x, py - 3) for x, py in faithful["Benchmark"]])
    assert "heights are off" in check_line_chart("value.svg", _svg(shifted), value_lines)
    short = dict(faithful, Portfolio=faithful["Portfolio"][:-1])
    assert "23 points for 24 values" in check_line_chart("value.svg", _svg(short), value_lines)
    assert "not written" in check_line_chart("value.svg", None, value_lines)
    assert "not a readable SVG" in check_line_chart("value.svg", "<svg", value_lines)


def test_bar_labels_must_show_each_weight() -> None:
    svg = _svg({}, ["Allocation", "AAA", "45.0%", "BBB", "36.0%"])
    assert check_bar_labels("a.svg", svg, {"AAA": 0.45, "BBB": 0.36}) == ""
    assert "weight of BBB" in check_bar_labels("a.svg", svg, {"AAA": 0.45, "BBB": 0.35})


def test_a_pdf_must_be_a_real_pdf_showing_the_total_return() -> None:
    analysis = sample_analysis()
    shown = f"{analysis['returns']['total_return'] * 100:.2f}%".encode()
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Pages >>\n2 0 obj << /Type /Page >>\n(" + shown + b")"
    pdf += b" " * 1200 + b"\n%%EOF\n"
    assert check_pdf(pdf, analysis).passed
    assert not check_pdf(None, analysis).passed
    assert "does not start with %PDF-" in check_pdf(b"<html>" + pdf, analysis).detail
    assert "only 40 bytes" in check_pdf(pdf[:30] + b"\n%%EOF\n" + b" " * 3, analysis).detail
    assert "total return" in check_pdf(pdf.replace(shown, b"0.00%"), analysis).detail


@pytest.mark.parametrize("figure", ["Infinity", "-Infinity", "NaN"])
def test_a_bot_summary_with_a_non_finite_figure_is_no_summary(figure: str) -> None:
    # json.loads reads these tokens as floats; a bot printing them must not beat holding.
    node = '{"days": 3, "trades": 2, "initialCapital": 100000, "finalEquity": 99000, '
    node += f'"totalReturn": {figure}, "maxDrawdown": -0.02, "stoppedOn": null}}'
    with pytest.raises(ValidationFailureError, match="finite number"):
        parse_bot_summary(node)


def test_a_chart_with_non_finite_coordinates_is_not_accurate() -> None:
    # NaN compares false with everything: unchecked, a chart of NaN heights would pass.
    value_lines, _ = series_lines(sample_analysis())
    portfolio = [v for v in value_lines["Portfolio"] if v is not None]
    lines = {"Portfolio": value_lines["Portfolio"]}
    nan_heights = " ".join(f"{10 + 5 * i:.2f},nan" for i in range(len(portfolio)))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg"><polyline points="'
        + nan_heights
        + '"><title>Portfolio</title></polyline></svg>'
    )
    problem = check_line_chart("value.svg", svg, lines)
    assert "not a readable SVG chart" in problem and "not a finite number" in problem
    infinite = svg.replace("nan", "inf", 1)
    assert "not a finite number" in check_line_chart("value.svg", infinite, lines)


@pytest.mark.parametrize(
    ("summary", "problem"),
    [
        ("[1, 2, 3]", "a JSON list, not an object"),
        ('"a string"', "a JSON str, not an object"),
        ("null", "a JSON NoneType, not an object"),
        ('{"positions": [1, "x"]}', "changes the positions' weights"),
        ('{"positions": {"symbol": "AAA"}}', "changes the positions' weights"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
    ],
)
def test_an_export_that_is_not_an_object_is_a_problem_not_a_crash(
    summary: str, problem: str
) -> None:
    problems = check_export(summary, None, sample_analysis())
    assert any(problem in p for p in problems), problems


def test_the_node_suite_asks_for_tap_and_the_allow_list_accepts_it(tmp_path: Path) -> None:
    # Node >= 23 prints its spec reporter by default: TAP must be asked for by name.
    assert "--test-reporter=tap" in NODE_TEST_ARGV
    allow = CommandAllowList.load()
    checked = allow.check(
        NODE_TEST_ARGV, module="workspace", role="trader", project_dir=tmp_path, cwd=tmp_path
    )
    assert checked.argv[: len(NODE_TEST_ARGV)] == NODE_TEST_ARGV
    # A reporter is a built-in one: a module name would load code from anywhere.
    for reporter in ["--test-reporter=./evil.js", "--test-reporter=tap-pretty"]:
        with pytest.raises(HandlerError):
            allow.check(
                ["node", "--test", reporter],
                module="workspace",
                role="trader",
                project_dir=tmp_path,
                cwd=tmp_path,
            )
