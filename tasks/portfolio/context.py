"""The spec's PortfolioContext: what the portfolio module knows of a user while a run works.

Built by every portfolio task and stored in the run's live context (``modules`` hash,
field ``portfolio``), where later tasks, ``orchestrator status`` and backups see it.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from orchestrator.models.base import StrictModel
from orchestrator.models.params import TradeSide
from orchestrator.portfolio.alerts import StoredAlert
from orchestrator.portfolio.records import Trade, Valuation
from orchestrator.portfolio.services import PortfolioServices
from orchestrator.portfolio.store import value_portfolio
from tasks.context import HandlerContext

RECENT_TRADES = 10


class PortfolioSummary(StrictModel):
    id: str
    name: str


class MarketDataState(StrictModel):
    as_of: date | None
    symbols: list[str]
    benchmark: str | None


class TradingPattern(StrictModel):
    symbol: str
    buys: int
    sells: int


class PortfolioContext(StrictModel):
    portfolios: list[PortfolioSummary]
    active_portfolio: Valuation | None = None
    recent_transactions: list[Trade] = Field(default_factory=list)
    market_data: MarketDataState
    alerts: list[StoredAlert] = Field(default_factory=list)
    trading_patterns: list[TradingPattern] = Field(default_factory=list)


def build_portfolio_context(
    services: PortfolioServices, user_id: str, portfolio_id: str
) -> PortfolioContext:
    # Every task of the module ends here: names only for the list, positions only for
    # the active portfolio.
    owned = services.store.names_for(user_id)
    active = (
        services.store.get(portfolio_id, user_id)
        if any(pid == portfolio_id for pid, _ in owned)
        else None
    )
    broker = services.broker()
    counts: dict[str, dict[TradeSide, int]] = {}
    for (symbol, side), count in (broker.trade_counts(portfolio_id) if active else {}).items():
        counts.setdefault(symbol, {})[side] = count
    symbols = sorted(active.quantities()) if active else []
    return PortfolioContext(
        portfolios=[PortfolioSummary(id=pid, name=name) for pid, name in owned],
        active_portfolio=value_portfolio(active, services.market) if active else None,
        recent_transactions=broker.trades(portfolio_id, last=RECENT_TRADES) if active else [],
        market_data=MarketDataState(
            as_of=services.market.latest_date(symbols) if symbols else None,
            symbols=symbols,
            benchmark=active.benchmark_symbol if active else None,
        ),
        alerts=services.alerts.rules(portfolio_id) if active else [],
        trading_patterns=[
            TradingPattern(symbol=s, buys=c.get(TradeSide.BUY, 0), sells=c.get(TradeSide.SELL, 0))
            for s, c in sorted(counts.items())
        ],
    )


def publish_portfolio_context(ctx: HandlerContext, portfolio_id: str) -> None:
    """Store the PortfolioContext of this run's user in the run's live context."""
    context = build_portfolio_context(ctx.runtime.portfolio, ctx.user_id, portfolio_id)
    ctx.runtime.context.put_module_context(ctx.user_id, ctx.run_id, "portfolio", context)
