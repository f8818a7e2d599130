"""Checks of what git_operation passes to git: ref names, revisions, remotes.

All pure (strings only) except :func:`check_push_target`, which looks at a local push
target on disk.

Ref names follow ``git check-ref-format --branch`` (reimplemented, so the check needs no
process), plus our own rule that nothing starts with ``-``: git would read it as an option
(``--upload-pack=...``). Every refusal is a sandbox refusal, audited by the handler.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

from tasks.workspace.git_ops import REMOTE_MARKER
from tasks.workspace.sandbox import SandboxEscapeError, SandboxInputError

MAX_REF_BYTES = 255
#: Characters git forbids in ref names (check-ref-format rules 4 and 5, and '\\').
_FORBIDDEN_REF_CHARS = frozenset(" ~^:?*[\\")
_SHA_RE = re.compile(r"^[0-9a-fA-F]{4,40}$")
#: A revision is a name (or sha) with an optional chain of ~N / ^N ancestry suffixes.
_SUFFIX_RE = re.compile(r"(?:[~^][0-9]{0,3})*$")
#: Remote transports a push may use when the URL is allow-listed (never ext::, fd::).
REMOTE_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})


def _refuse(value: str, reason: str) -> SandboxInputError:
    return SandboxInputError(f"ref {value!r} is refused: {reason}", value=value, reason=reason)


def check_ref_name(name: str) -> str:
    """``name`` if git would accept it as a branch or tag name; else a refusal.

    The rules of ``git check-ref-format`` (one-level names allowed, as ``--branch`` does):
    no component starting with '.' or ending with '.lock'; no '..'; no control characters,
    space, '~', '^', ':', '?', '*', '[' or '\\'; no leading, trailing or doubled '/'; no
    trailing '.'; no '@{'; not '@' alone. Ours: no leading '-', not 'HEAD', at most 255
    bytes.
    """
    if not name:
        raise _refuse(name, "empty name")
    if name.startswith("-"):
        raise _refuse(name, "starts with '-' (option injection)")
    if len(name.encode()) > MAX_REF_BYTES:
        raise _refuse(name, f"longer than {MAX_REF_BYTES} bytes")
    bad = next((c for c in name if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise _refuse(name, "control character")
    forbidden = sorted(set(name) & _FORBIDDEN_REF_CHARS)
    if forbidden:
        raise _refuse(name, f"forbidden character(s) {''.join(forbidden)!r}")
    if ".." in name:
        raise _refuse(name, "contains '..'")
    if "@{" in name:
        raise _refuse(name, "contains '@{'")
    if name == "@" or name == "HEAD":
        raise _refuse(name, f"{name!r} is reserved")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise _refuse(name, "leading, trailing or doubled '/'")
    if name.endswith("."):
        raise _refuse(name, "ends with '.'")
    for part in name.split("/"):
        if part.startswith("."):
            raise _refuse(name, "a component starts with '.'")
        if part.endswith(".lock"):
            raise _refuse(name, "a component ends with '.lock'")
    return name


def check_revision(revision: str) -> str:
    """A commit-ish: a sha, ``HEAD`` or a ref name, optionally followed by ``~N``/``^N``."""
    if not revision or revision.startswith("-"):
        raise _refuse(revision, "empty or starts with '-' (option injection)")
    suffix = _SUFFIX_RE.search(revision)
    base = revision[: suffix.start()] if suffix else revision
    if base == "HEAD" or _SHA_RE.fullmatch(base):
        return revision
    check_ref_name(base)
    return revision


def _url_allowed(remote: str, prefix: str) -> bool:
    """``remote`` is ``prefix``'s scheme, host and port exactly, under ``prefix``'s path.

    Parsed, not compared as strings: ``https://git.example.com.evil/`` or
    ``https://git.example.com@evil/`` never match ``https://git.example.com/``.
    """
    url, allowed = urlsplit(remote), urlsplit(prefix)
    try:
        same_port = url.port == allowed.port
    except ValueError:
        return False  # a port that is not a number
    if not (
        url.scheme.lower() == allowed.scheme.lower()
        and url.hostname is not None
        and url.hostname == allowed.hostname
        and same_port
        and url.username == allowed.username
        and url.password is None
        and not url.query
        and not url.fragment
    ):
        return False
    if ".." in url.path.split("/") or "%" in url.path:
        return False  # a path that would climb out of the prefix once normalised
    base = allowed.path
    return url.path == base.rstrip("/") or url.path.startswith(base.rstrip("/") + "/")


def check_remote(remote: str, *, user_dir: Path, allowlist: list[str]) -> str:
    """The URL or path a push may go to, or a refusal.

    Allowed: a local repository inside the user's own workspace (a path, or a ``file://``
    URL; :func:`check_push_target` then checks the repository itself), or a URL whose
    scheme, host, port and path prefix match an ``allowlist`` entry over a known transport.
    Relative paths are taken from the user directory.
    """
    if not remote or remote.startswith("-"):
        raise SandboxInputError(
            f"remote {remote!r} is empty or starts with '-'", value=remote, reason="bad remote"
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in remote) or "::" in remote:
        raise SandboxInputError(
            f"remote {remote!r} holds control characters or a '::' transport",
            value=remote,
            reason="bad remote",
        )
    scheme = urlsplit(remote).scheme.lower()
    local = scheme in ("", "file") and ":" not in remote.removeprefix("file:")
    if local:
        raw = remote.removeprefix("file://")
        path = Path(os.path.realpath(user_dir / raw))
        if path.is_relative_to(Path(os.path.realpath(user_dir))):
            return str(path)
        raise SandboxEscapeError(
            f"remote {remote!r} is outside your workspace", value=remote, reason="remote escape"
        )
    if scheme in REMOTE_SCHEMES and any(
        _url_allowed(remote, prefix) for prefix in allowlist if prefix
    ):
        return remote
    raise SandboxEscapeError(
        f"remote {remote!r} is not on the remote allow-list (ORCH_GIT_REMOTE_ALLOWLIST)",
        value=remote,
        reason="remote not allowed",
    )


def check_push_target(target: Path, *, user_dir: Path) -> Path:
    """A local push target, only if it is a bare repository the orchestrator made.

    A local push runs the *target's* ``receive-pack`` with the target's own config (git
    drops our ``-c`` for it), so the target must be: a direct child of the user directory
    (never inside a project, where tasks write files), a real directory without ``.git``,
    holding the :data:`~tasks.workspace.git_ops.REMOTE_MARKER` file that
    :meth:`GitRepo.init_bare_remote` writes. Its config is checked by the push itself.
    """
    real_user = Path(os.path.realpath(user_dir))
    shown = target.name

    def refuse(reason: str) -> SandboxEscapeError:
        return SandboxEscapeError(
            f"push target {shown!r} refused: {reason}", value=shown, reason=reason
        )

    if target.parent != real_user:
        raise refuse("not directly in the user directory (inside a project?)")
    try:
        info = os.lstat(target)
        marker = os.lstat(target / REMOTE_MARKER)
    except FileNotFoundError as exc:
        raise refuse("not a remote made by the orchestrator (no marker)") from exc
    if not stat.S_ISDIR(info.st_mode) or os.path.lexists(target / ".git"):
        raise refuse("not a bare repository")
    if not stat.S_ISREG(marker.st_mode) or marker.st_nlink > 1:
        raise refuse("marker is not a plain file")
    return target
