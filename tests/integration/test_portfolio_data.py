"""Portfolio data on Postgres: the price importer, the shipped prices, ownership, the broker."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from orchestrator.context import utcnow
from orchestrator.history.portfolio_tables import MarketPriceRow, TradeRow, TransactionRow
from orchestrator.models.params import TradeSide
from orchestrator.portfolio.broker import Order, PaperBroker
from orchestrator.portfolio.demo import BENCHMARK, DEMO_HOLDINGS
from orchestrator.portfolio.importer import PriceImportError, import_prices
from orchestrator.portfolio.market_data import DatabaseMarketData
from orchestrator.portfolio.rules import BrokerConfig, TradeRejected
from orchestrator.portfolio.store import PortfolioNotFound, PortfolioStore
from tests.support.portfolios import new_portfolio

CONFIG = BrokerConfig(slippage_bps=5.0, fee_bps=1.0, fee_min=1.0, approval_notional=25_000.0)


def broker(engine: Engine) -> PaperBroker:
    return PaperBroker(engine, DatabaseMarketData(engine), CONFIG)


def price_rows(engine: Engine, symbol: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(MarketPriceRow)
                .where(MarketPriceRow.symbol == symbol)
            ).scalar_one()
        )


# -- importer -------------------------------------------------------------------------------


def test_a_file_with_bad_rows_is_rejected_whole_with_line_numbers(
    market_engine: Engine, tmp_path: Path
) -> None:
    # Given a CSV whose rows 2 and 5 are fine but whose lines 3, 4 and 6 are not
    path = tmp_path / "prices.csv"
    path.write_text(
        "date,symbol,close,volume\n"
        "2020-01-02,ZZTEST,10.5,100\n"
        "2020-13-01,ZZTEST,10.6,100\n"
        "2020-01-06,ZZTEST,-3,100\n"
        "2020-01-07,ZZTEST,10.8,\n"
        "2020-01-02,ZZTEST,11,100\n"
    )
    # When it is imported
    with pytest.raises(PriceImportError) as caught:
        import_prices(market_engine, path)
    # Then every bad line is named, and not even the good rows were written
    lines = {p.line for p in caught.value.problems}
    assert lines == {3, 4, 6}
    assert "line 6: duplicate of line 2" in str(caught.value)
    assert price_rows(market_engine, "ZZTEST") == 0


def test_parquet_import_is_an_idempotent_upsert(market_engine: Engine, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Date": ["2021-03-01", "2021-03-02", "2021-03-03"],
            "Symbol": ["ZZPQ", "ZZPQ", "ZZPQ"],
            "Close": [5.0, 5.5, 6.0],
            "High": [5.1, 5.6, 6.1],
            "Low": [4.9, 5.4, 5.9],
        }
    )
    path = tmp_path / "prices.parquet"
    frame.to_parquet(path)
    first = import_prices(market_engine, path)
    again = import_prices(market_engine, path)
    assert first.rows == again.rows == 3
    assert price_rows(market_engine, "ZZPQ") == 3
    point = DatabaseMarketData(market_engine).price_on("ZZPQ", date(2021, 3, 2))
    assert point is not None and point.close == 5.5


def test_parquet_with_nulls_and_timestamps_imports_nulls_into_postgres(
    market_engine: Engine, tmp_path: Path
) -> None:
    # Given a Parquet file typed as pandas writes it: timestamps, and null open/volume cells
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2021-04-01", "2021-04-02"]),
            "symbol": ["ZZNUL", "ZZNUL"],
            "close": [7.0, 7.5],
            "open": [None, 7.2],
            "volume": [float("nan"), 500.0],
        }
    )
    path = tmp_path / "prices.parquet"
    frame.to_parquet(path)
    # When it is imported, then the missing cells are NULLs, not a rejected file
    assert import_prices(market_engine, path).rows == 2
    with market_engine.connect() as conn:
        rows = conn.execute(
            select(MarketPriceRow.date, MarketPriceRow.open, MarketPriceRow.volume)
            .where(MarketPriceRow.symbol == "ZZNUL")
            .order_by(MarketPriceRow.date)
        ).all()
    assert [tuple(r) for r in rows] == [
        (date(2021, 4, 1), None, None),
        (date(2021, 4, 2), 7.2, 500.0),
    ]


def test_a_spreadsheet_export_with_trailing_blank_lines_imports(
    market_engine: Engine, tmp_path: Path
) -> None:
    # A BOM, CRLF line ends, a quoted cell and the empty rows spreadsheets leave at the end
    path = tmp_path / "export.csv"
    path.write_bytes(
        b"\xef\xbb\xbfDate,Symbol,Close\r\n"
        b'2022-05-02,ZZXLS,"12.5"\r\n'
        b"2022-05-03,ZZXLS,12.75\r\n"
        b",,\r\n,,\r\n\r\n"
    )
    report = import_prices(market_engine, path)
    assert (report.rows, report.first_date, report.last_date) == (
        2,
        date(2022, 5, 2),
        date(2022, 5, 3),
    )
    assert price_rows(market_engine, "ZZXLS") == 2


def test_an_unknown_column_rejects_the_file(market_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("date,symbol,close,adj\n2020-01-02,ZZCOL,1,1\n")
    with pytest.raises(PriceImportError, match="unknown column"):
        import_prices(market_engine, path)
    assert price_rows(market_engine, "ZZCOL") == 0


def test_shipped_prices_cover_the_demo_and_a_benchmark_over_years(market_engine: Engine) -> None:
    market = DatabaseMarketData(market_engine)
    symbols = set(market.symbols())
    assert {*DEMO_HOLDINGS, BENCHMARK} <= symbols
    closes = market.closes([*DEMO_HOLDINGS, BENCHMARK], start=date(2010, 1, 1))
    span_years = (closes.index.max() - closes.index.min()).days / 365.25
    assert span_years >= 5
    # The shipped file's first AAPL close (a real figure, checked by hand against the CSV).
    first = market.closes(["AAPL"], end=date(1989, 12, 29))
    assert first["AAPL"].iloc[0] == pytest.approx(0.117203)


# -- ownership --------------------------------------------------------------------------------


def test_another_users_portfolio_reads_as_missing(market_engine: Engine) -> None:
    portfolio = new_portfolio(market_engine, user_id="alice")
    store = PortfolioStore(market_engine)
    assert store.get(portfolio.id, "alice").id == portfolio.id
    with pytest.raises(PortfolioNotFound, match="does not exist"):
        store.get(portfolio.id, "bob")
    assert all(p.id != portfolio.id for p in store.list_for("bob"))


# -- paper broker -------------------------------------------------------------------------------


def order(portfolio_id: str, key: str, **overrides: object) -> Order:
    fields: dict[str, object] = {
        "portfolio_id": portfolio_id,
        "user_id": "demo",
        "symbol": "AAPL",
        "side": TradeSide.BUY,
        "quantity": 10,
        "idempotency_key": key,
        "as_of": date(2018, 4, 11),
    }
    fields.update(overrides)
    return Order.model_validate(fields)


def test_fill_price_has_slippage_and_fee_and_moves_cash(market_engine: Engine) -> None:
    portfolio = new_portfolio(market_engine, cash=10_000)
    fill = broker(market_engine).execute(order(portfolio.id, f"{portfolio.id}:k"), now=utcnow())
    close = 172.440002  # AAPL, 2018-04-11, from the shipped file
    assert fill.trade.reference_price == pytest.approx(close)
    assert fill.trade.fill_price == pytest.approx(close * 1.0005, abs=1e-6)
    assert fill.trade.notional == round(10 * fill.trade.fill_price, 2)
    assert fill.trade.fee == max(1.0, round(fill.trade.notional * 0.0001, 2))
    assert fill.trade.cash_after == round(10_000 - fill.trade.notional - fill.trade.fee, 2)
    assert fill.trade.position_after == 10


@pytest.mark.parametrize(
    ("setup", "overrides", "code"),
    [
        ({"cash": 1_000.0}, {}, "insufficient_cash"),
        ({}, {"side": TradeSide.SELL, "quantity": 1}, "short_not_allowed"),
        ({"max_position_weight": 0.01}, {}, "position_limit"),
        ({}, {"as_of": date(1980, 1, 1)}, "no_price"),
    ],
)
def test_invalid_orders_are_refused_and_change_nothing(
    market_engine: Engine, setup: dict[str, float], overrides: dict[str, object], code: str
) -> None:
    portfolio = new_portfolio(market_engine, **setup)  # type: ignore[arg-type]
    with pytest.raises(TradeRejected) as caught:
        broker(market_engine).execute(
            order(portfolio.id, f"{portfolio.id}:k", **overrides), now=utcnow()
        )
    assert caught.value.code == code
    after = PortfolioStore(market_engine).get(portfolio.id, "demo")
    assert after.cash == portfolio.cash and after.positions == []
    assert broker(market_engine).trades(portfolio.id) == []


def test_one_key_fills_once_even_when_executed_concurrently(market_engine: Engine) -> None:
    # Given eight deliveries of the same task's order racing each other
    portfolio = new_portfolio(market_engine, cash=50_000)
    the_order = order(portfolio.id, f"{portfolio.id}:run:task_001:0")
    fills = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            fills.append(broker(market_engine).execute(the_order, now=utcnow()))
        except BaseException as exc:  # noqa: BLE001 -- the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one filled, the others got that fill back, and cash moved once
    assert errors == []
    assert len({f.trade.id for f in fills}) == 1
    assert sorted(f.replayed for f in fills) == [False] + [True] * 7
    with market_engine.connect() as conn:
        trades = conn.execute(
            select(func.count()).select_from(TradeRow).where(TradeRow.portfolio_id == portfolio.id)
        ).scalar_one()
    assert trades == 1
    after = PortfolioStore(market_engine).get(portfolio.id, "demo")
    assert after.cash == round(50_000 - fills[0].trade.notional - fills[0].trade.fee, 2)


def test_a_reused_key_for_another_order_is_refused(market_engine: Engine) -> None:
    portfolio = new_portfolio(market_engine)
    key = f"{portfolio.id}:reuse"
    broker(market_engine).execute(order(portfolio.id, key), now=utcnow())
    with pytest.raises(TradeRejected) as caught:
        broker(market_engine).execute(order(portfolio.id, key, quantity=11), now=utcnow())
    assert caught.value.code == "key_reused"
    assert len(broker(market_engine).trades(portfolio.id)) == 1


def test_reversal_restores_cash_position_and_average_cost_exactly(market_engine: Engine) -> None:
    # Given a portfolio holding 20 AAPL at 150 that buys 10 more
    portfolio = new_portfolio(market_engine, cash=20_000, positions={"AAPL": (20, 150.0)})
    paper = broker(market_engine)
    fill = paper.execute(order(portfolio.id, f"{portfolio.id}:buy"), now=utcnow())
    moved = PortfolioStore(market_engine).get(portfolio.id, "demo")
    assert moved.positions[0].quantity == 30 and moved.positions[0].average_cost > 150
    # When the fill is reversed (rollback), twice
    first = paper.reverse(fill.trade.id, user_id="demo", now=utcnow(), note="test")
    second = paper.reverse(fill.trade.id, user_id="demo", now=utcnow(), note="test")
    # Then the portfolio is exactly as before, and the second reversal did nothing
    after = PortfolioStore(market_engine).get(portfolio.id, "demo")
    assert after.cash == portfolio.cash
    assert after.positions[0].quantity == 20
    assert after.positions[0].average_cost == pytest.approx(150.0, abs=1e-9)
    assert second.replayed and second.trade.id == first.trade.id
    assert first.trade.reverses_trade_id == fill.trade.id
    with market_engine.connect() as conn:
        cash_moves = conn.execute(
            select(func.sum(TransactionRow.cash_amount)).where(
                TransactionRow.portfolio_id == portfolio.id
            )
        ).scalar_one()
    # The ledger adds up: the opening deposit and nothing else remains.
    assert cash_moves == pytest.approx(portfolio.cash)


def test_different_orders_cannot_both_spend_the_same_cash(market_engine: Engine) -> None:
    # Given cash for one 10-share AAPL buy (about 1,726) but not two
    portfolio = new_portfolio(market_engine, cash=2_500)
    outcomes: list[str] = []

    def buy(key: str) -> None:
        try:
            broker(market_engine).execute(order(portfolio.id, key), now=utcnow())
            outcomes.append("filled")
        except TradeRejected as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=buy, args=(f"{portfolio.id}:{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one filled and the portfolio never went below zero
    assert sorted(outcomes) == ["filled"] + ["insufficient_cash"] * 3
    assert PortfolioStore(market_engine).get(portfolio.id, "demo").cash >= 0


def test_a_sale_whose_fee_exceeds_its_proceeds_is_refused(market_engine: Engine) -> None:
    portfolio = new_portfolio(market_engine, cash=0, positions={"AAPL": (1, 100.0)})
    with pytest.raises(TradeRejected) as caught:
        broker(market_engine).execute(
            order(portfolio.id, f"{portfolio.id}:k", side=TradeSide.SELL, quantity=0.001),
            now=utcnow(),
        )
    assert caught.value.code == "insufficient_cash"
    assert PortfolioStore(market_engine).get(portfolio.id, "demo").cash == 0


def test_reversal_across_zero_restores_the_long_position_exactly(market_engine: Engine) -> None:
    # Given 10 AAPL at 50 in a portfolio that may short, sold 15 (now short 5)
    portfolio = new_portfolio(
        market_engine, cash=1_000, positions={"AAPL": (10, 50.0)}, allow_short=True
    )
    paper = broker(market_engine)
    fill = paper.execute(
        order(portfolio.id, f"{portfolio.id}:s", side=TradeSide.SELL, quantity=15), now=utcnow()
    )
    assert PortfolioStore(market_engine).get(portfolio.id, "demo").quantities() == {"AAPL": -5}
    # When it is reversed
    paper.reverse(fill.trade.id, user_id="demo", now=utcnow(), note="test")
    # Then it is 10 at 50 again, and the cash is what it was
    (position,) = PortfolioStore(market_engine).get(portfolio.id, "demo").positions
    assert (position.quantity, position.average_cost) == (10, 50.0)
    assert PortfolioStore(market_engine).get(portfolio.id, "demo").cash == 1_000


def test_concurrent_reversals_reverse_once_and_all_report_that_reversal(
    market_engine: Engine,
) -> None:
    portfolio = new_portfolio(market_engine, cash=5_000)
    fill = broker(market_engine).execute(order(portfolio.id, f"{portfolio.id}:b"), now=utcnow())
    results = []
    errors: list[BaseException] = []

    def reverse() -> None:
        try:
            results.append(
                broker(market_engine).reverse(fill.trade.id, user_id="demo", now=utcnow(), note="t")
            )
        except BaseException as exc:  # noqa: BLE001 -- the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=reverse) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({r.trade.id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * 5
    assert PortfolioStore(market_engine).get(portfolio.id, "demo").cash == 5_000


def test_a_later_generation_gets_the_live_fill_back_instead_of_trading_again(
    market_engine: Engine,
) -> None:
    # Given a task's fill in generation 0 that no rollback reversed
    portfolio = new_portfolio(market_engine, cash=5_000)
    paper = broker(market_engine)
    first = paper.execute(
        order(portfolio.id, "run-x:t1:0", run_id="run-x", task_id="t1"), now=utcnow()
    )
    # When generation 1 of the same task runs the same order
    again = paper.execute(
        order(portfolio.id, "run-x:t1:1", run_id="run-x", task_id="t1"), now=utcnow()
    )
    # Then it is that fill; once reversed, generation 2 trades afresh
    assert again.replayed and again.trade.id == first.trade.id
    paper.reverse(first.trade.id, user_id="demo", now=utcnow(), note="rollback")
    fresh = paper.execute(
        order(portfolio.id, "run-x:t1:2", run_id="run-x", task_id="t1"), now=utcnow()
    )
    assert not fresh.replayed and fresh.trade.id != first.trade.id
    assert [t.id for t in paper.live_fills("run-x", "t1")] == [fresh.trade.id]


def test_a_fill_above_its_notional_ceiling_is_refused_at_fill_time(
    market_engine: Engine,
) -> None:
    # 10 AAPL cost about 1,725: a ceiling of 1,700 (what a person approved) refuses it
    portfolio = new_portfolio(market_engine, cash=5_000)
    with pytest.raises(TradeRejected) as caught:
        broker(market_engine).execute(
            order(portfolio.id, f"{portfolio.id}:k", max_notional=1_700.0), now=utcnow()
        )
    assert caught.value.code == "needs_approval"
    assert broker(market_engine).trades(portfolio.id) == []
    fill = broker(market_engine).execute(
        order(portfolio.id, f"{portfolio.id}:k", max_notional=1_800.0), now=utcnow()
    )
    assert not fill.replayed and fill.trade.notional < 1_800
