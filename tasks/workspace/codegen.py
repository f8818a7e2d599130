"""Pure rendering of workspace projects and generated code from Jinja2 templates.

CREATE_PROJECT and GENERATE_CODE handlers call these functions and write what they return;
nothing here touches the file system except to read the templates shipped next to this
module (``templates/``). Output is a mapping of relative POSIX paths to file text, and is
deterministic: the same inputs always give byte-identical files (no clocks, no randomness,
sorted iteration).

This module is the public API: it validates the request and dispatches to the modules
that own each part:

* :mod:`~tasks.workspace.codegen_env`: the Jinja2 environment, its encoding filters and
  the template layout;
* :mod:`~tasks.workspace.codegen_inputs`: request parameters and upstream outputs;
* :mod:`~tasks.workspace.codegen_bot`: the ``trading-bot`` code type and sample data;
* :mod:`~tasks.workspace.codegen_report`: the ``report_generator`` code type;
* :mod:`~tasks.workspace.codegen_docs`: the ``documentation`` code type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tasks.errors import InvalidInputError
from tasks.workspace.codegen_bot import render_bot
from tasks.workspace.codegen_docs import DOCUMENT_TYPES, render_docs
from tasks.workspace.codegen_env import Code, RenderedFiles, base_values, render_layers
from tasks.workspace.codegen_inputs import check_slug, split_dependencies, unknown
from tasks.workspace.codegen_report import REPORT_FEATURES, render_report

#: Each template's layers, later layers overriding earlier ones path by path.
_PROJECT_LAYERS: dict[str, tuple[str, ...]] = {
    "python-project": ("projects/_python", "projects/python-project"),
    "python-trading-bot": ("projects/_python", "projects/python-trading-bot"),
    "report_generator": ("projects/_python", "projects/report_generator"),
    "nodejs-trading-bot": ("projects/nodejs-trading-bot",),
}

#: What the Python templates already provide for development (the ``dev`` extra).
_DEV_TOOLS = frozenset({"pytest"})

_CODE_TYPES: tuple[str, ...] = ("documentation", "report_generator", "trading-bot")


# --- projects --------------------------------------------------------------------------------


def available_templates() -> list[str]:
    """Names of the project templates CREATE_PROJECT can use, sorted."""
    return sorted(_PROJECT_LAYERS)


def render_project(
    template: str,
    *,
    name: str,
    dependencies: Sequence[str] = (),
    context: Mapping[str, Any] | None = None,
) -> RenderedFiles:
    """Render a new project from ``template``.

    ``name`` is the project's slug; its Python package replaces dashes with underscores.
    ``dependencies`` are recorded, never installed: valid distribution names are listed in
    the README (and, for Python, as a comment in pyproject.toml) because the planner asks
    for packages that do not exist (``trading-api``), and a generated project must install
    and test offline with the standard library and pytest only. ``context`` entries (the
    goal, the run id) are shown in the README, escaped.

    Raises InvalidInputError for an unknown template or a name that is not a slug.
    """
    if template not in _PROJECT_LAYERS:
        raise unknown("template", template, available_templates())
    check_slug(name, "name")
    valid, other = split_dependencies(dependencies)
    values = {
        **base_values(name),
        "template": Code(template),
        # pytest is already the dev extra of every Python template: not "requested" again.
        "requested_dependencies": [Code(d) for d in valid if d.lower() not in _DEV_TOOLS],
        "ignored_dependencies": other,
        "context_items": [(str(k), (context or {})[k]) for k in sorted(context or {}, key=str)],
    }
    return render_layers(_PROJECT_LAYERS[template], values, pkg=str(values["pkg"]))


# --- code ------------------------------------------------------------------------------------


def available_code_types() -> list[str]:
    """Names of the code types GENERATE_CODE can render, sorted."""
    return list(_CODE_TYPES)


def render_code(
    code_type: str,
    *,
    project_name: str,
    file_type: str | None = None,
    features: Sequence[str] = (),
    document_types: Sequence[str] = (),
    upstream: Mapping[str, Any] | None = None,
    structure_task: str | None = None,
) -> RenderedFiles:
    """Render the files of ``code_type`` for the project ``project_name`` (its slug).

    ``upstream`` maps upstream task ids to their outputs. Code types:

    * ``trading-bot`` (file_type ``python`` default, ``javascript``; ``typescript`` gets the
      JavaScript bot): strategy, backtest, config derived from an upstream portfolio
      analysis (documented defaults without one), a sample price fixture and tests.
    * ``report_generator`` (file_type ``python`` or None; features from
      :data:`REPORT_FEATURES`, none meaning a Markdown report only): a report package
      reading a portfolio-analysis JSON file, with its CLI, an example input and tests.
      An upstream ``sections`` list (a report structure) orders the report;
      ``structure_task`` names the upstream task whose structure is read (None: the first).
    * ``documentation`` (file_type None or ``markdown``; document_types from
      :data:`DOCUMENT_TYPES`, none meaning all): README, API reference and user guide for
      the code the upstream GENERATE_CODE outputs (``files: list[str]``) describe.

    Raises InvalidInputError for an unknown code type, file type, feature or document
    type, for parameters the code type does not take, and for a malformed analysis.
    """
    if code_type not in _CODE_TYPES:
        raise unknown("code_type", code_type, available_code_types())
    check_slug(project_name, "project_name")
    if code_type != "report_generator" and features:
        raise InvalidInputError(
            f"code type {code_type} takes no features (got {', '.join(features)}); "
            f"features apply to report_generator: {', '.join(REPORT_FEATURES)}",
            features=list(features),
        )
    if code_type != "documentation" and document_types:
        raise InvalidInputError(
            f"code type {code_type} takes no document_types; they apply to documentation",
            document_types=list(document_types),
        )
    if code_type == "trading-bot":
        return render_bot(project_name, file_type, upstream)
    if code_type == "report_generator":
        return render_report(project_name, file_type, features, upstream, structure_task)
    return render_docs(project_name, file_type, document_types, upstream)


__all__ = [
    "DOCUMENT_TYPES",
    "REPORT_FEATURES",
    "RenderedFiles",
    "available_code_types",
    "available_templates",
    "render_code",
    "render_project",
]
