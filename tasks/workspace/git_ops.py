"""Git, hardened: every command runs with hooks, fsmonitor and outside config switched off.

Each command gets (through GitPython's command layer, argv only, never a shell):

* ``GIT_DIR=<project>/.git`` and ``GIT_WORK_TREE=<project>`` always: git never *discovers*
  a repository, so a crafted bare repository written into the project (a ``HEAD``,
  ``config``, ``objects/`` and ``refs/`` in some directory) is never opened, and
  ``safe.bareRepository=explicit`` refuses one should discovery ever happen;
* ``GIT_CONFIG_COUNT`` config -- the highest precedence there is, above the repository's
  own ``.git/config`` -- setting ``core.hooksPath=/dev/null`` (no hook runs, including
  ``post-commit``), ``core.fsmonitor=false``, no pager, ssh command, alternate-refs
  command or external diff, ``protocol.allow=never`` (a push allows its one transport),
  and no credential helper;
* ``GIT_CONFIG_NOSYSTEM=1`` and ``GIT_CONFIG_GLOBAL=/dev/null`` (no system or user config),
  ``HOME`` the project, no terminal prompts, ``GIT_LITERAL_PATHSPECS=1`` (a path is a
  path, never a ``:(glob)`` magic pathspec);
* ``--no-ext-diff --no-textconv`` on diff and log, so no configured program runs.

``include.path`` cannot be switched off from outside, so before its first command a
:class:`GitRepo` reads the repository's own ``.git/config`` (``--no-includes``) and refuses
any key off a short allow-list (:func:`check_repo_config`). Users cannot write inside
``.git`` through a task (a reserved name); this is defence in depth.

Commits carry an ``Orchestrator-Effect: <effect key>`` trailer: a retry finds the commit
its earlier attempt made instead of committing twice.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from git.cmd import Git

from tasks.errors import InvalidInputError, ResourceConflictError, ResourceUnavailableError
from tasks.workspace.sandbox import SandboxEscapeError

DEFAULT_BRANCH = "main"
EFFECT_TRAILER = "Orchestrator-Effect"
#: Config forced on every command (name, value). Empty values switch a program off.
HARDENING: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("core.pager", "cat"),
    # "ssh" from PATH, not a command the repository names.
    ("core.sshCommand", "ssh"),
    # A harmless program: the repository's own value would run through a shell.
    ("core.alternateRefsCommand", "true"),
    ("diff.external", ""),
    ("safe.bareRepository", "explicit"),
    ("protocol.allow", "never"),
    ("credential.helper", ""),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
)
#: Keys a repository's own config may hold (lower-case; ``*`` is one subsection name).
_ALLOWED_CONFIG = (
    re.compile(r"core\.(repositoryformatversion|filemode|bare|logallrefupdates)"),
    re.compile(r"core\.(ignorecase|precomposeunicode|symlinks)"),
    re.compile(r"user\.[a-z]+"),
    re.compile(r"branch\..+\.[a-z]+"),
    re.compile(r"remote\..+\.(url|pushurl|fetch|push|prune|tagopt)"),
)
#: Remote URL keys, whose value must not name a helper transport (``ext::``) or an option.
_URL_KEY_RE = re.compile(r"remote\..+\.(url|pushurl)")
#: ``.git/config`` files already found clean: (path, inode, size, mtime_ns).
_CLEAN_CONFIGS: set[tuple[str, int, int, int]] = set()
#: Characters special in git's (POSIX basic) --grep patterns.
_BRE_SPECIAL = frozenset(".[]*^$\\")
_NOT_FOUND_HINTS = ("unknown revision", "not a valid", "did not match", "bad revision", "invalid")
#: On every diff and log: no external diff program, no textconv filter.
_NO_PROGRAMS = ("--no-ext-diff", "--no-textconv")
#: The file that marks a bare repository the orchestrator made as a push target.
REMOTE_MARKER = "orchestrator-remote"


def git_environment(
    project_dir: Path,
    *,
    ceiling: Path,
    author: tuple[str, str],
    extra_config: tuple[tuple[str, str], ...] = (),
    git_dir: Path | None = None,
) -> dict[str, str]:
    """The environment every git command of a project runs with.

    ``git_dir`` defaults to ``<project_dir>/.git``; a bare repository passes itself.
    """
    env = {
        # Explicit, never discovered (see the module docstring).
        "GIT_DIR": str(git_dir if git_dir is not None else project_dir / ".git"),
        "GIT_LITERAL_PATHSPECS": "1",
        "HOME": str(project_dir),
        "XDG_CONFIG_HOME": str(project_dir / ".orchestrator" / "xdg"),
        "GIT_ASKPASS": "/bin/false",
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": author[0],
        "GIT_COMMITTER_EMAIL": author[1],
        **hardened_git_env(ceiling, extra_config),
    }
    if git_dir is None:
        env["GIT_WORK_TREE"] = str(project_dir)
    return env


def hardened_git_env(
    ceiling: Path, extra_config: tuple[tuple[str, str], ...] = ()
) -> dict[str, str]:
    """What makes any git process ours alone: no system or global config, no repository
    discovery above ``ceiling``, no prompts, and HARDENING plus ``extra_config``."""
    config = HARDENING + extra_config
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CEILING_DIRECTORIES": str(ceiling),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": str(len(config)),
    }
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def check_repo_config(git_dir: Path, env: dict[str, str]) -> None:
    """Refuse a repository whose own config holds a key off the allow-list.

    Read with ``git config --file --no-includes`` (nothing the file names is followed);
    a clean file is remembered by inode, size and mtime, so this costs one process per
    change of the file, not per command.
    """
    config = git_dir / "config"
    try:
        info = os.lstat(config)
    except FileNotFoundError:
        return
    identity = (str(config), info.st_ino, info.st_size, info.st_mtime_ns)
    if identity in _CLEAN_CONFIGS:
        return
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        raise _config_refusal(git_dir, "config is not a plain file")
    reader = Git(str(git_dir))
    reader.update_environment(**env)
    status, out, _ = reader.execute(
        ["git", "config", "--file", str(config), "--no-includes", "--null", "--list"],
        with_extended_output=True,
        with_exceptions=False,
        strip_newline_in_stdout=False,
    )
    if int(status) != 0:
        raise _config_refusal(git_dir, "config cannot be read")
    for record in str(out).split("\0"):
        if not record:
            continue
        key, _, value = record.partition("\n")
        key = key.lower()
        if not any(pattern.fullmatch(key) for pattern in _ALLOWED_CONFIG):
            raise _config_refusal(git_dir, f"config key {key!r} is not allowed")
        if _URL_KEY_RE.fullmatch(key) and ("::" in value or value.startswith("-")):
            raise _config_refusal(git_dir, f"remote URL {value!r} is not allowed")
    _CLEAN_CONFIGS.add(identity)


def _config_refusal(git_dir: Path, reason: str) -> SandboxEscapeError:
    name = git_dir.parent.name if git_dir.name == ".git" else git_dir.name
    return SandboxEscapeError(f"repository {name!r} refused: {reason}", value=name, reason=reason)


@dataclass(frozen=True)
class StatusInfo:
    """``git status`` of a work tree."""

    branch: str | None
    head: str | None
    staged: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.staged or self.modified or self.untracked)


class GitRepo:
    """One project's repository, every command hardened (see the module docstring)."""

    def __init__(self, project_dir: Path, env: dict[str, str]) -> None:
        self.path = project_dir
        self.git_dir = Path(env.get("GIT_DIR") or project_dir / ".git")
        self.env = env
        self.git = Git(str(project_dir))
        self.git.update_environment(**{**env, "GIT_DIR": str(self.git_dir)})
        # Command-line -c as well as the environment: either alone disables hooks.
        self._options = [arg for key, value in HARDENING for arg in ("-c", f"{key}={value}")]
        self._config_checked = False

    @classmethod
    def open(cls, project_dir: Path, env: dict[str, str]) -> GitRepo:
        """The project's repository; refused unless ``.git`` is a real directory."""
        try:
            info = os.lstat(project_dir / ".git")
        except FileNotFoundError as exc:
            raise ResourceUnavailableError(
                f"project {project_dir.name!r} is not a git repository (run git init first)"
            ) from exc
        if not stat.S_ISDIR(info.st_mode):
            raise ResourceConflictError(f"project {project_dir.name!r}: .git is not a directory")
        return cls(project_dir, env)

    @classmethod
    def init(cls, project_dir: Path, env: dict[str, str]) -> GitRepo:
        """``git init`` with branch ``main``; ``.orchestrator/`` excluded from git."""
        repo = cls(project_dir, env)
        repo._config_checked = True  # nothing to check before init; git writes it below
        repo.run("init", "--quiet", f"--initial-branch={DEFAULT_BRANCH}")
        repo._config_checked = False
        exclude = project_dir / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as handle:
            handle.write("\n# the orchestrator's backups and markers\n/.orchestrator/\n")
        return repo

    @classmethod
    def init_bare_remote(cls, target: Path, *, ceiling: Path, author: tuple[str, str]) -> GitRepo:
        """A bare repository at ``target`` that pushes may go to, marked as ours.

        Only the orchestrator (an operator, a test) makes these; tasks cannot, so a push
        never reaches a repository whose config or hooks a user wrote (see
        ``git_refs.check_push_target``).
        """
        env = git_environment(target, ceiling=ceiling, author=author, git_dir=target)
        repo = cls(target, env)
        repo._config_checked = True  # created just below
        repo.run("init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}")
        repo._config_checked = False
        (target / REMOTE_MARKER).write_text("made by the orchestrator as a push target\n")
        return repo

    # --- running ------------------------------------------------------------------------

    def execute(self, *args: str) -> tuple[int, str, str]:
        """``git <args>``: (exit status, stdout, stderr); never raises for a status."""
        if not self._config_checked:
            # The repository's own config, once per GitRepo (include.path is not ours to
            # switch off): refused before git reads it.
            check_repo_config(self.git_dir, self.env)
            self._config_checked = True
        status, out, err = self.git.execute(
            ["git", *self._options, *args],
            with_extended_output=True,
            with_exceptions=False,
            strip_newline_in_stdout=False,
        )
        return int(status), str(out), str(err)

    def run(self, *args: str) -> str:
        """``git <args>``'s stdout; a failure becomes a handler error with git's message."""
        status, out, err = self.execute(*args)
        if status != 0:
            message = (err or out).strip()[-2000:]
            error = (
                InvalidInputError
                if any(h in message.lower() for h in _NOT_FOUND_HINTS)
                else ResourceConflictError
            )
            raise error(f"git {args[0]} failed: {message}", git_status=status)
        return out

    # --- reading ------------------------------------------------------------------------

    def head(self) -> str | None:
        status, out, _ = self.execute("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        return out.strip() if status == 0 else None

    def resolve(self, revision: str) -> str:
        return self.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", revision + "^{commit}"
        ).strip()

    def branch(self) -> str | None:
        status, out, _ = self.execute("symbolic-ref", "--short", "--quiet", "HEAD")
        return out.strip() if status == 0 else None

    def status(self) -> StatusInfo:
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all")
        staged: list[str] = []
        modified: list[str] = []
        untracked: list[str] = []
        records = iter(out.split("\0"))
        for record in records:
            if len(record) < 4:
                continue
            code, path = record[:2], record[3:]
            if code[0] in "RC":
                next(records, None)  # the rename's source path follows
            if code == "??":
                untracked.append(path)
                continue
            if code[0] not in " ?":
                staged.append(path)
            if code[1] not in " ?":
                modified.append(path)
        return StatusInfo(self.branch(), self.head(), staged, modified, untracked)

    def has_staged_changes(self, paths: list[str] | None = None) -> bool:
        args = ["diff", "--cached", "--quiet", *_NO_PROGRAMS]
        status, _, _ = self.execute(*args, "--", *paths) if paths else self.execute(*args)
        return status != 0

    def find_commit(self, grep: str) -> str | None:
        """The newest commit on HEAD whose message holds ``grep`` (fixed string)."""
        if self.head() is None:
            return None
        out = self.run(
            "log", *_NO_PROGRAMS, "--fixed-strings", f"--grep={grep}", "--format=%H", "-n", "1"
        )
        return out.strip() or None

    def effect_commit(self, effect_key: str) -> str | None:
        """The commit whose trailer names exactly this effect key (a whole-line match)."""
        if self.head() is None:
            return None
        literal = "".join(f"\\{c}" if c in _BRE_SPECIAL else c for c in effect_key)
        pattern = f"--grep=^{EFFECT_TRAILER}: {literal}$"
        out = self.run("log", *_NO_PROGRAMS, pattern, "--format=%H", "-n", "1")
        return out.strip() or None

    def log(self, revision: str | None, limit: int) -> list[dict[str, str]]:
        if self.head() is None:
            return []
        args = ["log", *_NO_PROGRAMS, f"-n{limit}", "--format=%H%x1f%an%x1f%aI%x1f%s%x1e"]
        if revision:
            args += ["--end-of-options", revision]
        entries = []
        for record in self.run(*args).split("\x1e"):
            parts = record.strip("\n").split("\x1f")
            if len(parts) == 4:
                sha, author, date, subject = parts
                entries.append({"sha": sha, "author": author, "date": date, "subject": subject})
        return entries

    def diff(self, revision: str | None, paths: list[str], *, staged: bool = False) -> str:
        args = ["diff", *_NO_PROGRAMS, "--no-color"]
        if staged:
            args.append("--cached")
        if revision:
            args.append(revision)
        return self.run(*args, "--", *paths)

    # --- changing -----------------------------------------------------------------------

    def stage(self, paths: list[str]) -> None:
        self.run("add", "--all", "--", *paths)

    def commit(self, message: str, effect_key: str, paths: list[str] | None = None) -> str:
        """Commit what is staged (only ``paths`` of it, if given); returns the new HEAD."""
        args = [
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            f"{message}\n\n{EFFECT_TRAILER}: {effect_key}",
        ]
        if paths:
            # --only: what else the user staged stays staged, out of this commit.
            args += ["--only", "--", *paths]
        self.run(*args)
        head = self.head()
        if head is None:  # pragma: no cover -- a successful commit always makes HEAD
            raise ResourceConflictError("git commit succeeded but HEAD is missing")
        return head

    def revert(self, sha: str, effect_key: str) -> str:
        """Undo commit ``sha`` with a new commit (once: an earlier revert is reused)."""
        done = self.find_commit(f"This reverts commit {sha}.")
        if done is not None:
            return done
        status, out, err = self.execute("revert", "--no-commit", "--end-of-options", sha)
        if status != 0:
            self.execute("revert", "--abort")
            raise ResourceConflictError(
                f"cannot revert {sha[:12]}: later changes conflict ({(err or out).strip()[-500:]})",
                commit=sha,
            )
        subject = self.run("log", *_NO_PROGRAMS, "-n1", "--format=%s", sha).strip()
        message = f'Revert "{subject}"\n\nThis reverts commit {sha}.'
        if not self.has_staged_changes():
            # Nothing to undo (already undone by hand): record the revert all the same.
            self.run(
                "commit",
                "--quiet",
                "--no-verify",
                "--allow-empty",
                "-m",
                f"{message}\n\n{EFFECT_TRAILER}: {effect_key}",
            )
            return self.head() or sha
        return self.commit(message, effect_key)

    def tree_of(self, revision: str) -> str:
        return self.run("rev-parse", "--verify", "--end-of-options", f"{revision}^{{tree}}").strip()
