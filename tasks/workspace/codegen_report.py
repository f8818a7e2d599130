"""The report generator code type: a report package reading a portfolio-analysis JSON file.

Optional features add modules (charts, visualisation, PDF, export) to the Markdown report.
Upstream report requirements (ANALYZE_CONTEXT ``report_requirements``) set the sections,
the charts and the features they need (added to the task's own); without them, any
upstream ``sections`` list orders the report. The ``report_structure`` reference, when
given, names the one upstream output read for this. The generated ``config.py`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.models.params import ReportSection
from tasks.assistant.requirements_models import ReportRequirements
from tasks.assistant.upstream import find_model
from tasks.errors import InvalidInputError
from tasks.workspace.codegen_bot import sample_analysis
from tasks.workspace.codegen_env import Code, RenderedFiles, base_values, js_literal, render_layers
from tasks.workspace.codegen_inputs import (
    check_analysis,
    check_choices,
    find_analysis,
    find_report_sections,
    unknown,
)

REPORT_FEATURES: tuple[str, ...] = (
    "chart_generation",
    "data_visualization",
    "export",
    "pdf_export",
)
#: Report generator files that only exist with one of the given features.
_FEATURE_FILES: dict[str, frozenset[str]] = {
    "src/__pkg__/svg.py": frozenset({"chart_generation", "data_visualization"}),
    "src/__pkg__/charts.py": frozenset({"chart_generation"}),
    "tests/test_charts.py": frozenset({"chart_generation"}),
    "src/__pkg__/visualization.py": frozenset({"data_visualization"}),
    "tests/test_visualization.py": frozenset({"data_visualization"}),
    "src/__pkg__/pdf.py": frozenset({"pdf_export"}),
    "tests/test_pdf.py": frozenset({"pdf_export"}),
    "src/__pkg__/export.py": frozenset({"export"}),
    "tests/test_export.py": frozenset({"export"}),
}
DEFAULT_REPORT_SECTIONS: tuple[str, ...] = (
    "summary",
    "returns",
    "risk",
    "drawdown",
    "positions",
    "concentration",
    "benchmark",
    "correlation",
    "quality",
)

#: The generator's name for each report section of the requirements; ``conventions`` has
#: no section in the generator (its figures carry no conventions table).
REQUIREMENT_SECTIONS: dict[ReportSection, str | None] = {
    ReportSection.SUMMARY: "summary",
    ReportSection.PERFORMANCE: "returns",
    ReportSection.RISK: "risk",
    ReportSection.DRAWDOWN: "drawdown",
    ReportSection.BENCHMARK: "benchmark",
    ReportSection.ALLOCATION: "concentration",
    ReportSection.POSITIONS: "positions",
    ReportSection.CORRELATION: "correlation",
    ReportSection.DATA_QUALITY: "quality",
    ReportSection.CONVENTIONS: None,
}


def _layout(
    features: Sequence[str], upstream: Mapping[str, Any] | None, structure_task: str | None
) -> tuple[list[str], tuple[str, ...] | None, tuple[str, ...], str | None]:
    """(features, sections or None for the defaults, charts, requirements source).

    With ``structure_task`` (the task the ``report_structure`` reference names) only its
    output is read, and it must be a report structure; else the first upstream one.
    """
    selected = check_choices("feature", features, REPORT_FEATURES)
    scope = dict(upstream or {})
    if structure_task is not None:
        scope = {structure_task: scope.get(structure_task)}
    found = find_model(ReportRequirements, scope, structure_task)
    if found is None:
        listed = find_report_sections(scope)
        if structure_task is not None and not listed:
            raise InvalidInputError(
                f"report_structure names the output of {structure_task}, which has no "
                "report structure (report requirements or a sections list)",
                report_structure=structure_task,
            )
        return selected, tuple(listed) if listed else None, (), None
    task_id, requirements = found
    structure = requirements.structure
    named = (REQUIREMENT_SECTIONS[s] for s in structure.sections)
    sections = tuple(dict.fromkeys(n for n in named if n is not None))
    merged = sorted(set(selected) | set(structure.feature_names))
    return merged, sections or None, tuple(c.value for c in structure.charts), task_id


def render_report(
    project_name: str,
    file_type: str | None,
    features: Sequence[str],
    upstream: Mapping[str, Any] | None,
    structure_task: str | None = None,
) -> RenderedFiles:
    """The ``report_generator`` code type (``project_name`` is an already validated slug).

    ``structure_task``: the upstream task whose output the ``report_structure`` reference
    names (None: the first report structure among ``upstream``).
    """
    if file_type not in (None, "python", "py"):
        raise unknown("file_type", file_type, ["python"])
    selected, sections, charts, requirements = _layout(features, upstream, structure_task)
    analysis = find_analysis(upstream)
    example = dict(analysis) if analysis is not None else sample_analysis()
    check_analysis(example)
    values = {
        **base_values(project_name),
        "features": tuple(selected),
        "task_features": tuple(sorted(set(features))),
        "sections": sections or DEFAULT_REPORT_SECTIONS,
        "sections_source": Code("upstream" if sections else "defaults"),
        "charts": charts,
        "requirements_source": requirements,
        "example_json": js_literal(example, indent=2),
        "example_source": Code("upstream" if analysis is not None else "sample"),
    }

    def keep(path: str) -> bool:
        owners = _FEATURE_FILES.get(path.removesuffix(".j2"))
        return owners is None or bool(owners & set(selected))

    return render_layers(("code/report_generator",), values, pkg=str(values["pkg"]), keep=keep)
