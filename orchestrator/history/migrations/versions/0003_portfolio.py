"""Portfolio data: portfolios, positions, trades, transactions, alerts and market prices.

Hand-written, like 0001 and 0002, and identical to ``orchestrator/history/portfolio_tables.py``;
the integration tests compare the migrated database with the metadata.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _bigint() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portfolios",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("benchmark_symbol", sa.String(16), nullable=True),
        sa.Column("allow_short", sa.Boolean(), nullable=False),
        sa.Column("max_position_weight", sa.Float(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_portfolios"),
        sa.CheckConstraint("length(currency) = 3", name="ck_portfolios_currency"),
    )
    op.create_index("ix_portfolios_user_id", "portfolios", ["user_id"])

    op.create_table(
        "positions",
        sa.Column("id", _bigint(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("average_cost", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_positions"),
        sa.ForeignKeyConstraint(
            ["portfolio_id"], ["portfolios.id"], name="fk_positions_portfolio_id_portfolios"
        ),
        sa.UniqueConstraint("portfolio_id", "symbol", name="uq_positions_portfolio_id_symbol"),
    )

    op.create_table(
        "trades",
        sa.Column("id", _bigint(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(400), nullable=False),
        sa.Column("portfolio_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=True),
        sa.Column("task_id", sa.String(128), nullable=True),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("reference_price", sa.Float(), nullable=False),
        sa.Column("fill_price", sa.Float(), nullable=False),
        sa.Column("price_date", sa.Date(), nullable=False),
        sa.Column("notional", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("reverses_trade_id", _bigint(), nullable=True),
        sa.Column("filled_at", _ts(), nullable=False),
        sa.Column("position_before", sa.Float(), nullable=False),
        sa.Column("average_cost_before", sa.Float(), nullable=False),
        sa.Column("cash_after", sa.Float(), nullable=False),
        sa.Column("position_after", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
        sa.ForeignKeyConstraint(
            ["portfolio_id"], ["portfolios.id"], name="fk_trades_portfolio_id_portfolios"
        ),
        sa.ForeignKeyConstraint(
            ["reverses_trade_id"], ["trades.id"], name="fk_trades_reverses_trade_id_trades"
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_trades_idempotency_key"),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="ck_trades_side"),
        sa.CheckConstraint("quantity > 0", name="ck_trades_quantity_positive"),
    )
    op.create_index("ix_trades_portfolio_id", "trades", ["portfolio_id"])

    op.create_table(
        "transactions",
        sa.Column("id", _bigint(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.String(128), nullable=False),
        sa.Column("trade_id", _bigint(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=True),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("cash_amount", sa.Float(), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
        sa.ForeignKeyConstraint(
            ["portfolio_id"], ["portfolios.id"], name="fk_transactions_portfolio_id_portfolios"
        ),
        sa.ForeignKeyConstraint(
            ["trade_id"], ["trades.id"], name="fk_transactions_trade_id_trades"
        ),
        sa.CheckConstraint(
            "kind IN ('deposit', 'withdrawal', 'buy', 'sell', 'fee')",
            name="ck_transactions_kind",
        ),
    )
    op.create_index("ix_transactions_portfolio_id", "transactions", ["portfolio_id"])

    op.create_table(
        "alerts",
        sa.Column("id", _bigint(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=True),
        # The symbol, or "*portfolio*" for a portfolio-wide rule: unique even without one.
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.ForeignKeyConstraint(
            ["portfolio_id"], ["portfolios.id"], name="fk_alerts_portfolio_id_portfolios"
        ),
        sa.UniqueConstraint(
            "portfolio_id",
            "kind",
            "scope",
            "threshold",
            name="uq_alerts_portfolio_id_kind_scope_threshold",
        ),
        sa.CheckConstraint(
            "kind IN ('price_above', 'price_below', 'percent_move', 'drawdown')",
            name="ck_alerts_kind",
        ),
    )
    op.create_index("ix_alerts_portfolio_id", "alerts", ["portfolio_id"])

    op.create_table(
        "alert_events",
        sa.Column("id", _bigint(), autoincrement=True, nullable=False),
        sa.Column("alert_id", _bigint(), nullable=False),
        sa.Column("portfolio_id", sa.String(128), nullable=False),
        sa.Column("price_date", sa.Date(), nullable=False),
        sa.Column("observed_value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=True),
        sa.Column("triggered_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_alert_events_alert_id_alerts"
        ),
        sa.UniqueConstraint("alert_id", "price_date", name="uq_alert_events_alert_id_price_date"),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id"])
    op.create_index("ix_alert_events_portfolio_id", "alert_events", ["portfolio_id"])

    op.create_table(
        "market_prices",
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("open", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("symbol", "date", name="pk_market_prices"),
        sa.CheckConstraint("close > 0", name="ck_market_prices_close_positive"),
    )


def downgrade() -> None:
    op.drop_table("market_prices")
    op.drop_table("alert_events")
    op.drop_table("alerts")
    op.drop_table("transactions")
    op.drop_table("trades")
    op.drop_table("positions")
    op.drop_table("portfolios")
