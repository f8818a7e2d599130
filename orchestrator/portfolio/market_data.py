"""Market data: the ``MarketDataProvider`` interface and its database-backed implementation.

Analytics, the paper broker and the alerts only see this interface; a live feed would be
another implementation. Closes are adjusted closes (splits and dividends folded in).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine, func, select

from orchestrator.history.portfolio_tables import MarketPriceRow
from orchestrator.portfolio.records import PricePoint

if TYPE_CHECKING:
    import pandas as pd


class MarketDataProvider(Protocol):
    """Daily closes of instruments."""

    def closes(
        self, symbols: Sequence[str], *, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """Closes with a DatetimeIndex (ascending) and one column per symbol asked for.

        Symbols without any price in the range are absent; a missing day is NaN.
        """
        ...

    def price_on(self, symbol: str, as_of: date | None = None) -> PricePoint | None:
        """The last close on or before ``as_of`` (the latest close when None)."""
        ...

    def latest_date(self, symbols: Sequence[str] = ()) -> date | None:
        """The last date with a price of any of ``symbols`` (of any symbol when empty)."""
        ...

    def symbols(self) -> list[str]:
        """Every symbol with at least one price."""
        ...


class DatabaseMarketData:
    """Prices from the ``market_prices`` table (PostgreSQL, or SQLite when embedded)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def closes(
        self, symbols: Sequence[str], *, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        # Imported here: pandas costs a second at import, and only analyses need it.
        import pandas as pd

        wanted = sorted(set(symbols))
        if not wanted:
            return pd.DataFrame(index=pd.DatetimeIndex([], name="date"))
        query = select(MarketPriceRow.date, MarketPriceRow.symbol, MarketPriceRow.close).where(
            MarketPriceRow.symbol.in_(wanted)
        )
        if start is not None:
            query = query.where(MarketPriceRow.date >= start)
        if end is not None:
            query = query.where(MarketPriceRow.date <= end)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return pd.DataFrame(index=pd.DatetimeIndex([], name="date"))
        long = pd.DataFrame(rows, columns=["date", "symbol", "close"])
        long["date"] = pd.to_datetime(long["date"])
        wide = long.pivot(index="date", columns="symbol", values="close").sort_index()
        wide.columns.name = None
        return wide[[s for s in wanted if s in wide.columns]].astype(float)

    def price_on(self, symbol: str, as_of: date | None = None) -> PricePoint | None:
        query = select(MarketPriceRow.date, MarketPriceRow.close).where(
            MarketPriceRow.symbol == symbol
        )
        if as_of is not None:
            query = query.where(MarketPriceRow.date <= as_of)
        query = query.order_by(MarketPriceRow.date.desc()).limit(1)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return PricePoint(symbol=symbol, date=row.date, close=row.close)

    def latest_date(self, symbols: Sequence[str] = ()) -> date | None:
        query = select(func.max(MarketPriceRow.date))
        if symbols:
            query = query.where(MarketPriceRow.symbol.in_(list(symbols)))
        with self._engine.connect() as conn:
            latest: date | None = conn.execute(query).scalar_one_or_none()
        return latest

    def symbols(self) -> list[str]:
        with self._engine.connect() as conn:
            found = conn.execute(select(MarketPriceRow.symbol).distinct()).scalars().all()
        return sorted(found)

    def count(self) -> int:
        """Number of stored bars (all symbols)."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(MarketPriceRow)).scalar_one())
