"""UPDATE_ALERTS: add a portfolio's alert rules and evaluate them against the latest prices.

Celery beat runs the same evaluation for every portfolio (``evaluate_all_alerts``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from orchestrator.context import utcnow
from orchestrator.history import AuditAction, AuditEntry
from orchestrator.models.base import StrictModel
from orchestrator.models.params import UpdateAlertsParams
from orchestrator.portfolio.alerts import AlertsReport, evaluate_portfolio
from tasks.context import HandlerContext
from tasks.portfolio.common import load_portfolio
from tasks.portfolio.context import publish_portfolio_context
from tasks.registry import Inputs

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

log = logging.getLogger(__name__)


class AlertsOutput(StrictModel):
    portfolio_id: str
    rules_added: int
    rules_total: int
    report: AlertsReport | None


def update_alerts(params: UpdateAlertsParams, inputs: Inputs, ctx: HandlerContext) -> AlertsOutput:
    portfolio = load_portfolio(ctx, params.portfolio_id)
    services = ctx.runtime.portfolio
    added = services.alerts.upsert_rules(portfolio.id, params.rules, now=utcnow())
    report = None
    if params.evaluate:
        report = evaluate_portfolio(
            services.alerts, services.market, portfolio, now=utcnow(), run_id=ctx.run_id
        )
        _audit_new(ctx.runtime, ctx.user_id, report, run_id=ctx.run_id)
    publish_portfolio_context(ctx, portfolio.id)
    return AlertsOutput(
        portfolio_id=portfolio.id,
        rules_added=added,
        rules_total=len(services.alerts.rules(portfolio.id)),
        report=report,
    )


def evaluate_all_alerts(runtime: Runtime) -> list[AlertsReport]:
    """Evaluate every portfolio's alerts (Celery beat's periodic job).

    One portfolio that fails (deleted since it was listed, bad data, a database hiccup)
    is logged and skipped: the others are still evaluated. Returns the reports of those
    that were.
    """
    services = runtime.portfolio
    reports = []
    for portfolio_id, user_id in services.store.all_ids():
        try:
            portfolio = services.store.get(portfolio_id, user_id)
            report = evaluate_portfolio(services.alerts, services.market, portfolio, now=utcnow())
            _audit_new(runtime, user_id, report, run_id=None)
        except Exception:  # one portfolio must not stop the others (logged)
            log.exception("alerts of portfolio %s could not be evaluated", portfolio_id)
            continue
        reports.append(report)
    return reports


def _audit_new(runtime: Runtime, user_id: str, report: AlertsReport, *, run_id: str | None) -> None:
    entries = [
        AuditEntry(
            user_id=user_id,
            action=AuditAction.ALERT_TRIGGERED,
            run_id=run_id,
            detail={"portfolio_id": report.portfolio_id, **alert.model_dump(mode="json")},
        )
        for alert in report.triggered
        if alert.new
    ]
    if entries:
        runtime.history.record_audit(entries)
