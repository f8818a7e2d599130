"""The paper broker's pure decisions and the alert rule check, without a database."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.models.params import AlertKind, TradeSide
from orchestrator.portfolio.alerts import Observation, evaluate_rule
from orchestrator.portfolio.rules import (
    BrokerConfig,
    Holdings,
    TradeRejected,
    average_cost_after,
    average_cost_unwound,
    check_order,
    needs_approval,
    quote_fill,
)

DAY = date(2018, 4, 11)
CONFIG = BrokerConfig(slippage_bps=10.0, fee_bps=2.0, fee_min=1.0, approval_notional=10_000.0)


def test_buy_pays_slippage_and_fee_sell_receives_less() -> None:
    buy = quote_fill(TradeSide.BUY, 100, 50.0, DAY, CONFIG)
    # 50 x 1.001 = 50.05; 100 shares = 5,005.00; fee 2 bp = 1.001 -> 1.00 (the minimum)
    assert (buy.fill_price, buy.notional, buy.fee, buy.cash_delta) == (50.05, 5005.0, 1.0, -5006.0)
    sell = quote_fill(TradeSide.SELL, 100, 50.0, DAY, CONFIG)
    assert (sell.fill_price, sell.notional, sell.cash_delta) == (49.95, 4995.0, 4994.0)
    big = quote_fill(TradeSide.BUY, 1000, 50.0, DAY, CONFIG)
    assert big.fee == 10.01  # 2 bp of 50,050.00
    assert needs_approval(big, CONFIG) and not needs_approval(buy, CONFIG)


@pytest.mark.parametrize("quantity", [0.0, -1.0, float("nan"), float("inf")])
def test_quantity_must_be_a_positive_number(quantity: float) -> None:
    with pytest.raises(TradeRejected) as caught:
        quote_fill(TradeSide.BUY, quantity, 50.0, DAY, CONFIG)
    assert caught.value.code == "invalid_quantity"


def test_cash_short_and_position_limit_rules() -> None:
    quote = quote_fill(TradeSide.BUY, 100, 50.0, DAY, CONFIG)  # costs 5,006.00
    common = {"allow_short": False, "max_position_weight": None}
    check_order(TradeSide.BUY, "X", 100, quote, Holdings(), {}, cash=5006.0, **common)
    with pytest.raises(TradeRejected, match=re.escape("cash is 5,005.99")) as caught:
        check_order(TradeSide.BUY, "X", 100, quote, Holdings(), {}, cash=5005.99, **common)
    assert caught.value.code == "insufficient_cash"

    sell = quote_fill(TradeSide.SELL, 10, 50.0, DAY, CONFIG)
    held = Holdings({"X": 5})
    with pytest.raises(TradeRejected, match="5 held") as caught:
        check_order(TradeSide.SELL, "X", 10, sell, held, {"X": 50.0}, cash=0.0, **common)
    assert caught.value.code == "short_not_allowed"
    check_order(
        TradeSide.SELL,
        "X",
        10,
        sell,
        held,
        {"X": 50.0},
        cash=0.0,
        allow_short=True,
        max_position_weight=None,
    )

    # 100 X at 50 = 5,000 of a 10,000 portfolio: 50 % > 40 % limit
    with pytest.raises(TradeRejected, match=re.escape("50.0% of the portfolio")) as caught:
        check_order(
            TradeSide.BUY,
            "X",
            100,
            quote,
            Holdings(),
            {"X": 50.0},
            cash=10_006.0,
            allow_short=False,
            max_position_weight=0.4,
        )
    assert caught.value.code == "position_limit"
    # Selling down an oversized position is always allowed.
    check_order(
        TradeSide.SELL,
        "X",
        10,
        sell,
        Holdings({"X": 100}),
        {"X": 50.0},
        cash=100.0,
        allow_short=False,
        max_position_weight=0.4,
    )


def test_average_cost_rules() -> None:
    assert average_cost_after(0, 0, 10, 20.0) == 20.0  # open
    assert average_cost_after(10, 20.0, 10, 30.0) == 25.0  # add: (200 + 300) / 20
    assert average_cost_after(20, 25.0, -5, 40.0) == 25.0  # reduce: unchanged
    assert average_cost_after(20, 25.0, -20, 40.0) == 0.0  # flat
    assert average_cost_after(5, 25.0, -10, 40.0) == 40.0  # cross to short at the fill


@given(
    quantity=st.floats(1, 10_000),
    cost=st.floats(0.01, 10_000),
    delta=st.floats(1, 10_000),
    price=st.floats(0.01, 10_000),
)
def test_unwinding_a_buy_restores_the_average_cost(
    quantity: float, cost: float, delta: float, price: float
) -> None:
    after = average_cost_after(quantity, cost, delta, price)
    restored = average_cost_unwound(quantity + delta, after, delta, price)
    assert restored == pytest.approx(cost, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(
    ("kind", "threshold", "value", "fires"),
    [
        (AlertKind.PRICE_ABOVE, 100.0, 100.0, True),
        (AlertKind.PRICE_ABOVE, 100.0, 99.99, False),
        (AlertKind.PRICE_BELOW, 100.0, 100.0, True),
        (AlertKind.PRICE_BELOW, 100.0, 100.01, False),
        (AlertKind.PERCENT_MOVE, 0.05, 0.051, True),
        (AlertKind.PERCENT_MOVE, 0.05, 0.049, False),
        (AlertKind.DRAWDOWN, 0.10, 0.10, True),
        (AlertKind.DRAWDOWN, 0.10, 0.02, False),
    ],
)
def test_alert_rules(kind: AlertKind, threshold: float, value: float, fires: bool) -> None:
    assert evaluate_rule(kind, threshold, Observation(value, DAY, {})) is fires
