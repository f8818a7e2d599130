"""The paper broker: market orders filled at the as-of close, with slippage and fees.

Exactly once. Every fill carries an idempotency key (one per run, task and restart
generation) under a unique constraint, written in the same transaction as the cash and
position changes. A task that runs again -- a retry, a redelivered message after its
worker was killed -- finds its key and gets the fill already made; a worker killed before
the commit leaves nothing behind, and the next delivery fills afresh.

Orders on one portfolio are serialised by locking its row first (a no-op UPDATE takes
the row lock on PostgreSQL and the write lock on SQLite), so two concurrent buys cannot
both spend the same cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.history.portfolio_tables import (
    PortfolioRow,
    PositionRow,
    TradeRow,
    TransactionRow,
)
from orchestrator.history.repository import Repository
from orchestrator.models.base import StrictModel
from orchestrator.models.params import TradeSide
from orchestrator.portfolio.market_data import MarketDataProvider
from orchestrator.portfolio.records import Trade
from orchestrator.portfolio.rules import (
    BrokerConfig,
    FillQuote,
    Holdings,
    TradeRejected,
    average_cost_after,
    average_cost_unwound,
    check_order,
    quote_fill,
)
from orchestrator.portfolio.store import PortfolioNotFound, cents


class Order(StrictModel):
    """A market order, keyed for exactly-once execution."""

    portfolio_id: str
    user_id: str
    symbol: str
    side: TradeSide
    quantity: float
    idempotency_key: str
    as_of: date | None = None
    run_id: str | None = None
    task_id: str | None = None


class Fill(StrictModel):
    trade: Trade
    #: True when the key had already filled: this is that fill, nothing new happened.
    replayed: bool
    cash_after: float
    position_after: float


class FillListener:
    """Hooks around a fill; no-ops by default (tests use them to kill a worker mid-trade)."""

    def before_commit(self, trade: Trade) -> None:
        """Called inside the fill's transaction, after its rows are written."""

    def after_commit(self, trade: Trade) -> None:
        """Called once the fill is committed."""


@dataclass(frozen=True)
class Reversal:
    trade: Trade
    replayed: bool


