"""The workspace sandbox: every path a task names stays inside the user's own project.

Workspaces live at ``<root>/<user_id>/<project_id>/``. The user directory comes from the
run's user (validated when the run was submitted), never from a parameter, so one user
never names another user's files.

A path parameter passes two gates:

1. :func:`check_relative_path` -- pure, on the string: refuses what is malformed
   (:class:`SandboxInputError`) or plainly leaves the project (:class:`SandboxEscapeError`).
   Decisions worth knowing:

   * ``..`` as a component, absolute paths, ``~`` prefixes and drive letters (``C:``) are
     escapes. Backslashes are refused outright (they are separators elsewhere).
   * Percent-escapes (``%2e``, ``%2F``, ``%5c``, ...) are refused, never decoded: nothing
     here decodes them, but a later layer (a URL, a web UI) might, so a name that *looks*
     encoded is refused; if decoding it would traverse, it is reported as an escape.
   * Text is compared in Unicode NFKC form: a name whose NFKC form differs (fullwidth dots
     ``U+FF0E U+FF0E``, ligatures) is a lookalike and refused; it is an escape if the NFKC form is.
     Control, format (bidi overrides) and surrogate characters are refused.
   * A component made only of dots other than ``.`` (``...``, ``....``) and empty components
     (``a//b``) are refused; a component starting with ``-`` is refused (option injection
     when the path reaches an argv). Components are at most 255 bytes, paths 1024 bytes.

2. :func:`resolve_inside` -- on the file system: ``realpath`` (symlinks followed) must stay
   within the resolved project directory. File operations then re-walk the path with
   ``O_NOFOLLOW`` (``tasks.workspace.files``), which closes the check-then-use race.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import unquote

from tasks.errors import InvalidInputError, PermissionDeniedError

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024
#: Names inside a project that tasks never touch through a path parameter: git's own
#: files (a written ``.git/config`` could name a program git runs) and our backups/markers.
RESERVED_NAMES = frozenset({".git", ".orchestrator"})
#: The orchestrator's own directory inside each project and each user directory.
STATE_DIR = ".orchestrator"

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_PERCENT_ESCAPE_RE = re.compile(r"%[0-9A-Fa-f]{2}")
#: Project ids: one portable path component.
_PROJECT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
#: The orchestrator's own rule for user ids (orchestrator.control.USER_ID_RE).
_USER_ID_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
#: Unicode categories refused in names: control, format, surrogates, private use,
#: unassigned, line/paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _shown(value: object) -> str:
    # The audit log keeps the rejected value's repr, bounded so a 5000-char path stays small.
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


class SandboxEscapeError(PermissionDeniedError):
    """A path, argument or ref would leave the user's project (or do what is not allowed)."""

    #: No strategy makes a hostile path safe: fail at once.
    recoverable: ClassVar[bool] = False

    def __init__(self, message: str, *, value: object, reason: str, **details: Any) -> None:
        super().__init__(message, value=_shown(value), reason=reason, **details)
        self.reason = reason


class SandboxInputError(InvalidInputError):
    """A path, argument or ref is malformed (NUL, too long, encoded, lookalike...)."""

    recoverable: ClassVar[bool] = False

    def __init__(self, message: str, *, value: object, reason: str, **details: Any) -> None:
        super().__init__(message, value=_shown(value), reason=reason, **details)
        self.reason = reason


def _escape_reason(text: str) -> str | None:
    """Why ``text`` (already split on '/') would leave its base directory, if it would."""
    if text.startswith("/"):
        return "absolute path"
    if _DRIVE_RE.match(text):
        return "drive letter"
    if text.startswith("~"):
        return "home directory reference"
    if ".." in text.split("/"):
        return "parent directory reference '..'"
    return None


def _refuse_transformed(raw: str, transformed: str, what: str) -> None:
    """``raw`` is malformed; it is an escape if its ``transformed`` reading would be one."""
    reason = _escape_reason(transformed.replace("\\", "/"))
    if reason is not None:
        raise SandboxEscapeError(
            f"path {_shown(raw)} leaves the project ({what} hiding a {reason})",
            value=raw,
            reason=f"{what}: {reason}",
        )
    raise SandboxInputError(f"path {_shown(raw)} is refused: {what}", value=raw, reason=what)


