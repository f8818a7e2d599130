"""Whether a task may start: the run's state, its dependencies, its user's permission.

Pure functions over the run's live state, so the skip rules are tested without a broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.models import (
    AITask,
    ConditionKind,
    DependencyType,
    ErrorType,
    TaskChain,
    TaskState,
    TaskStatus,
)


class Verdict(StrEnum):
    RUN = "run"
    SKIP = "skip"
    CANCEL = "cancel"
    REFUSE = "refuse"


@dataclass(frozen=True)
class StartDecision:
    verdict: Verdict
    reason: str = ""
    error_type: ErrorType | None = None


RUN = StartDecision(Verdict.RUN)


def parents_of(chain: TaskChain, task_id: str) -> list[str]:
    return [d.from_task for d in chain.dependencies if d.to_task == task_id]


def input_sources(chain: TaskChain, task_id: str) -> list[str]:
    """Upstream tasks whose outputs this task receives (data_flow and validation edges)."""
    return [
        d.from_task
        for d in chain.dependencies
        if d.to_task == task_id and d.type in (DependencyType.DATA_FLOW, DependencyType.VALIDATION)
    ]


def decide_start(
    task: AITask,
    chain: TaskChain,
    states: Mapping[str, TaskStatus],
    *,
    cancel_requested: bool,
    abort_reason: str | None,
    permitted: bool,
    user_id: str,
) -> StartDecision:
    """Apply the run semantics of the specification before a task runs.

    In order: a cancelled run starts nothing; an aborted run skips the rest; a task whose
    upstream failed, was skipped or cancelled is skipped (unrelated branches still run);
    an unmet precondition skips; the user must be permitted to run the task's type.
    """
    if cancel_requested:
        return StartDecision(
            Verdict.CANCEL, "run cancelled before this task started", ErrorType.DEPENDENCY_FAILURE
        )
    if abort_reason:
        return StartDecision(
            Verdict.SKIP, f"run aborted: {abort_reason}", ErrorType.DEPENDENCY_FAILURE
        )
    for parent in parents_of(chain, task.id):
        state = states[parent].state if parent in states else TaskState.PENDING
        if state is not TaskState.SUCCEEDED:
            verb = {
                TaskState.FAILED: "failed",
                TaskState.SKIPPED: "was skipped",
                TaskState.CANCELLED: "was cancelled",
            }.get(state, f"is {state.value}")
            return StartDecision(
                Verdict.SKIP, f"upstream task {parent} {verb}", ErrorType.DEPENDENCY_FAILURE
            )
    for condition in task.preconditions:
        if condition.kind is ConditionKind.OUTPUT_PRESENT and condition.task_id is not None:
            upstream = states.get(condition.task_id)
            if upstream is None or upstream.state is not TaskState.SUCCEEDED:
                return StartDecision(
                    Verdict.SKIP,
                    f"precondition not met: {condition.description or 'output of'} "
                    f"{condition.task_id} is missing",
                    ErrorType.DEPENDENCY_FAILURE,
                )
    if not permitted:
        return StartDecision(
            Verdict.REFUSE,
            f"user {user_id!r} may not run task type {task.type}",
            ErrorType.PERMISSION_DENIED,
        )
    return RUN


def aborts_run(task: AITask) -> bool:
    """A failed task with a critical precondition aborts the rest of the run."""
    return any(c.critical for c in task.preconditions)
