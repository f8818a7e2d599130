"""FILE_OPERATION: read, write, append, list, move and delete files inside a project.

Every path passes the sandbox (``check_user_path`` then ``resolve_inside``) and is used
without following symlinks (``ProjectFiles``). Writes, appends, moves and deletes back up
what they replace first (``EffectJournal``); :func:`undo_file_operation`, the registered
compensation, restores it. A redelivered task returns its recorded output; a retry of an
append whose first attempt stopped before recording it completes the append once
(:func:`_append_once`), never twice.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field

from orchestrator.history.audit import AuditAction
from orchestrator.models.base import StrictModel
from orchestrator.models.params import FileOperationKind, FileOperationParams
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, ResourceConflictError, ResourceUnavailableError
from tasks.registry import Inputs
from tasks.workspace.common import (
    AlreadyExistsError,
    Scope,
    audits_refusals,
    existing_project,
    publish_context,
)
from tasks.workspace.files import ProjectFiles
from tasks.workspace.journal import EffectJournal
from tasks.workspace.sandbox import SandboxInputError, check_user_path, resolve_inside

CHANGING = frozenset(
    {
        FileOperationKind.WRITE,
        FileOperationKind.APPEND,
        FileOperationKind.MOVE,
        FileOperationKind.DELETE,
    }
)


class FileEntry(StrictModel):
    name: str
    kind: str
    size_bytes: int


class FileOperationResult(StrictModel):
    project_id: str
    operation: FileOperationKind
    path: str
    destination: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    #: READ: the file's text.
    content: str | None = None
    #: LIST: the directory's entries.
    entries: list[FileEntry] = Field(default_factory=list)
    #: Changing operations: the key their backup is kept under (for the compensation).
    effect_key: str | None = None


def _checked(project_dir: Any, raw: str) -> PurePosixPath:
    path = check_user_path(raw)
    resolve_inside(project_dir, path)
    return path


def _not_root(path: PurePosixPath, operation: str) -> None:
    if path == PurePosixPath("."):
        raise SandboxInputError(
            f"{operation} needs a file, not the project directory",
            value=str(path),
            reason="project directory itself",
        )


def _read(files: ProjectFiles, path: PurePosixPath, limit_bytes: int) -> tuple[str, bytes]:
    data = files.read_bytes(path, limit_bytes=limit_bytes)
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{str(path)!r} is not UTF-8 text", path=str(path)) from exc


def _append_once(
    files: ProjectFiles, journal: EffectJournal, path: PurePosixPath, data: bytes
) -> None:
    """A retried append: the file ends as backup + ``data`` exactly once.

    The first attempt may have appended all, part or none of ``data`` before it stopped;
    each leaves the file a prefix of the expected result, which is then written whole.
    Anything else means the file changed since the first attempt: a conflict, never a
    second append.
    """
    before = journal.saved_content(path)
    base = before or b""
    expected = base + data
    current = files.read_bytes(path) if files.lstat(path) is not None else None
    if current is None and before is None:
        between = True  # the first attempt stopped before it created the file
    else:
        between = current is not None and current.startswith(base) and expected.startswith(current)
    if not between:
        raise ResourceConflictError(f"{str(path)!r} changed since the first attempt")
    if current != expected:
        files.write_atomic(path, expected)


def _change(
    params: FileOperationParams,
    files: ProjectFiles,
    journal: EffectJournal,
    path: PurePosixPath,
    destination: PurePosixPath | None,
) -> tuple[int | None, str | None]:
    """Back up, then act; returns the size and digest of the resulting file."""
    operation = params.operation
    exists = files.lstat(path) is not None
    if operation in (FileOperationKind.WRITE, FileOperationKind.APPEND):
        if params.content is None:
            raise InvalidInputError(f"{operation.value} needs content")
        resumed = journal.manifest() is not None
        journal.backup([path])
        data = params.content.encode()
        if operation is FileOperationKind.WRITE:
            files.write_atomic(path, data)
        elif resumed:
            _append_once(files, journal, path, data)
        else:
            files.append(path, data)
        final = files.read_bytes(path)
        return len(final), hashlib.sha256(final).hexdigest()
    if operation is FileOperationKind.DELETE:
        if not exists and journal.manifest() is None:
            raise ResourceUnavailableError(f"{str(path)!r} does not exist", path=str(path))
        journal.backup([path])
        if exists:
            files.delete(path)
        return None, None
    # MOVE
    if destination is None:
        raise InvalidInputError("move needs a destination")
    _not_root(destination, "move")
    if not exists and journal.manifest() is not None:
        return None, None  # moved by an earlier attempt that ended before recording it
    info = files.lstat(path)
    if info is None or not stat.S_ISREG(info.st_mode):
        raise ResourceUnavailableError(f"{str(path)!r} is not an existing file", path=str(path))
    target = files.lstat(destination)
    if target is not None and (not params.overwrite or not stat.S_ISREG(target.st_mode)):
        raise AlreadyExistsError(
            f"{str(destination)!r} exists (set overwrite to replace a file)",
            destination=str(destination),
        )
    journal.backup([path, destination])
    files.move(path, destination)
    return info.st_size, None


@audits_refusals
def file_operation(
    params: FileOperationParams, inputs: Inputs, ctx: HandlerContext
) -> FileOperationResult:
    settings = ctx.runtime.settings
    scope = Scope.of(ctx)
    project_id, project_dir = existing_project(scope, params.project_id, inputs, ctx)
    path = _checked(project_dir, params.path)
    destination = _checked(project_dir, params.destination) if params.destination else None
    files = ProjectFiles(project_dir, max_file_bytes=settings.workspace_max_file_bytes)
    result = FileOperationResult(
        project_id=project_id,
        operation=params.operation,
        path=str(path),
        destination=None if destination is None else str(destination),
    )
    if params.operation is FileOperationKind.READ:
        text, data = _read(files, path, settings.workspace_max_read_bytes)
        result.content, result.size_bytes = text, len(data)
        result.sha256 = hashlib.sha256(data).hexdigest()
    elif params.operation is FileOperationKind.LIST:
        result.entries = [
            FileEntry(name=e.name, kind=e.kind, size_bytes=e.size_bytes)
            for e in files.list_dir(path)
        ]
    else:
        _not_root(path, params.operation.value)
        with scope.state.lock(project_id):
            journal = EffectJournal.of(project_dir, ctx.effect_key, settings)
            recorded = journal.recorded_output()
            if recorded is not None:
                return FileOperationResult.model_validate(recorded)
            result.size_bytes, result.sha256 = _change(params, files, journal, path, destination)
            result.effect_key = ctx.effect_key
            journal.record_output(result)
        ctx.audit(
            AuditAction.FILE_CHANGED,
            project_id=project_id,
            operation=params.operation.value,
            path=result.path,
            destination=result.destination,
            sha256=result.sha256,
        )
    touched = [p for p in (result.path, result.destination) if p and p != "."]
    publish_context(ctx, scope, project_id, touched)
    return result


def undo_file_operation(
    params: FileOperationParams, output: dict[str, Any], ctx: HandlerContext
) -> None:
    """Compensation: put back what a write, append, move or delete replaced."""
    effect_key = output.get("effect_key")
    if FileOperationKind(output.get("operation", "read")) not in CHANGING or not effect_key:
        return  # reads and lists change nothing
    scope = Scope.of(ctx)
    project_id = str(output["project_id"])
    project_dir = scope.workspace.project_dir(project_id)
    with scope.state.lock(project_id):
        journal = EffectJournal.of(project_dir, effect_key, ctx.runtime.settings)
        restored = journal.restore()
        journal.retire()
    ctx.audit(
        AuditAction.FILE_CHANGED,
        project_id=project_id,
        operation=f"undo {output.get('operation')}",
        restored=restored,
        compensation=True,
    )
