"""Alerts: rules checked at the edge, added once even when raced, portfolio drawdown over a
whole window, and beat's job surviving one portfolio that fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from config.settings import Settings
from orchestrator.app import create_app
from orchestrator.context import utcnow
from orchestrator.history import create_history_engine, upgrade
from orchestrator.history.portfolio_tables import AlertRow
from orchestrator.models.params import AlertKind, AlertRule, UpdateAlertsParams
from orchestrator.portfolio.alerts import AlertBook, StoredAlert, evaluate_portfolio, observe
from orchestrator.portfolio.importer import write_prices
from orchestrator.portfolio.market_data import DatabaseMarketData
from orchestrator.portfolio.store import PortfolioStore
from tasks.portfolio.alerts_task import evaluate_all_alerts
from tests.support.portfolios import new_portfolio


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    upgrade(url)
    engine = create_history_engine(url)
    yield engine
    engine.dispose()


def put_prices(engine: Engine, closes: dict[str, dict[str, float]]) -> None:
    """``{symbol: {"YYYY-MM-DD": close}}`` into market_prices."""
    rows = [
        {"date": date.fromisoformat(day), "symbol": symbol, "close": close}
        for symbol, by_day in closes.items()
        for day, close in by_day.items()
    ]
    frame = pd.DataFrame(rows)
    for column in ("open", "high", "low", "volume"):
        frame[column] = float("nan")
    write_prices(engine, frame)


def rule_count(engine: Engine, portfolio_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(AlertRow)
                .where(AlertRow.portfolio_id == portfolio_id)
            ).scalar_one()
        )


# -- rules are validated at the edge ----------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"kind": "price_above", "threshold": 100.0}, "needs a symbol"),
        ({"kind": "price_below", "symbol": "AAPL", "threshold": 0.0}, "must be > 0"),
        ({"kind": "price_above", "symbol": "AAPL", "threshold": -5.0}, "must be > 0"),
        ({"kind": "percent_move", "symbol": "AAPL", "threshold": 10.0}, "is a fraction"),
        ({"kind": "percent_move", "symbol": "AAPL", "threshold": 0.0}, "must be > 0"),
        ({"kind": "drawdown", "threshold": 1.0}, "is a fraction"),
        ({"kind": "drawdown", "threshold": 10.0}, "is a fraction"),
        ({"kind": "drawdown", "threshold": float("nan")}, "finite number"),
        ({"kind": "price_above", "symbol": "AAPL", "threshold": float("inf")}, "finite number"),
    ],
)
def test_a_malformed_rule_is_a_validation_error(rule: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        AlertRule.model_validate(rule)
    with pytest.raises(ValidationError, match=says):
        UpdateAlertsParams.model_validate({"portfolio_id": "p1", "rules": [rule]})


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "price_above", "symbol": "AAPL", "threshold": 150.0},
        {"kind": "price_below", "symbol": "AAPL", "threshold": 0.01},
        {"kind": "percent_move", "symbol": "AAPL", "threshold": 0.05},
        {"kind": "percent_move", "threshold": 0.05},
        {"kind": "percent_move", "symbol": "AAPL", "threshold": 9.99},
        {"kind": "drawdown", "threshold": 0.1},
        {"kind": "drawdown", "symbol": "AAPL", "threshold": 0.999},
    ],
)
def test_well_formed_rules_pass(rule: dict[str, Any]) -> None:
    assert AlertRule.model_validate(rule).threshold == rule["threshold"]


# -- rules are added once ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_identical_portfolio_wide_rules_cannot_both_be_stored(
    backend: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(
        "sqlite_engine" if backend == "sqlite" else "market_engine"
    )
    portfolio = new_portfolio(engine)
    row = {
        "portfolio_id": portfolio.id,
        "kind": "drawdown",
        "symbol": None,
        "scope": "*portfolio*",
        "threshold": 0.2,
        "active": True,
        "created_at": utcnow(),
    }
    with engine.begin() as conn:
        conn.execute(insert(AlertRow), [row])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(AlertRow), [row])
    assert rule_count(engine, portfolio.id) == 1


def test_upsert_counts_only_the_rules_it_added(sqlite_engine: Engine) -> None:
    portfolio = new_portfolio(sqlite_engine)
    book = AlertBook(sqlite_engine)
    drawdown = AlertRule(kind=AlertKind.DRAWDOWN, threshold=0.2)
    above = AlertRule(kind=AlertKind.PRICE_ABOVE, symbol="AAPL", threshold=150.0)
    assert book.upsert_rules(portfolio.id, [drawdown, above, drawdown], now=utcnow()) == 2
    assert book.upsert_rules(portfolio.id, [above, drawdown], now=utcnow()) == 0
    stored = book.rules(portfolio.id)
    assert [(r.kind, r.symbol) for r in stored] == [
        (AlertKind.DRAWDOWN, None),
        (AlertKind.PRICE_ABOVE, "AAPL"),
    ]


def test_concurrent_identical_requests_add_each_rule_once(market_engine: Engine) -> None:
    # Given eight requests adding the same rules at the same moment, on Postgres
    portfolio = new_portfolio(market_engine)
    rules = [
        AlertRule(kind=AlertKind.DRAWDOWN, threshold=0.15),
        AlertRule(kind=AlertKind.PRICE_ABOVE, symbol="AAPL", threshold=150.0),
        AlertRule(kind=AlertKind.PERCENT_MOVE, symbol="AAPL", threshold=0.05),
    ]
    start = threading.Barrier(8)
    added: list[int] = []
    errors: list[BaseException] = []

    def request() -> None:
        book = AlertBook(market_engine)
        start.wait()
        try:
            added.append(book.upsert_rules(portfolio.id, rules, now=utcnow()))
        except BaseException as exc:  # noqa: BLE001 -- the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then none failed, each rule is stored once, and the counts add up to that
    assert errors == []
    assert sum(added) == len(rules)
    assert rule_count(market_engine, portfolio.id) == len(rules)


def test_a_trigger_already_recorded_is_not_new_on_postgres(market_engine: Engine) -> None:
    # Given a rule that fires on the shipped prices (AAPL closed at 172.44 on 2018-04-11)
    portfolio = new_portfolio(market_engine, positions={"AAPL": (10, 100.0)})
    book = AlertBook(market_engine)
    rule = AlertRule(kind=AlertKind.PRICE_ABOVE, symbol="AAPL", threshold=150.0)
    book.upsert_rules(portfolio.id, [rule], now=utcnow())
    market = DatabaseMarketData(market_engine)
    # When it is evaluated twice on the same prices
    first = evaluate_portfolio(book, market, portfolio, now=utcnow())
    again = evaluate_portfolio(book, market, portfolio, now=utcnow())
    # Then only the first is new (what keeps beat from auditing it on every run)
    assert [a.new for a in first.triggered] == [True]
    assert [a.new for a in again.triggered] == [False]
    assert len(book.events(portfolio.id)) == 1


# -- portfolio drawdown -----------------------------------------------------------------------


def test_portfolio_drawdown_spans_the_window_despite_a_late_and_an_unpriced_holding(
    sqlite_engine: Engine,
) -> None:
    # Given ZZA that doubled then halved, ZZB listed only on the last day, ZZC never priced
    put_prices(
        sqlite_engine,
        {
            "ZZA": {
                "2023-01-02": 100.0,
                "2023-01-03": 200.0,
                "2023-01-04": 100.0,
                "2023-01-05": 100.0,
            },
            "ZZB": {"2023-01-05": 10.0},
        },
    )
    portfolio = new_portfolio(
        sqlite_engine,
        cash=0.0,
        positions={"ZZA": (1, 100.0), "ZZB": (1, 10.0), "ZZC": (1, 5.0)},
    )
    rule = StoredAlert(
        id=1,
        portfolio_id=portfolio.id,
        kind=AlertKind.DRAWDOWN,
        symbol=None,
        threshold=0.1,
        active=True,
    )
    # When its drawdown is observed
    observation = observe(rule, portfolio, DatabaseMarketData(sqlite_engine), None)
    # Then the peak is ZZA's 200 on 2023-01-03 (ZZB adds nothing before it is priced)
    assert not isinstance(observation, str), observation
    assert observation.price_date == date(2023, 1, 5)
    assert observation.detail["peak"] == pytest.approx(200.0)
    assert observation.detail["peak_date"] == "2023-01-03"
    assert observation.value == pytest.approx(1 - 110.0 / 200.0)
    assert observation.detail["unpriced"] == ["ZZC"]
    assert observation.detail["priced_from"] == {"ZZB": "2023-01-05"}


# -- beat's job -------------------------------------------------------------------------------


class ListsAVanishedPortfolio(PortfolioStore):
    """The race beat can lose: a portfolio listed, then gone before it is read."""

    def all_ids(self) -> list[tuple[str, str]]:
        return [("p-vanished", "demo"), *super().all_ids()]


def test_beat_evaluates_the_other_portfolios_when_one_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data", broker_url=None, redis_url=None)
    runtime = create_app(settings).runtime
    try:
        engine = runtime.history.engine
        put_prices(engine, {"ZZBEAT": {"2023-03-01": 50.0, "2023-03-02": 60.0}})
        book = AlertBook(engine)
        fires = [AlertRule(kind=AlertKind.PRICE_ABOVE, symbol="ZZBEAT", threshold=55.0)]
        portfolios = [new_portfolio(engine) for _ in range(2)]
        for portfolio in portfolios:
            book.upsert_rules(portfolio.id, fires, now=utcnow())
        runtime.portfolio = replace(runtime.portfolio, store=ListsAVanishedPortfolio(engine))
        # When beat's job runs and the first portfolio it listed is gone
        with caplog.at_level(logging.ERROR, logger="tasks.portfolio.alerts_task"):
            reports = evaluate_all_alerts(runtime)
        # Then the others were evaluated (and fired), and the failure was logged
        assert sorted(r.portfolio_id for r in reports) == sorted(p.id for p in portfolios)
        assert all(len(r.triggered) == 1 and r.triggered[0].new for r in reports)
        (failure,) = [r for r in caplog.records if "p-vanished" in r.getMessage()]
        assert failure.exc_info is not None
    finally:
        runtime.close()


def test_a_percent_move_rule_without_symbol_watches_every_holding(sqlite_engine: Engine) -> None:
    # Given two holdings: AAA moved +1 % on the last day, BBB -4 %
    put_prices(
        sqlite_engine,
        {
            "AAA": {"2024-01-02": 100.0, "2024-01-03": 101.0},
            "BBB": {"2024-01-02": 50.0, "2024-01-03": 48.0},
        },
    )
    portfolio = new_portfolio(
        sqlite_engine, cash=0, positions={"AAA": (1, 100.0), "BBB": (1, 50.0)}
    )
    rule = StoredAlert(
        id=1,
        portfolio_id=portfolio.id,
        kind=AlertKind.PERCENT_MOVE,
        symbol=None,
        threshold=0.03,
        active=True,
    )
    # When the rule is observed
    seen = observe(rule, portfolio, DatabaseMarketData(sqlite_engine), None)
    # Then it sees the largest move, of BBB, and names it
    assert not isinstance(seen, str)
    assert seen.detail["symbol"] == "BBB"
    assert seen.value == pytest.approx(0.04)
    assert seen.price_date == date(2024, 1, 3)
