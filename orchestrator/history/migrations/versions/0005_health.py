"""Health reports: what MONITOR_HEALTH and beat's health job found.

Hand-written, like 0001 to 0004, and identical to ``orchestrator/history/health.py``; the
integration tests compare the migrated database with the metadata.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column(
            "checks", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_health_reports"),
    )
    # Reads are "newest first" and pruning is "older than": both by time.
    op.create_index("ix_health_reports_checked_at", "health_reports", ["checked_at"])


def downgrade() -> None:
    op.drop_index("ix_health_reports_checked_at", table_name="health_reports")
    op.drop_table("health_reports")
