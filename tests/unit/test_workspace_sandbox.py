"""The workspace sandbox against a hostile-input corpus: every item must be refused.

Pure validators only (paths, project ids, terminal argv, git refs and remotes, symlinks
built in tmp_path); no services.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from tasks.workspace.commands import CommandAllowList
from tasks.workspace.files import ProjectFiles
from tasks.workspace.git_refs import check_ref_name, check_remote, check_revision
from tasks.workspace.sandbox import (
    SandboxEscapeError,
    SandboxInputError,
    Workspace,
    check_project_id,
    check_user_path,
    resolve_inside,
)
from tasks.workspace.terminal import TailBuffer

ESC = SandboxEscapeError
BAD = SandboxInputError


@dataclass(frozen=True)
class Env:
    """A workspace with two users and a project holding hostile symlinks."""

    root: Path
    project: Path
    outside: Path
    allow: CommandAllowList


def make_env(tmp_path: Path) -> Env:
    root = tmp_path / "workspaces"
    project = root / "alice" / "proj"
    (project / "src").mkdir(parents=True)
    (project / "real_dir").mkdir()
    (project / "run.py").write_text("print('hi')\n")
    bob = root / "bob" / "proj"
    bob.mkdir(parents=True)
    (bob / "secret.txt").write_text("bob's secret")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "loot.txt").write_text("x")
    (project / "etc_link").symlink_to("/etc")
    (project / "passwd").symlink_to("/etc/passwd")
    (project / "sibling").symlink_to(bob)
    (project / "sub").symlink_to(outside)  # a symlinked parent directory
    (project / "chain_a").symlink_to("chain_b")
    (project / "chain_b").symlink_to("chain_c")
    (project / "chain_c").symlink_to(outside)
    (project / "inner").symlink_to(project / "real_dir")  # inside, but never followed
    return Env(root, project, outside, CommandAllowList.load())


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def _on_env_path(value: str) -> Callable[[Env], object]:
    def attempt(env: Env) -> object:
        return resolve_inside(env.project, check_user_path(value))

    return attempt


def _argv(argv: list[str], role: str = "analyst") -> Callable[[Env], None]:
    def attempt(env: Env) -> None:
        env.allow.check(
            argv, module="workspace", role=role, project_dir=env.project, cwd=env.project
        )

    return attempt


def _write(value: str, data: bytes = b"x", limit: int = 1_000) -> Callable[[Env], None]:
    def attempt(env: Env) -> None:
        path = check_user_path(value)
        resolve_inside(env.project, path)
        ProjectFiles(env.project, max_file_bytes=limit).write_atomic(path, data)

    return attempt


def _race(env: Env) -> None:
    # The check passes; then the directory is swapped for a symlink out; the write refuses.
    path = check_user_path("real_dir/x.txt")
    resolve_inside(env.project, path)
    (env.project / "real_dir").rename(env.project / "real_dir.old")
    (env.project / "real_dir").symlink_to(env.outside)
    ProjectFiles(env.project, max_file_bytes=1000).write_atomic(path, b"pwned")


def _remote(value: str) -> Callable[[Env], None]:
    def attempt(env: Env) -> None:
        check_remote(value, user_dir=env.root / "alice", allowlist=[])

    return attempt


PATHS: list[tuple[str, type[Exception]]] = [
    ("../x", ESC),
    ("..\\x", ESC),
    ("/etc/passwd", ESC),
    ("/", ESC),
    ("%2e%2e%2f", ESC),
    ("..%2f", ESC),
    ("%2e%2e/x", ESC),
    ("%252e%252e%252fetc", ESC),
    ("a%2fb", BAD),
    ("%5c..%5cx", ESC),
    ("....//", BAD),
    ("....", BAD),
    ("a/../../x", ESC),
    ("a/..", ESC),
    ("\uff0e\uff0e/x", ESC),  # fullwidth dots read as '..' in NFKC
    ("\uff0e\uff0e", ESC),
    ("\uff46\uff49\uff4c\uff45", BAD),  # fullwidth letters: a lookalike name
    ("a\x00b", BAD),
    ("\x00", BAD),
    ("a\nb", BAD),
    ("a\u202eb.txt", BAD),  # right-to-left override
    ("x" * 300, BAD),
    ("a/" * 2500, BAD),
    ("-rf", BAD),
    ("src/-rf", BAD),
    ("--help", BAD),
    ("~root", ESC),
    ("~/x", ESC),
    ("C:\\Windows\\win.ini", ESC),
    ("c:/x", ESC),
    ("\\\\server\\share", ESC),
    (".git/config", ESC),
    (".git/hooks/pre-commit", ESC),
    (".GIT/config", ESC),
    (".orchestrator/backups/x", ESC),
    ("a//b", BAD),
    ("", BAD),
    # Symlinks made in tmp_path: out to /etc, to a sibling user's project, through a chain.
    ("etc_link/passwd", ESC),
    ("passwd", ESC),
    ("sibling/secret.txt", ESC),
    ("sub/new.txt", ESC),
    ("chain_a/loot.txt", ESC),
]

PROJECT_IDS: list[tuple[str, type[Exception]]] = [
    ("..", ESC),
    (".", BAD),
    ("../bob", ESC),
    ("a/b", BAD),
    ("-rf", BAD),
    (".hidden", BAD),
    ("x" * 200, BAD),
    ("", BAD),
]

REFS = [
    "--upload-pack=touch /tmp/pwned",
    "-b",
    "-",
    "a..b",
    "a@{1}",
    "x.lock",
    "feature/x.lock",
    ".hidden",
    "a/.b",
    "a//b",
    "/a",
    "a/",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[",
    "a\\b",
    "a\x01",
    "a\x7f",
    "@",
    "HEAD",
    "a.",
    "x" * 300,
    "",
]

REVISIONS = ["--all", "-n", "--output=/tmp/x", "HEAD@{0}", "a..b", "main~1:file", ""]

ARGVS: list[tuple[list[str], str, type[Exception]]] = [
    (["sh", "-c", "id"], "analyst", ESC),
    (["bash"], "analyst", ESC),
    (["env", "rm", "-rf", "/"], "analyst", ESC),
    (["/bin/ls"], "analyst", ESC),
    (["../bin/ls"], "analyst", ESC),
    (["-rf"], "analyst", ESC),
    (["ls; rm -rf /"], "analyst", ESC),
    (["$(id)"], "analyst", ESC),
    (["`id`"], "analyst", ESC),
    (["ls|id"], "analyst", ESC),
    (["ls && id"], "analyst", ESC),
    (["python", "-c", "__import__('os').system('id')"], "analyst", ESC),
    (["python", "-u", "-c", "print(1)"], "analyst", ESC),
    (["python"], "analyst", ESC),
    (["python", "-m", "pip", "install", "evil"], "analyst", ESC),
    (["python", "-m", "pytest", "-p", "evil_plugin"], "analyst", ESC),
    (["python", "/etc/passwd"], "analyst", ESC),
    (["python", "notes.txt"], "analyst", ESC),
    (["pytest", "-p", "evil_plugin"], "analyst", ESC),
    (["pytest", "-pevil_plugin"], "analyst", ESC),
    (["node", "-e", "process.exit(1)"], "analyst", ESC),
    (["npm", "install", "evil"], "analyst", ESC),
    (["npm", "run", "postinstall"], "analyst", ESC),
    (["git", "-c", "core.pager=id", "log"], "analyst", ESC),
    (["git", "push", "origin"], "analyst", ESC),
    (["git", "log", "--output=out.txt"], "analyst", ESC),
    (["git", "diff", "--ext-diff"], "analyst", ESC),
    (["cat", "/etc/passwd"], "analyst", ESC),
    (["cat", "../../etc/passwd"], "analyst", ESC),
    (["cat", "~root/.ssh/id_rsa"], "analyst", ESC),
    (["cat", "etc_link/passwd"], "analyst", ESC),
    (["cat", "sibling/secret.txt"], "analyst", ESC),
    (["ls", "--color=/etc"], "analyst", ESC),
    (["ls"], "viewer", ESC),
    (["ls"], "nobody", ESC),
    (["echo", "ok\x00"], "analyst", BAD),
    (["sleep", "1", "2"], "analyst", BAD),
]

REMOTES: list[tuple[str, type[Exception]]] = [
    ("--upload-pack=touch /tmp/pwned", BAD),
    ("ext::sh -c id", BAD),
    ("/etc", ESC),
    ("file:///etc", ESC),
    ("../bob/proj", ESC),
    ("https://evil.example/repo.git", ESC),
    ("git@evil.example:repo.git", ESC),
]

Case = tuple[str, Callable[[Env], object], type[Exception]]


def _on_value(check: Callable[[str], object], value: str) -> Callable[[Env], object]:
    def attempt(env: Env) -> object:
        return check(value)

    return attempt


def _corpus() -> list[Case]:
    cases: list[Case] = []
    for value, error in PATHS:
        cases.append((f"path {value[:40]!r}", _on_env_path(value), error))
    for value, error in PROJECT_IDS:
        cases.append((f"project {value[:40]!r}", _on_value(check_project_id, value), error))
    for value in REFS:
        cases.append((f"ref {value[:40]!r}", _on_value(check_ref_name, value), BAD))
    for value in REVISIONS:
        cases.append((f"revision {value!r}", _on_value(check_revision, value), BAD))
    for argv, role, error in ARGVS:
        cases.append((f"argv {argv!r} as {role}", _argv(argv, role), error))
    for value, error in REMOTES:
        cases.append((f"remote {value!r}", _remote(value), error))
    cases += [
        ("write through an inside symlink", _write("inner/x.txt"), ESC),
        ("write through a symlinked parent", _write("sub/x.txt"), ESC),
        ("write over a symlink to /etc/passwd", _write("passwd"), ESC),
        ("check-then-swap race", _race, ESC),
        ("oversized write", _write("big.bin", b"x" * 1_001), BAD),
        ("oversized path through a write", _write("d/" * 600 + "f"), BAD),
        ("user id that is a traversal", lambda e: Workspace(e.root, ".."), ESC),
        ("user id with a slash", lambda e: Workspace(e.root, "bob/proj"), ESC),
    ]
    return cases


CORPUS = _corpus()


@pytest.mark.parametrize(("case", "attempt", "error"), CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_input_is_refused(
    env: Env, case: str, attempt: Callable[[Env], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        attempt(env)


def test_the_whole_corpus_is_refused(tmp_path: Path) -> None:
    refused = 0
    for index, (case, attempt, error) in enumerate(CORPUS):
        environment = make_env(tmp_path / str(index))
        try:
            attempt(environment)
        except error:
            refused += 1
        except Exception as exc:  # noqa: BLE001 -- reported as the wrong refusal below
            pytest.fail(f"{case}: refused with {type(exc).__name__}, expected {error.__name__}")
        else:
            pytest.fail(f"{case}: accepted")
    print(f"hostile corpus: {refused} refused")
    assert refused == len(CORPUS)
    # Nothing was written outside any project: the outside directories hold only the loot.
    assert sorted(p.name for p in tmp_path.glob("*/outside/*")) == ["loot.txt"] * len(CORPUS)


# --- what is allowed stays allowed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("src/app.py", "src/app.py"),
        ("./src/app.py", "src/app.py"),
        ("src/", "src"),
        (".", "."),
        (".gitignore", ".gitignore"),
        ("a.b/c-d_e.txt", "a.b/c-d_e.txt"),
        ("100%.txt", "100%.txt"),
        ("caf\u00e9.md", "caf\u00e9.md"),
    ],
)
def test_ordinary_paths_pass(raw: str, expected: str) -> None:
    assert check_user_path(raw) == PurePosixPath(expected)


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "-m", "pytest", "-q", "tests"],
        ["python", "run.py", "; rm -rf /", "$(id)", "`id`", "|", "&&"],
        ["pytest", "-q", "-x"],
        ["node", "--test"],
        ["python", "-m", "unittest", "-v"],
        ["head", "-n", "5", "run.py"],
        ["echo", "hello; rm -rf /"],
        ["ls", "-la", "src"],
        ["cat", "run.py"],
        ["sleep", "1"],
    ],
)
def test_allowed_commands_pass(env: Env, argv: list[str]) -> None:
    env.allow.check(
        argv, module="workspace", role="trader", project_dir=env.project, cwd=env.project
    )


@pytest.mark.parametrize("name", ["main", "feature/x", "release-1.2", "fix_42", "a.b", "v1.0.0"])
def test_ordinary_ref_names_pass(name: str) -> None:
    assert check_ref_name(name) == name


@pytest.mark.parametrize("revision", ["HEAD", "HEAD~2", "HEAD^", "main~1", "abc1234", "v1.0^2"])
def test_ordinary_revisions_pass(revision: str) -> None:
    assert check_revision(revision) == revision


@pytest.mark.parametrize(
    "name",
    [*REFS[3:], "main", "feature/x", "a.b", "x/y/z", "caf\u00e9", "a-b", "a+b", "ok@"],
)
def test_ref_rules_agree_with_git(name: str) -> None:
    # Our pure reimplementation refuses at least what git's own check-ref-format refuses.
    if "\x00" in name or not name:
        return
    git = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    try:
        check_ref_name(name)
        ours = True
    except SandboxInputError:
        ours = False
    if git.returncode != 0:
        assert not ours, f"git refuses {name!r} but we accept it"


def test_remote_inside_the_users_workspace_is_allowed(env: Env) -> None:
    user_dir = env.root / "alice"
    assert check_remote("proj", user_dir=user_dir, allowlist=[]) == str(env.project)
    allowed = "https://git.example.com/team/repo.git"
    assert check_remote(allowed, user_dir=user_dir, allowlist=["https://git.example.com/team/"])


def test_tail_buffer_keeps_the_last_bytes() -> None:
    buffer = TailBuffer(10)
    for chunk in (b"0123456789", b"abcdef", b"XYZ"):
        buffer.feed(chunk)
    assert buffer.text() == "9abcdefXYZ"
    assert buffer.truncated
    assert buffer.total_bytes == 19


def test_symlink_inside_the_project_that_stays_inside_resolves(env: Env) -> None:
    # realpath accepts it (file operations still refuse to follow it, see the corpus).
    assert resolve_inside(env.project, PurePosixPath("inner")) == env.project / "real_dir"
    assert os.path.islink(env.project / "inner")
