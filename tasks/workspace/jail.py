"""The jail every terminal command runs in: new user, mount and PID namespaces, rlimits.

The worker starts (argv lists only, never a shell)::

    unshare --user --map-root-user --mount --pid --fork --kill-child --mount-proc -- \\
        <python> -E -s -m tasks.workspace.jail --project DIR [--hide DIR]... [--ro DIR]... \\
        [--limit NAME=N]... --cwd DIR --exec PATH -- <argv>

and :func:`main`, inside the new namespaces, before ``execve`` of the command:

* makes every mount private (nothing done here propagates back to the host);
* mounts an empty tmpfs over each ``--hide`` directory (the workspace root, so no other
  user's project exists in the jail; the data dir with the SQLite history and backups);
* bind-mounts the project back at its own path (from a descriptor opened before the hide);
* makes ``--ro`` directories read-only (the project's ``.git`` and ``.orchestrator``: code
  that rewrote ``.git/config`` would run later in the worker's own git operations);
* applies the rlimits, then ``execve`` with the environment it was given (already scrubbed).

The fresh ``/proc`` of the new PID namespace shows only the jail's processes: the worker's
``/proc/<pid>/environ`` is not there. Killing ``unshare`` kills the namespace's PID 1
(``--kill-child``) and with it every process of the namespace, ``setsid()`` ones included.

This module is started with ``python -E -s`` from the repository root and imports only the
standard library: it runs before the jail exists, so it must not import project code.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

#: Directory ``python -m tasks.workspace.jail`` must start in (the package's root).
REPO_ROOT = Path(__file__).resolve().parents[2]
UNSHARE_FLAGS = (
    "--user",
    "--map-root-user",
    "--mount",
    "--pid",
    # No network: project code must not reach the broker, Redis or Postgres (a forged
    # Celery message could run any task as any user). Only a loopback that is down.
    "--net",
    "--fork",
    "--kill-child",
    "--mount-proc",
)
#: Where ``unshare`` is looked up (never the worker's PATH).
_SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_PROBE_TIMEOUT_S = 10.0

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME = 1024, 2048, 1 << 21
#: statvfs flags that a remount inside a user namespace must keep (they are locked).
_LOCKED_FLAGS = {
    os.ST_NOSUID: _MS_NOSUID,
    os.ST_NODEV: _MS_NODEV,
    os.ST_NOEXEC: _MS_NOEXEC,
    os.ST_NOATIME: _MS_NOATIME,
    os.ST_NODIRATIME: _MS_NODIRATIME,
    os.ST_RELATIME: _MS_RELATIME,
}
LIMITS = {
    "nproc": resource.RLIMIT_NPROC,
    "as": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "cpu": resource.RLIMIT_CPU,
    "core": resource.RLIMIT_CORE,
}


def unshare_path() -> str | None:
    """util-linux's ``unshare`` on the system path, if installed."""
    return shutil.which("unshare", path=_SYSTEM_PATH)


