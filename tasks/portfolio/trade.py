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
from orchestrator.portfolio.rules import TradeRejected, needs_approval
from tasks.approval import ApprovalRequired
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, PermissionDeniedError
from tasks.portfolio.common import audit, load_portfolio
from tasks.portfolio.context import publish_portfolio_context
from tasks.registry import Handler, Inputs


class TradeResult(StrictModel):
    trade: Trade
    #: True when this execution found its fill already made (retry or redelivery).
    replayed: bool
    cash_after: float
    position_after: float
    approved_by_person: bool


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
        order = Order(
            portfolio_id=params.portfolio_id,
            user_id=ctx.user_id,
            symbol=params.symbol,
            side=params.side,
            quantity=params.quantity,
            idempotency_key=ctx.effect_key,
            run_id=ctx.run_id,
            task_id=ctx.task_id,
        )
        try:
            if broker.find(order.idempotency_key) is None:
                quote = broker.quote(order)
                if needs_approval(quote, broker.config) and not ctx.approved:
                    raise ApprovalRequired(
                        f"{order.side.value} {order.quantity:g} {order.symbol} for about "
                        f"{quote.notional:,.2f} is above the approval limit of "
                        f"{broker.config.approval_notional:,.2f}",
                        notional=quote.notional,
                        limit=broker.config.approval_notional,
                    )
            fill = broker.execute(order, now=utcnow())
        except TradeRejected as exc:
            audit(ctx, AuditAction.TRADE_REFUSED, {"code": exc.code, "reason": str(exc)})
            raise InvalidInputError(str(exc), code=exc.code) from exc
        if not fill.replayed:
            audit(
                ctx,
                AuditAction.TRADE_FILLED,
                {
                    "trade_id": fill.trade.id,
                    "portfolio_id": fill.trade.portfolio_id,
                    "symbol": fill.trade.symbol,
                    "side": fill.trade.side.value,
                    "quantity": fill.trade.quantity,
                    "fill_price": fill.trade.fill_price,
                    "notional": fill.trade.notional,
                    "fee": fill.trade.fee,
                    "approved_by_person": ctx.approved,
                },
            )
        publish_portfolio_context(ctx, params.portfolio_id)
        return TradeResult(
            trade=fill.trade,
            replayed=fill.replayed,
            cash_after=fill.cash_after,
            position_after=fill.position_after,
            approved_by_person=ctx.approved,
        )

    return execute_trade


#: The registered EXECUTE_TRADE handler (no listener).
execute_trade = trade_handler()


def reverse_trade(params: ExecuteTradeParams, output: dict[str, Any], ctx: HandlerContext) -> None:
    """Compensation for rollback: a reversing trade that undoes the fill exactly."""
    if not output:
        return  # the trade never filled: nothing to undo
    result = TradeResult.model_validate(output)
    reversal = ctx.runtime.portfolio.broker().reverse(
        result.trade.id, user_id=ctx.user_id, now=utcnow(), note=f"rollback of run {ctx.run_id}"
    )
    if not reversal.replayed:
        audit(
            ctx,
            AuditAction.TRADE_REVERSED,
            {"trade_id": result.trade.id, "reversal_trade_id": reversal.trade.id},
        )
