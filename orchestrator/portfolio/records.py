"""Typed records of the portfolio data: what the stores return and the CLI prints."""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import Field

from orchestrator.models.base import StrictModel
from orchestrator.models.params import TradeSide

#: Instrument symbols as the market data knows them (upper case, dots and dashes allowed).
SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9.\-]{0,15}$")
#: Portfolio ids: what goals carry as ``portfolio_id``.
PORTFOLIO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class Position(StrictModel):
    symbol: str
    quantity: float
    average_cost: float


class Portfolio(StrictModel):
    id: str
    user_id: str
    name: str
    currency: str
    cash: float
    benchmark_symbol: str | None
    allow_short: bool
    max_position_weight: float | None
    created_at: datetime
    positions: list[Position] = Field(default_factory=list)

    def quantities(self) -> dict[str, float]:
        """Shares held by symbol (positions with a zero quantity left out)."""
        return {p.symbol: p.quantity for p in self.positions if p.quantity != 0}


class PricePoint(StrictModel):
    symbol: str
    date: date
    close: float


class Holding(StrictModel):
    """A position valued at a price."""

    symbol: str
    quantity: float
    average_cost: float
    price: float | None
    price_date: date | None
    market_value: float | None
    weight: float | None
    unrealized_pnl: float | None


class Valuation(StrictModel):
    portfolio_id: str
    name: str
    currency: str
    as_of: date | None
    cash: float
    invested_value: float
    total_value: float
    holdings: list[Holding]
    #: Symbols without any price on or before ``as_of`` (not counted in the totals).
    unpriced: list[str] = Field(default_factory=list)


class Trade(StrictModel):
    id: int
    idempotency_key: str
    portfolio_id: str
    user_id: str
    run_id: str | None
    task_id: str | None
    symbol: str
    side: TradeSide
    quantity: float
    reference_price: float
    fill_price: float
    price_date: date
    notional: float
    fee: float
    reverses_trade_id: int | None
    filled_at: datetime
    #: Balances right after the fill (a replay reports these same figures).
    cash_after: float
    position_after: float