class PaperBroker(Repository):
    """Fills orders against the market data, exactly once per idempotency key."""

    def __init__(
        self,
        engine: Engine,
        market: MarketDataProvider,
        config: BrokerConfig,
        listener: FillListener | None = None,
    ) -> None:
        super().__init__(engine)
        self.market = market
        self.config = config
        self.listener = listener or FillListener()

    def find(self, idempotency_key: str) -> Trade | None:
        with self._tx() as session:
            row = session.scalars(
                select(TradeRow).where(TradeRow.idempotency_key == idempotency_key)
            ).first()
            return _trade(row) if row is not None else None

    def quote(self, order: Order) -> FillQuote:
        """What the order would cost now (no validation against the portfolio)."""
        point = self.market.price_on(order.symbol, order.as_of)
        if point is None:
            raise TradeRejected(
                "no_price", f"no price for {order.symbol} on or before {order.as_of or 'today'}"
            )
        return quote_fill(order.side, order.quantity, point.close, point.date, self.config)

    def execute(self, order: Order, *, now: datetime) -> Fill:
        """Fill ``order`` unless its key already filled; TradeRejected when invalid."""
        done = self._replay(order)
        if done is not None:
            return done
        quote = self.quote(order)
        try:
            with self._tx() as session:
                portfolio = _lock_portfolio(session, order.portfolio_id, order.user_id)
                if _trade_for_key(session, order.idempotency_key) is not None:
                    raise _AlreadyFilled
                holdings = _holdings(session, order.portfolio_id)
                prices = {s: self._price(s, order.as_of) for s in holdings.quantities}
                prices[order.symbol] = quote.reference_price
                check_order(
                    order.side,
                    order.symbol,
                    order.quantity,
                    quote,
                    holdings,
                    prices,
                    cash=portfolio.cash,
                    allow_short=portfolio.allow_short,
                    max_position_weight=portfolio.max_position_weight,
                )
                trade = self._write_fill(session, portfolio, order, quote, now)
                self.listener.before_commit(trade)
        except (_AlreadyFilled, IntegrityError):
            # Another delivery of the same task filled it first: that fill stands.
            replay = self._replay(order)
            if replay is None:
                raise
            return replay
        self.listener.after_commit(trade)
        return self._fill_of(trade, replayed=False)

    def reverse(self, trade_id: int, *, user_id: str, now: datetime, note: str) -> Reversal:
        """Undo a fill exactly (its price, its fee refunded); idempotent per trade."""
        key = f"reverse:{trade_id}"
        existing = self.find(key)
        if existing is not None:
            return Reversal(existing, replayed=True)
        with self._tx() as session:
            original = session.get(TradeRow, trade_id)
            if original is None:
                raise TradeRejected("unknown_trade", f"trade {trade_id} does not exist")
            portfolio = _lock_portfolio(session, original.portfolio_id, user_id)
            side = TradeSide.SELL if original.side == TradeSide.BUY.value else TradeSide.BUY
            position = _position(session, original.portfolio_id, original.symbol)
            held = position.quantity if position else 0.0
            original_delta = original.quantity if side is TradeSide.SELL else -original.quantity
            after = held - original_delta
            if after < 0 and not portfolio.allow_short:
                raise TradeRejected(
                    "short_not_allowed",
                    f"reversing trade {trade_id} needs {original.quantity:g} {original.symbol}; "
                    f"only {held:g} are held",
                )
            row = TradeRow(
                idempotency_key=key,
                portfolio_id=original.portfolio_id,
                user_id=user_id,
                run_id=original.run_id,
                task_id=original.task_id,
                symbol=original.symbol,
                side=side.value,
                quantity=original.quantity,
                reference_price=original.fill_price,
                fill_price=original.fill_price,
                price_date=original.price_date,
                notional=original.notional,
                fee=0.0,
                reverses_trade_id=original.id,
                filled_at=now,
            )
            session.add(row)
            session.flush()
            sign = 1.0 if side is TradeSide.SELL else -1.0
            portfolio.cash = cents(portfolio.cash + sign * original.notional + original.fee)
            if position is None:
                position = PositionRow(
                    portfolio_id=original.portfolio_id,
                    symbol=original.symbol,
                    quantity=0.0,
                    average_cost=0.0,
                )
                session.add(position)
            position.average_cost = average_cost_unwound(
                held, position.average_cost, original_delta, original.fill_price
            )
            position.quantity = after
            session.add_all(
                [
                    TransactionRow(
                        portfolio_id=original.portfolio_id,
                        trade_id=row.id,
                        kind=side.value,
                        symbol=original.symbol,
                        quantity=original.quantity,
                        price=original.fill_price,
                        cash_amount=cents(sign * original.notional),
                        at=now,
                        note=f"reversal of trade {trade_id}: {note}",
                    ),
                    TransactionRow(
                        portfolio_id=original.portfolio_id,
                        trade_id=row.id,
                        kind="fee",
                        cash_amount=original.fee,
                        at=now,
                        note=f"fee of trade {trade_id} refunded",
                    ),
                ]
            )
            return Reversal(_trade(row), replayed=False)

    def trades(self, portfolio_id: str) -> list[Trade]:
        with self._tx() as session:
            rows = session.scalars(
                select(TradeRow).where(TradeRow.portfolio_id == portfolio_id).order_by(TradeRow.id)
            ).all()
            return [_trade(r) for r in rows]

    # -- internals ----------------------------------------------------------------------

    def _price(self, symbol: str, as_of: date | None) -> float | None:
        point = self.market.price_on(symbol, as_of)
        return point.close if point else None

    def _replay(self, order: Order) -> Fill | None:
        trade = self.find(order.idempotency_key)
        if trade is None:
            return None
        if (trade.portfolio_id, trade.symbol, trade.side, trade.quantity) != (
            order.portfolio_id,
            order.symbol,
            order.side,
            order.quantity,
        ):
            # Same key, different order: a bug upstream, never a second fill.
            raise TradeRejected(
                "key_reused",
                f"idempotency key {order.idempotency_key} already filled a different order "
                f"(trade {trade.id})",
            )
        return self._fill_of(trade, replayed=True)

    def _fill_of(self, trade: Trade, *, replayed: bool) -> Fill:
        with self._tx() as session:
            portfolio = session.get(PortfolioRow, trade.portfolio_id)
            position = _position(session, trade.portfolio_id, trade.symbol)
            return Fill(
                trade=trade,
                replayed=replayed,
                cash_after=portfolio.cash if portfolio else 0.0,
                position_after=position.quantity if position else 0.0,
            )

    def _write_fill(
        self,
        session: Session,
        portfolio: PortfolioRow,
        order: Order,
        quote: FillQuote,
        now: datetime,
    ) -> Trade:
        row = TradeRow(
            idempotency_key=order.idempotency_key,
            portfolio_id=order.portfolio_id,
            user_id=order.user_id,
            run_id=order.run_id,
            task_id=order.task_id,
            symbol=order.symbol,
            side=order.side.value,
            quantity=order.quantity,
            reference_price=quote.reference_price,
            fill_price=quote.fill_price,
            price_date=quote.price_date,
            notional=quote.notional,
            fee=quote.fee,
            reverses_trade_id=None,
            filled_at=now,
        )
        session.add(row)
        # The unique key is checked here, before any balance changes.
        session.flush()
        position = _position(session, order.portfolio_id, order.symbol)
        if position is None:
            position = PositionRow(
                portfolio_id=order.portfolio_id, symbol=order.symbol, quantity=0.0, average_cost=0.0
            )
            session.add(position)
        delta = order.quantity if order.side is TradeSide.BUY else -order.quantity
        position.average_cost = average_cost_after(
            position.quantity, position.average_cost, delta, quote.fill_price
        )
        position.quantity = position.quantity + delta
        portfolio.cash = cents(portfolio.cash + quote.cash_delta)
        session.add_all(
            [
                TransactionRow(
                    portfolio_id=order.portfolio_id,
                    trade_id=row.id,
                    kind=order.side.value,
                    symbol=order.symbol,
                    quantity=order.quantity,
                    price=quote.fill_price,
                    cash_amount=cents(quote.cash_delta + quote.fee),
                    at=now,
                    note=f"{order.side.value} {order.quantity:g} {order.symbol}",
                ),
                TransactionRow(
                    portfolio_id=order.portfolio_id,
                    trade_id=row.id,
                    kind="fee",
                    cash_amount=-quote.fee,
                    at=now,
                    note=f"fee of trade {row.id}",
                ),
            ]
        )
        session.flush()
        return _trade(row)


