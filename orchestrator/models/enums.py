"""Enumerations of the specification, translated to Python."""

from __future__ import annotations

from enum import StrEnum


class Module(StrEnum):
    """The four modules of the execution layer; each has its own queue and worker pool."""

    WORKSPACE = "workspace"
    PORTFOLIO = "portfolio"
    AI_ASSISTANT = "ai-assistant"
    SYSTEM = "system"

    @property
    def queue(self) -> str:
        """Celery queue name (``ai-assistant`` is served by the ``assistant`` queue)."""
        return "assistant" if self is Module.AI_ASSISTANT else self.value


class TaskType(StrEnum):
    """The 16 task types of the specification."""

    CREATE_PROJECT = "create_project"
    GENERATE_CODE = "generate_code"
    RUN_TERMINAL_COMMAND = "run_terminal_command"
    GIT_OPERATION = "git_operation"
    FILE_OPERATION = "file_operation"
    ANALYZE_PORTFOLIO = "analyze_portfolio"
    EXECUTE_TRADE = "execute_trade"
    GENERATE_REPORT = "generate_report"
    UPDATE_ALERTS = "update_alerts"
    RESEARCH_TOPIC = "research_topic"
    ANALYZE_CONTEXT = "analyze_context"
    GENERATE_INSIGHTS = "generate_insights"
    UPDATE_KNOWLEDGE = "update_knowledge"
    VALIDATE_DATA = "validate_data"
    SYNC_SERVICES = "sync_services"
    BACKUP_STATE = "backup_state"
    MONITOR_HEALTH = "monitor_health"


#: The module each built-in task type belongs to.
MODULE_OF: dict[TaskType, Module] = {
    TaskType.CREATE_PROJECT: Module.WORKSPACE,
    TaskType.GENERATE_CODE: Module.WORKSPACE,
    TaskType.RUN_TERMINAL_COMMAND: Module.WORKSPACE,
    TaskType.GIT_OPERATION: Module.WORKSPACE,
    TaskType.FILE_OPERATION: Module.WORKSPACE,
    TaskType.ANALYZE_PORTFOLIO: Module.PORTFOLIO,
    TaskType.EXECUTE_TRADE: Module.PORTFOLIO,
    TaskType.GENERATE_REPORT: Module.PORTFOLIO,
    TaskType.UPDATE_ALERTS: Module.PORTFOLIO,
    TaskType.RESEARCH_TOPIC: Module.AI_ASSISTANT,
    TaskType.ANALYZE_CONTEXT: Module.AI_ASSISTANT,
    TaskType.GENERATE_INSIGHTS: Module.AI_ASSISTANT,
    TaskType.UPDATE_KNOWLEDGE: Module.AI_ASSISTANT,
    TaskType.VALIDATE_DATA: Module.SYSTEM,
    TaskType.SYNC_SERVICES: Module.SYSTEM,
    TaskType.BACKUP_STATE: Module.SYSTEM,
    TaskType.MONITOR_HEALTH: Module.SYSTEM,
}


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class DependencyType(StrEnum):
    """How a task depends on another.

    ``data_flow``: the upstream output is passed as input. ``prerequisite``: ordering
    only. ``validation``: the downstream task checks the upstream result (ordering, and
    the upstream output is passed too so it can be checked).
    """

    DATA_FLOW = "data_flow"
    PREREQUISITE = "prerequisite"
    VALIDATION = "validation"


class ErrorType(StrEnum):
    """The 14 error types of the specification."""

    TASK_TIMEOUT = "task_timeout"
    RESOURCE_UNAVAILABLE = "resource_unavailable"
    DEPENDENCY_FAILURE = "dependency_failure"
    VALIDATION_FAILURE = "validation_failure"
    SERVICE_DOWN = "service_down"
    NETWORK_ERROR = "network_error"
    PERMISSION_DENIED = "permission_denied"
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    CONTEXT_MISMATCH = "context_mismatch"
    DATA_CORRUPTION = "data_corruption"
    STATE_INCONSISTENCY = "state_inconsistency"
    INVALID_INPUT = "invalid_input"
    CONFLICTING_GOALS = "conflicting_goals"
    RESOURCE_CONFLICT = "resource_conflict"


class RecoveryType(StrEnum):
    RETRY_WITH_BACKOFF = "retry_with_backoff"
    ALTERNATIVE_APPROACH = "alternative_approach"
    GRACEFUL_DEGRADATION = "graceful_degradation"
    CONTEXT_REPAIR = "context_repair"
    ROLLBACK_AND_RESTART = "rollback_and_restart"
    ESCALATE_TO_USER = "escalate_to_user"
    SKIP_AND_CONTINUE = "skip_and_continue"


class ResultStatus(StrEnum):
    """TaskResult.status of the specification."""

    SUCCESS = "success"
    WARNING = "warning"
    INFO = "info"


class FailureStatus(StrEnum):
    """TaskFailure.final_status of the specification."""

    RECOVERED = "recovered"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    """ExecutionResult.status of the specification."""

    COMPLETED = "completed"
    FAILED = "failed"
    PARTIAL = "partial"
    CANCELLED = "cancelled"


class RunState(StrEnum):
    """Where a run is now (ExecutionStatus.state); the last four are final."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (RunState.PENDING, RunState.RUNNING, RunState.PAUSED)


class TaskState(StrEnum):
    """Where one task of a run is now."""

    PENDING = "pending"
    RUNNING = "running"
    #: Failed; a retry is scheduled (countdown) by the recovery layer.
    RETRYING = "retrying"
    #: Waiting for a person (approval) or for the run to resume; holds no worker slot.
    PARKED = "parked"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (
            TaskState.SUCCEEDED,
            TaskState.FAILED,
            TaskState.SKIPPED,
            TaskState.CANCELLED,
        )
