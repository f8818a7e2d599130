"""Pure schema checks: price histories and upstream outputs against their models."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest

from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.system.schema_checks import (
    check_analysis_consistency,
    check_output,
    check_price_csv,
    check_prices,
    labelled,
    price_records,
)
from tasks.system.validation_models import CheckOutcome
from tasks.workspace.codegen_bot import business_days, sample_analysis, sample_prices_csv


def by_name(checks: list[CheckOutcome]) -> dict[str, CheckOutcome]:
    return {c.name: c for c in checks}


def failed(checks: list[CheckOutcome]) -> set[str]:
    return {c.name for c in checks if not c.passed}


def csv_of(rows: list[tuple[str, str, str]]) -> str:
    return "date,symbol,close\n" + "".join(f"{d},{s},{c}\n" for d, s, c in rows)


def daily(symbol: str, days: int, start: date = date(2024, 1, 1)) -> list[tuple[str, str, str]]:
    return [
        (d.isoformat(), symbol, f"{100 + i * 0.5:.2f}")
        for i, d in enumerate(business_days(start, days))
    ]


def test_the_bots_sample_prices_pass_every_check() -> None:
    checks = check_price_csv(sample_prices_csv(["AAA", "BBB", "CCC"]))
    assert failed(checks) == set()
    assert set(by_name(checks)) == {"format", "closes", "dates", "gaps", "stale"}
    assert by_name(checks)["format"].figures == {"rows": 900, "symbols": 3, "malformed_rows": 0}


@pytest.mark.parametrize("bad", ["-3.5", "0", "nan", "inf", "abc", ""])
def test_a_close_that_is_not_a_positive_finite_number_is_named_by_line(bad: str) -> None:
    rows = daily("AAA", 30)
    rows[9] = (rows[9][0], "AAA", bad)
    checks = by_name(check_price_csv(csv_of(rows)))
    assert not checks["closes"].passed
    # Line 11: the header is line 1, the tenth row line 11.
    assert "lines 11" in checks["closes"].detail
    assert checks["closes"].figures["bad_closes"] == 1
    assert checks["dates"].passed


def test_dates_must_be_iso_and_increase_within_a_symbol() -> None:
    rows = daily("AAA", 30) + daily("BBB", 30)
    rows[5], rows[6] = rows[6], rows[5]  # AAA's days 6 and 7 swapped
    checks = by_name(check_price_csv(csv_of(rows)))
    assert not checks["dates"].passed
    assert "not increasing" in checks["dates"].detail and "lines 8" in checks["dates"].detail
    rows = daily("AAA", 30)
    rows[3] = ("2024-13-01", "AAA", "10")
    assert "unreadable dates at lines 5" in by_name(check_price_csv(csv_of(rows)))["dates"].detail


def test_a_missing_week_is_a_gap_but_a_long_weekend_is_not() -> None:
    rows = daily("AAA", 40)
    long_weekend = [r for i, r in enumerate(rows) if i != 4]  # a Friday missing: 4 days
    assert by_name(check_price_csv(csv_of(long_weekend)))["gaps"].passed
    missing_week = rows[:10] + rows[15:]
    gaps = by_name(check_price_csv(csv_of(missing_week)))["gaps"]
    assert not gaps.passed
    assert gaps.figures["largest_gap_days"] == 10
    assert "AAA 2024-01-12 to 2024-01-22" in gaps.detail


def test_a_series_that_stops_early_or_stops_moving_is_stale() -> None:
    lagging = daily("AAA", 60) + daily("BBB", 40)
    stale = by_name(check_price_csv(csv_of(lagging)))["stale"]
    assert not stale.passed and "BBB" in stale.detail and "AAA" not in stale.detail
    flat = daily("AAA", 30)
    flat[10:22] = [(d, s, "123.00") for d, s, _ in flat[10:22]]
    stale = by_name(check_price_csv(csv_of(flat)))["stale"]
    assert not stale.passed and "12 equal closes in a row" in stale.detail


def test_a_file_that_is_not_long_format_is_refused_by_the_format_check() -> None:
    (check,) = check_price_csv("date,AAA,BBB\n2024-01-01,1,2\n")
    assert check.name == "format" and not check.passed and "date,symbol,close" in check.detail
    checks = by_name(check_price_csv("date,symbol,close\n2024-01-01,AAA\n2024-01-02,AAA,3\n"))
    assert not checks["format"].passed and "lines 2" in checks["format"].detail


def test_market_closes_are_checked_the_same_way() -> None:
    start = date(2024, 1, 1)
    closes = {"AAA": [(start + timedelta(days=i), 10.0 + i) for i in range(5)]}
    assert failed(check_prices(price_records(closes))) == set()
    closes["AAA"].append((start + timedelta(days=30), float("nan")))
    assert failed(labelled("market", check_prices(price_records(closes)))) == {
        "market.closes",
        "market.gaps",
    }


def test_an_output_is_checked_against_its_declared_model() -> None:
    analysis = sample_analysis()
    assert check_output("output.t1", analysis, PortfolioAnalysis).passed
    broken = copy.deepcopy(analysis)
    del broken["returns"]
    broken["drawdown"]["max_drawdown"] = 0.3  # a drawdown is never positive
    check = check_output("output.t1", broken, PortfolioAnalysis)
    assert not check.passed
    assert "returns: Field required" in check.detail
    assert "drawdown.max_drawdown" in check.detail
    assert check.figures == {"errors": 2}


def _analysis() -> dict[str, Any]:
    return sample_analysis()


def test_analysis_figures_must_agree_with_each_other() -> None:
    assert check_analysis_consistency(_analysis()).passed
    skewed = _analysis()
    skewed["positions"][0]["weight"] = 0.9
    assert "weights sum to 1.450000" in check_analysis_consistency(skewed).detail
    unordered = _analysis()
    unordered["series"][2], unordered["series"][3] = unordered["series"][3], unordered["series"][2]
    assert "not strictly increasing" in check_analysis_consistency(unordered).detail
    above_peak = _analysis()
    above_peak["series"][4]["drawdown"] = 0.01
    assert not check_analysis_consistency(above_peak).passed


def test_a_cell_over_the_csv_field_limit_fails_the_format_check() -> None:
    # One unterminated quote swallows the rest of the file into a single huge cell.
    text = 'date,symbol,close\n2024-01-02,AAPL,"' + "9" * 200_000 + "\n"
    checks = check_price_csv(text)
    assert [(c.name, c.passed) for c in checks] == [("format", False)]
    assert "not CSV" in checks[0].detail


def test_a_price_file_over_the_size_cap_fails_without_being_parsed() -> None:
    from tasks.system.schema_checks import MAX_PRICE_CSV_BYTES

    text = csv_of(daily("AAPL", 3)) + "#" * MAX_PRICE_CSV_BYTES
    checks = check_price_csv(text)
    assert [(c.name, c.passed) for c in checks] == [("format", False)]
    assert "a price file may have" in checks[0].detail
