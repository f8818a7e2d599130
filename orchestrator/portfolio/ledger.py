"""The rows one fill or reversal writes, inside the broker's transaction: the trade, the
position, the cash, the transactions and the audit entry -- all or nothing together."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased

from orchestrator.history.audit import AuditAction, AuditEntry
from orchestrator.history.portfolio_tables import (
    PortfolioRow,
    PositionRow,
    TradeRow,
    TransactionRow,
)
from orchestrator.history.records import audit_row_values
from orchestrator.history.tables import AuditLogRow
from orchestrator.models.params import TradeSide
from orchestrator.portfolio.records import Trade
from orchestrator.portfolio.rules import (
    FillQuote,
    TradeRejected,
    average_cost_after,
    average_cost_unwound,
    cents,
)
from orchestrator.portfolio.store import PortfolioNotFound

if TYPE_CHECKING:
    from orchestrator.portfolio.broker import Order


def lock_portfolio(session: Session, portfolio_id: str, user_id: str) -> PortfolioRow:
    """Lock the portfolio's row (first statement of the transaction) and load it."""
    # A no-op UPDATE: PostgreSQL's row lock / SQLite's write lock, held until commit.
    session.execute(
        update(PortfolioRow).where(PortfolioRow.id == portfolio_id).values(cash=PortfolioRow.cash)
    )
    row = session.get(PortfolioRow, portfolio_id, populate_existing=True)
    if row is None or row.user_id != user_id:
        raise PortfolioNotFound(f"portfolio {portfolio_id} does not exist")
    return row


def trade_for_key(session: Session, key: str) -> TradeRow | None:
    return session.scalars(select(TradeRow).where(TradeRow.idempotency_key == key)).first()


def live_fills(session: Session, run_id: str, task_id: str) -> list[TradeRow]:
    """Original fills of (run, task), any generation, that no reversal points at."""
    reversal = aliased(TradeRow)
    return list(
        session.scalars(
            select(TradeRow)
            .where(
                TradeRow.run_id == run_id,
                TradeRow.task_id == task_id,
                TradeRow.reverses_trade_id.is_(None),
                ~exists().where(reversal.reverses_trade_id == TradeRow.id),
            )
            .order_by(TradeRow.id)
        ).all()
    )


def position_of(session: Session, portfolio_id: str, symbol: str) -> PositionRow:
    """The portfolio's position in ``symbol`` (a new, flat one if there is none)."""
    position = session.scalars(
        select(PositionRow).where(
            PositionRow.portfolio_id == portfolio_id, PositionRow.symbol == symbol
        )
    ).first()
    if position is None:
        position = PositionRow(
            portfolio_id=portfolio_id, symbol=symbol, quantity=0.0, average_cost=0.0
        )
        session.add(position)
    return position


def write_trade(
    session: Session, portfolio: PortfolioRow, order: Order, quote: FillQuote, now: datetime
) -> Trade:
    position = position_of(session, order.portfolio_id, order.symbol)
    delta = order.quantity if order.side is TradeSide.BUY else -order.quantity
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
        position_before=position.quantity,
        average_cost_before=position.average_cost,
        cash_after=cents(portfolio.cash + quote.cash_delta),
        position_after=position.quantity + delta,
    )
    session.add(row)
    # The unique key is checked here, before any balance changes.
    session.flush()
    position.average_cost = average_cost_after(
        position.quantity, position.average_cost, delta, quote.fill_price
    )
    position.quantity = row.position_after
    portfolio.cash = row.cash_after
    _cash_moves(session, row, cents(quote.cash_delta + quote.fee), -quote.fee, now, note="")
    trade = trade_record(row)
    _audit(
        session, AuditAction.TRADE_FILLED, trade, now, approved_by_person=order.approved_by_person
    )
    return trade


def write_reversal(
    session: Session,
    portfolio: PortfolioRow,
    original: TradeRow,
    key: str,
    user_id: str,
    now: datetime,
    note: str,
) -> Trade:
    """The reversing trade of ``original``: position, average cost and cash as before it."""
    side = TradeSide.SELL if original.side == TradeSide.BUY.value else TradeSide.BUY
    original_delta = original.quantity if side is TradeSide.SELL else -original.quantity
    position = position_of(session, original.portfolio_id, original.symbol)
    held = position.quantity
    after = held - original_delta
    if after < 0 and not portfolio.allow_short:
        raise TradeRejected(
            "short_not_allowed",
            f"reversing trade {original.id} needs {original.quantity:g} {original.symbol}; "
            f"only {held:g} are held",
        )
    # Untouched since the fill: restore the recorded position exactly (even across zero).
    untouched = held == original.position_after
    sign = 1.0 if side is TradeSide.SELL else -1.0
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
        position_before=held,
        average_cost_before=position.average_cost,
        cash_after=cents(portfolio.cash + sign * original.notional + original.fee),
        position_after=after,
    )
    session.add(row)
    session.flush()
    position.average_cost = (
        original.average_cost_before
        if untouched
        else average_cost_unwound(held, position.average_cost, original_delta, original.fill_price)
    )
    position.quantity = after
    portfolio.cash = row.cash_after
    _cash_moves(
        session,
        row,
        cents(sign * original.notional),
        original.fee,
        now,
        note=f"reversal of trade {original.id}: {note}",
    )
    trade = trade_record(row)
    _audit(session, AuditAction.TRADE_REVERSED, trade, now, reverses=original.id)
    return trade


def _cash_moves(
    session: Session,
    row: TradeRow,
    trade_amount: float,
    fee_amount: float,
    now: datetime,
    *,
    note: str,
) -> None:
    session.add_all(
        [
            TransactionRow(
                portfolio_id=row.portfolio_id,
                trade_id=row.id,
                kind=row.side,
                symbol=row.symbol,
                quantity=row.quantity,
                price=row.fill_price,
                cash_amount=trade_amount,
                at=now,
                note=note or f"{row.side} {row.quantity:g} {row.symbol}",
            ),
            TransactionRow(
                portfolio_id=row.portfolio_id,
                trade_id=row.id,
                kind="fee",
                cash_amount=fee_amount,
                at=now,
                note=f"fee of trade {row.reverses_trade_id} refunded"
                if row.reverses_trade_id
                else f"fee of trade {row.id}",
            ),
        ]
    )


def _audit(
    session: Session, action: AuditAction, trade: Trade, now: datetime, **extra: Any
) -> None:
    # In the fill's own transaction: a fill and its audit entry exist together or not at all.
    entry = AuditEntry(
        at=now,
        user_id=trade.user_id,
        run_id=trade.run_id,
        task_id=trade.task_id,
        action=action,
        detail={
            "trade_id": trade.id,
            "portfolio_id": trade.portfolio_id,
            "symbol": trade.symbol,
            "side": trade.side.value,
            "quantity": trade.quantity,
            "fill_price": trade.fill_price,
            "notional": trade.notional,
            "fee": trade.fee,
            **extra,
        },
    )
    session.add(AuditLogRow(**audit_row_values(entry)))


def trade_record(row: TradeRow) -> Trade:
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
        cash_after=row.cash_after,
        position_after=row.position_after,
    )
