"""The interface every recovery strategy implements, and what it is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from pydantic import BaseModel

from orchestrator.models import AITask, RecoveryType, TaskChain, TaskError
from tasks.control import Invocation, ParkKind, TaskControl

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime
    from recovery.analysis import ErrorAnalysis
    from recovery.policy import StrategyOption
    from tasks.registry import TaskSpec


@dataclass
class FailureContext:
    """A failed task as recovery sees it."""

    runtime: Runtime
    chain: TaskChain
    task: AITask
    spec: TaskSpec
    run_id: str
    user_id: str
    attempt: int
    error: TaskError
    #: Validated parameters; None when the parameters themselves were invalid.
    params: BaseModel | None
    inputs: dict[str, Any]
    invocation: Invocation
    control: TaskControl
    analysis: ErrorAnalysis
    #: Strategies already applied to this task in this run (each non-retry one at most once).
    tried: set[RecoveryType] = field(default_factory=set)


def park_for_approval(ctx: FailureContext, reason: str, invocation: Invocation) -> NoReturn:
    """Park the task for a person, keeping the error so an approved strategy can use it."""
    ctx.control.park(kind=ParkKind.APPROVAL, reason=reason, invocation=invocation, error=ctx.error)


class OutcomeKind(StrEnum):
    #: The task has an output after all (possibly degraded).
    RECOVERED = "recovered"
    #: The task is skipped; the run goes on by the skip rules.
    SKIPPED = "skipped"
    #: The strategy could not help here; the next one is tried.
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Outcome:
    """What a strategy did when it returns (retrying, replacing and parking never return)."""

    kind: OutcomeKind
    detail: str = ""
    output_json: str | None = None
    degraded: bool = False


class Strategy:
    """One RecoveryType, applied with Celery's own primitives through ``ctx.control``."""

    type: ClassVar[RecoveryType]

    def available(self, ctx: FailureContext) -> bool:
        """Whether this strategy can be applied to this failure at all (default: yes)."""
        return True

    def apply(self, ctx: FailureContext, option: StrategyOption, recovery_id: int) -> Outcome:
        """Apply the strategy; may end the execution through ``ctx.control`` instead."""
        raise NotImplementedError
