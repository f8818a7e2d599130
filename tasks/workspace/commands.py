"""The terminal allow-list (``config/commands.yaml``) and the checks every argv passes.

Pure decisions over an argv, the user's role and the project's directory; running the
command is ``tasks.workspace.terminal``'s job. Every refusal is a sandbox refusal
(audited as WORKSPACE_REFUSED by the handler).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml
from pydantic import Field, model_validator

from config import CONFIG_DIR
from orchestrator.models.base import StrictModel
from tasks.errors import ResourceUnavailableError
from tasks.workspace.sandbox import SandboxEscapeError, SandboxInputError


class LauncherRule(StrictModel):
    """An interpreter: ``[flags] -m <module> ...`` or ``[flags] <script in project> ...``."""

    flags: list[str] = Field(default_factory=list)
    modules: list[str] = Field(default_factory=list)
    script_suffixes: list[str] = Field(default_factory=list)


class ExecutableRule(StrictModel):
    subcommands: list[list[str]] | None = None
    launcher: LauncherRule | None = None
    forbid_options: list[str] = Field(default_factory=list)
    max_args: int = Field(default=64, ge=0)


class ModuleCommands(StrictModel):
    roles: dict[str, list[str]] = Field(default_factory=dict)


class CommandAllowList(StrictModel):
    """Which executables each role may run from each module's tasks, and how."""

    modules: dict[str, ModuleCommands]
    executables: dict[str, ExecutableRule]

    @model_validator(mode="after")
    def _rules_exist(self) -> CommandAllowList:
        named = {e for m in self.modules.values() for names in m.roles.values() for e in names}
        missing = sorted(named - set(self.executables))
        if missing:
            raise ValueError(f"executables without rules: {', '.join(missing)}")
        bad = sorted(e for e in self.executables if not e or "/" in e or e.startswith("-"))
        if bad:
            raise ValueError(f"executable names must be bare names: {', '.join(bad)}")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> CommandAllowList:
        file = path or CONFIG_DIR / "commands.yaml"
        try:
            return cls.model_validate(yaml.safe_load(file.read_text()))
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise ValueError(f"cannot load the command allow-list from {file}: {exc}") from exc

    def allowed(self, module: str, role: str | None) -> list[str]:
        """The executables ``role`` may run from ``module``'s tasks (none if unknown)."""
        commands = self.modules.get(module)
        if commands is None or role is None:
            return []
        return list(commands.roles.get(role, []))

    def check(
        self, argv: list[str], *, module: str, role: str | None, project_dir: Path, cwd: Path
    ) -> ExecutableRule:
        """Refuse ``argv`` unless the allow-list and the argument rules accept it."""
        if not argv:
            raise SandboxInputError("argv is empty", value=argv, reason="empty argv")
        name = argv[0]
        check_executable_name(name)
        if name not in self.allowed(module, role):
            raise SandboxEscapeError(
                f"{name!r} is not on the {module} allow-list for role {role!r}",
                value=name,
                reason="executable not allowed",
            )
        rule = self.executables[name]
        args = argv[1:]
        if len(args) > rule.max_args:
            raise SandboxInputError(
                f"{name} takes at most {rule.max_args} arguments here",
                value=argv,
                reason="too many arguments",
            )
        for arg in args:
            check_argument(arg, project_dir=project_dir, cwd=cwd)
        check_forbidden_options(args, rule.forbid_options, name)
        if rule.subcommands is not None and not any(args[: len(s)] == s for s in rule.subcommands):
            shown = ", ".join(" ".join(s) for s in rule.subcommands)
            raise SandboxEscapeError(
                f"{name} may only run: {shown}", value=argv, reason="subcommand not allowed"
            )
        if rule.launcher is not None:
            rest = check_launcher(args, rule.launcher, name, project_dir=project_dir, cwd=cwd)
            target = self.executables.get(rest[0]) if rest else None
            if target is not None:
                check_forbidden_options(rest[1:], target.forbid_options, rest[0])
        return rule