class _AlreadyFilled(Exception):
    pass


def _lock_portfolio(session: Session, portfolio_id: str, user_id: str) -> PortfolioRow:
    # A no-op UPDATE: PostgreSQL's row lock / SQLite's write lock, held until commit.
    session.execute(
        update(PortfolioRow).where(PortfolioRow.id == portfolio_id).values(cash=PortfolioRow.cash)
    )
    row = session.get(PortfolioRow, portfolio_id, populate_existing=True)
    if row is None or row.user_id != user_id:
        raise PortfolioNotFound(f"portfolio {portfolio_id} does not exist")
    return row


def _trade_for_key(session: Session, key: str) -> TradeRow | None:
    return session.scalars(select(TradeRow).where(TradeRow.idempotency_key == key)).first()


def _position(session: Session, portfolio_id: str, symbol: str) -> PositionRow | None:
    return session.scalars(
        select(PositionRow).where(
            PositionRow.portfolio_id == portfolio_id, PositionRow.symbol == symbol
        )
    ).first()


def _holdings(session: Session, portfolio_id: str) -> Holdings:
    rows = session.scalars(
        select(PositionRow).where(PositionRow.portfolio_id == portfolio_id)
    ).all()
    return Holdings({r.symbol: r.quantity for r in rows if r.quantity != 0})


def _trade(row: TradeRow) -> Trade:
    return Trade(
        id=row.id,
        idempotency_key=row.idempotency_key,
        portfolio_id=row.portfolio_id,
        user_id=row.user_id,
        run_id=row.run_id,
        task_id=row.task_id,
        symbol=row.symbol,
        side=TradeSide(row.side),
        quantity=row.quantity,
        reference_price=row.reference_price,
        fill_price=row.fill_price,
        price_date=row.price_date,
        notional=row.notional,
        fee=row.fee,
        reverses_trade_id=row.reverses_trade_id,
        filled_at=row.filled_at,
    )
