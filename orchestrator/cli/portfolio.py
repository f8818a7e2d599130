"""Portfolio and market data commands: ``market import``, ``portfolio seed-demo|list|show``.

They talk to the database only (no broker, no workers), so they are quick and work the
same in the embedded and the distributed setup.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy import Engine

from config.settings import Settings
from orchestrator.cli.common import EXIT_FAILED, acting_user, console, fail, print_json
from orchestrator.context import utcnow
from orchestrator.history import create_history_engine, upgrade_if_sqlite
from orchestrator.portfolio.market_data import DatabaseMarketData
from orchestrator.portfolio.store import (
    PortfolioExists,
    PortfolioNotFound,
    PortfolioStore,
    value_portfolio,
)


def register(main: click.Group) -> None:
    """Add the ``market`` and ``portfolio`` groups to the ``orchestrator`` group."""
    main.add_command(market)
    main.add_command(portfolio)


@contextmanager
def database() -> Iterator[tuple[Settings, Engine]]:
    """The settings and the history database engine (SQLite migrated on the spot)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        fail(f"invalid settings:\n{exc}", EXIT_FAILED)
    url = settings.resolved_database_url
    upgrade_if_sqlite(url, settings.data_dir)
    engine = create_history_engine(url)
    try:
        yield settings, engine
    finally:
        engine.dispose()


@click.group()
def market() -> None:
    """Market data: daily prices the analytics, the paper broker and the alerts use."""


@market.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def market_import(file: Path) -> None:
    """Import daily prices from FILE (.csv or .parquet): date, symbol, close[, open, high, low,
    volume]. A file with any bad row is rejected whole, with each bad row's line number."""
    from orchestrator.portfolio.importer import PriceImportError, import_prices

    with database() as (_settings, engine):
        try:
            report = import_prices(engine, file)
        except PriceImportError as exc:
            fail(str(exc))
    click.echo(
        f"imported {report.rows} prices of {len(report.symbols)} symbol(s) "
        f"({', '.join(report.symbols[:10])}{' ...' if len(report.symbols) > 10 else ''}), "
        f"{report.first_date} to {report.last_date}"
    )


@market.command("symbols")
def market_symbols() -> None:
    """List the symbols with prices, and their last date."""
    with database() as (_settings, engine):
        data = DatabaseMarketData(engine)
        for symbol in data.symbols():
            click.echo(f"{symbol}\t{data.latest_date([symbol])}")


@click.group()
def portfolio() -> None:
    """Portfolios: the demo, holdings and their values."""


@portfolio.command("seed-demo")
@click.option("--user", default=None, help="Owner of the demo portfolio (default: settings).")
@click.option("--id", "portfolio_id", default="demo", show_default=True)
def seed_demo_command(user: str | None, portfolio_id: str) -> None:
    """Load the shipped real prices (20 US stocks, SPY) and create a demo portfolio."""
    from orchestrator.portfolio.demo import seed_demo

    with database() as (settings, engine):
        user_id = acting_user(settings, user)
        try:
            created = seed_demo(engine, user_id=user_id, now=utcnow(), portfolio_id=portfolio_id)
        except PortfolioExists:
            fail(f"portfolio {portfolio_id} belongs to another user; choose another --id")
    click.echo(
        f"portfolio {created.id} of {user_id}: {len(created.positions)} positions, "
        f"cash {created.cash:,.2f} {created.currency}"
    )


@portfolio.command("list")
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_command(user: str | None, as_json: bool) -> None:
    """The user's portfolios with their current value."""
    with database() as (settings, engine):
        user_id = acting_user(settings, user)
        market_data = DatabaseMarketData(engine)
        valuations = [
            value_portfolio(p, market_data) for p in PortfolioStore(engine).list_for(user_id)
        ]
    if as_json:
        print_json([v.model_dump(mode="json") for v in valuations])
        return
    table = Table(title=f"Portfolios of {user_id}")
    for column in ("id", "name", "positions", "cash", "value", "as of"):
        table.add_column(column, justify="right" if column in ("cash", "value") else "left")
    for v in valuations:
        table.add_row(
            v.portfolio_id,
            v.name,
            str(len(v.holdings)),
            f"{v.cash:,.2f}",
            f"{v.total_value:,.2f} {v.currency}",
            str(v.as_of or "-"),
        )
    console.print(table)


@portfolio.command("show")
@click.argument("portfolio_id")
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
def show_command(portfolio_id: str, user: str | None, as_json: bool) -> None:
    """Holdings of PORTFOLIO_ID valued at the latest prices."""
    with database() as (settings, engine):
        user_id = acting_user(settings, user)
        try:
            found = PortfolioStore(engine).get(portfolio_id, user_id)
        except PortfolioNotFound as exc:
            fail(str(exc), EXIT_FAILED)
        valuation = value_portfolio(found, DatabaseMarketData(engine))
    if as_json:
        print_json(valuation.model_dump(mode="json"))
        return
    table = Table(title=f"{valuation.name} ({valuation.portfolio_id}) as of {valuation.as_of}")
    for column in ("symbol", "quantity", "avg cost", "price", "value", "weight", "unrealized"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for h in valuation.holdings:
        table.add_row(
            h.symbol,
            f"{h.quantity:g}",
            f"{h.average_cost:,.2f}",
            "-" if h.price is None else f"{h.price:,.2f}",
            "-" if h.market_value is None else f"{h.market_value:,.2f}",
            "-" if h.weight is None else f"{h.weight:.1%}",
            "-" if h.unrealized_pnl is None else f"{h.unrealized_pnl:+,.2f}",
        )
    table.add_row("cash", "", "", "", f"{valuation.cash:,.2f}", "", "")
    table.add_row("total", "", "", "", f"{valuation.total_value:,.2f} {valuation.currency}", "", "")
    console.print(table)
    if valuation.unpriced:
        console.print(f"no price for: {', '.join(valuation.unpriced)} (not in the total)")