@functools.cache
def namespaces_available() -> bool:
    """Whether this host can create the jail's namespaces (probed once per process)."""
    unshare = unshare_path()
    if unshare is None:
        return False
    try:
        # argv list, no shell; `true` inside the same namespaces the jail uses.
        probe = subprocess.run(  # noqa: S603
            [unshare, *UNSHARE_FLAGS, "--", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def jail_argv(
    argv: list[str],
    *,
    unshare: str,
    executable: str,
    project_dir: Path,
    cwd: Path,
    hide: list[Path],
    read_only: list[Path],
    limits: dict[str, int],
) -> list[str]:
    """The argv that runs ``argv`` (found at ``executable``) inside the jail."""
    jail = [unshare, *UNSHARE_FLAGS, "--", sys.executable, "-E", "-s", "-m", __name__]
    jail += ["--project", str(project_dir)]
    for directory in hide:
        jail += ["--hide", str(directory)]
    for directory in read_only:
        jail += ["--ro", str(directory)]
    for name, value in limits.items():
        jail += ["--limit", f"{name}={value}"]
    return [*jail, "--cwd", str(cwd), "--exec", executable, "--", *argv]


# --- inside the jail --------------------------------------------------------------------


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    encoded = [None if v is None else v.encode() for v in (source, target, fstype)]
    if libc.mount(*encoded, ctypes.c_ulong(flags), data.encode() or None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _locked_flags(path: str) -> int:
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in _LOCKED_FLAGS.items() if flags & st)


def _bind_read_only(path: str) -> None:
    _mount(path, path, None, _MS_BIND | _MS_REC, "")
    flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _locked_flags(path)
    _mount(None, path, None, flags, "")


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as info:
        # Field 5 is the mount point (octal escapes for spaces are rare; skipped below).
        return [line.split()[4] for line in info]


def _read_only_host(writable: list[str]) -> None:
    """Every mount read-only except ``writable`` ones (and /proc, /dev): inside a user
    namespace mapped to the worker's uid, uid-owned host files would otherwise be writable
    (the virtualenv's site-packages, /etc)."""
    keep = ["/proc", "/dev", "/sys", *writable]
    for point in sorted(set(_mount_points()), key=len):
        if "\\" in point or any(point == k or point.startswith(k.rstrip("/") + "/") for k in keep):
            continue
        try:
            flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _locked_flags(point)
            _mount(None, point, None, flags, "")
        except OSError as exc:
            if point == "/":
                raise  # the root must be read-only; other mounts are best effort
            print(f"jail: {point} stays writable: {exc}", file=sys.stderr, flush=True)


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tasks.workspace.jail")
    parser.add_argument("--project", required=True)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--ro", action="append", default=[])
    parser.add_argument("--limit", action="append", default=[])
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--exec", required=True, dest="executable")
    # Split by hand at the first "--": argparse would also eat a "--" of the command.
    if "--" not in args or args.index("--") == len(args) - 1:
        parser.error("the command follows a '--'")
    split = args.index("--")
    options = parser.parse_args(args[:split])
    options.argv = args[split + 1 :]
    return options


def enter(options: argparse.Namespace) -> None:
    """Set up the mounts and limits of the jail in the current (new) namespaces."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, "")
    project = os.path.realpath(options.project)
    # A private /tmp: the host's holds other processes' files (and sockets).
    # /dev/shm too: the worker's semaphores and shared memory live there.
    hidden = [os.path.realpath(d) for d in [*options.hide, "/tmp", "/dev/shm"]]  # noqa: S108
    # What the command needs back once the tmpfs mounts cover it: the project, and the
    # interpreter and its environment when they live under a hidden directory (a
    # checkout with its .venv under /tmp, say). Opened first: the only way back later.
    needed = [project] + [
        p
        for p in {
            os.path.realpath(sys.prefix),
            os.path.realpath(sys.base_prefix),
            os.path.dirname(os.path.realpath(options.executable)),
        }
        if any(_under(p, h) for h in hidden)
    ]
    for path in needed[1:]:
        # Binding back a directory that holds a hidden one (or the project) would cover
        # what was just hidden or bound: refuse instead of relying on mount semantics.
        if any(_under(h, path) for h in hidden) or _under(project, path):
            raise OSError(f"the interpreter's directory {path} holds a hidden directory")
    fds = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in needed}
    for directory in hidden:
        if os.path.isdir(directory):
            _mount("tmpfs", directory, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64m,mode=1777")
    for path, fd in fds.items():
        os.makedirs(path, exist_ok=True)  # inside a tmpfs when it was hidden
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC, "")
        os.close(fd)
        if path != project:
            # Under a kept-writable /tmp, but the interpreter must not be writable.
            _bind_read_only(path)
    # Only the project and the jail's own /tmp stay writable; the interpreter does not.
    _read_only_host([project, "/tmp"])  # noqa: S108 -- the jail's own tmpfs
    for directory in options.ro:
        if os.path.isdir(directory) and not os.path.islink(directory):
            _bind_read_only(directory)
    os.chdir(options.cwd)
    for item in options.limit:
        name, value = item.split("=", 1)
        resource.setrlimit(LIMITS[name], (int(value), int(value)))


def main(args: list[str] | None = None) -> None:
    """Entry point inside the namespaces: set up the jail, then become the command."""
    options = _parse(sys.argv[1:] if args is None else args)
    try:
        enter(options)
    except OSError as exc:
        # 126: "found but cannot run"; the command never started without its jail.
        print(f"jail setup failed: {exc}", file=sys.stderr, flush=True)
        os._exit(126)
    # argv list, no shell: the allow-list checked it; the environment is the scrubbed one.
    os.execve(options.executable, options.argv, dict(os.environ))  # noqa: S606


if __name__ == "__main__":
    main()