def check_executable_name(name: str) -> None:
    """argv[0] is a bare name: never a path (``/``), an option or empty."""
    if not name or "/" in name or "\\" in name or name.startswith("-") or "\x00" in name:
        raise SandboxEscapeError(
            f"argv[0] {name!r} must be a bare executable name from the allow-list",
            value=name,
            reason="executable is a path or option",
        )


def check_argument(arg: str, *, project_dir: Path, cwd: Path) -> None:
    """Refuse an argument (or an option's ``=value``) that names a path outside the project.

    Shell metacharacters are fine: no shell ever sees them.
    """
    if "\x00" in arg:
        raise SandboxInputError("argument contains a NUL byte", value=arg, reason="NUL byte")
    candidates = [arg]
    if arg.startswith("-") and "=" in arg:
        candidates.append(arg.split("=", 1)[1])
    real_project = Path(os.path.realpath(project_dir))
    for value in candidates:
        if value.startswith("~"):
            raise SandboxEscapeError(
                f"argument {value!r} refers to a home directory", value=arg, reason="home reference"
            )
        if ".." in value.split("/"):
            raise SandboxEscapeError(
                f"argument {value!r} has a '..' component", value=arg, reason="parent reference"
            )
        target = Path(value) if value.startswith("/") else cwd / value
        if (value.startswith("/") or os.path.lexists(target)) and not Path(
            os.path.realpath(target)
        ).is_relative_to(real_project):
            raise SandboxEscapeError(
                f"argument {value!r} names a path outside the project",
                value=arg,
                reason="path outside project",
            )


def check_forbidden_options(args: list[str], forbidden: list[str], name: str) -> None:
    """Refuse a forbidden option, alone, as ``--opt=value``, ``-Xvalue`` or in a ``-abX``."""
    for arg in args:
        if arg == "--":
            return  # what follows is data, not options
        for option in forbidden:
            long_hit = arg == option or arg.startswith(option + "=")
            short = len(option) == 2 and option[0] == "-" and option[1] != "-"
            short_hit = (
                short
                and arg.startswith("-")
                and not arg.startswith("--")
                and (arg.startswith(option) or option[1] in arg[1:])
            )
            if long_hit or short_hit:
                raise SandboxEscapeError(
                    f"{name} option {option} is not allowed here",
                    value=arg,
                    reason="forbidden option",
                )


def check_launcher(
    args: list[str], rule: LauncherRule, name: str, *, project_dir: Path, cwd: Path
) -> list[str]:
    """An interpreter runs a listed module or a script in the project; returns what follows
    ``-m`` (module first) or the script's arguments."""
    index = 0
    while index < len(args) and args[index] in rule.flags:
        index += 1
    if index >= len(args):
        raise SandboxEscapeError(
            f"{name} needs a module or a script to run", value=args, reason="no target"
        )
    target = args[index]
    if target == "-m" and rule.modules:
        module = args[index + 1] if index + 1 < len(args) else ""
        if module not in rule.modules:
            raise SandboxEscapeError(
                f"{name} -m {module!r}: only {', '.join(rule.modules)} may run",
                value=args,
                reason="module not allowed",
            )
        return args[index + 1 :]
    script = Path(os.path.realpath(cwd / target))
    inside = script.is_relative_to(Path(os.path.realpath(project_dir)))
    if (
        target.startswith("-")
        or not inside
        or not script.is_file()
        or script.suffix not in rule.script_suffixes
    ):
        raise SandboxEscapeError(
            f"{name} {target!r}: only a script file inside the project "
            f"({', '.join(rule.script_suffixes) or 'none'}) or an allowed -m module may run; "
            "inline code (-c, -e) is refused",
            value=args,
            reason="interpreter target not allowed",
        )
    return args[index + 1 :]


def resolve_executable(name: str, search_path: list[Path]) -> str:
    """The executable's path on the fixed search path (never the worker's own PATH)."""
    found = shutil.which(name, path=os.pathsep.join(str(p) for p in search_path))
    if found is None:
        raise ResourceUnavailableError(
            f"{name!r} is allowed but not installed on {os.pathsep.join(map(str, search_path))}",
            executable=name,
        )
    return found
