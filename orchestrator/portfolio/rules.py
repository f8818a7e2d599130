"""The paper broker's decisions as pure functions: fill price, fees, order validation,
average cost. No database, no clock: ``broker.py`` applies them inside its transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from orchestrator.models.params import TradeSide


@dataclass(frozen=True)
class BrokerConfig:
    #: Fill price moves this many basis points against the order (buys pay more).
    slippage_bps: float = 5.0
    #: Fee as basis points of the notional, but at least ``fee_min``.
    fee_bps: float = 1.0
    fee_min: float = 1.0
    #: Orders with a larger notional wait for a person's approval.
    approval_notional: float = 25_000.0


class TradeRejected(ValueError):
    """The order breaks a rule; ``code`` says which (insufficient_cash, short_not_allowed,
    position_limit, no_price, invalid_quantity, key_reused, unknown_trade,
    unknown_portfolio, needs_approval)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FillQuote:
    reference_price: float
    price_date: date
    fill_price: float
    notional: float
    fee: float
    #: Change of the portfolio's cash, fee included (negative for a buy).
    cash_delta: float


@dataclass(frozen=True)
class Holdings:
    quantities: dict[str, float] = field(default_factory=dict)


def cents(amount: float) -> float:
    """Money is kept to the cent (``+ 0.0`` turns a -0.0 into 0.0)."""
    return round(amount + 0.0, 2)


def quote_fill(
    side: TradeSide, quantity: float, reference_price: float, price_date: date, config: BrokerConfig
) -> FillQuote:
    """Fill at the reference close moved by the slippage against the order, plus the fee."""
    if not (math.isfinite(quantity) and quantity > 0):
        raise TradeRejected(
            "invalid_quantity", f"quantity must be a positive number, not {quantity}"
        )
    direction = 1.0 if side is TradeSide.BUY else -1.0
    fill_price = round(reference_price * (1.0 + direction * config.slippage_bps / 10_000), 6)
    notional = cents(quantity * fill_price)
    fee = cents(max(config.fee_min, notional * config.fee_bps / 10_000))
    cash_delta = cents(-direction * notional - fee)
    return FillQuote(reference_price, price_date, fill_price, notional, fee, cash_delta)


def needs_approval(quote: FillQuote, config: BrokerConfig) -> bool:
    return quote.notional > config.approval_notional


def check_order(
    side: TradeSide,
    symbol: str,
    quantity: float,
    quote: FillQuote,
    holdings: Holdings,
    prices: dict[str, float | None],
    *,
    cash: float,
    allow_short: bool,
    max_position_weight: float | None,
) -> None:
    """Raise TradeRejected when the order breaks a rule of the portfolio."""
    held = holdings.quantities.get(symbol, 0.0)
    if side is TradeSide.BUY and cash + quote.cash_delta < 0:
        raise TradeRejected(
            "insufficient_cash",
            f"buying {quantity:g} {symbol} needs {-quote.cash_delta:,.2f} (notional "
            f"{quote.notional:,.2f} + fee {quote.fee:,.2f}); cash is {cash:,.2f}",
        )
    if cash + quote.cash_delta < 0:
        # A sale whose proceeds do not cover its fee must not overdraw the cash either.
        raise TradeRejected(
            "insufficient_cash",
            f"selling {quantity:g} {symbol} brings {quote.notional:,.2f} but the fee is "
            f"{quote.fee:,.2f}; cash is {cash:,.2f}",
        )
    if side is TradeSide.SELL and quantity > held and not allow_short:
        raise TradeRejected(
            "short_not_allowed",
            f"selling {quantity:g} {symbol} would go short: {held:g} held and this portfolio "
            "does not allow short positions",
        )
    if max_position_weight is None:
        return
    after = dict(holdings.quantities)
    after[symbol] = held + (quantity if side is TradeSide.BUY else -quantity)
    invested = {s: q * p for s, q in after.items() if (p := prices.get(s)) is not None}
    total = cash + quote.cash_delta + sum(invested.values())
    weight = abs(invested.get(symbol, 0.0)) / total if total > 0 else math.inf
    grows = abs(after[symbol]) > abs(held)
    if grows and weight > max_position_weight:
        raise TradeRejected(
            "position_limit",
            f"{symbol} would be {weight:.1%} of the portfolio after this order; the limit is "
            f"{max_position_weight:.1%}",
        )


def average_cost_after(quantity: float, average_cost: float, delta: float, price: float) -> float:
    """Average cost per share after a fill of ``delta`` shares at ``price``.

    Adding to a position (or opening one) averages in the fill; reducing it keeps the
    average; crossing zero opens a new position at the fill price; flat is 0.
    """
    after = quantity + delta
    if after == 0:
        return 0.0
    if quantity == 0 or (quantity > 0) != (after > 0):
        return price
    if (delta > 0) == (quantity > 0):
        return (quantity * average_cost + delta * price) / after
    return average_cost


def average_cost_unwound(
    quantity: float, average_cost: float, original_delta: float, price: float
) -> float:
    """Average cost after undoing a fill of ``original_delta`` at ``price`` (a reversal):
    the exact inverse of :func:`average_cost_after` for a fill that added to the position."""
    before = quantity - original_delta
    if before == 0:
        return 0.0
    added = (original_delta > 0) == (quantity > 0) and abs(quantity) > abs(original_delta)
    if added:
        return (quantity * average_cost - original_delta * price) / before
    return average_cost
