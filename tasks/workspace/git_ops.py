"""Git, hardened: every command runs with hooks, fsmonitor and outside config switched off.

Each command gets (through GitPython's command layer, argv only, never a shell):

* ``GIT_CONFIG_COUNT`` config -- the highest precedence there is, above the repository's
  own ``.git/config`` -- setting ``core.hooksPath=/dev/null`` (no hook runs, including
  ``post-commit``), ``core.fsmonitor=false``, ``protocol.allow=never`` except local
  files, and no credential helper;
* ``GIT_CONFIG_NOSYSTEM=1`` and ``GIT_CONFIG_GLOBAL=/dev/null`` (no system or user config),
  ``HOME`` the project, no terminal prompts;
* ``GIT_CEILING_DIRECTORIES`` the user directory, so a project without ``.git`` is never
  mistaken for part of a repository above it (the server's own checkout, say);
* ``--no-ext-diff --no-textconv`` on diffs, so no configured program runs.

Commits carry an ``Orchestrator-Effect: <effect key>`` trailer: a retry finds the commit
its earlier attempt made instead of committing twice.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from git.cmd import Git

from tasks.errors import InvalidInputError, ResourceConflictError, ResourceUnavailableError

DEFAULT_BRANCH = "main"
EFFECT_TRAILER = "Orchestrator-Effect"
#: Config forced on every command (name, value).
HARDENING: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("protocol.allow", "never"),
    ("protocol.file.allow", "always"),
    ("credential.helper", ""),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
)
#: Characters special in git's (POSIX basic) --grep patterns.
_BRE_SPECIAL = frozenset(".[]*^$\\")
_NOT_FOUND_HINTS = ("unknown revision", "not a valid", "did not match", "bad revision", "invalid")


def git_environment(
    project_dir: Path,
    *,
    ceiling: Path,
    author: tuple[str, str],
    extra_config: tuple[tuple[str, str], ...] = (),
) -> dict[str, str]:
    """The environment every git command of a project runs with."""
    config = HARDENING + extra_config
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "HOME": str(project_dir),
        "XDG_CONFIG_HOME": str(project_dir / ".orchestrator" / "xdg"),
        "GIT_CEILING_DIRECTORIES": str(ceiling),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": author[0],
        "GIT_COMMITTER_EMAIL": author[1],
        "GIT_CONFIG_COUNT": str(len(config)),
    }
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


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
        self.git = Git(str(project_dir))
        self.git.update_environment(**env)
        # Command-line -c as well as the environment: either alone disables hooks.
        self._options = [arg for key, value in HARDENING for arg in ("-c", f"{key}={value}")]

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
        repo.run("init", "--quiet", f"--initial-branch={DEFAULT_BRANCH}")
        exclude = project_dir / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as handle:
            handle.write("\n# the orchestrator's backups and markers\n/.orchestrator/\n")
        return repo

    # --- running ------------------------------------------------------------------------

    def execute(self, *args: str) -> tuple[int, str, str]:
        """``git <args>``: (exit status, stdout, stderr); never raises for a status."""
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
        args = ["diff", "--cached", "--quiet", "--no-ext-diff"]
        status, _, _ = self.execute(*args, "--", *paths) if paths else self.execute(*args)
        return status != 0

    def find_commit(self, grep: str) -> str | None:
        """The newest commit on HEAD whose message holds ``grep`` (fixed string)."""
        if self.head() is None:
            return None
        out = self.run("log", "--fixed-strings", f"--grep={grep}", "--format=%H", "-n", "1")
        return out.strip() or None

    def effect_commit(self, effect_key: str) -> str | None:
        """The commit whose trailer names exactly this effect key (a whole-line match)."""
        if self.head() is None:
            return None
        literal = "".join(f"\\{c}" if c in _BRE_SPECIAL else c for c in effect_key)
        pattern = f"--grep=^{EFFECT_TRAILER}: {literal}$"
        out = self.run("log", pattern, "--format=%H", "-n", "1")
        return out.strip() or None

    def log(self, revision: str | None, limit: int) -> list[dict[str, str]]:
        if self.head() is None:
            return []
        args = ["log", f"-n{limit}", "--format=%H%x1f%an%x1f%aI%x1f%s%x1e"]
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
        args = ["diff", "--no-ext-diff", "--no-textconv", "--no-color"]
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
        subject = self.run("log", "-n1", "--format=%s", sha).strip()
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
