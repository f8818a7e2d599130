"""Workspace rendering: every template and code type renders, and the result really works.

Each project is rendered into a temporary folder and its own test suite is run there, with
only the standard library and pytest (or Node's built-in test runner): a generated project
whose tests fail is a failed render. Each suite runs once (module-scoped fixtures); the
other tests read the same rendered trees.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.errors import InvalidInputError
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.workspace import codegen_bot as pt
from tasks.workspace.codegen import (
    RenderedFiles,
    available_code_types,
    available_templates,
    render_code,
    render_project,
)

HOSTILE = "\"; import os; os.system('x') #"
#: Symbols a CSV, a Python literal, a JS object or a Markdown table could choke on.
HOSTILE_SYMBOLS = ['BRK"B', "O'NEIL", "A,B", "C\\D", " __proto__", "${x}`", "700"]
WORKFLOW_DEPENDENCIES = ["trading-api", "portfolio-analytics"]
ALL_FEATURES = ["chart_generation", "pdf_export", "data_visualization", "export"]


# --- helpers ---------------------------------------------------------------------------------


def _analysis(**changes: Any) -> dict[str, Any]:
    """A PortfolioAnalysis dump as ANALYZE_PORTFOLIO outputs it (validated by the model)."""
    data = PortfolioAnalysis.model_validate(pt.sample_analysis()).model_dump(mode="json")
    data.update(changes)
    return data


def _write(root: Path, *renders: RenderedFiles) -> Path:
    """Write renders in order (later files overwrite earlier ones, as GENERATE_CODE does)."""
    for files in renders:
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return root


def _run_pytest(project: Path) -> int:
    """Run the project's own tests; return how many passed (failing the test otherwise)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": "src",
        "PYTHONDONTWRITEBYTECODE": "1",
        # Only pytest itself: the generated project must not lean on our dev plugins.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"generated tests failed in {project}:\n{output}"
    passed = re.search(r"(\d+) passed", output)
    assert passed is not None, output
    return int(passed.group(1))


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (v20+) is required to test the Node.js templates and was not found")
    return node


