"""What the portfolio handlers share: loading the run user's portfolio."""

from __future__ import annotations

from orchestrator.portfolio.records import Portfolio
from orchestrator.portfolio.store import PortfolioNotFound
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError


def load_portfolio(ctx: HandlerContext, portfolio_id: str) -> Portfolio:
    """The run user's portfolio; another user's reads as missing (ids leak nothing)."""
    try:
        return ctx.runtime.portfolio.store.get(portfolio_id, ctx.user_id)
    except PortfolioNotFound as exc:
        raise InvalidInputError(str(exc), portfolio_id=portfolio_id) from exc
