"""The generated project a validation works on: found upstream, written to, run in its jail.

Everything VALIDATE_DATA puts into a project (the price file, the analysis, a small runner
script, the generator's output) goes under ``validation/``; everything it reads back was
written there by project code, so it is read through the symlink-safe
:class:`~tasks.workspace.files.ProjectFiles`. Commands run through the terminal's own
:func:`~tasks.workspace.run_terminal_command.run_project_command`: the workspace
allow-list for the user's role (``run_code``), the jail, the timeout and output caps, and
a COMMAND_RUN audit entry each.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from orchestrator.models import Module, TaskType
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, TaskTimeoutError
from tasks.workspace.codegen_inputs import package_name
from tasks.workspace.common import Scope, existing_project
from tasks.workspace.context import read_marker
from tasks.workspace.files import ProjectFiles
from tasks.workspace.run_terminal_command import CommandResult, run_project_command

#: Where validation files live inside the project (never committed by us).
VALIDATION_DIR = PurePosixPath("validation")
_IGNORE_ALL = b"# Written by the orchestrator's validate_data: never committed.\n*\n"
#: Time kept back from the task's timeout for reading results and reporting.
_MARGIN_S = 5.0
#: Largest file read back from a project (a report, a PDF, a price file).
MAX_READ_BYTES = 20 * 1024**2
#: Runs a package of a src-layout checkout as ``python -m`` would; the allow-list lets
#: ``python`` run a script inside the project, never ``-m <any module>``.
RUNNER_SCRIPT = '''\
"""Written by the orchestrator's validate_data: ``python validation/run_module.py PKG ARGS``
runs package PKG of this project's src/ checkout, as ``python -m PKG ARGS`` would."""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
package = sys.argv.pop(1)
runpy.run_module(package, run_name="__main__", alter_sys=True)
'''


class ProjectLanguage(StrEnum):
    PYTHON = "python"
    NODE = "node"


class CodeKind(StrEnum):
    TRADING_BOT = "trading-bot"
    REPORT_GENERATOR = "report_generator"
    OTHER = "other"


def upstream_code_type(inputs: Mapping[str, Any], project_id: str) -> str | None:
    """The code_type of the upstream GENERATE_CODE output that made this project's code."""
    for output in inputs.values():
        if (
            isinstance(output, Mapping)
            and output.get("project_id") == project_id
            and isinstance(output.get("code_type"), str)
        ):
            return str(output["code_type"])
    return None


@dataclass
class ValidationProject:
    """One generated project, for one VALIDATE_DATA call (with that call's deadline)."""

    ctx: HandlerContext
    scope: Scope
    project_id: str
    project_dir: Path
    language: ProjectLanguage
    kind: CodeKind
    deadline: float

    @classmethod
    def locate(cls, inputs: Mapping[str, Any], ctx: HandlerContext) -> ValidationProject:
        """The project of the upstream generate_code / create_project (see
        :func:`~tasks.workspace.common.project_id_for`)."""
        started = time.monotonic()
        scope = Scope.of(ctx)
        project_id, project_dir = existing_project(
            scope, None, inputs, ctx, hint=" (create_project and generate_code come first)"
        )
        files = ProjectFiles(project_dir, max_file_bytes=MAX_READ_BYTES)
        if files.lstat(PurePosixPath("package.json")) is not None:
            language = ProjectLanguage.NODE
        elif files.lstat(PurePosixPath("pyproject.toml")) is not None:
            language = ProjectLanguage.PYTHON
        else:
            raise InvalidInputError(
                f"project {project_id!r} is neither a Python (pyproject.toml) nor a Node.js "
                "(package.json) project: there is no test suite to run",
                project_id=project_id,
            )
        project = cls(
            ctx=ctx,
            scope=scope,
            project_id=project_id,
            project_dir=project_dir,
            language=language,
            kind=CodeKind.OTHER,
            deadline=started + ctx.task.timeout_s - _MARGIN_S,
        )
        project.kind = project._kind(upstream_code_type(inputs, project_id))
        return project

    def _kind(self, code_type: str | None) -> CodeKind:
        if code_type in (CodeKind.TRADING_BOT.value, CodeKind.REPORT_GENERATOR.value):
            return CodeKind(code_type)
        # No generate_code upstream (a chain that only names the project): look at its files.
        if self.language is ProjectLanguage.NODE:
            bot = self.exists(PurePosixPath("src/backtest.js"))
            return CodeKind.TRADING_BOT if bot else CodeKind.OTHER
        src = PurePosixPath("src", self.package())
        if self.exists(src / "backtest.py"):
            return CodeKind.TRADING_BOT
        if self.exists(src / "report.py") and self.exists(src / "analysis.py"):
            return CodeKind.REPORT_GENERATOR
        return CodeKind.OTHER

    # --- files ------------------------------------------------------------------------------

    @property
    def files(self) -> ProjectFiles:
        return ProjectFiles(self.project_dir, max_file_bytes=MAX_READ_BYTES)

    def exists(self, path: PurePosixPath) -> bool:
        return self.files.lstat(path) is not None

    def read(self, path: PurePosixPath) -> bytes:
        """A file of the project (never through a symlink project code may have planted)."""
        return self.files.read_bytes(path)

    def write(self, name: str, data: bytes) -> PurePosixPath:
        """Write ``validation/<name>``; returns its path relative to the project."""
        path = VALIDATION_DIR / name
        # Ignores itself and everything beside it: `git status` stays clean and no
        # `git add .` commits validation output. Rewritten each time (project code may edit).
        self.files.write_atomic(VALIDATION_DIR / ".gitignore", _IGNORE_ALL)
        self.files.write_atomic(path, data)
        return path

    def package(self) -> str:
        """The Python package of the project (``src/<package>``), from its creation marker."""
        marker = read_marker(self.project_dir) or {}
        name = marker.get("name")
        return package_name(name if isinstance(name, str) and name else self.project_id)

    def python_runner(self) -> PurePosixPath:
        """(Re)write the runner script: project code may have changed it since last time."""
        return self.write("run_module.py", RUNNER_SCRIPT.encode())

    # --- commands ---------------------------------------------------------------------------

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, argv: list[str]) -> CommandResult:
        """``argv`` in the project's jail, under the workspace's allow-list for the user."""
        remaining = self.remaining_s()
        if remaining < 1.0:
            raise TaskTimeoutError(
                f"no time left to run {argv[0]} within the task's {self.ctx.task.timeout_s:g} s",
                timeout_s=self.ctx.task.timeout_s,
            )
        return run_project_command(
            self.ctx,
            self.scope,
            project_id=self.project_id,
            project_dir=self.project_dir,
            argv=argv,
            timeout_s=remaining,
            # Project code runs under the workspace's rules whichever module asks.
            module=Module.WORKSPACE.value,
        )


def config_literal(text: str, name: str) -> Any:
    """The literal assigned to ``name`` at the top of a Python module's text (None if it
    has none): read with ``ast.literal_eval``, never executed -- it is project code."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in tree.body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name and value is not None:
            try:
                return ast.literal_eval(value)
            except ValueError:
                return None
    return None


def upstream_task_type(ctx: HandlerContext, task_id: str) -> TaskType | None:
    """The type of one task of the chain (None for an id not in it or a custom type)."""
    for task in ctx.chain.tasks:
        if task.id == task_id:
            try:
                return TaskType(str(task.type))
            except ValueError:
                return None
    return None
