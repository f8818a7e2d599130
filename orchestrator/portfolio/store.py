"""PortfolioStore: portfolios of users, their positions and cash, and their valuation.

A user only ever sees their own portfolios: asking for another user's portfolio gets the
same ``PortfolioNotFound`` as asking for one that does not exist, so ids leak nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.history.portfolio_tables import PortfolioRow, PositionRow, TransactionRow
from orchestrator.history.repository import Repository
from orchestrator.portfolio.market_data import MarketDataProvider
from orchestrator.portfolio.records import (
    PORTFOLIO_ID_PATTERN,
    SYMBOL_PATTERN,
    Holding,
    Portfolio,
    Position,
    Valuation,
)
from orchestrator.portfolio.rules import cents


class PortfolioNotFound(LookupError):
    """No portfolio of that id belongs to the user."""


class PortfolioExists(ValueError):
    """A portfolio with that id already exists."""


class PortfolioStore(Repository):
    """Portfolios on PostgreSQL (SQLite when embedded); every method is one transaction."""

    def create(
        self,
        *,
        portfolio_id: str,
        user_id: str,
        name: str,
        cash: float,
        now: datetime,
        currency: str = "USD",
        benchmark_symbol: str | None = None,
        allow_short: bool = False,
        max_position_weight: float | None = None,
        positions: dict[str, tuple[float, float]] | None = None,
    ) -> Portfolio:
        """Create a portfolio with an opening deposit and, optionally, opening positions
        (symbol -> (quantity, average cost))."""
        if not PORTFOLIO_ID_PATTERN.fullmatch(portfolio_id):
            raise ValueError(
                f"portfolio id {portfolio_id!r} must match {PORTFOLIO_ID_PATTERN.pattern}"
            )
        if cash < 0:
            raise ValueError("opening cash must be >= 0")
        if max_position_weight is not None and not 0 < max_position_weight <= 1:
            raise ValueError("max_position_weight must be within (0, 1]")
        for symbol in positions or {}:
            if not SYMBOL_PATTERN.fullmatch(symbol):
                raise ValueError(f"symbol {symbol!r} is not a valid symbol")
        with self._tx() as session:
            if session.get(PortfolioRow, portfolio_id) is not None:
                raise PortfolioExists(f"portfolio {portfolio_id} already exists")
            session.add(
                PortfolioRow(
                    id=portfolio_id,
                    user_id=user_id,
                    name=name,
                    currency=currency,
                    cash=cents(cash),
                    benchmark_symbol=benchmark_symbol,
                    allow_short=allow_short,
                    max_position_weight=max_position_weight,
                    created_at=now,
                )
            )
            session.flush()
            session.add(
                TransactionRow(
                    portfolio_id=portfolio_id,
                    kind="deposit",
                    cash_amount=cents(cash),
                    at=now,
                    note="opening deposit",
                )
            )
            for symbol, (quantity, cost) in sorted((positions or {}).items()):
                session.add(
                    PositionRow(
                        portfolio_id=portfolio_id,
                        symbol=symbol,
                        quantity=quantity,
                        average_cost=cost,
                    )
                )
        return self.get(portfolio_id, user_id)

    def get(self, portfolio_id: str, user_id: str) -> Portfolio:
        """The user's portfolio with its positions; PortfolioNotFound otherwise."""
        with self._tx() as session:
            return self._load(session, portfolio_id, user_id)

    def list_for(self, user_id: str) -> list[Portfolio]:
        with self._tx() as session:
            ids = session.scalars(
                select(PortfolioRow.id)
                .where(PortfolioRow.user_id == user_id)
                .order_by(PortfolioRow.id)
            ).all()
            return [self._load(session, pid, user_id) for pid in ids]

    def names_for(self, user_id: str) -> list[tuple[str, str]]:
        """(id, name) of the user's portfolios, by id: one query, no positions loaded."""
        with self._tx() as session:
            rows = session.execute(
                select(PortfolioRow.id, PortfolioRow.name)
                .where(PortfolioRow.user_id == user_id)
                .order_by(PortfolioRow.id)
            ).all()
            return [(r.id, r.name) for r in rows]

    def all_ids(self) -> list[tuple[str, str]]:
        """(portfolio id, owner) of every portfolio; for periodic jobs such as alerts."""
        with self._tx() as session:
            rows = session.execute(select(PortfolioRow.id, PortfolioRow.user_id)).all()
            return [(r.id, r.user_id) for r in rows]

    @staticmethod
    def _load(session: Session, portfolio_id: str, user_id: str) -> Portfolio:
        row = session.get(PortfolioRow, portfolio_id)
        if row is None or row.user_id != user_id:
            raise PortfolioNotFound(f"portfolio {portfolio_id} does not exist")
        positions = session.scalars(
            select(PositionRow)
            .where(PositionRow.portfolio_id == portfolio_id)
            .order_by(PositionRow.symbol)
        ).all()
        return Portfolio(
            id=row.id,
            user_id=row.user_id,
            name=row.name,
            currency=row.currency,
            cash=row.cash,
            benchmark_symbol=row.benchmark_symbol,
            allow_short=row.allow_short,
            max_position_weight=row.max_position_weight,
            created_at=row.created_at,
            positions=[
                Position(symbol=p.symbol, quantity=p.quantity, average_cost=p.average_cost)
                for p in positions
                if p.quantity != 0
            ],
        )


def value_portfolio(
    portfolio: Portfolio, market: MarketDataProvider, as_of: date | None = None
) -> Valuation:
    """Value every position at its last close on or before ``as_of`` (default: latest)."""
    holdings: list[Holding] = []
    unpriced: list[str] = []
    for position in portfolio.positions:
        point = market.price_on(position.symbol, as_of)
        if point is None:
            unpriced.append(position.symbol)
            holdings.append(
                Holding(
                    symbol=position.symbol,
                    quantity=position.quantity,
                    average_cost=position.average_cost,
                    price=None,
                    price_date=None,
                    market_value=None,
                    weight=None,
                    unrealized_pnl=None,
                )
            )
            continue
        value = position.quantity * point.close
        holdings.append(
            Holding(
                symbol=position.symbol,
                quantity=position.quantity,
                average_cost=position.average_cost,
                price=point.close,
                price_date=point.date,
                market_value=cents(value),
                weight=None,
                unrealized_pnl=cents(value - position.quantity * position.average_cost),
            )
        )
    invested = sum(h.market_value or 0.0 for h in holdings)
    total = invested + portfolio.cash
    weighted = [
        h.model_copy(update={"weight": (h.market_value / total) if total else None})
        if h.market_value is not None
        else h
        for h in holdings
    ]
    dates = [h.price_date for h in holdings if h.price_date is not None]
    return Valuation(
        portfolio_id=portfolio.id,
        name=portfolio.name,
        currency=portfolio.currency,
        as_of=max(dates) if dates else as_of,
        cash=portfolio.cash,
        invested_value=cents(invested),
        total_value=cents(total),
        holdings=weighted,
        unpriced=unpriced,
    )
