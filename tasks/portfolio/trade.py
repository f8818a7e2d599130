"""EXECUTE_TRADE on the paper broker: validated, approved when large, filled exactly once.

The idempotency key is the task's effect key (run, task, restart generation): a retry
or a redelivery of this task returns the fill it already made; a restart after rollback
(whose compensation reversed that fill) trades again under a new key.
"""

from __future__ import annotations

from typing import Any

from orchestrator.context import utcnow
from orchestrator.history import AuditAction
from orchestrator.models.base import StrictModel
from orchestrator.models.enums import TaskType
from orchestrator.models.params import ExecuteTradeParams
from orchestrator.portfolio.broker import FillListener, Order
from orchestrator.portfolio.records import Trade
from orchestrator.portfolio.rules import TradeRejected
from tasks.approval import ApprovalRequired
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, PermissionDeniedError
from tasks.portfolio.common import load_portfolio
from tasks.portfolio.context import publish_portfolio_context
from tasks.registry import Handler, Inputs

#: An approved notional still covers the order if the price moved by up to this much.
APPROVAL_TOLERANCE = 0.02


class TradeResult(StrictModel):
    trade: Trade
    #: True when this execution found its fill already made (retry or redelivery).
    replayed: bool
    cash_after: float
    position_after: float
    approved_by_person: bool


def _gate(ctx: HandlerContext, order: Order, notional: float, limit: float) -> None:
    """Ask a person unless they approved at least this notional (within the tolerance)."""
    approved = ctx.approval.get("notional") if ctx.approval else None
    if isinstance(approved, int | float) and notional <= approved * (1 + APPROVAL_TOLERANCE):
        return
    raise ApprovalRequired(
        f"{order.side.value} {order.quantity:g} {order.symbol} for about {notional:,.2f} is "
        f"above the approval limit of {limit:,.2f}",
        notional=notional,
        limit=limit,
        symbol=order.symbol,
        side=order.side.value,
        quantity=order.quantity,
    )


def trade_handler(listener: FillListener | None = None) -> Handler:
    """The EXECUTE_TRADE handler; ``listener`` observes the fill (tests kill workers there)."""

    def execute_trade(
        params: ExecuteTradeParams, inputs: Inputs, ctx: HandlerContext
    ) -> TradeResult:
        # The task guard checked the type already; an effect on money checks again.
        if not ctx.runtime.permissions.allows(ctx.user_id, TaskType.EXECUTE_TRADE.value):
            raise PermissionDeniedError(f"user {ctx.user_id} may not trade")
        load_portfolio(ctx, params.portfolio_id)
        broker = ctx.runtime.portfolio.broker(listener)
        config = broker.config
        approved = ctx.approval.get("notional") if ctx.approval else None
        ceiling = (
            approved * (1 + APPROVAL_TOLERANCE)
            if isinstance(approved, int | float)
            else config.approval_notional
        )
        order = Order(
            portfolio_id=params.portfolio_id,
            user_id=ctx.user_id,
            symbol=params.symbol,
            side=params.side,
            quantity=params.quantity,
            idempotency_key=ctx.effect_key,
            run_id=ctx.run_id,
            task_id=ctx.task_id,
            approved_by_person=ctx.approved,
            # The price is read again when filling: the ceiling holds at that moment too.
            max_notional=ceiling,
        )
        try:
            if broker.replay(order) is None:
                # Validate first: a person is never asked to approve an order that the
                # portfolio's rules would refuse anyway.
                quote = broker.validate(order)
                if quote.notional > ceiling:
                    _gate(ctx, order, quote.notional, config.approval_notional)
            fill = broker.execute(order, now=utcnow())
        except TradeRejected as exc:
            if exc.code == "needs_approval":
                # The price moved past the ceiling between the check and the fill.
                _gate(ctx, order, broker.quote(order).notional, config.approval_notional)
            ctx.audit(AuditAction.TRADE_REFUSED, code=exc.code, reason=str(exc))
            raise InvalidInputError(str(exc), code=exc.code) from exc
        publish_portfolio_context(ctx, params.portfolio_id)
        return TradeResult(
            trade=fill.trade,
            replayed=fill.replayed,
            cash_after=fill.trade.cash_after,
            position_after=fill.trade.position_after,
            approved_by_person=ctx.approved,
        )

    return execute_trade


#: The registered EXECUTE_TRADE handler (no listener).
execute_trade = trade_handler()


def reverse_trade(params: ExecuteTradeParams, output: dict[str, Any], ctx: HandlerContext) -> None:
    """Compensation for rollback: reversing trades that undo this task's live fills exactly.

    The fills are found in the database by (run, task), not only in the output: an output
    that expired from the live context must not leave a fill unreversed.
    """
    broker = ctx.runtime.portfolio.broker()
    trade_ids = {t.id for t in broker.live_fills(ctx.run_id, ctx.task_id)}
    if output:
        trade_ids.add(TradeResult.model_validate(output).trade.id)
    for trade_id in sorted(trade_ids):
        broker.reverse(
            trade_id, user_id=ctx.user_id, now=utcnow(), note=f"rollback of run {ctx.run_id}"
        )
