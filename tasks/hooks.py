"""Recovery hooks a module registers for its task types: fallbacks, alternatives, compensations.

Recovery knows no concrete module; modules tell it, through these hooks, how their task
types degrade, what they can do instead, and how their side effects are undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from orchestrator.models import AITask, TaskError
from tasks.context import HandlerContext

#: Same shape as a handler; its output is marked degraded.
Fallback = Callable[[Any, dict[str, Any], HandlerContext], BaseModel]
#: Undo a completed task's effect: (params, its output as JSON data, ctx).
Compensation = Callable[[Any, dict[str, Any], HandlerContext], None]


@dataclass(frozen=True)
class AlternativePlan:
    """Subtasks that run in the failed task's place, and how their outputs merge into one."""

    subtasks: list[AITask]
    #: Outputs of the subtasks by subtask id -> the failed task's output.
    merge: Callable[[dict[str, Any]], BaseModel]


#: (the failed task, its validated params, the error) -> a plan, or None if nothing fits.
Alternative = Callable[[AITask, Any, TaskError], AlternativePlan | None]


class RecoveryHooks:
    """Per-registry recovery hooks; empty by default."""

    def __init__(self) -> None:
        self._fallbacks: dict[str, Fallback] = {}
        self._alternatives: dict[str, Alternative] = {}
        self._compensations: dict[str, Compensation] = {}

    def register_fallback(self, task_type: str, fallback: Fallback) -> None:
        self._fallbacks[str(task_type)] = fallback

    def register_alternative(self, task_type: str, alternative: Alternative) -> None:
        self._alternatives[str(task_type)] = alternative

    def register_compensation(self, task_type: str, compensation: Compensation) -> None:
        self._compensations[str(task_type)] = compensation

    def fallback_for(self, task_type: str) -> Fallback | None:
        return self._fallbacks.get(str(task_type))

    def alternative_for(self, task_type: str) -> Alternative | None:
        return self._alternatives.get(str(task_type))

    def compensation_for(self, task_type: str) -> Compensation | None:
        return self._compensations.get(str(task_type))
