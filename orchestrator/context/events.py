"""Events of a run's stream, as ``watch`` and ``wait`` read them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from orchestrator.models.base import StrictModel


class EventType(StrEnum):
    RUN_SUBMITTED = "run_submitted"
    RUN_STARTED = "run_started"
    TASK_STARTED = "task_started"
    TASK_FINISHED = "task_finished"
    TASK_STATE = "task_state"
    CANCEL_REQUESTED = "cancel_requested"
    RUN_PAUSED = "run_paused"
    RUN_RESUMED = "run_resumed"
    RUN_FINISHED = "run_finished"


class RunEvent(StrictModel):
    id: str = ""
    type: EventType
    at: datetime
    task_id: str | None = None
    state: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)

    def to_fields(self) -> dict[str, str]:
        return {"json": self.model_dump_json(exclude={"id"})}

    @classmethod
    def from_fields(cls, event_id: str, fields: dict[str, str]) -> RunEvent:
        event = cls.model_validate_json(fields["json"])
        return event.model_copy(update={"id": event_id})
