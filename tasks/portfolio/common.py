"""What the portfolio handlers share: loading the user's portfolio, auditing effects."""

from __future__ import annotations

from typing import Any

from orchestrator.history import AuditAction, AuditEntry
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


def audit(ctx: HandlerContext, action: AuditAction, detail: dict[str, Any]) -> None:
    ctx.runtime.history.record_audit(
        [
            AuditEntry(
                user_id=ctx.user_id,
                action=action,
                run_id=ctx.run_id,
                task_id=ctx.task_id,
                detail=detail,
            )
        ]
    )
