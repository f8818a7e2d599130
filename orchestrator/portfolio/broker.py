"""The paper broker: market orders filled at the as-of close, with slippage and fees.

Exactly once. Every fill carries an idempotency key (one per run, task and restart
generation) under a unique constraint, written in the same transaction as the cash and
position changes and the fill's audit entry. A task that runs again -- a retry, a
redelivered message after its worker was killed -- finds its key and gets the fill
already made; a worker killed before the commit leaves nothing behind, and the next
delivery fills afresh. A task has at most one *live* fill: while an earlier generation's
fill of the same (run, task) is not reversed, a new generation gets that fill back
instead of trading again (a rollback that never compensated it must not double it).

Orders on one portfolio are serialised by locking its row first (a no-op UPDATE takes
the row lock on PostgreSQL and the write lock on SQLite) before anything is read, so two
concurrent orders cannot both spend the same cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.history.portfolio_tables import PortfolioRow, PositionRow, TradeRow
from orchestrator.history.repository import Repository
from orchestrator.models.base import StrictModel
from orchestrator.models.params import TradeSide
from orchestrator.portfolio.ledger import (
    live_fills,
    lock_portfolio,
    trade_for_key,
    trade_record,
    write_reversal,
    write_trade,
)
from orchestrator.portfolio.market_data import MarketDataProvider
from orchestrator.portfolio.records import Trade
from orchestrator.portfolio.rules import (
    BrokerConfig,
    FillQuote,
    Holdings,
    TradeRejected,
    check_order,
    quote_fill,
)


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
    #: Recorded in the fill's audit entry.
    approved_by_person: bool = False
    #: Refuse (code ``needs_approval``) if the fill's notional would be larger: what a
    #: person approved, or the approval limit, priced again at fill time.
    max_notional: float | None = None


class Fill(StrictModel):
    trade: Trade
    #: True when this order had already filled: this is that fill, nothing new happened.
    replayed: bool


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


class _AlreadyDone(Exception):
    """Another delivery got there first (seen under the lock)."""


class PaperBroker(Repository):
    """Fills orders against the market data, exactly once per order."""

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
            row = trade_for_key(session, idempotency_key)
            return trade_record(row) if row is not None else None

    def live_fills(self, run_id: str, task_id: str) -> list[Trade]:
        """Fills of (run, task), of any restart generation, that are not reversed."""
        with self._tx() as session:
            return [trade_record(r) for r in live_fills(session, run_id, task_id)]

    def quote(self, order: Order) -> FillQuote:
        """What the order would cost now (no validation against the portfolio)."""
        point = self.market.price_on(order.symbol, order.as_of)
        if point is None:
            raise TradeRejected(
                "no_price", f"no price for {order.symbol} on or before {order.as_of or 'today'}"
            )
        return quote_fill(order.side, order.quantity, point.close, point.date, self.config)

    def validate(self, order: Order) -> FillQuote:
        """Check the order against the portfolio as it is now (no lock, nothing written)."""
        quote = self.quote(order)
        with self._tx() as session:
            portfolio = session.get(PortfolioRow, order.portfolio_id)
            if portfolio is None or portfolio.user_id != order.user_id:
                raise TradeRejected(
                    "unknown_portfolio", f"portfolio {order.portfolio_id} does not exist"
                )
            self._check(session, portfolio, order, quote)
        return quote

    def replay(self, order: Order) -> Fill | None:
        """The fill this order already made (by key, or the task's live fill), if any."""
        with self._tx() as session:
            row = trade_for_key(session, order.idempotency_key)
            if row is None and order.run_id and order.task_id:
                row = next(iter(live_fills(session, order.run_id, order.task_id)), None)
            if row is None:
                return None
            trade = trade_record(row)
        if (trade.portfolio_id, trade.symbol, trade.side, trade.quantity) != (
            order.portfolio_id,
            order.symbol,
            order.side,
            order.quantity,
        ):
            # Same task or key, different order: a bug upstream, never a second fill.
            raise TradeRejected(
                "key_reused",
                f"{order.idempotency_key} already filled a different order (trade {trade.id})",
            )
        return Fill(trade=trade, replayed=True)

    def execute(self, order: Order, *, now: datetime) -> Fill:
        """Fill ``order`` unless it already filled; TradeRejected when invalid."""
        done = self.replay(order)
        if done is not None:
            return done
        quote = self.quote(order)
        if order.max_notional is not None and quote.notional > order.max_notional:
            raise TradeRejected(
                "needs_approval",
                f"the fill would be {quote.notional:,.2f}, above {order.max_notional:,.2f}",
            )
        try:
            with self._tx() as session:
                portfolio = lock_portfolio(session, order.portfolio_id, order.user_id)
                if trade_for_key(session, order.idempotency_key) is not None or (
                    order.run_id
                    and order.task_id
                    and live_fills(session, order.run_id, order.task_id)
                ):
                    raise _AlreadyDone
                self._check(session, portfolio, order, quote)
                trade = write_trade(session, portfolio, order, quote, now)
                self.listener.before_commit(trade)
        except (_AlreadyDone, IntegrityError):
            replay = self.replay(order)
            if replay is None:
                raise
            return replay
        self.listener.after_commit(trade)
        return Fill(trade=trade, replayed=False)

    def reverse(self, trade_id: int, *, user_id: str, now: datetime, note: str) -> Reversal:
        """Undo a fill exactly (its price, its fee refunded, the position as it was);
        idempotent per trade."""
        key = f"reverse:{trade_id}"
        existing = self.find(key)
        if existing is not None:
            return Reversal(existing, replayed=True)
        with self._tx() as session:
            portfolio_id = session.scalar(
                select(TradeRow.portfolio_id).where(TradeRow.id == trade_id)
            )
        if portfolio_id is None:
            raise TradeRejected("unknown_trade", f"trade {trade_id} does not exist")
        try:
            with self._tx() as session:
                # The lock comes before any read of the trade (SQLite cannot upgrade a
                # read transaction to a writer without failing).
                portfolio = lock_portfolio(session, portfolio_id, user_id)
                if trade_for_key(session, key) is not None:
                    raise _AlreadyDone
                original = session.get(TradeRow, trade_id)
                if original is None or original.reverses_trade_id is not None:
                    raise TradeRejected("unknown_trade", f"trade {trade_id} cannot be reversed")
                trade = write_reversal(session, portfolio, original, key, user_id, now, note)
        except (_AlreadyDone, IntegrityError):
            again = self.find(key)
            if again is None:
                raise
            return Reversal(again, replayed=True)
        return Reversal(trade, replayed=False)

    def trades(self, portfolio_id: str, *, last: int | None = None) -> list[Trade]:
        """The portfolio's trades, oldest first (only the ``last`` ones when given)."""
        query = select(TradeRow).where(TradeRow.portfolio_id == portfolio_id)
        if last is not None:
            query = query.order_by(TradeRow.id.desc()).limit(last)
        with self._tx() as session:
            rows = session.scalars(query).all()
            return sorted((trade_record(r) for r in rows), key=lambda t: t.id)

    def trade_counts(self, portfolio_id: str) -> dict[tuple[str, TradeSide], int]:
        """Number of trades by (symbol, side), counted by the database."""
        query = (
            select(TradeRow.symbol, TradeRow.side, func.count())
            .where(TradeRow.portfolio_id == portfolio_id)
            .group_by(TradeRow.symbol, TradeRow.side)
        )
        with self._tx() as session:
            return {(r[0], TradeSide(r[1])): int(r[2]) for r in session.execute(query)}

    def _check(
        self, session: Session, portfolio: PortfolioRow, order: Order, quote: FillQuote
    ) -> None:
        holdings = Holdings(
            {
                symbol: quantity
                for symbol, quantity in _quantities(session, order.portfolio_id).items()
                if quantity != 0
            }
        )
        prices: dict[str, float | None] = {}
        # Holdings' prices only matter to the position limit: no limit, no lookups.
        if portfolio.max_position_weight is not None:
            for symbol in holdings.quantities:
                point = self.market.price_on(symbol, order.as_of)
                prices[symbol] = point.close if point else None
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


def _quantities(session: Session, portfolio_id: str) -> dict[str, float]:
    rows = session.execute(
        select(PositionRow.symbol, PositionRow.quantity).where(
            PositionRow.portfolio_id == portfolio_id
        )
    ).all()
    return {r.symbol: r.quantity for r in rows}


__all__ = ["Fill", "FillListener", "Order", "PaperBroker", "Reversal"]
