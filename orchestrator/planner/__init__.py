"""The planner: a goal in plain words becomes a validated TaskChain.

``TemplatePlanner`` matches the goal to a YAML workflow template (``config/workflows``)
and fills it from the goal's context; an LLM planner will implement the same
``TaskPlanner`` protocol later.
"""

from orchestrator.planner.base import (
    CONTEXT_FLAGS,
    GoalAnalysis,
    MissingGoalContext,
    NoMatchingWorkflow,
    PlanConstraints,
    TaskPlanner,
)
from orchestrator.planner.estimates import (
    LearnedEstimate,
    confidence_score,
    estimated_duration_ms,
)
from orchestrator.planner.intent import normalise, rank_workflows
from orchestrator.planner.template_planner import TemplatePlanner, default_workflows_dir
from orchestrator.planner.workflows import (
    Workflow,
    WorkflowLoadError,
    WorkflowTemplate,
    load_workflows,
)

__all__ = [
    "CONTEXT_FLAGS",
    "GoalAnalysis",
    "LearnedEstimate",
    "MissingGoalContext",
    "NoMatchingWorkflow",
    "PlanConstraints",
    "TaskPlanner",
    "TemplatePlanner",
    "Workflow",
    "WorkflowLoadError",
    "WorkflowTemplate",
    "confidence_score",
    "default_workflows_dir",
    "estimated_duration_ms",
    "load_workflows",
    "normalise",
    "rank_workflows",
]
