"""The documentation code type, and the API reference it extracts from generated source.

The reference documents the code earlier GENERATE_CODE tasks wrote (their outputs list
``files``), rendered again here with the same parameters so it can never drift from the
templates. Python modules are parsed (never imported); JavaScript modules are read by
pattern, which suits the one layout our templates generate.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.workspace.codegen_bot import render_bot
from tasks.workspace.codegen_env import RenderedFiles, base_values, render_layers
from tasks.workspace.codegen_inputs import CodeOutput, check_choices, find_code_outputs, unknown
from tasks.workspace.codegen_report import REPORT_FEATURES, render_report

DOCUMENT_TYPES: dict[str, str] = {
    "api_docs": "docs/api.md",
    "readme": "README.md",
    "user_guide": "docs/user_guide.md",
}


# --- API reference ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiEntry:
    """One public function or class: its signature and the first paragraph of its doc."""

    signature: str
    doc: str


@dataclass(frozen=True)
class ApiModule:
    """The public API of one generated source file."""

    path: str
    summary: str
    entries: tuple[ApiEntry, ...]


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def python_parameters(args: ast.arguments) -> str:
    """A parameter list as a formatter would write it (``x: int = 1``; unparse omits spaces)."""

    def one(arg: ast.arg, default: ast.expr | None, prefix: str = "") -> str:
        text = prefix + arg.arg + (f": {ast.unparse(arg.annotation)}" if arg.annotation else "")
        if default is not None:
            text += f" = {ast.unparse(default)}" if arg.annotation else f"={ast.unparse(default)}"
        return text

    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    parts = [one(a, d) for a, d in zip(positional, [*defaults, *args.defaults], strict=True)]
    if args.posonlyargs:
        parts.insert(len(args.posonlyargs), "/")
    if args.vararg:
        parts.append(one(args.vararg, None, "*"))
    elif args.kwonlyargs:
        parts.append("*")
    parts += [one(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg:
        parts.append(one(args.kwarg, None, "**"))
    return ", ".join(parts)


def python_api(path: str, source: str) -> ApiModule:
    """The public functions and classes of a Python module (parsed, never imported)."""
    tree = ast.parse(source)
    entries: list[ApiEntry] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            signature = f"{node.name}({python_parameters(node.args)}){returns}"
            entries.append(ApiEntry(signature, first_paragraph(ast.get_docstring(node))))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            entries.append(ApiEntry(f"class {node.name}", first_paragraph(ast.get_docstring(node))))
    return ApiModule(path, first_paragraph(ast.get_docstring(tree)), tuple(entries))


_JSDOC_FUNCTION = re.compile(
    # Arguments may hold one level of parentheses (a default such as ``f()``).
    r"/\*\*(?P<doc>(?:(?!\*/).)*)\*/\s*(?:async\s+)?function\s+(?P<name>\w+)\s*"
    r"\((?P<args>(?:[^()]|\([^()]*\))*)\)",
    re.DOTALL,
)
_JS_MODULE_DOC = re.compile(r"^(?:'use strict';\s*)?/\*\*(?P<doc>(?:(?!\*/).)*)\*/", re.DOTALL)
_JS_EXPORTS = re.compile(r"module\.exports\s*=\s*\{(?P<names>[^}]*)\}")


def jsdoc_text(doc: str) -> str:
    """The text of a JSDoc comment body, without its ``*`` gutters and ``@`` tags."""
    lines = [line.strip().lstrip("*").strip() for line in doc.splitlines()]
    return first_paragraph("\n".join(line for line in lines if not line.startswith("@")))


def js_api(path: str, source: str) -> ApiModule:
    """The exported, JSDoc-commented functions of a CommonJS module (found by pattern).

    Good enough for the modules our templates generate, which follow one layout; it is not
    a JavaScript parser.
    """
    exports = _JS_EXPORTS.search(source)
    exported = {n.strip() for n in exports.group("names").split(",")} if exports else set()
    entries = [
        ApiEntry(
            f"{m.group('name')}({' '.join(m.group('args').split())})", jsdoc_text(m.group("doc"))
        )
        for m in _JSDOC_FUNCTION.finditer(source)
        if m.group("name") in exported
    ]
    head = _JS_MODULE_DOC.match(source)
    return ApiModule(path, jsdoc_text(head.group("doc")) if head else "", tuple(entries))


def infer_code(
    output: CodeOutput, report_features: Sequence[str]
) -> tuple[str, str, tuple[str, ...]] | None:
    """(code type, language, features) of an earlier GENERATE_CODE output, if ours.

    Outputs that name their code type are taken at their word; others are recognised by
    the file names the code types write.
    """
    names = {f.rsplit("/", 1)[-1] for f in output.files}
    code_type = output.code_type
    if code_type is None:
        if names & {"backtest.py", "backtest.js"}:
            code_type = "trading-bot"
        elif "report.py" in names:
            code_type = "report_generator"
    if code_type == "trading-bot":
        js = "backtest.js" in names or output.file_type in ("javascript", "js", "typescript", "ts")
        return code_type, "javascript" if js else "python", ()
    if code_type == "report_generator":
        by_module = {
            "charts.py": "chart_generation",
            "visualization.py": "data_visualization",
            "pdf.py": "pdf_export",
            "export.py": "export",
        }
        features = {f for f in output.features if f in report_features}
        features |= {feature for module, feature in by_module.items() if module in names}
        return code_type, "python", tuple(sorted(features))
    return None


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DocumentedCode:
    code_type: str
    language: str
    features: tuple[str, ...]
    modules: tuple[ApiModule, ...]


def _documented_code(
    project_name: str, upstream: Mapping[str, Any] | None
) -> list[_DocumentedCode]:
    found: dict[tuple[str, str], set[str]] = {}
    for output in find_code_outputs(upstream):
        inferred = infer_code(output, REPORT_FEATURES)
        if inferred is not None:
            found.setdefault(inferred[:2], set()).update(inferred[2])
    documented: list[_DocumentedCode] = []
    for (code_type, language), features in sorted(found.items()):
        # The API is documented from the code these functions generate, rendered again
        # here, so the reference can never drift from the templates. infer_code only
        # recognises these two code types, and never gives the trading bot features.
        files = (
            render_bot(project_name, language, None)
            if code_type == "trading-bot"
            else render_report(project_name, language, sorted(features), None)
        )
        modules = tuple(
            python_api(path, text) if path.endswith(".py") else js_api(path, text)
            for path, text in sorted(files.items())
            if path.startswith("src/") and path.endswith((".py", ".js"))
        )
        documented.append(_DocumentedCode(code_type, language, tuple(sorted(features)), modules))
    return documented


def render_docs(
    project_name: str,
    file_type: str | None,
    document_types: Sequence[str],
    upstream: Mapping[str, Any] | None,
) -> RenderedFiles:
    """The ``documentation`` code type (``project_name`` is an already validated slug)."""
    if file_type not in (None, "markdown", "md"):
        raise unknown("file_type", file_type, ["markdown"])
    selected = check_choices("document_type", document_types, sorted(DOCUMENT_TYPES)) or sorted(
        DOCUMENT_TYPES
    )
    outputs = find_code_outputs(upstream)
    values = {
        **base_values(project_name),
        "document_types": selected,
        "code": _documented_code(project_name, upstream),
        "upstream_files": sorted({f for o in outputs for f in o.files}),
    }
    wanted = {DOCUMENT_TYPES[d] + ".j2" for d in selected}
    return render_layers(
        ("code/documentation",),
        values,
        pkg=str(values["pkg"]),
        keep=lambda path: path in wanted,
    )