def _run_node_tests(project: Path) -> int:
    proc = subprocess.run(
        [_node(), "--test"],
        cwd=project,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"generated node tests failed in {project}:\n{output}"
    assert re.search(r"^# fail 0$", output, re.MULTILINE), output
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed is not None, output
    return int(passed.group(1))


def _import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_inert(source: str) -> None:
    """A generated config module: assignments of literals only, no call anywhere."""
    tree = ast.parse(source)
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    for node in tree.body:
        assert isinstance(node, ast.Expr | ast.ImportFrom | ast.Assign | ast.AnnAssign)
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            ast.literal_eval(node.value)


def _hostile_analysis() -> dict[str, Any]:
    positions = [
        {**_analysis()["positions"][0], "symbol": symbol, "weight": 1 / len(HOSTILE_SYMBOLS)}
        for symbol in HOSTILE_SYMBOLS
    ]
    return _analysis(
        portfolio_name=HOSTILE,
        positions=positions,
        concentration={**_analysis()["concentration"], "top_symbol": HOSTILE_SYMBOLS[0]},
    )


# --- rendered projects (each rendered and tested once) ---------------------------------------


@pytest.fixture(scope="module")
def python_bot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spec's example 1 in Python: the project, then the bot generated from an analysis.

    The analysis' names and symbols are hostile (quotes, commas, backslashes): the bot's own
    tests must pass with them all the same.
    """
    root = tmp_path_factory.mktemp("python-bot")
    return _write(
        root,
        render_project(
            "python-trading-bot",
            name="my-trading-bot",
            dependencies=WORKFLOW_DEPENDENCIES,
            context={"goal": "Create a new trading bot for my portfolio", "run_id": "run-1"},
        ),
        render_code(
            "trading-bot",
            project_name="my-trading-bot",
            file_type="python",
            upstream={"task_001": _hostile_analysis(), "task_002": {"template": "x", "files": []}},
        ),
    )


@pytest.fixture(scope="module")
def node_bot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spec's example 1 as written: a Node.js project, TypeScript asked for (hostile
    analysis as for the Python bot)."""
    root = tmp_path_factory.mktemp("node-bot")
    return _write(
        root,
        render_project(
            "nodejs-trading-bot", name="my-trading-bot", dependencies=WORKFLOW_DEPENDENCIES
        ),
        render_code(
            "trading-bot",
            project_name="my-trading-bot",
            file_type="typescript",
            upstream={"task_001": _hostile_analysis()},
        ),
    )


@pytest.fixture(scope="module")
def report_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spec's complex example: project, generator with every feature, documentation."""
    root = tmp_path_factory.mktemp("report")
    code = render_code(
        "report_generator",
        project_name="portfolio-report-generator",
        features=ALL_FEATURES,
        upstream={
            "task_001": _analysis(),
            "task_003": {"sections": ["overview", "risk", "positions", "market outlook"]},
        },
    )
    docs = render_code(
        "documentation",
        project_name="portfolio-report-generator",
        document_types=["readme", "api_docs", "user_guide"],
        upstream={
            "task_005": {
                "code_type": "report_generator",
                "features": ALL_FEATURES,
                "files": sorted(code),
            }
        },
    )
    return _write(
        root,
        render_project(
            "report_generator",
            name="portfolio-report-generator",
            dependencies=["recharts", "jspdf", "portfolio-api"],
        ),
        code,
        docs,
    )


# --- the generated suites pass ---------------------------------------------------------------


def test_names() -> None:
    assert available_templates() == [
        "nodejs-trading-bot",
        "python-project",
        "python-trading-bot",
        "report_generator",
    ]
    assert available_code_types() == ["documentation", "report_generator", "trading-bot"]


def test_python_project_tests_pass(tmp_path: Path) -> None:
    project = _write(
        tmp_path,
        render_project("python-project", name="new-python-project", dependencies=["pytest"]),
    )
    assert (project / "src/new_python_project/__init__.py").is_file()
    assert _run_pytest(project) >= 3


def test_python_trading_bot_tests_pass(python_bot: Path) -> None:
    # 3 smoke tests of the template + 7 strategy + 8 backtest tests of the generated code.
    assert _run_pytest(python_bot) >= 18


def test_node_trading_bot_tests_pass(node_bot: Path) -> None:
    # 3 smoke tests of the template + 7 strategy + 8 backtest tests of the generated code.
    assert _run_node_tests(node_bot) >= 18


def test_report_generator_tests_pass(report_project: Path) -> None:
    # 2 smoke + 12 report + 6 charts + 4 visualization + 4 PDF + 4 export tests.
    assert _run_pytest(report_project) >= 32


# --- what the renders hold -------------------------------------------------------------------


def test_python_project_needs_nothing_but_the_standard_library(python_bot: Path) -> None:
    pyproject = tomllib.loads((python_bot / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == "my-trading-bot"
    assert pyproject["project"]["dependencies"] == []
    assert pyproject["project"]["optional-dependencies"] == {"dev": ["pytest>=7"]}
    text = (python_bot / "pyproject.toml").read_text(encoding="utf-8")
    readme = (python_bot / "README.md").read_text(encoding="utf-8")
    for dependency in WORKFLOW_DEPENDENCIES:
        assert f"#   {dependency}\n" in text
        assert f"- `{dependency}`" in readme
    assert "Create a new trading bot for my portfolio" in readme


def test_node_project_has_no_dependencies(node_bot: Path) -> None:
    package = json.loads((node_bot / "package.json").read_text(encoding="utf-8"))
    assert package["name"] == "my-trading-bot"
    assert package["scripts"]["test"] == "node --test"
    assert "dependencies" not in package
    assert "TypeScript was requested" in (node_bot / "STRATEGY.md").read_text(encoding="utf-8")


def test_bot_config_follows_the_analysis(python_bot: Path) -> None:
    analysis = _hostile_analysis()
    config = _import_file(python_bot / "src/my_trading_bot/config.py", "bot_config_under_test")
    assert config.SOURCE == "analysis"
    assert analysis["portfolio_name"] == config.PORTFOLIO_NAME
    weights = {p["symbol"]: p["weight"] for p in analysis["positions"]}
    assert pytest.approx(weights) == config.TARGET_WEIGHTS
    assert analysis["risk"]["volatility"] == config.VOLATILITY_TARGET
    assert pt.DRAWDOWN_STOP_BOUNDS[0] == config.DRAWDOWN_STOP  # |-2.6 %| clamped up to 5 %
    assert analysis["concentration"]["top_symbol"] == config.TOP_SYMBOL


def test_bot_without_analysis_uses_documented_defaults() -> None:
    files = render_code("trading-bot", project_name="bot", upstream={"task_009": {"x": 1}})
    source = files["src/bot/config.py"]
    namespace: dict[str, Any] = {}
    exec(compile(source, "config.py", "exec"), namespace)  # noqa: S102 -- our own render
    assert namespace["SOURCE"] == "defaults"
    assert namespace["SYMBOLS"] == pt.DEFAULT_SYMBOLS
    assert namespace["VOLATILITY_TARGET"] == pt.DEFAULT_VOLATILITY_TARGET
    assert namespace["DRAWDOWN_STOP"] == pt.DEFAULT_DRAWDOWN_STOP
    assert "No portfolio analysis was available" in files["STRATEGY.md"]


def test_backtest_over_the_sample_prices_is_sane(python_bot: Path, node_bot: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "my_trading_bot.backtest"],
        cwd=python_bot,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": "src"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    summary = json.loads(proc.stdout)
    assert summary["days"] == pt.SAMPLE_DAYS
    assert summary["trades"] > 0
    assert math.isfinite(summary["total_return"]) and -0.5 < summary["total_return"] < 1.0
    assert -0.5 <= summary["max_drawdown"] <= 0.0
    assert summary["final_equity"] == pytest.approx(100_000 * (1 + summary["total_return"]))
    # The JavaScript bot implements the same rules: same data, same figures.
    node = subprocess.run(
        [_node(), "src/index.js"],
        cwd=node_bot,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    js = json.loads(node.stdout)
    assert js["trades"] == summary["trades"]
    assert js["totalReturn"] == pytest.approx(summary["total_return"], abs=1e-6)
    assert js["maxDrawdown"] == pytest.approx(summary["max_drawdown"], abs=1e-6)


def test_sample_prices_are_deterministic_csv(python_bot: Path) -> None:
    text = (python_bot / "data/sample_prices.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    # Equal weights: the first symbols by name make the fixture.
    symbols = sorted(HOSTILE_SYMBOLS)[: pt.SAMPLE_SYMBOL_LIMIT]
    assert rows[0] == ["date", "symbol", "close"]
    assert len(rows) == 1 + pt.SAMPLE_DAYS * len(symbols)
    assert rows[1] == ["2023-01-02", symbols[0], f"{pt.sample_close(0, 0):.2f}"]
    assert {row[1] for row in rows[1:]} == set(symbols)
    assert text == pt.sample_prices_csv(symbols)


def test_report_project_layout_and_docs(report_project: Path) -> None:
    pkg = report_project / "src/portfolio_report_generator"
    for module in ("report", "charts", "visualization", "pdf", "export", "svg", "__main__"):
        assert (pkg / f"{module}.py").is_file()
    config = _import_file(pkg / "config.py", "report_config_under_test")
    assert config.SECTIONS == ("overview", "risk", "positions", "market outlook")
    assert tuple(sorted(ALL_FEATURES)) == config.FEATURES
    example = json.loads((report_project / "examples/analysis.json").read_text(encoding="utf-8"))
    assert example == _analysis()
    api = (report_project / "docs/api.md").read_text(encoding="utf-8")
    assert "`render_markdown(analysis: Mapping[str, Any]" in api
    assert "`text_pdf(lines: Sequence[str], *, title: str = 'Report') -> bytes`" in api
    guide = (report_project / "docs/user_guide.md").read_text(encoding="utf-8")
    assert "python -m portfolio_report_generator examples/analysis.json --out report" in guide
    readme = (report_project / "README.md").read_text(encoding="utf-8")
    assert "[API reference](docs/api.md)" in readme
    assert "- `src/portfolio_report_generator/pdf.py`" in readme


def test_report_features_select_files() -> None:
    def modules(features: list[str]) -> set[str]:
        files = render_code("report_generator", project_name="rg", features=features)
        return {p.rsplit("/", 1)[-1] for p in files if p.startswith("src/rg/")}

    base = {"__main__.py", "analysis.py", "config.py", "report.py"}
    assert modules([]) == base
    assert modules(["pdf_export"]) == base | {"pdf.py"}
    assert modules(["export"]) == base | {"export.py"}
    assert modules(["chart_generation"]) == base | {"charts.py", "svg.py"}
    assert modules(["data_visualization"]) == base | {"visualization.py", "svg.py"}


def test_documentation_without_upstream_code() -> None:
    files = render_code("documentation", project_name="proj")
    assert sorted(files) == ["README.md", "docs/api.md", "docs/user_guide.md"]
    assert "no API to document yet" in files["docs/api.md"]
    only = render_code("documentation", project_name="proj", document_types=["readme"])
    assert sorted(only) == ["README.md"]
    assert "docs/api.md" not in only["README.md"]


def test_documentation_of_a_javascript_bot() -> None:
    upstream = {"task_003": {"files": ["src/backtest.js", "src/strategy.js"]}}
    files = render_code("documentation", project_name="bot", upstream=upstream)
    api = files["docs/api.md"]
    assert "## The trading bot (JavaScript, Node.js)" in api
    assert "`runBacktest(prices, params = strategyParams(), options = {})`" in api
    assert "node --test" in files["README.md"]


# --- determinism -----------------------------------------------------------------------------


def test_rendering_is_deterministic() -> None:
    for template in available_templates():
        first = render_project(template, name="p", dependencies=["b", "a"], context={"g": "x"})
        assert first == render_project(
            template, name="p", dependencies=["a", "b"], context={"g": "x"}
        )
    upstream = {
        "t1": _analysis(),
        "t0": {"sections": ["risk"]},
        "t2": {"files": ["src/x/report.py"]},
    }
    cases: list[dict[str, Any]] = [
        {"code_type": "trading-bot", "file_type": "python"},
        {"code_type": "trading-bot", "file_type": "javascript"},
        {"code_type": "report_generator", "features": ALL_FEATURES},
        {"code_type": "documentation"},
    ]
    for case in cases:
        first = render_code(project_name="p", upstream=upstream, **case)
        assert first == render_code(
            project_name="p", upstream=dict(reversed(upstream.items())), **case
        )


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "valid"),
    [
        (lambda: render_project("rails-app", name="x"), "python-project"),
        (lambda: render_project("python-project", name="Not A Slug"), "slug"),
        (lambda: render_code("bot", project_name="x"), "trading-bot"),
        (lambda: render_code("trading-bot", project_name="x", file_type="cobol"), "javascript"),
        (
            lambda: render_code("report_generator", project_name="x", features=["hologram"]),
            "chart_generation",
        ),
        (
            lambda: render_code("trading-bot", project_name="x", features=["export"]),
            "report_generator",
        ),
        (
            lambda: render_code("documentation", project_name="x", document_types=["novel"]),
            "user_guide",
        ),
        (
            lambda: render_code("report_generator", project_name="x", file_type="typescript"),
            "python",
        ),
        (lambda: render_code("documentation", project_name="my project"), "slug"),
    ],
)
def test_unknown_names_are_invalid_input(call: Any, valid: str) -> None:
    with pytest.raises(InvalidInputError, match=valid) as caught:
        call()
    assert caught.value.error_type.value == "invalid_input"


@pytest.mark.parametrize(
    "positions",
    [
        [{"symbol": "A", "weight": float("nan")}],
        [{"symbol": 7, "weight": 0.5}],
        [{"symbol": "A\nB", "weight": 0.5}],
        [{"symbol": "A", "weight": True}],
        [],
    ],
)
def test_malformed_analysis_is_invalid_input(positions: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidInputError):
        render_code("trading-bot", project_name="x", upstream={"t": _analysis(positions=positions)})


# --- hostile upstream values -----------------------------------------------------------------


def test_hostile_strings_stay_inert_python(tmp_path: Path) -> None:
    files = render_code(
        "trading-bot", project_name="bot", file_type="python", upstream={"t": _hostile_analysis()}
    )
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
    source = files["src/bot/config.py"]
    _assert_inert(source)
    _write(tmp_path, files)
    config = _import_file(tmp_path / "src/bot/config.py", "hostile_config_under_test")
    assert config.PORTFOLIO_NAME == HOSTILE
    assert sorted(config.SYMBOLS) == sorted(HOSTILE_SYMBOLS)
    assert set(config.TARGET_WEIGHTS) == set(HOSTILE_SYMBOLS)
    assert HOSTILE_SYMBOLS[0] == config.TOP_SYMBOL


def test_hostile_strings_stay_inert_javascript(tmp_path: Path) -> None:
    files = render_code(
        "trading-bot",
        project_name="bot",
        file_type="javascript",
        upstream={"t": _hostile_analysis()},
    )
    _write(tmp_path, files)
    proc = subprocess.run(
        [
            _node(),
            "-e",
            "process.stdout.write(JSON.stringify(require(process.argv[1])))",
            str(tmp_path / "src/config.js"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    config = json.loads(proc.stdout)
    assert config["PORTFOLIO_NAME"] == HOSTILE
    assert sorted(config["SYMBOLS"]) == sorted(HOSTILE_SYMBOLS)
    # Built with Object.fromEntries, so even "__proto__" is an ordinary own key.
    assert set(config["TARGET_WEIGHTS"]) == set(HOSTILE_SYMBOLS)


def test_hostile_report_structure_and_context() -> None:
    sections = [HOSTILE, "risk\n## injected", "x' + os.system('y') + '"]
    files = render_code(
        "report_generator",
        project_name="rg",
        upstream={"a": _hostile_analysis(), "b": {"sections": sections}},
    )
    _assert_inert(files["src/rg/config.py"])
    tree = ast.parse(files["src/rg/config.py"])
    assigned = {
        node.target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value
    }
    assert assigned["SECTIONS"] == tuple(s.strip() for s in sections)
    assert json.loads(files["examples/analysis.json"])["portfolio_name"] == HOSTILE
    readme = render_project(
        "python-project",
        name="p",
        dependencies=['x"\n[tool.evil]\ny = "'],
        context={"goal": "line one\n# Heading\n<script>alert(1)</script>"},
    )
    pyproject = tomllib.loads(readme["pyproject.toml"])
    assert "evil" not in pyproject.get("tool", {})
    assert "\n# Heading" not in readme["README.md"]
    assert "<script>" not in readme["README.md"]
    assert (
        "- **goal**: line one \\# Heading \\<script\\>alert(1)\\</script\\>" in readme["README.md"]
    )


@given(st.text())
def test_python_literals_round_trip(text: str) -> None:
    # The encoder every Python template relies on (private, tested directly on purpose).
    from tasks.workspace.codegen_env import _py_literal

    literal = _py_literal(text)
    assert ast.literal_eval(literal) == text
    assert isinstance(ast.parse(literal, mode="eval").body, ast.Constant)


def test_unencoded_interpolation_is_refused() -> None:
    # A template that forgets a filter fails to render instead of emitting raw text.
    from tasks.workspace.codegen_env import _ENV

    with pytest.raises(TypeError, match="unencoded"):
        _ENV.from_string("x = {{ value }}").render(value=HOSTILE)
    rendered = _ENV.from_string("x = {{ value | py }}").render(value=HOSTILE)
    assert ast.literal_eval(rendered.removeprefix("x = ")) == HOSTILE


def test_sample_analysis_is_a_portfolio_analysis() -> None:
    sample = pt.sample_analysis()
    dumped = PortfolioAnalysis.model_validate(sample).model_dump(mode="json")
    # Every figure survives validation unchanged (the model may add defaulted fields).
    for key, value in sample.items():
        if isinstance(value, dict):
            assert value.items() <= dumped[key].items(), key
        else:
            assert dumped[key] == value, key
    weights: Mapping[str, float] = {p["symbol"]: p["weight"] for p in sample["positions"]}
    assert math.fsum(weights.values()) == pytest.approx(1.0)
