"""The portfolio module's task types and recovery hooks.

Handlers are registered lazily (``tasks.registry.lazy``): they need pandas and matplotlib,
which a CLI command building the registry should not pay for.
"""

from __future__ import annotations

from orchestrator.models import Module, TaskType
from orchestrator.models.params import (
    AnalyzePortfolioParams,
    ExecuteTradeParams,
    GenerateReportParams,
    UpdateAlertsParams,
)
from tasks.registry import TaskRegistry, lazy


def register_portfolio(registry: TaskRegistry) -> None:
    """Register (replacing) the portfolio handlers and the trade's compensation."""
    for task_type, params, handler in (
        (
            TaskType.ANALYZE_PORTFOLIO,
            AnalyzePortfolioParams,
            "tasks.portfolio.analyze:analyze_portfolio",
        ),
        (TaskType.EXECUTE_TRADE, ExecuteTradeParams, "tasks.portfolio.trade:execute_trade"),
        (
            TaskType.GENERATE_REPORT,
            GenerateReportParams,
            "tasks.portfolio.report_task:generate_report",
        ),
        (TaskType.UPDATE_ALERTS, UpdateAlertsParams, "tasks.portfolio.alerts_task:update_alerts"),
    ):
        spec = registry.spec_for(task_type)
        registry.register(
            task_type,
            module=Module.PORTFOLIO,
            params=params,
            handler=lazy(handler),
            expected_duration_ms=spec.expected_duration_ms if spec else 2_000,
            base_confidence=spec.base_confidence if spec else 0.9,
            replace=True,
        )
    registry.hooks.register_compensation(
        TaskType.EXECUTE_TRADE, lazy("tasks.portfolio.trade:reverse_trade")
    )
