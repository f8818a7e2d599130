"""File access inside one project that never follows a symlink.

Paths are checked first (``sandbox.check_user_path`` and ``sandbox.resolve_inside``); the
operations here then walk them one component at a time from the project directory with
``O_NOFOLLOW | O_DIRECTORY`` and act relative to the parent's descriptor (``dir_fd``).
A symlink swapped in between the check and the use is refused instead of followed, so
the check-then-use race cannot lead outside the project. Writes are atomic (a temporary
file in the same directory, then ``os.replace``).
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tasks.workspace.sandbox import (
    RESERVED_NAMES,
    SandboxEscapeError,
    SandboxInputError,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_MODE = 0o644
DIR_MODE = 0o755


@dataclass(frozen=True)
class Entry:
    """One directory entry as ``list`` reports it."""

    name: str
    kind: str  # "file" | "dir" | "symlink" | "other"
    size_bytes: int


def _symlink_refusal(path: PurePosixPath) -> SandboxEscapeError:
    return SandboxEscapeError(
        f"path {str(path)!r} goes through a symlink; symlinks are not followed",
        value=str(path),
        reason="symlink in path",
    )


def _check_structure(path: PurePosixPath) -> None:
    """Refuse an absolute path or a ``..``/empty component, whoever built ``path``.

    Callers check user paths first (``sandbox.check_user_path``); this catches what did
    not pass that gate -- a path read back from a manifest on disk, say. Our own state
    paths (``.orchestrator/...``) pass: the reserved-name rule is the callers'.
    """
    text = str(path)
    if path.is_absolute() or "\x00" in text or any(p in ("..", "") for p in path.parts):
        raise SandboxEscapeError(
            f"path {text!r} is absolute or climbs out ('..')",
            value=text,
            reason="unchecked path leaves the base",
        )


class ProjectFiles:
    """Symlink-safe file operations relative to one (project) directory."""

    def __init__(self, base: Path, *, max_file_bytes: int) -> None:
        self.base = base
        self.max_file_bytes = max_file_bytes

    def _open_dir(self, fd: int | None, name: str, path: PurePosixPath) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    raise _symlink_refusal(path) from exc
                raise SandboxInputError(
                    f"{str(path)!r}: {name!r} is not a directory",
                    value=str(path),
                    reason="not a directory",
                ) from exc
            raise

    @contextmanager
    def parent(self, path: PurePosixPath, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """``(descriptor of the parent directory, final name)``; parents made if ``create``."""
        _check_structure(path)
        fd = self._open_dir(None, str(self.base), path)
        try:
            for part in path.parts[:-1]:
                if create:
                    with suppress(FileExistsError):
                        os.mkdir(part, DIR_MODE, dir_fd=fd)
                child = self._open_dir(fd, part, path)
                os.close(fd)
                fd = child
            yield fd, path.name
        finally:
            os.close(fd)

    def lstat(self, path: PurePosixPath) -> os.stat_result | None:
        """The entry itself (a symlink is reported, not followed), or None if absent."""
        if path == PurePosixPath("."):
            return os.stat(self.base, follow_symlinks=False)
        try:
            with self.parent(path) as (fd, name):
                return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _open_file(self, path: PurePosixPath, fd: int, name: str, flags: int) -> int:
        try:
            handle = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _symlink_refusal(path) from exc
            if exc.errno == errno.EISDIR:
                raise SandboxInputError(
                    f"{str(path)!r} is a directory", value=str(path), reason="is a directory"
                ) from exc
            raise
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            os.close(handle)
            raise SandboxInputError(
                f"{str(path)!r} is not a regular file", value=str(path), reason="not a file"
            )
        if info.st_nlink > 1:
            # A hard link shares its content with another name, possibly outside the
            # project: reading or appending would reach that file.
            os.close(handle)
            raise SandboxEscapeError(
                f"{str(path)!r} is a hard link; hard-linked files are not used",
                value=str(path),
                reason="hard link",
            )
        return handle

    def read_bytes(self, path: PurePosixPath, *, limit_bytes: int | None = None) -> bytes:
        """The file's content; refused when larger than ``limit_bytes``."""
        limit = self.max_file_bytes if limit_bytes is None else limit_bytes
        with self.parent(path) as (fd, name):
            handle = self._open_file(path, fd, name, os.O_RDONLY)
            with os.fdopen(handle, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                if size > limit:
                    raise SandboxInputError(
                        f"{str(path)!r} is {size} bytes, more than the limit of {limit}",
                        value=str(path),
                        reason="file too large",
                    )
                return stream.read(limit + 1)[:limit]

    def _check_size(self, path: PurePosixPath, size: int) -> None:
        if size > self.max_file_bytes:
            raise SandboxInputError(
                f"{str(path)!r} would be {size} bytes, more than the limit of "
                f"{self.max_file_bytes}",
                value=str(path),
                reason="file too large",
            )

    def write_atomic(self, path: PurePosixPath, data: bytes) -> None:
        """Replace (or create) the file in one step: readers see old or new, never half."""
        self._check_size(path, len(data))
        with self.parent(path, create=True) as (fd, name):
            tmp = f".{name[:200]}.{uuid.uuid4().hex[:12]}.tmp"
            handle = self._open_file(path, fd, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                    stream.flush()
                    os.fsync(stream.fileno())
                # os.replace swaps the directory entry: a symlink at ``name`` is replaced,
                # never written through.
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException as exc:
                with suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=fd)
                if isinstance(exc, IsADirectoryError):
                    raise SandboxInputError(
                        f"{str(path)!r} is a directory", value=str(path), reason="is a directory"
                    ) from exc
                raise

    def append(self, path: PurePosixPath, data: bytes) -> int:
        """Append to (or create) the file; returns its new size."""
        with self.parent(path, create=True) as (fd, name):
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            handle = self._open_file(path, fd, name, flags)
            with os.fdopen(handle, "ab") as stream:
                self._check_size(path, os.fstat(stream.fileno()).st_size + len(data))
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
                return os.fstat(stream.fileno()).st_size

    def list_dir(self, path: PurePosixPath, *, hide_reserved: bool = True) -> list[Entry]:
        """The directory's entries, sorted by name (``.git`` and our state hidden)."""
        if path == PurePosixPath("."):
            fd = self._open_dir(None, str(self.base), path)
        else:
            with self.parent(path) as (parent_fd, name):
                fd = self._open_dir(parent_fd, name, path)
        entries: list[Entry] = []
        try:
            with os.scandir(fd) as scan:
                for item in scan:
                    if hide_reserved and item.name.lower() in RESERVED_NAMES:
                        continue
                    info = item.stat(follow_symlinks=False)
                    if stat.S_ISLNK(info.st_mode):
                        kind = "symlink"
                    elif stat.S_ISDIR(info.st_mode):
                        kind = "dir"
                    elif stat.S_ISREG(info.st_mode):
                        kind = "file"
                    else:
                        kind = "other"
                    entries.append(Entry(item.name, kind, info.st_size))
        finally:
            os.close(fd)
        return sorted(entries, key=lambda e: e.name)

    def move(self, source: PurePosixPath, destination: PurePosixPath) -> None:
        """Rename ``source`` to ``destination`` (which it replaces if it is a file)."""
        with (
            self.parent(source) as (src_fd, src_name),
            self.parent(destination, create=True) as (dst_fd, dst_name),
        ):
            os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)

    def delete(self, path: PurePosixPath) -> None:
        """Remove a file (or symlink itself) or an empty directory."""
        with self.parent(path) as (fd, name):
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                try:
                    os.rmdir(name, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ENOTEMPTY:
                        raise SandboxInputError(
                            f"directory {str(path)!r} is not empty; delete its files first",
                            value=str(path),
                            reason="directory not empty",
                        ) from exc
                    raise
            else:
                os.unlink(name, dir_fd=fd)

    def make_dir(self, path: PurePosixPath) -> None:
        """Create a directory (and its parents)."""
        with self.parent(path, create=True) as (fd, name), suppress(FileExistsError):
            os.mkdir(name, DIR_MODE, dir_fd=fd)
