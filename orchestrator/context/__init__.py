"""Live context: run and task state, outputs flowing downstream, an event stream per run."""

from orchestrator.context.events import EventType, RunEvent
from orchestrator.context.keys import RunKeys
from orchestrator.context.store import ContextStore, RunMeta, utcnow

__all__ = ["ContextStore", "EventType", "RunEvent", "RunKeys", "RunMeta", "utcnow"]
