"""Workflow templates (YAML, one file per workflow) and their loader.

A template is a goal's plan with holes: parameters and descriptions may hold placeholders
filled from the goal when planning:

- ``{portfolio_id}``, ``{project_id}``, ``{current_module}``, ``{goal_id}``: the goal's
  context; ``{pref.NAME}``: a user preference; ``{var.NAME}``: a template variable.
- ``{name|default}`` gives a default; ``{name?}`` makes the value optional (a parameter
  or list item whose whole value is an absent optional placeholder is left out).
- A placeholder without default or ``?`` is required: planning a goal that lacks it fails
  with :class:`~orchestrator.planner.base.MissingGoalContext`.

A value that is exactly one placeholder keeps the preference's type (a list stays a list);
a placeholder inside a longer string is formatted into it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import Field, StringConstraints, ValidationError, model_validator

from orchestrator.models import (
    Condition,
    FallbackStrategy,
    Module,
    RetryPolicy,
    TaskDependency,
)
from orchestrator.models.base import StrictModel
from orchestrator.planner.base import MissingGoalContext

if TYPE_CHECKING:
    from orchestrator.models import UserGoal

WorkflowId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Phrase = Annotated[str, StringConstraints(min_length=1, max_length=200)]
PreferenceValue = str | int | float | bool | list[str]

PLACEHOLDER_RE = re.compile(
    r"\{(?P<name>(?:pref|var)\.[A-Za-z0-9_]+|portfolio_id|project_id|current_module|goal_id)"
    r"(?P<optional>\?)?(?:\|(?P<default>[^{}]*))?\}"
)
#: Anything that looks like a placeholder, to reject misspelt ones at load time.
_BRACED_RE = re.compile(r"\{[^{}]*\}")
_OMIT = object()


class WorkflowLoadError(ValueError):
    """A workflow file could not be read or is not a valid template; names the file."""


class ConceptGroup(StrictModel):
    """One idea a goal must express: any of ``terms`` (synonyms or phrases) expresses it."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    terms: list[Phrase] = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, le=10)
    required: bool = False


class IntentSpec(StrictModel):
    """How a goal's words are matched to this workflow (see ``planner.intent``)."""

    concepts: list[ConceptGroup] = Field(min_length=1)
    #: Any of these phrases in the goal rules this workflow out.
    exclude: list[Phrase] = Field(default_factory=list)
    threshold: float = Field(default=0.6, gt=0, le=1)


class VariableCase(StrictModel):
    """Sets variables when ANY listed preference has one of the listed values."""

    when: dict[str, list[str]] = Field(min_length=1)
    set: dict[str, PreferenceValue] = Field(min_length=1)


class TaskTemplate(StrictModel):
    """An :class:`~orchestrator.models.AITask` with placeholders."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")]
    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    description: str = Field(default="", max_length=1000)
    module: Module
    parameters: dict[str, Any] = Field(default_factory=dict)
    preconditions: list[Condition] = Field(default_factory=list)
    postconditions: list[Condition] = Field(default_factory=list)
    #: Default: the task type's ``default_timeout_s`` from the registry.
    timeout_s: float | None = Field(default=None, gt=0, le=24 * 3600)
    retry_policy: RetryPolicy | None = None


class WorkflowTemplate(StrictModel):
    """One plannable workflow: how goals are recognised and the chain they become."""

    id: WorkflowId
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    #: A goal in plain words this workflow plans (shown when nothing matches).
    example: Annotated[str, StringConstraints(min_length=3, max_length=500)]
    #: Further phrasings, used by tests and the latency benchmark.
    examples: list[Phrase] = Field(default_factory=list)
    description: str = ""
    intent: IntentSpec
    #: Default values of ``{var.NAME}``; ``cases`` override them, first match wins.
    variables: dict[str, PreferenceValue] = Field(default_factory=dict)
    cases: list[VariableCase] = Field(default_factory=list)
    tasks: list[TaskTemplate] = Field(min_length=1, max_length=100)
    dependencies: list[TaskDependency] = Field(default_factory=list)
    fallback_strategies: list[FallbackStrategy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_structure(self) -> WorkflowTemplate:
        ids = [t.id for t in self.tasks]
        if len(set(ids)) != len(ids):
            raise ValueError("task ids must be unique")
        for dep in self.dependencies:
            for end in (dep.from_task, dep.to_task):
                if end not in ids:
                    raise ValueError(f"dependency names unknown task {end!r}")
        for case in self.cases:
            unknown = set(case.set) - set(self.variables)
            if unknown:
                raise ValueError(
                    f"case sets undeclared variable(s) {sorted(unknown)}; "
                    f"declare a default under 'variables'"
                )
        for text in _strings(self.tasks_payload()):
            for braced in _BRACED_RE.findall(text):
                match = PLACEHOLDER_RE.fullmatch(braced)
                if match is None:
                    raise ValueError(f"unknown placeholder {braced} in {text!r}")
                name = match.group("name")
                if name.startswith("var.") and name[4:] not in self.variables:
                    raise ValueError(f"placeholder {braced} names an undeclared variable")
        return self

    def tasks_payload(self) -> list[Any]:
        return [[t.description, t.parameters] for t in self.tasks]

    def required_fields(self) -> frozenset[str]:
        """Context fields (and ``pref.NAME``) a goal must supply for this workflow."""
        needed: set[str] = set()
        for text in _strings(self.tasks_payload()):
            for match in PLACEHOLDER_RE.finditer(text):
                if match.group("optional") is None and match.group("default") is None:
                    name = match.group("name")
                    if not name.startswith("var."):
                        needed.add(name)
        return frozenset(needed)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


@dataclass(frozen=True)
class Workflow:
    """A loaded template, the file it came from and the context it requires."""

    template: WorkflowTemplate
    source: Path
    requires: frozenset[str]

    @property
    def id(self) -> str:
        return self.template.id


def load_workflow(path: Path) -> Workflow:
    """Parse one YAML file (``yaml.safe_load``); errors name the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise WorkflowLoadError(f"{path}: cannot read workflow: {exc}") from exc
    if not isinstance(data, dict):
        raise WorkflowLoadError(f"{path}: a workflow file must hold a mapping")
    try:
        template = WorkflowTemplate.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise WorkflowLoadError(f"{path}: invalid workflow: {details}") from exc
    return Workflow(template=template, source=path, requires=template.required_fields())


