"""The ``orchestrator`` CLI in the zero-service embedded mode, each call a real process.

Every call gets os.environ without ORCH_* variables, ORCH_DATA_DIR set to a temporary
directory, and that directory as its cwd (so no stray .env is read).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    HEALTH_GOAL,
    REPORT_GENERATOR_GOAL,
    TRADING_GOAL,
    Cli,
    CliResult,
    clean_env,
    finish_cli,
    run_cli,
    start_cli,
)

pytestmark = pytest.mark.e2e

RUN_ID = re.compile(r"\brun_[0-9a-f]{16}\b")
KNOWN_TASK_TYPES = 17
#: The demo runs eleven tasks, two jailed test suites and a backtest, side by side with the
#: other background calls on two cores; this only ends a hung call.
BACKGROUND_TIMEOUT_S = 600.0


class BackgroundRun:
    """A CLI call started in the background in its own data dir; ``result`` waits for it."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.env = clean_env({"ORCH_DATA_DIR": str(data_dir)})
        self.args = args
        self._proc = start_cli(*args, env=self.env, cwd=data_dir)
        self._result: CliResult | None = None

    @property
    def result(self) -> CliResult:
        if self._result is None:
            self._result = finish_cli(self._proc, *self.args, timeout_s=BACKGROUND_TIMEOUT_S)
        return self._result

    def cli(self, *args: str) -> CliResult:
        """Another CLI call in the same data dir (after this one finished)."""
        assert self.result is not None
        return run_cli(*args, env=self.env, cwd=self.data_dir)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BackgroundRun]]:
    """The slow calls (each starts and stops four in-process workers), run side by side."""
    calls = {
        "demo": ("demo",),
        "demo_node_json": (
            "demo",
            "--only",
            "trading-bot",
            "--pref",
            "language=javascript",
            "--json",
        ),
        "health": ("run", HEALTH_GOAL, "--json"),
        "trading": ("run", TRADING_GOAL, "--portfolio", "p1"),
        "trading_json": ("run", TRADING_GOAL, "--portfolio", "p1", "--json"),
    }
    started = {
        name: BackgroundRun(tmp_path_factory.mktemp(f"embedded-{name}"), *args)
        for name, args in calls.items()
    }
    yield started
    for run in started.values():
        run.result  # noqa: B018 -- reap every process


@pytest.fixture(scope="module", autouse=True)
def _start_slow_runs_first(runs: dict[str, BackgroundRun]) -> None:
    """Start the slow calls before the module's first test; the quick ones overlap them."""


def test_plan_unknown_goal_exits_2_listing_what_it_can_plan(embedded_cli: Cli) -> None:
    result = embedded_cli("plan", "bake a chocolate cake")

    assert result.returncode == 2, str(result)
    assert "cannot plan 'bake a chocolate cake'" in result.output, str(result)
    for workflow in ("system_health_backup", "trading_bot", "portfolio_report"):
        assert workflow in result.output, str(result)
    assert result.stdout == "", str(result)


def test_plan_trading_bot_without_portfolio_exits_2_naming_the_option(embedded_cli: Cli) -> None:
    result = embedded_cli("plan", TRADING_GOAL)

    assert result.returncode == 2, str(result)
    assert "--portfolio" in result.output, str(result)
    assert result.stdout == "", str(result)


def test_plan_trading_bot_json_is_a_four_task_chain(embedded_cli: Cli, tmp_path: Path) -> None:
    result = embedded_cli("plan", TRADING_GOAL, "--portfolio", "p1", "--json")

    assert result.returncode == 0, str(result)
    chain = result.json()
    assert [t["id"] for t in chain["tasks"]] == ["task_001", "task_002", "task_003", "task_004"]
    assert [t["type"] for t in chain["tasks"]] == [
        "analyze_portfolio",
        "create_project",
        "generate_code",
        "validate_data",
    ]
    assert chain["tasks"][0]["parameters"]["portfolio_id"] == "p1"
    assert chain["goal"]["context"]["portfolio_id"] == "p1"
    edges = {(d["from"], d["to"]) for d in chain["dependencies"]}
    assert edges == {("task_001", "task_003"), ("task_002", "task_003"), ("task_003", "task_004")}
    # Planning runs nothing: no run was recorded
    history = embedded_cli("history", "--json")
    assert history.returncode == 0, str(history)
    assert history.json() == []


def cyclic_builtin_chain() -> dict[str, Any]:
    tasks = [
        {"id": task_id, "type": "monitor_health", "module": "system", "parameters": {}}
        for task_id in ("alpha", "beta", "gamma")
    ]
    edges = [("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha")]
    return {
        "goal": {"description": "a cyclic chain"},
        "tasks": tasks,
        "dependencies": [{"from": a, "to": b, "type": "prerequisite"} for a, b in edges],
    }


def test_submit_cyclic_chain_file_embedded_exits_2_and_enqueues_nothing(
    embedded_cli: Cli, tmp_path: Path
) -> None:
    chain_file = tmp_path / "bad.json"
    chain_file.write_text(json.dumps(cyclic_builtin_chain()))

    result = embedded_cli("submit", "--chain-file", str(chain_file))

    assert result.returncode == 2, str(result)
    assert result.stdout == "", str(result)
    assert embedded_cli("history", "--json").json() == []


