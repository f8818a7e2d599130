"""The portfolio services one runtime uses, built from its settings and history engine."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from config.settings import Settings
from orchestrator.portfolio.alerts import AlertBook
from orchestrator.portfolio.broker import FillListener, PaperBroker
from orchestrator.portfolio.market_data import DatabaseMarketData, MarketDataProvider
from orchestrator.portfolio.rules import BrokerConfig
from orchestrator.portfolio.store import PortfolioStore


@dataclass(frozen=True)
class PortfolioServices:
    """Portfolios, market data, the paper broker and the alerts, on one engine."""

    store: PortfolioStore
    market: MarketDataProvider
    alerts: AlertBook
    broker_config: BrokerConfig
    engine: Engine

    @classmethod
    def build(cls, engine: Engine, settings: Settings) -> PortfolioServices:
        return cls(
            store=PortfolioStore(engine),
            market=DatabaseMarketData(engine),
            alerts=AlertBook(engine),
            broker_config=BrokerConfig(
                slippage_bps=settings.trade_slippage_bps,
                fee_bps=settings.trade_fee_bps,
                fee_min=settings.trade_fee_min,
                approval_notional=settings.trade_approval_notional,
            ),
            engine=engine,
        )

    def broker(self, listener: FillListener | None = None) -> PaperBroker:
        """The paper broker; ``listener`` observes fills (tests use it to kill mid-trade)."""
        return PaperBroker(self.engine, self.market, self.broker_config, listener)
