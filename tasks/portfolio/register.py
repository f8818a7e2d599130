"""The portfolio module's task types and recovery hooks.

Handlers are registered lazily (``tasks.registry.lazy``): they need pandas and matplotlib,
which a CLI command building the registry should not pay for.
"""

from __future__ import annotations

from orchestrator.models import Module, TaskType
from tasks.registry import TaskRegistry

HANDLERS: dict[TaskType, str] = {
    TaskType.ANALYZE_PORTFOLIO: "tasks.portfolio.analyze:analyze_portfolio",
    TaskType.EXECUTE_TRADE: "tasks.portfolio.trade:execute_trade",
    TaskType.GENERATE_REPORT: "tasks.portfolio.report_task:generate_report",
    TaskType.UPDATE_ALERTS: "tasks.portfolio.alerts_task:update_alerts",
}

COMPENSATIONS: dict[TaskType, str] = {
    TaskType.EXECUTE_TRADE: "tasks.portfolio.trade:reverse_trade",
}


def register_portfolio(registry: TaskRegistry) -> None:
    """Register (replacing) the portfolio handlers and the trade's compensation."""
    registry.install_module(Module.PORTFOLIO, HANDLERS, COMPENSATIONS)
