"""The report generator code type: a report package reading a portfolio-analysis JSON file.

Optional features add modules (charts, visualisation, PDF, export) to the Markdown report;
the report's sections follow an upstream report structure when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def render_report(
    project_name: str,
    file_type: str | None,
    features: Sequence[str],
    upstream: Mapping[str, Any] | None,
) -> RenderedFiles:
    """The ``report_generator`` code type (``project_name`` is an already validated slug)."""
    if file_type not in (None, "python", "py"):
        raise unknown("file_type", file_type, ["python"])
    selected = check_choices("feature", features, REPORT_FEATURES)
    analysis = find_analysis(upstream)
    example = dict(analysis) if analysis is not None else sample_analysis()
    check_analysis(example)
    sections = find_report_sections(upstream)
    values = {
        **base_values(project_name),
        "features": tuple(selected),
        "sections": tuple(sections or DEFAULT_REPORT_SECTIONS),
        "sections_source": Code("upstream" if sections else "defaults"),
        "example_json": js_literal(example, indent=2),
        "example_source": Code("upstream" if analysis is not None else "sample"),
    }

    def keep(path: str) -> bool:
        owners = _FEATURE_FILES.get(path.removesuffix(".j2"))
        return owners is None or bool(owners & set(selected))

    return render_layers(("code/report_generator",), values, pkg=str(values["pkg"]), keep=keep)