def _fully_decoded(text: str) -> str:
    # Double encodings (%252e) decode in more than one round.
    for _ in range(4):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _check_characters(raw: str) -> None:
    if "\x00" in raw:
        raise SandboxInputError("path contains a NUL byte", value=raw, reason="NUL byte")
    bad = next((c for c in raw if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        raise SandboxInputError(
            f"path {_shown(raw)} contains the control or format character U+{ord(bad):04X}",
            value=raw,
            reason="control or format character",
        )
    if len(raw.encode()) > MAX_PATH_BYTES:
        raise SandboxInputError(
            f"path is longer than {MAX_PATH_BYTES} bytes", value=raw, reason="path too long"
        )
    if any(len(part.encode()) > MAX_COMPONENT_BYTES for part in raw.split("/")):
        raise SandboxInputError(
            f"a path component is longer than {MAX_COMPONENT_BYTES} bytes",
            value=raw,
            reason="component too long",
        )


def check_relative_path(raw: str) -> PurePosixPath:
    """``raw`` as a safe relative path inside a project, or a refusal.

    ``"."`` names the project directory itself; a single trailing ``/`` is allowed.
    """
    if not isinstance(raw, str) or not raw:
        raise SandboxInputError("path is empty", value=raw, reason="empty path")
    _check_characters(raw)
    reason = _escape_reason(raw)
    if reason is not None:
        raise SandboxEscapeError(
            f"path {_shown(raw)} leaves the project ({reason})", value=raw, reason=reason
        )
    if "\\" in raw:
        _refuse_transformed(raw, raw, "backslash")
    if _PERCENT_ESCAPE_RE.search(raw):
        _refuse_transformed(raw, _fully_decoded(raw), "percent-encoding")
    normal = unicodedata.normalize("NFKC", raw)
    if normal != raw:
        _refuse_transformed(raw, normal, "Unicode lookalike (not NFKC)")
    if raw == ".":
        return PurePosixPath(".")
    parts = (raw[:-1] if raw.endswith("/") else raw).split("/")
    kept: list[str] = []
    for part in parts:
        if part == "":
            raise SandboxInputError(
                f"path {_shown(raw)} has an empty component", value=raw, reason="empty component"
            )
        if part == ".":
            continue
        if set(part) == {"."}:
            raise SandboxInputError(
                f"path {_shown(raw)} has a component made only of dots",
                value=raw,
                reason="dots-only component",
            )
        if part.startswith("-"):
            raise SandboxInputError(
                f"path {_shown(raw)} has a component starting with '-' (option injection)",
                value=raw,
                reason="leading dash",
            )
        kept.append(part)
    return PurePosixPath(*kept) if kept else PurePosixPath(".")


def check_user_path(raw: str) -> PurePosixPath:
    """:func:`check_relative_path`, and not inside ``.git`` or the orchestrator's state."""
    path = check_relative_path(raw)
    reserved = next((p for p in path.parts if p.lower() in RESERVED_NAMES), None)
    if reserved is not None:
        raise SandboxEscapeError(
            f"path {_shown(raw)} is inside {reserved}, which tasks may not touch",
            value=raw,
            reason=f"reserved name {reserved}",
        )
    return path


def check_project_id(raw: str) -> str:
    """A project id: one portable path component (letters, digits, '_', '.', '-')."""
    check_relative_path(raw)
    if not _PROJECT_ID_RE.fullmatch(raw) or set(raw) == {"."}:
        raise SandboxInputError(
            f"project id {_shown(raw)} must be 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            value=raw,
            reason="bad project id",
        )
    return raw


def resolve_inside(base: Path, relative: PurePosixPath) -> Path:
    """``base / relative`` with symlinks resolved; refused unless it stays within ``base``."""
    real_base = Path(os.path.realpath(base))
    real = Path(os.path.realpath(real_base / relative))
    if not real.is_relative_to(real_base):
        raise SandboxEscapeError(
            f"path {str(relative)!r} resolves outside the project (through a symlink)",
            value=str(relative),
            reason="symlink escape",
        )
    return real


def _real_directory(path: Path, what: str) -> None:
    """``path`` is a directory and not a symlink (created if missing, private)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise SandboxEscapeError(
            f"{what} {path.name!r} is not a plain directory", value=path.name, reason="not a dir"
        )


class Workspace:
    """One user's workspace directory and its projects."""

    def __init__(self, root: Path, user_id: str) -> None:
        # Validated at submission already; checked again because it becomes a directory.
        if not _USER_ID_RE.fullmatch(user_id) or set(user_id) == {"."}:
            raise SandboxEscapeError(
                f"user id {_shown(user_id)} cannot name a workspace",
                value=user_id,
                reason="bad user id",
            )
        root.mkdir(parents=True, exist_ok=True)
        self.root = Path(os.path.realpath(root))
        self.user_id = user_id
        self.user_dir = self.root / user_id
        _real_directory(self.user_dir, "user directory")
        self.state_dir = self.user_dir / STATE_DIR
        _real_directory(self.state_dir, "workspace state directory")

    def project_dir(self, project_id: str, *, must_exist: bool = True) -> Path:
        """The project's directory: a real directory directly inside the user directory."""
        path = self.user_dir / check_project_id(project_id)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            if must_exist:
                raise
            return path
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise SandboxEscapeError(
                f"project {project_id!r} is not a plain directory (a symlink?)",
                value=project_id,
                reason="project is not a plain directory",
            )
        return path

    def project_ids(self) -> list[str]:
        """Every project directory of this user, sorted."""
        names: list[str] = []
        with os.scandir(self.user_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and _PROJECT_ID_RE.fullmatch(entry.name):
                    names.append(entry.name)
        return sorted(names)
