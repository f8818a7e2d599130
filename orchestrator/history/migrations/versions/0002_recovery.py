"""Recovery history: task outputs and input fingerprints, failures, recovery attempts,
parked tasks (approvals and pauses) and dead letters.

Hand-written, like 0001, and identical to ``orchestrator/history/tables.py``; the
integration tests compare the migrated database with the metadata. Existing rows are
kept: the two new ``task_attempts`` columns are nullable and start out NULL.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _bigint_pk() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # ADD COLUMN of a nullable column: no table rebuild on SQLite, no rewrite on PostgreSQL.
    with op.batch_alter_table("task_attempts") as batch:
        batch.add_column(sa.Column("output", _json(), nullable=True))
        batch.add_column(sa.Column("input_fingerprint", sa.String(64), nullable=True))
    op.create_index("ix_task_attempts_input_fingerprint", "task_attempts", ["input_fingerprint"])

    op.create_table(
        "task_failures",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("details", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_failures"),
    )
    op.create_index("ix_task_failures_run_id", "task_failures", ["run_id"])
    op.create_index("ix_task_failures_fingerprint", "task_failures", ["fingerprint"])

    op.create_table(
        "recovery_attempts",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=True),
        sa.Column("time_to_recover_ms", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_attempts"),
        sa.CheckConstraint(
            "(finished_at IS NULL) = (succeeded IS NULL)",
            name="ck_recovery_attempts_outcome_when_finished",
        ),
    )
    op.create_index("ix_recovery_attempts_run_id", "recovery_attempts", ["run_id"])
    op.create_index("ix_recovery_attempts_error_type", "recovery_attempts", ["error_type"])
    op.create_index("ix_recovery_attempts_fingerprint", "recovery_attempts", ["fingerprint"])

    op.create_table(
        "parked_tasks",
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signature", _json(), nullable=False),
        sa.Column("parked_at", _ts(), nullable=False),
        sa.Column("decided_at", _ts(), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "task_id", name="pk_parked_tasks"),
        sa.CheckConstraint("kind IN ('approval', 'pause')", name="ck_parked_tasks_kind"),
        sa.CheckConstraint(
            "decision IS NULL OR decision IN ('approved', 'rejected', 'resumed')",
            name="ck_parked_tasks_decision",
        ),
    )
    op.create_index("ix_parked_tasks_user_id", "parked_tasks", ["user_id"])

    op.create_table(
        "dead_letters",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("celery_task_id", sa.String(255), nullable=True),
        sa.Column("task_name", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("delivery_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("parked_tasks")
    op.drop_table("recovery_attempts")
    op.drop_table("task_failures")
    op.drop_index("ix_task_attempts_input_fingerprint", table_name="task_attempts")
    # SQLite cannot always DROP COLUMN in place; batch mode rebuilds the table there
    # (rows, the unique constraint and the foreign key to runs are carried over).
    with op.batch_alter_table("task_attempts") as batch:
        batch.drop_column("input_fingerprint")
        batch.drop_column("output")
