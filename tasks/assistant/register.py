"""Register the ai-assistant module's handlers with a task registry.

Handlers are registered lazily (``tasks.registry.lazy``): research and insights need
pandas, which a CLI command building the registry should not pay for.
"""

from __future__ import annotations

from orchestrator.models import Module, TaskType
from tasks.registry import TaskRegistry

HANDLERS: dict[TaskType, str] = {
    TaskType.RESEARCH_TOPIC: "tasks.assistant.research_topic:research_topic",
    TaskType.ANALYZE_CONTEXT: "tasks.assistant.analyze_context:analyze_context",
    TaskType.GENERATE_INSIGHTS: "tasks.assistant.generate_insights:generate_insights",
    TaskType.UPDATE_KNOWLEDGE: "tasks.assistant.update_knowledge:update_knowledge",
}


def register_assistant(registry: TaskRegistry) -> None:
    """Install (replacing) the ai-assistant handlers; they have no compensations."""
    registry.install_module(Module.AI_ASSISTANT, HANDLERS, {})
