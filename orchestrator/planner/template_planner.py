"""TemplatePlanner: goals in plain words -> workflow templates -> validated TaskChains.

Templates are loaded, checked against the registry and their intents compiled once, when
the planner is built; planning a goal is then matching, filling placeholders and
validation, all in memory (see ``bench/plan_latency.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.dag import ChainValidationError, Graph, validate_chain
from orchestrator.models import (
    AITask,
    GoalContext,
    RetryPolicy,
    RiskLevel,
    TaskChain,
    TaskDependency,
    UserGoal,
)
from orchestrator.planner import estimates
from orchestrator.planner.base import (
    GoalAnalysis,
    MissingGoalContext,
    NoMatchingWorkflow,
    PlanConstraints,
)
from orchestrator.planner.intent import CompiledIntent, IntentMatch, compile_intent, rank_workflows
from orchestrator.planner.optimize import lane_edges, redundant_prerequisites
from orchestrator.planner.workflows import (
    Workflow,
    WorkflowLoadError,
    build_env,
    load_workflows,
    render,
)

if TYPE_CHECKING:
    from tasks.registry import TaskRegistry

_RISK_ORDER = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2}
_SAMPLE_CONTEXT = {"portfolio_id": "sample_portfolio", "project_id": "sample_project"}


def default_workflows_dir() -> Path:
    """``ORCH_WORKFLOWS_DIR`` when set, else ``config/workflows``."""
    from config import CONFIG_DIR
    from config.settings import Settings

    configured = Settings().workflows_dir
    return configured if configured is not None else CONFIG_DIR / "workflows"


class TemplatePlanner:
    """Plans goals from the YAML workflow templates in ``workflows_dir``."""

    def __init__(
        self,
        registry: TaskRegistry,
        workflows_dir: Path | None = None,
        learned: estimates.Learned | None = None,
    ) -> None:
        self.registry = registry
        self.learned = learned
        self.workflows_dir = workflows_dir if workflows_dir is not None else default_workflows_dir()
        self.workflows: dict[str, Workflow] = load_workflows(self.workflows_dir)
        self._intents: tuple[CompiledIntent, ...] = tuple(
            compile_intent(wid, wf.template.intent) for wid, wf in self.workflows.items()
        )
        for workflow in self.workflows.values():
            self._self_check(workflow)

    # --- what can be planned ------------------------------------------------------------

    def examples(self) -> list[tuple[str, str]]:
        """``(workflow id, example goal)`` for every workflow."""
        return [(wid, wf.template.example) for wid, wf in self.workflows.items()]

    def match(self, description: str) -> tuple[Workflow, IntentMatch]:
        """The workflow ``description`` asks for, or :class:`NoMatchingWorkflow`."""
        ranking = rank_workflows(description, self._intents)
        if ranking.best is None:
            reason = (
                f"it could mean any of {', '.join(ranking.ambiguous)}; say which"
                if ranking.ambiguous
                else "no workflow matches"
            )
            raise NoMatchingWorkflow(description, self.examples(), reason)
        return self.workflows[ranking.best.workflow_id], ranking.best

    # --- TaskPlanner ----------------------------------------------------------------------

    def analyze_goal(self, goal: UserGoal) -> GoalAnalysis:
        workflow, match = self.match(goal.description)
        env = build_env(workflow, goal)
        tasks = workflow.template.tasks
        modules = list(dict.fromkeys(t.module.value for t in tasks))
        if len(tasks) <= 2:
            complexity = RiskLevel.LOW
        elif len(tasks) <= 4 and len(modules) <= 2:
            complexity = RiskLevel.MEDIUM
        else:
            complexity = RiskLevel.HIGH
        return GoalAnalysis(
            goal_id=goal.id,
            workflow_id=workflow.id,
            workflow_title=workflow.template.title,
            score=match.score,
            matched_terms=list(match.matched_terms),
            matched_concepts=list(match.matched_concepts),
            modules=modules,
            task_types=list(dict.fromkeys(t.type for t in tasks)),
            entities={name: str(env[name]) for name in ("portfolio_id", "project_id") if env[name]},
            missing_context=sorted(n for n in workflow.requires if env.get(n) is None),
            estimated_complexity=complexity,
        )

    def create_task_chain(self, goal: UserGoal) -> TaskChain:
        workflow, match = self.match(goal.description)
        chain = self._instantiate(workflow, goal)
        return self._finish(chain, match.score)

    def optimize_plan(self, chain: TaskChain, constraints: PlanConstraints) -> TaskChain:
        """Fit ``chain`` into ``constraints``: cap task timeouts at the time budget, cap
        parallelism with lane edges, drop prerequisite edges implied by other paths, drop
        fallbacks riskier than the tolerance, and recompute the estimates."""
        chain = chain.model_copy(deep=True)
        if constraints.max_execution_time_s is not None:
            for task in chain.tasks:
                task.timeout_s = min(task.timeout_s, constraints.max_execution_time_s)
        if constraints.max_parallel_tasks is not None:
            graph = validate_chain(chain, self.registry)
            durations = {
                t.id: estimates.task_duration_ms(str(t.type), self.registry, self.learned)
                for t in chain.tasks
            }
            for src, dst in lane_edges(graph, durations, constraints.max_parallel_tasks):
                chain.dependencies.append(TaskDependency.model_validate({"from": src, "to": dst}))
        graph = validate_chain(chain, self.registry)
        drop = redundant_prerequisites(graph, chain.dependencies)
        chain.dependencies = [d for d in chain.dependencies if (d.from_task, d.to_task) not in drop]
        if constraints.risk_tolerance is not None:
            limit = _RISK_ORDER[constraints.risk_tolerance]
            chain.fallback_strategies = [
                f for f in chain.fallback_strategies if _RISK_ORDER[f.risk_level] <= limit
            ]
        return self._finish(chain, self._match_score(chain.goal))

    def adapt_plan(self, chain: TaskChain, new_context: GoalContext) -> TaskChain:
        """Refill parameters and descriptions from ``new_context``, keeping task ids,
        edges, timeouts and policies. Tasks the template does not know (added by adaptation)
        get the old portfolio/project ids swapped for the new ones."""
        goal = chain.goal.model_copy(update={"context": new_context})
        fresh: dict[str, AITask] = {}
        try:
            workflow, _ = self.match(goal.description)
        except NoMatchingWorkflow:
            workflow = None
        if workflow is not None:
            fresh = {t.id: t for t in self._instantiate(workflow, goal).tasks}
        old = chain.goal.context
        swaps = {
            v: n
            for v, n in (
                (old.portfolio_id, new_context.portfolio_id),
                (old.project_id, new_context.project_id),
            )
            if v is not None and n is not None
        }
        tasks: list[AITask] = []
        for task in chain.tasks:
            new = fresh.get(task.id)
            if new is not None and new.type == task.type:
                update = {"parameters": new.parameters, "description": new.description}
            else:
                update = {
                    "parameters": {
                        k: swaps.get(v, v) if isinstance(v, str) else v
                        for k, v in task.parameters.items()
                    }
                }
            tasks.append(task.model_copy(update=update, deep=True))
        adapted = chain.model_copy(update={"goal": goal, "tasks": tasks}, deep=True)
        return self._finish(adapted, self._match_score(goal))

    # --- internals --------------------------------------------------------------------------

    def _match_score(self, goal: UserGoal) -> float:
        try:
            return self.match(goal.description)[1].score
        except NoMatchingWorkflow:
            return 1.0

    def _instantiate(self, workflow: Workflow, goal: UserGoal) -> TaskChain:
        env = build_env(workflow, goal)
        missing = sorted(name for name in workflow.requires if env.get(name) is None)
        if missing:
            raise MissingGoalContext(workflow.id, missing)
        tasks = []
        for tpl in workflow.template.tasks:
            spec = self.registry.get(tpl.type)
            tasks.append(
                AITask(
                    id=tpl.id,
                    type=tpl.type,
                    description=render(tpl.description, env, workflow.id),
                    module=tpl.module,
                    parameters=render(tpl.parameters, env, workflow.id),
                    preconditions=[c.model_copy() for c in tpl.preconditions],
                    postconditions=[c.model_copy() for c in tpl.postconditions],
                    timeout_s=tpl.timeout_s
                    if tpl.timeout_s is not None
                    else spec.default_timeout_s,
                    retry_policy=(tpl.retry_policy or RetryPolicy()).model_copy(),
                )
            )
        return TaskChain(
            goal=goal,
            tasks=tasks,
            dependencies=[d.model_copy() for d in workflow.template.dependencies],
            fallback_strategies=[f.model_copy() for f in workflow.template.fallback_strategies],
        )

    def _finish(self, chain: TaskChain, match_score: float) -> TaskChain:
        graph: Graph = validate_chain(chain, self.registry)
        chain.estimated_duration_ms = estimates.estimated_duration_ms(
            chain, self.registry, self.learned, graph
        )
        chain.confidence_score = estimates.confidence_score(
            chain, self.registry, match_score, self.learned
        )
        return chain

    def _self_check(self, workflow: Workflow) -> None:
        """Plan the workflow once per preference case, so a broken template fails at load."""
        variants: list[dict[str, str]] = [{}]
        for case in workflow.template.cases:
            name, values = next(iter(case.when.items()))
            variants.append({name: values[0]})
        for prefs in variants:
            goal = UserGoal(
                description=workflow.template.example,
                context=GoalContext(user_preferences=dict(prefs), **_SAMPLE_CONTEXT),
            )
            try:
                self._finish(self._instantiate(workflow, goal), 1.0)
            except (ChainValidationError, MissingGoalContext, KeyError) as exc:
                raise WorkflowLoadError(f"{workflow.source}: {exc}") from exc
