"""The specification's WorkspaceContext, built from the user's workspace on disk.

Every workspace task builds it when it finishes and stores it in the run's live context
(``ContextStore.put_module_context(user, run, "workspace", ...)``), so later tasks, the
adaptive engine and a person watching the run see the projects, the current project's git
status, the files the task touched, recent commands and the code generated so far.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field

from orchestrator.models.base import StrictModel
from tasks.workspace.files import ProjectFiles
from tasks.workspace.git_ops import GitRepo
from tasks.workspace.sandbox import STATE_DIR, Workspace

#: Most entries of each list kept in the context (it travels through Redis).
MAX_ITEMS = 20
PROJECT_MARKER = PurePosixPath(STATE_DIR, "project.json")


class Project(StrictModel):
    id: str
    name: str
    template: str | None = None
    path: str
    branch: str | None = None
    head: str | None = None
    created_by_run: str | None = None


class TerminalSession(StrictModel):
    """Commands run in one project directory (we keep no live shells: each command is one
    process; a "session" is the history of a project's working directory)."""

    project_id: str
    cwd: str
    commands_run: int
    last_command_at: datetime | None = None
    last_exit_code: int | None = None


class FileState(StrictModel):
    project_id: str
    path: str
    exists: bool
    size_bytes: int | None = None
    sha256: str | None = None
    modified_at: datetime | None = None


class GitStatus(StrictModel):
    project_id: str
    branch: str | None = None
    head: str | None = None
    clean: bool
    staged: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)
    untracked: list[str] = Field(default_factory=list)


class RecentCommand(StrictModel):
    project_id: str
    argv: list[str]
    cwd: str
    exit_code: int | None = None
    timed_out: bool = False
    duration_ms: float
    at: datetime
    run_id: str
    task_id: str


class CodePattern(StrictModel):
    """Code a generate_code task produced: what kind, with which features, which files."""

    project_id: str
    code_type: str
    features: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    commit: str | None = None
    run_id: str | None = None


class WorkspaceContext(StrictModel):
    active_projects: list[Project] = Field(default_factory=list)
    current_project: Project | None = None
    terminal_sessions: list[TerminalSession] = Field(default_factory=list)
    open_files: list[FileState] = Field(default_factory=list)
    git_status: list[GitStatus] = Field(default_factory=list)
    recent_commands: list[RecentCommand] = Field(default_factory=list)
    code_patterns: list[CodePattern] = Field(default_factory=list)


def read_marker(project_dir: Path) -> dict[str, Any] | None:
    """The project's creation marker, or None (no marker, or not a plain file)."""
    files = ProjectFiles(project_dir, max_file_bytes=1_000_000)
    if files.lstat(PROJECT_MARKER) is None:
        return None
    data = json.loads(files.read_bytes(PROJECT_MARKER))
    return data if isinstance(data, dict) else None


def load_project(
    workspace: Workspace, project_id: str, *, branch: str | None, head: str | None
) -> Project:
    project_dir = workspace.project_dir(project_id)
    marker = read_marker(project_dir) or {}
    template = marker.get("template")
    run = marker.get("run_id")
    return Project(
        id=project_id,
        name=str(marker.get("name", project_id)),
        template=template if isinstance(template, str) else None,
        path=str(project_dir),
        branch=branch,
        head=head,
        created_by_run=run if isinstance(run, str) else None,
    )


def file_state(project_dir: Path, project_id: str, path: str) -> FileState:
    files = ProjectFiles(project_dir, max_file_bytes=10_000_000)
    relative = PurePosixPath(path)
    info = files.lstat(relative)
    if info is None:
        return FileState(project_id=project_id, path=path, exists=False)
    digest = None
    if stat.S_ISREG(info.st_mode) and info.st_size <= files.max_file_bytes:
        digest = hashlib.sha256(files.read_bytes(relative)).hexdigest()
    return FileState(
        project_id=project_id,
        path=path,
        exists=True,
        size_bytes=info.st_size,
        sha256=digest,
        modified_at=datetime.fromtimestamp(info.st_mtime, UTC),
    )


def code_patterns(project_dir: Path, project_id: str) -> list[CodePattern]:
    """generate_code outputs recorded in the project (its effect markers), newest first."""
    effects = project_dir / STATE_DIR / "effects"
    if not effects.is_dir() or effects.is_symlink():
        return []
    markers = sorted(effects.glob("*.json"), key=lambda p: p.lstat().st_mtime, reverse=True)
    patterns: list[CodePattern] = []
    for marker in markers[: MAX_ITEMS * 3]:
        if not marker.is_file() or marker.is_symlink():
            continue
        data = json.loads(marker.read_text())
        if isinstance(data, dict) and "code_type" in data:
            patterns.append(
                CodePattern(
                    project_id=project_id,
                    code_type=str(data["code_type"]),
                    features=[str(f) for f in data.get("features", [])],
                    files=[str(f) for f in data.get("files", [])],
                    commit=data.get("commit"),
                    run_id=data.get("run_id"),
                )
            )
    return patterns[:MAX_ITEMS]


def sessions_of(commands: Sequence[RecentCommand]) -> list[TerminalSession]:
    sessions: dict[tuple[str, str], TerminalSession] = {}
    for command in commands:  # oldest first: the last one seen is the latest
        key = (command.project_id, command.cwd)
        before = sessions.get(key)
        sessions[key] = TerminalSession(
            project_id=command.project_id,
            cwd=command.cwd,
            commands_run=(before.commands_run if before else 0) + 1,
            last_command_at=command.at,
            last_exit_code=command.exit_code,
        )
    return list(sessions.values())[-MAX_ITEMS:]


def build_workspace_context(
    workspace: Workspace,
    *,
    current: str | None,
    git_env: dict[str, str] | None,
    touched: Sequence[str] = (),
    commands: Sequence[RecentCommand] = (),
) -> WorkspaceContext:
    """The WorkspaceContext of ``workspace`` with ``current`` as the current project."""
    projects: list[Project] = []
    current_project: Project | None = None
    statuses: list[GitStatus] = []
    for project_id in workspace.project_ids()[:MAX_ITEMS]:
        project_dir = workspace.project_dir(project_id)
        is_repo = (project_dir / ".git").is_dir() and not (project_dir / ".git").is_symlink()
        repo = None
        if project_id == current and is_repo and git_env is not None:
            repo = GitRepo(project_dir, git_env)
        # One status call gives the branch and head too (each is a git process).
        info = repo.status() if repo is not None else None
        project = load_project(
            workspace,
            project_id,
            branch=info.branch if info else None,
            head=info.head if info else None,
        )
        projects.append(project)
        if project_id == current:
            current_project = project
            if info is not None:
                statuses.append(
                    GitStatus(
                        project_id=project_id,
                        branch=info.branch,
                        head=info.head,
                        clean=info.clean,
                        staged=info.staged[:100],
                        modified=info.modified[:100],
                        untracked=info.untracked[:100],
                    )
                )
    open_files: list[FileState] = []
    patterns: list[CodePattern] = []
    if current_project is not None:
        project_dir = workspace.project_dir(current_project.id)
        open_files = [file_state(project_dir, current_project.id, p) for p in touched[:MAX_ITEMS]]
        patterns = code_patterns(project_dir, current_project.id)
    return WorkspaceContext(
        active_projects=projects,
        current_project=current_project,
        terminal_sessions=sessions_of(commands),
        open_files=open_files,
        git_status=statuses,
        recent_commands=list(commands)[-MAX_ITEMS:],
        code_patterns=patterns,
    )
