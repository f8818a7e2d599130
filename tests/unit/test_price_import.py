"""The price importer's checks, on files a user could hand it (SQLite for what gets written)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from orchestrator.history import create_history_engine, upgrade
from orchestrator.history.portfolio_tables import MarketPriceRow
from orchestrator.portfolio.importer import (
    MAX_KEPT_PROBLEMS,
    PriceImportError,
    import_prices,
    validate_prices,
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    upgrade(url)
    engine = create_history_engine(url)
    yield engine
    engine.dispose()


def stored(engine: Engine) -> list[tuple[str, date, float | None, float, float | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                MarketPriceRow.symbol,
                MarketPriceRow.date,
                MarketPriceRow.open,
                MarketPriceRow.close,
                MarketPriceRow.volume,
            ).order_by(MarketPriceRow.symbol, MarketPriceRow.date)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def rejected(engine: Engine, path: Path) -> PriceImportError:
    with pytest.raises(PriceImportError) as caught:
        import_prices(engine, path)
    assert stored(engine) == []
    return caught.value


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(text, newline="")
    return path


# -- dates --------------------------------------------------------------------------------------


def test_partial_dates_and_times_in_text_are_rejected_not_guessed(
    engine: Engine, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        "date,symbol,close\n"
        "2020,ACME,10\n"
        "2020-03,ACME,10\n"
        "2020-01-05T13:45,ACME,10\n"
        "2020-02-30,ACME,10\n"
        "2020-01-06,ACME,10\n",
    )
    error = rejected(engine, path)
    assert [(p.line, p.message) for p in error.problems] == [
        (2, "date '2020' is not an ISO date (YYYY-MM-DD)"),
        (3, "date '2020-03' is not an ISO date (YYYY-MM-DD)"),
        (4, "date '2020-01-05T13:45' is not an ISO date (YYYY-MM-DD)"),
        (5, "date '2020-02-30' is not an ISO date (YYYY-MM-DD)"),
    ]


def test_mixed_timezone_offsets_are_a_rejected_file_not_a_traceback(
    engine: Engine, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        "date,symbol,close\n2020-01-02T00:00+01:00,ACME,10\n2020-01-03T00:00+02:00,ACME,11\n",
    )
    error = rejected(engine, path)
    assert {p.line for p in error.problems} == {2, 3}
    assert "nothing imported" in str(error)


def test_parquet_dates_and_midnight_timestamps_import_but_a_time_of_day_does_not(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "prices.parquet"
    pd.DataFrame(
        {
            "date": [date(2021, 3, 1), date(2021, 3, 2)],
            "symbol": ["ZZD", "ZZD"],
            "close": [5.0, 5.5],
        }
    ).to_parquet(path)
    assert import_prices(engine, path).last_date == date(2021, 3, 2)
    pd.DataFrame(
        {
            "date": pd.to_datetime(["2021-03-03 00:00", "2021-03-04 15:30"]),
            "symbol": ["ZZT", "ZZT"],
            "close": [6.0, 6.5],
        }
    ).to_parquet(path)
    with pytest.raises(PriceImportError) as caught:
        import_prices(engine, path)
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (2, "date '2021-03-04 15:30:00' has a time of day (expected a date)")
    ]
    assert "row 2: date" in str(caught.value)
    assert {row[0] for row in stored(engine)} == {"ZZD"}


# -- line numbers, blank lines ------------------------------------------------------------------


def test_line_numbers_are_physical_lines_when_a_quoted_cell_spans_lines(
    engine: Engine, tmp_path: Path
) -> None:
    # Line 2's record goes on over line 3, so the bad close is on line 4, not 3
    path = csv_file(
        tmp_path,
        'date,symbol,close\n2020-01-02,"AC\nME",10\n2020-01-03,ACME,abc\n2020-01-04,ACME,-1\n',
    )
    error = rejected(engine, path)
    assert [(p.line, p.message) for p in error.problems] == [
        (2, "symbol 'AC\\nME' is not a valid symbol"),
        (4, "close 'abc' must be a number > 0"),
        (5, "close '-1' must be a number > 0"),
    ]


def test_trailing_blank_lines_are_ignored(engine: Engine, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "date,symbol,close\r\n2020-01-02,ACME,10\r\n\r\n,,\r\n   \r\n")
    report = import_prices(engine, path)
    assert report.rows == 1
    assert stored(engine) == [("ACME", date(2020, 1, 2), None, 10.0, None)]


def test_a_blank_line_in_the_middle_and_a_short_record_are_problems(
    engine: Engine, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path, "date,symbol,close\n2020-01-02,ACME,10\n\n2020-01-03,ACME\n2020-01-06,ACME,11\n"
    )
    error = rejected(engine, path)
    assert [(p.line, p.message) for p in error.problems] == [
        (3, "blank line"),
        (4, "has 2 cell(s), the header has 3"),
    ]


# -- missing cells ------------------------------------------------------------------------------


def test_parquet_nulls_in_optional_columns_are_not_given(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "prices.parquet"
    pd.DataFrame(
        {
            "date": ["2021-03-01", "2021-03-02"],
            "symbol": ["ZZN", "ZZN"],
            "close": [5.0, 5.5],
            "open": [None, 5.2],
            "volume": [float("nan"), 1000.0],
        }
    ).to_parquet(path)
    assert import_prices(engine, path).rows == 2
    assert stored(engine) == [
        ("ZZN", date(2021, 3, 1), None, 5.0, None),
        ("ZZN", date(2021, 3, 2), 5.2, 5.5, 1000.0),
    ]


def test_missing_cells_are_reported_as_missing(engine: Engine, tmp_path: Path) -> None:
    parquet = tmp_path / "prices.parquet"
    pd.DataFrame(
        {"date": ["2021-03-01", None], "symbol": [None, "ZZM"], "close": [5.0, None]}
    ).to_parquet(parquet)
    error = rejected(engine, parquet)
    assert [(p.line, p.message) for p in error.problems] == [
        (1, "symbol is missing"),
        (2, "date is missing"),
        (2, "close is missing"),
    ]
    path = csv_file(tmp_path, "date,symbol,close\n2020-01-02, ,10\n2020-01-03,nan,10\n")
    error = rejected(engine, path)
    # An empty cell is missing; the text "nan" is a (valid) symbol like any other.
    assert [(p.line, p.message) for p in error.problems] == [(2, "symbol is missing")]


# -- many problems ------------------------------------------------------------------------------


def test_a_huge_bad_file_keeps_the_first_problems_and_counts_all(
    engine: Engine, tmp_path: Path
) -> None:
    bad_rows = MAX_KEPT_PROBLEMS * 3
    path = csv_file(
        tmp_path,
        "date,symbol,close\n" + "".join(f"2020-01-02,S{i},x\n" for i in range(bad_rows)),
    )
    error = rejected(engine, path)
    assert len(error.problems) == MAX_KEPT_PROBLEMS
    assert error.total == bad_rows
    assert error.problems[0].line == 2
    assert error.problems[-1].line == MAX_KEPT_PROBLEMS + 1
    message = str(error)
    assert f"{bad_rows} problem(s), nothing imported" in message
    assert f"... and {bad_rows - 20} more" in message


def test_validate_prices_keeps_the_demo_shape_of_text_frames() -> None:
    # demo.py validates text frames (from wide_to_long) without line numbers of a file
    frame = pd.DataFrame(
        {"date": ["2020-01-02", "2020-01-03"], "symbol": ["aapl", "AAPL"], "close": ["1", "x"]}
    )
    clean, problems = validate_prices(frame)
    assert [(p.line, p.message) for p in problems] == [(3, "close 'x' must be a number > 0")]
    assert clean["symbol"].tolist() == ["AAPL", "AAPL"]
    assert clean["date"].iloc[0] == date(2020, 1, 2)
    assert not isinstance(clean["date"].iloc[0], datetime)