def load_workflows(directory: Path) -> dict[str, Workflow]:
    """Every ``*.yaml``/``*.yml`` in ``directory``, by workflow id (cached per file state)."""
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise WorkflowLoadError(f"{directory}: workflow directory does not exist")
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    signature = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return dict(_load_cached(directory, signature))


@functools.lru_cache(maxsize=16)
def _load_cached(
    directory: Path, signature: tuple[tuple[str, int, int], ...]
) -> tuple[tuple[str, Workflow], ...]:
    found: dict[str, Workflow] = {}
    for name, _, _ in signature:
        workflow = load_workflow(directory / name)
        if workflow.id in found:
            raise WorkflowLoadError(
                f"{directory / name}: workflow id {workflow.id!r} already defined in "
                f"{found[workflow.id].source}"
            )
        found[workflow.id] = workflow
    if not found:
        raise WorkflowLoadError(f"{directory}: no workflow files (*.yaml)")
    return tuple(found.items())


# --- filling a template from a goal ------------------------------------------------------


def _pref_text(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(item).strip().lower() for item in items]


def build_env(workflow: Workflow, goal: UserGoal) -> dict[str, Any]:
    """Values of every placeholder name for ``goal`` (absent ones are missing or None)."""
    ctx = goal.context
    env: dict[str, Any] = {
        "portfolio_id": ctx.portfolio_id,
        "project_id": ctx.project_id,
        "current_module": ctx.current_module,
        "goal_id": goal.id,
    }
    prefs = ctx.user_preferences
    for name, value in prefs.items():
        env[f"pref.{name}"] = value
    template = workflow.template
    chosen: dict[str, Any] = {}
    for case in template.cases:
        if any(
            name in prefs and set(_pref_text(prefs[name])) & {v.lower() for v in allowed}
            for name, allowed in case.when.items()
        ):
            for var, value in case.set.items():
                chosen.setdefault(var, value)
    for var, default in template.variables.items():
        env[f"var.{var}"] = chosen.get(var, default)
    return env


def render(value: Any, env: Mapping[str, Any], workflow_id: str) -> Any:
    """``value`` with every placeholder filled from ``env`` (see ``planner.workflows``)."""
    if isinstance(value, str):
        if "{" not in value:
            return value
        whole = PLACEHOLDER_RE.fullmatch(value)
        if whole is not None:
            found = env.get(whole.group("name"))
            if found is not None:
                return list(found) if isinstance(found, list) else found
            if whole.group("default") is not None:
                return whole.group("default")
            if whole.group("optional"):
                return _OMIT
            raise MissingGoalContext(workflow_id, [whole.group("name")])

        def fill(match: Any) -> str:
            item = render(match.group(0), env, workflow_id)
            if item is _OMIT:
                return ""
            return ", ".join(map(str, item)) if isinstance(item, list) else str(item)

        return PLACEHOLDER_RE.sub(fill, value)
    if isinstance(value, dict):
        out = {k: render(v, env, workflow_id) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _OMIT}
    if isinstance(value, list):
        return [item for item in (render(v, env, workflow_id) for v in value) if item is not _OMIT]
    return value
