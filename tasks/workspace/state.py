"""Per-user workspace state kept next to the projects: ``<root>/<user>/.orchestrator/``.

* ``state.json`` -- the current project (the one the user's last workspace task used);
* ``commands.jsonl`` -- recent terminal commands, one JSON line each, trimmed to the last
  :data:`KEEP_COMMANDS` (the audit log keeps the complete record);
* ``locks/<name>.lock`` -- ``flock`` locks, so two tasks (threads or worker processes)
  never change one project at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import PurePosixPath

from pydantic import ValidationError

from tasks.workspace.context import RecentCommand
from tasks.workspace.files import ProjectFiles
from tasks.workspace.sandbox import STATE_DIR, Workspace, check_project_id

KEEP_COMMANDS = 200
#: Trim the commands log when it grows past this many bytes.
_TRIM_AT_BYTES = 512_000
_STATE = PurePosixPath(STATE_DIR, "state.json")
_COMMANDS = PurePosixPath(STATE_DIR, "commands.jsonl")


class UserState:
    """The user's current project, recent commands and locks."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.files = ProjectFiles(workspace.user_dir, max_file_bytes=4 * _TRIM_AT_BYTES)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive lock named ``name`` (a project id) for this user."""
        check_project_id(name)
        locks = PurePosixPath(STATE_DIR, "locks")
        self.files.make_dir(locks)
        with self.files.parent(locks / f"{name}.lock") as (fd, file_name):
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            handle = os.open(file_name, flags, 0o600, dir_fd=fd)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # closing releases the lock

    def current_project(self) -> str | None:
        if self.files.lstat(_STATE) is None:
            return None
        try:
            value = json.loads(self.files.read_bytes(_STATE)).get("current_project")
        except (ValueError, AttributeError):
            return None  # a damaged state file only loses the default project
        return value if isinstance(value, str) else None

    def set_current_project(self, project_id: str) -> None:
        if self.current_project() != project_id:
            payload = json.dumps({"current_project": project_id}).encode()
            self.files.write_atomic(_STATE, payload)

    def append_command(self, command: RecentCommand) -> None:
        line = (command.model_dump_json() + "\n").encode()
        with self.lock("commands-log"):
            size = self.files.append(_COMMANDS, line)
            if size > _TRIM_AT_BYTES:
                kept = self.files.read_bytes(_COMMANDS).splitlines(keepends=True)
                self.files.write_atomic(_COMMANDS, b"".join(kept[-KEEP_COMMANDS:]))

    def recent_commands(self, limit: int = 20) -> list[RecentCommand]:
        """The last ``limit`` commands, oldest first (damaged lines are skipped)."""
        if self.files.lstat(_COMMANDS) is None:
            return []
        commands: list[RecentCommand] = []
        for line in self.files.read_bytes(_COMMANDS).splitlines()[-limit:]:
            with contextlib.suppress(ValidationError, ValueError):
                commands.append(RecentCommand.model_validate_json(line))
        return commands
