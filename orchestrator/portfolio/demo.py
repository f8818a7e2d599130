"""The demo: real daily prices shipped with the package and a portfolio held on them.

Prices: 20 US stocks (1989-2018) and SPY (1993-2019), adjusted closes from PyPortfolioOpt's
test resources (MIT), originally Yahoo Finance; see ``data/SOURCE.md``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from orchestrator.portfolio.importer import validate_prices, wide_to_long, write_prices
from orchestrator.portfolio.market_data import DatabaseMarketData
from orchestrator.portfolio.records import Portfolio
from orchestrator.portfolio.store import PortfolioNotFound, PortfolioStore

DATA_DIR = Path(__file__).resolve().parent / "data"
PRICE_FILES = ("stock_prices.csv", "spy_prices.csv")
BENCHMARK = "SPY"
#: Shares of the demo portfolio, bought at the close of OPENED_ON.
DEMO_HOLDINGS: dict[str, float] = {
    "AAPL": 60,
    "AMZN": 6,
    "JPM": 40,
    "XOM": 45,
    "WMT": 50,
    "PFE": 120,
    "SBUX": 70,
}
DEMO_CASH = 15_000.0
OPENED_ON = date(2017, 4, 11)


def demo_prices() -> pd.DataFrame:
    """The shipped prices as validated ``date, symbol, close, ...`` rows."""
    frames = [
        wide_to_long(pd.read_csv(DATA_DIR / name, dtype=str, keep_default_na=False))
        for name in PRICE_FILES
    ]
    clean, problems = validate_prices(pd.concat(frames, ignore_index=True))
    if problems:  # the shipped files are checked by the tests; this guards edits to them
        raise ValueError(f"shipped demo prices are invalid: {problems[:3]}")
    return clean


def load_demo_prices(engine: Engine) -> int:
    """Load the shipped prices unless they are there already; returns rows written."""
    prices = demo_prices()
    market = DatabaseMarketData(engine)
    if market.count() >= len(prices) and set(prices["symbol"].unique()) <= set(market.symbols()):
        return 0
    return write_prices(engine, prices)


def seed_demo(
    engine: Engine, *, user_id: str, now: datetime, portfolio_id: str = "demo"
) -> Portfolio:
    """Load the demo prices and create the user's demo portfolio (kept if it exists)."""
    load_demo_prices(engine)
    store = PortfolioStore(engine)
    try:
        return store.get(portfolio_id, user_id)
    except PortfolioNotFound:
        pass
    market = DatabaseMarketData(engine)
    positions: dict[str, tuple[float, float]] = {}
    for symbol, quantity in DEMO_HOLDINGS.items():
        point = market.price_on(symbol, OPENED_ON)
        if point is None:
            raise ValueError(f"no demo price for {symbol} on {OPENED_ON}")
        positions[symbol] = (quantity, round(point.close, 4))
    return store.create(
        portfolio_id=portfolio_id,
        user_id=user_id,
        name="Demo portfolio (US large caps)",
        cash=DEMO_CASH,
        now=now,
        benchmark_symbol=BENCHMARK,
        max_position_weight=0.35,
        positions=positions,
    )
