"""Portfolios for tests: each test makes its own, so tests never share balances."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from orchestrator.context import utcnow
from orchestrator.portfolio.records import Portfolio
from orchestrator.portfolio.store import PortfolioStore


def new_portfolio(
    engine: Engine,
    *,
    user_id: str = "demo",
    cash: float = 100_000.0,
    positions: dict[str, tuple[float, float]] | None = None,
    max_position_weight: float | None = None,
    allow_short: bool = False,
) -> Portfolio:
    return PortfolioStore(engine).create(
        portfolio_id=f"p-{uuid.uuid4().hex[:10]}",
        user_id=user_id,
        name="test portfolio",
        cash=cash,
        now=utcnow(),
        benchmark_symbol="SPY",
        positions=positions,
        max_position_weight=max_position_weight,
        allow_short=allow_short,
    )