def test_submit_cyclic_chain_file_embedded_names_the_cycle(
    embedded_cli: Cli, tmp_path: Path
) -> None:
    # An invalid chain is invalid input whatever the mode: the user should learn what is
    # wrong with the file, not only that submit needs a broker.
    chain_file = tmp_path / "bad.json"
    chain_file.write_text(json.dumps(cyclic_builtin_chain()))

    result = embedded_cli("submit", "--chain-file", str(chain_file))

    assert result.returncode == 2, str(result)
    assert "cycle" in result.output, str(result)
    for task_id in ("alpha", "beta", "gamma"):
        assert task_id in result.output, str(result)


def test_submit_malformed_chain_file_exits_2(embedded_cli: Cli, tmp_path: Path) -> None:
    chain_file = tmp_path / "bad.json"
    chain_file.write_text(json.dumps({"goal": {"description": "x"}, "tasks": []}))

    result = embedded_cli("submit", "--chain-file", str(chain_file))

    assert result.returncode == 2, str(result)
    assert "invalid input" in result.output and "tasks" in result.output, str(result)


def _check_refs(node: Any, schema: dict[str, Any]) -> None:
    """Every local $ref of a JSON Schema points at an existing definition."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            assert ref.startswith("#/$defs/"), ref
            assert ref.removeprefix("#/$defs/") in schema["$defs"], ref
        for value in node.values():
            _check_refs(value, schema)
    elif isinstance(node, list):
        for value in node:
            _check_refs(value, schema)


def test_schema_goal_and_chain_are_json_schemas(embedded_cli: Cli) -> None:
    goal_result = embedded_cli("schema", "goal")
    chain_result = embedded_cli("schema", "chain")

    assert goal_result.returncode == 0, str(goal_result)
    goal = goal_result.json()
    assert goal["type"] == "object" and goal["title"] == "UserGoal"
    assert "description" in goal["required"]
    assert {"description", "context", "priority"} <= set(goal["properties"])
    _check_refs(goal, goal)

    assert chain_result.returncode == 0, str(chain_result)
    chain = chain_result.json()
    assert chain["type"] == "object" and chain["title"] == "TaskChain"
    assert {"goal", "tasks"} <= set(chain["required"])
    _check_refs({k: v for k, v in chain.items() if k != "x-task-parameters"}, chain)
    task_parameters = chain["x-task-parameters"]
    assert len(task_parameters) == KNOWN_TASK_TYPES, sorted(task_parameters)
    assert {"monitor_health", "backup_state", "analyze_portfolio"} <= set(task_parameters)
    for spec in task_parameters.values():
        # Each task type's parameters schema stands alone (its $refs are its own $defs).
        assert spec["module"] in {"workspace", "portfolio", "ai-assistant", "system"}
        assert spec["schema"]["type"] == "object"
        _check_refs(spec["schema"], spec["schema"])


def test_schema_rejects_unknown_kind(embedded_cli: Cli) -> None:
    result = embedded_cli("schema", "banana")

    assert result.returncode == 2, str(result)
    assert "goal" in result.output and "chain" in result.output, str(result)


def test_demo_runs_both_spec_examples_and_shows_what_it_made(
    runs: dict[str, BackgroundRun],
) -> None:
    result = runs["demo"].result
    data_dir = runs["demo"].data_dir

    assert result.returncode == 0, str(result)
    out = result.output
    # Both plans, each run with live progress (a line per event: stdout is not a terminal)
    for goal in (TRADING_GOAL, REPORT_GENERATOR_GOAL):
        assert goal in out, str(result)
    # (the plan table is 80 columns wide here: longer type names are cut short)
    for task_type in ("research_topic", "analyze_context", "create_project", "validate_data"):
        assert task_type in out, str(result)
    lines = result.stdout.splitlines()
    assert sum("run finished (completed)" in line for line in lines) == 2, str(result)
    assert any("task_007" in line and "succeeded" in line for line in lines), str(result)
    # What it made: two projects in the user's workspace, their tests, a backtest, a report
    made = out[out.index("What the demo made") :]
    projects = [Path(m) for m in re.findall(r"project\s+(\S+)", made)]
    assert len(projects) == 2, made
    for project in projects:
        assert project.is_dir() and (project / ".git").is_dir(), made
        assert project.is_relative_to((data_dir / "workspaces" / "demo").resolve()), made
    tests = re.findall(r"tests\s+(\d+) passed, (\d+) failed", made)
    assert len(tests) == 2, made
    assert all(int(passed) > 0 and failed == "0" for passed, failed in tests), made
    assert re.search(r"backtest\s+\S+ to \S+ on \d+ symbols: \d+ trades", made), made
    reports = [Path(m) for m in re.findall(r"report\s+(\S+)", made)]
    pdfs = [p for p in reports if p.suffix == ".pdf"]
    assert pdfs and all(p.read_bytes().startswith(b"%PDF") for p in pdfs), made


def test_demo_json_builds_the_node_bot_and_backtests_it(
    runs: dict[str, BackgroundRun],
) -> None:
    result = runs["demo_node_json"].result

    assert result.returncode == 0, str(result)
    (example,) = result.json()
    assert example["example"] == "trading-bot"
    assert example["result"]["status"] == "completed"
    made = example["deliverables"]
    (project,) = made["projects"]
    assert (Path(project) / "package.json").is_file()
    (tests,) = made["tests"]
    assert re.fullmatch(r"[1-9]\d* passed, 0 failed.*\(node.*\)", tests), tests
    (backtest,) = made["backtests"]
    assert "trades" in backtest
    validation = next(
        t["output"] for t in example["result"]["completed_tasks"] if t["task_id"] == "task_004"
    )
    assert validation["passed"] is True
    assert validation["simulation"]["trades"] >= 0


def test_run_health_goal_json_completes_both_tasks(runs: dict[str, BackgroundRun]) -> None:
    result = runs["health"].result

    assert result.returncode == 0, str(result)
    body = result.json()
    assert RUN_ID.fullmatch(body["run_id"])
    assert body["status"] == "completed"
    assert [t["task_id"] for t in body["completed_tasks"]] == ["task_001", "task_002"]
    assert all(t["status"] == "success" for t in body["completed_tasks"])
    assert body["failed_tasks"] == []
    health = body["completed_tasks"][0]["output"]
    assert health["healthy"] is True
    assert set(health["workers_by_queue"]) == {"workspace", "portfolio", "assistant", "system"}


def test_trading_bot_for_a_missing_portfolio_fails_honestly(
    runs: dict[str, BackgroundRun],
) -> None:
    text, as_json = runs["trading"].result, runs["trading_json"].result

    # Never a fake success: partial/failed is exit 1
    assert text.returncode == 1, str(text)
    assert "portfolio p1 does not exist" in text.output, str(text)
    assert re.search(r"run run_[0-9a-f]{16}: (failed|partial)", text.output), str(text)

    assert as_json.returncode == 1, str(as_json)
    body = as_json.json()
    assert body["status"] == "partial"
    # The project does not depend on the analysis: it was created
    assert [t["task_id"] for t in body["completed_tasks"]] == ["task_002"]
    failed = {t["task_id"]: t for t in body["failed_tasks"]}
    assert failed["task_001"]["final_status"] == "failed"
    assert failed["task_001"]["error"]["type"] == "invalid_input"
    # What depends on the analysis never ran
    assert failed["task_003"]["final_status"] == "skipped"
    assert failed["task_004"]["final_status"] == "skipped"


def test_history_lists_the_run(runs: dict[str, BackgroundRun]) -> None:
    health = runs["health"]
    run = health.result
    run_id = run.json()["run_id"]

    result = health.cli("history", "--json")

    assert result.returncode == 0, str(result)
    runs = result.json()
    assert [r["run_id"] for r in runs] == [run_id]
    assert runs[0]["state"] == "completed"
    assert runs[0]["user_id"] == "demo"
    assert runs[0]["goal_description"] == HEALTH_GOAL

    text = health.cli("history")
    assert text.returncode == 0, str(text)
    assert run_id in text.stdout and "completed" in text.stdout, str(text)


def test_status_in_new_process_reads_finished_run_from_history(
    runs: dict[str, BackgroundRun],
) -> None:
    health = runs["health"]
    run = health.result
    run_id = run.json()["run_id"]

    result = health.cli("status", run_id, "--json")

    assert result.returncode == 0, str(result)
    status = result.json()
    assert status["run_id"] == run_id
    assert status["state"] == "completed"
    assert status["goal"] == HEALTH_GOAL
    assert status["finished_at"] is not None
    tasks = {t["task_id"]: t for t in status["tasks"]}
    assert set(tasks) == {"task_001", "task_002"}
    for task in tasks.values():
        assert task["state"] == "succeeded"
        assert task["queue"] == "system"

    text = health.cli("status", run_id)
    assert text.returncode == 0, str(text)
    assert "2/2 tasks finished" in text.output, str(text)


def test_status_of_another_users_run_is_no_run(
    runs: dict[str, BackgroundRun],
) -> None:
    health = runs["health"]
    run = health.result
    run_id = run.json()["run_id"]

    result = health.cli("status", run_id, "--user", "someone_else", "--json")

    assert result.returncode == 1, str(result)
    assert f"no run {run_id}" in result.output, str(result)
    assert result.stdout == "", str(result)
    others = health.cli("history", "--user", "someone_else", "--json")
    assert others.returncode == 0, str(others)
    assert others.json() == []


def test_demo_for_a_user_who_may_not_run_code_stops_before_anything_runs(
    embedded_cli: Cli,
) -> None:
    result = embedded_cli("demo", "--user", "bob")

    assert result.returncode == 2, str(result)
    assert "user bob (role analyst) may not run" in result.output, str(result)
    assert "run_code in config/commands.yaml" in result.output, str(result)
    # Nothing ran and nothing was created for bob
    assert embedded_cli("history", "--user", "bob", "--json").json() == []
    assert embedded_cli("portfolio", "list", "--user", "bob", "--json").json() == []
