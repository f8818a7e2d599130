"""The portfolio schema (0003): portfolios, positions, transactions, trades, alerts, prices.

It lives beside the history tables on the same metadata, so one Alembic chain migrates
both and one engine serves both. Amounts are doubles rounded to cents when written (see
``orchestrator.portfolio.broker``); prices keep their full precision.

``trades.idempotency_key`` is what makes fills exactly-once: a fill and its key are
written in one transaction, so a redelivered or retried task finds its key taken and
returns the fill already made instead of trading again.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.history.tables import ID_LEN, Base, BigIntPK, UTCDateTime, json_type

SYMBOL_LEN = 16


class PortfolioRow(Base):
    """A portfolio owned by one user; ``cash`` is its uninvested balance."""

    __tablename__ = "portfolios"
    __table_args__ = (CheckConstraint("length(currency) = 3", name="currency"),)

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    cash: Mapped[float] = mapped_column(Float)
    benchmark_symbol: Mapped[str | None] = mapped_column(String(SYMBOL_LEN))
    allow_short: Mapped[bool] = mapped_column(Boolean)
    #: Largest share of the portfolio's value one position may reach after a buy.
    max_position_weight: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PositionRow(Base):
    """Shares of one instrument held in one portfolio (negative only when shorting)."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("portfolio_id", "symbol"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("portfolios.id"))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LEN))
    quantity: Mapped[float] = mapped_column(Float)
    #: Average cost per share of the current position.
    average_cost: Mapped[float] = mapped_column(Float)


class TradeRow(Base):
    """One fill of the paper broker; a reversal is a trade that points at what it reverses."""

    __tablename__ = "trades"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        CheckConstraint("side IN ('buy', 'sell')", name="side"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(400))
    portfolio_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("portfolios.id"), index=True
    )
    user_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LEN))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[float] = mapped_column(Float)
    #: The as-of close the fill is based on, and the fill price after slippage.
    reference_price: Mapped[float] = mapped_column(Float)
    fill_price: Mapped[float] = mapped_column(Float)
    price_date: Mapped[date] = mapped_column(Date)
    notional: Mapped[float] = mapped_column(Float)
    fee: Mapped[float] = mapped_column(Float)
    reverses_trade_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("trades.id"))
    filled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The position before the fill, so a reversal restores it exactly (even across zero).
    position_before: Mapped[float] = mapped_column(Float)
    average_cost_before: Mapped[float] = mapped_column(Float)
    #: Balances right after the fill: a replayed fill reports the same figures.
    cash_after: Mapped[float] = mapped_column(Float)
    position_after: Mapped[float] = mapped_column(Float)


class TransactionRow(Base):
    """A cash or position movement of a portfolio: deposits, fills, fees, reversals."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint("kind IN ('deposit', 'withdrawal', 'buy', 'sell', 'fee')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("portfolios.id"), index=True
    )
    trade_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("trades.id"))
    kind: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str | None] = mapped_column(String(SYMBOL_LEN))
    quantity: Mapped[float | None] = mapped_column(Float)
    price: Mapped[float | None] = mapped_column(Float)
    #: Change of cash this transaction made (negative for a buy or a fee).
    cash_amount: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text)


#: ``AlertRow.scope`` of a portfolio-wide rule (no symbol); not a valid symbol.
PORTFOLIO_SCOPE = "*portfolio*"


class AlertRow(Base):
    """An alert rule of a portfolio, evaluated against the latest prices.

    One rule per (portfolio, kind, scope, threshold): ``scope`` is the symbol, or
    ``PORTFOLIO_SCOPE`` for a portfolio-wide rule. The constraint is on ``scope`` and not on
    ``symbol`` because NULLs are distinct in a unique constraint (two identical portfolio-wide
    rules would both be kept), and ``NULLS NOT DISTINCT`` is neither portable nor in SQLite.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "kind", "scope", "threshold"),
        CheckConstraint(
            "kind IN ('price_above', 'price_below', 'percent_move', 'drawdown')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("portfolios.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    #: None for portfolio-wide rules (drawdown of the whole portfolio).
    symbol: Mapped[str | None] = mapped_column(String(SYMBOL_LEN))
    #: The symbol, or PORTFOLIO_SCOPE when there is none (what uniqueness is checked on).
    scope: Mapped[str] = mapped_column(String(SYMBOL_LEN))
    threshold: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertEventRow(Base):
    """An alert that triggered, with the values that triggered it.

    One per (alert, price date): evaluating again on the same prices (beat runs every few
    minutes) does not trigger the same alert twice.
    """

    __tablename__ = "alert_events"
    __table_args__ = (UniqueConstraint("alert_id", "price_date"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("alerts.id"), index=True)
    portfolio_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    price_date: Mapped[date] = mapped_column(Date)
    observed_value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(json_type())
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MarketPriceRow(Base):
    """One daily bar of one instrument; ``close`` is the adjusted close the analytics use."""

    __tablename__ = "market_prices"
    __table_args__ = (CheckConstraint("close > 0", name="close_positive"),)

    symbol: Mapped[str] = mapped_column(String(SYMBOL_LEN), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    open: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float | None] = mapped_column(Float)
