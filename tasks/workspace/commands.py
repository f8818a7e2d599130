"""The terminal allow-list (``config/commands.yaml``) and the checks every argv passes.

Pure decisions over an argv, the user's role and the project's directory; running the
command is ``tasks.workspace.terminal``'s job. Every refusal is a sandbox refusal
(audited as WORKSPACE_REFUSED by the handler).

Arguments are parsed against an explicit grammar per executable (flags, valued options,
operands): any option not listed is refused, because options are where programs hide side
effects (``wc --files0-from``, ``pytest --junitxml=.git/config``, ``-o addopts=-p evil``).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from config import CONFIG_DIR
from orchestrator.models.base import StrictModel
from tasks.errors import ResourceUnavailableError
from tasks.workspace.sandbox import (
    RESERVED_NAMES,
    SandboxEscapeError,
    SandboxInputError,
    check_user_path,
)

#: The capability whose executables run project code (jailed, never for analysts).
RUN_CODE = "run_code"
ValueKind = Literal["int", "number", "text", "path"]
_VALUE_RES = {"int": re.compile(r"\d{1,9}"), "number": re.compile(r"\d{1,6}(\.\d{1,3})?")}


class ArgumentRules(StrictModel):
    """What may follow an executable (or an interpreter entry such as ``-m pytest``)."""

    flags: list[str] = Field(default_factory=list)
    valued: dict[str, ValueKind | list[str]] = Field(default_factory=dict)
    operands: Literal["none", "any", "number", "paths"] = "none"
    append: list[str] = Field(default_factory=list)


class LauncherRule(StrictModel):
    """An interpreter: ``[flags] <entry words> ...`` or ``[flags] <script in project> ...``."""

    flags: list[str] = Field(default_factory=list)
    entries: dict[str, ArgumentRules] = Field(default_factory=dict)
    script_suffixes: list[str] = Field(default_factory=list)


class ExecutableRule(StrictModel):
    runs_code: bool = False
    arguments: ArgumentRules = Field(default_factory=ArgumentRules)
    launcher: LauncherRule | None = None
    max_args: int = Field(default=64, ge=0)


class ModuleCommands(StrictModel):
    #: role -> capability names
    roles: dict[str, list[str]] = Field(default_factory=dict)


@dataclass(frozen=True)
class CheckedCommand:
    """An accepted command: the argv to run (appended options included) and its rule."""

    argv: list[str]
    rule: ExecutableRule

    @property
    def runs_code(self) -> bool:
        return self.rule.runs_code


class CommandAllowList(StrictModel):
    """Which executables each role may run from each module's tasks, and how."""

    capabilities: dict[str, list[str]]
    modules: dict[str, ModuleCommands]
    executables: dict[str, ExecutableRule]
    #: YAML anchors only (rule sets referenced from ``executables``); never read.
    shared: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rules_exist(self) -> CommandAllowList:
        named = {c for m in self.modules.values() for caps in m.roles.values() for c in caps}
        unknown = sorted(named - set(self.capabilities))
        if unknown:
            raise ValueError(f"unknown capabilities: {', '.join(unknown)}")
        granted = {e for names in self.capabilities.values() for e in names}
        missing = sorted(granted - set(self.executables))
        if missing:
            raise ValueError(f"executables without rules: {', '.join(missing)}")
        bad = sorted(e for e in self.executables if not e or "/" in e or e.startswith("-"))
        if bad:
            raise ValueError(f"executable names must be bare names: {', '.join(bad)}")
        # A code runner granted through another capability would escape the role split.
        leaked = sorted(
            e
            for cap, names in self.capabilities.items()
            if cap != RUN_CODE
            for e in names
            if self.executables[e].runs_code
        )
        if leaked:
            raise ValueError(f"code runners outside the {RUN_CODE} capability: {leaked}")
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
        names: list[str] = []
        for capability in commands.roles.get(role, []):
            names += [n for n in self.capabilities[capability] if n not in names]
        return names

    def check(
        self, argv: list[str], *, module: str, role: str | None, project_dir: Path, cwd: Path
    ) -> CheckedCommand:
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
        if rule.launcher is None:
            appended = check_arguments(args, rule.arguments, name, project_dir=project_dir, cwd=cwd)
        else:
            appended = check_launcher(args, rule.launcher, name, project_dir=project_dir, cwd=cwd)
        return CheckedCommand(argv=[*argv, *appended], rule=rule)


def check_executable_name(name: str) -> None:
    """argv[0] is a bare name: never a path (``/``), an option or empty."""
    if not name or "/" in name or "\\" in name or name.startswith("-") or "\x00" in name:
        raise SandboxEscapeError(
            f"argv[0] {name!r} must be a bare executable name from the allow-list",
            value=name,
            reason="executable is a path or option",
        )


def check_argument(arg: str, *, project_dir: Path, cwd: Path) -> None:
    """Refuse an argument (or an option's ``=value``) that names a path outside the project
    or inside a reserved directory (``.git``, ``.orchestrator``).

    Shell metacharacters are fine: no shell ever sees them.
    """
    if "\x00" in arg:
        raise SandboxInputError("argument contains a NUL byte", value=arg, reason="NUL byte")
    candidates = [arg]
    if "=" in arg:
        candidates.append(arg.split("=", 1)[1])
    real_project = Path(os.path.realpath(project_dir))
    for value in candidates:
        if value.startswith("~"):
            raise SandboxEscapeError(
                f"argument {value!r} refers to a home directory", value=arg, reason="home reference"
            )
        parts = value.split("/")
        if ".." in parts:
            raise SandboxEscapeError(
                f"argument {value!r} has a '..' component", value=arg, reason="parent reference"
            )
        # A program may write where an argument points (json.tool's outfile, --junitxml):
        # git's files and ours are never a program's target, whatever the option.
        reserved = next((p for p in parts if p.lower() in RESERVED_NAMES), None)
        if reserved is not None:
            raise SandboxEscapeError(
                f"argument {value!r} names {reserved}, which commands may not touch",
                value=arg,
                reason=f"reserved name {reserved}",
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


def check_path_value(value: str, *, project_dir: Path, cwd: Path) -> None:
    """A relative path inside the project (a pytest node id's ``::test`` part ignored)."""
    path = check_user_path(value.split("::", 1)[0])
    real = Path(os.path.realpath(cwd / path))
    if not real.is_relative_to(Path(os.path.realpath(project_dir))):
        raise SandboxEscapeError(
            f"path {value!r} resolves outside the project",
            value=value,
            reason="path outside project",
        )


def _refuse_option(name: str, arg: str) -> SandboxEscapeError:
    return SandboxEscapeError(
        f"{name} option {arg!r} is not allowed here", value=arg, reason="option not allowed"
    )


def _check_value(
    name: str, option: str, value: str, kind: ValueKind | list[str], project_dir: Path, cwd: Path
) -> None:
    if isinstance(kind, list):
        ok = value in kind
    elif kind in _VALUE_RES:
        ok = bool(_VALUE_RES[kind].fullmatch(value))
    elif kind == "path":
        check_path_value(value, project_dir=project_dir, cwd=cwd)
        ok = True
    else:  # text: anything but what looks like another option
        ok = not value.startswith("-")
    if not ok:
        raise SandboxInputError(
            f"{name} {option}: value {value!r} is not a valid {kind}",
            value=value,
            reason="bad option value",
        )


def _option_value(args: list[str], index: int, rules: ArgumentRules) -> tuple[str, str, int]:
    """``(option, value, next index)`` of the valued option at ``index``, or KeyError."""
    arg = args[index]
    if arg.startswith("--") and "=" in arg:
        option, value = arg.split("=", 1)
        if option in rules.valued:
            return option, value, index + 1
    elif arg in rules.valued:
        if index + 1 >= len(args):
            raise SandboxInputError(f"{arg} needs a value", value=arg, reason="missing value")
        return arg, args[index + 1], index + 2
    elif not arg.startswith("--") and arg[:2] in rules.valued:
        return arg[:2], arg[2:], index + 1  # attached short value: -n5, -kEXPR
    raise KeyError(arg)


def check_arguments(
    args: list[str], rules: ArgumentRules, name: str, *, project_dir: Path, cwd: Path
) -> list[str]:
    """Parse ``args`` against ``rules``; refuse anything not listed. Returns what to append."""
    index, only_operands = 0, False
    while index < len(args):
        arg = args[index]
        if only_operands or not arg.startswith("-") or (rules.operands == "any" and arg == "-"):
            if rules.operands == "none":
                raise SandboxInputError(
                    f"{name} takes no operands here", value=arg, reason="unexpected operand"
                )
            if rules.operands == "paths":
                check_path_value(arg, project_dir=project_dir, cwd=cwd)
            elif rules.operands == "number":
                _check_value(name, "operand", arg, "number", project_dir, cwd)
            index += 1
        elif arg == "--" and rules.operands != "none":
            only_operands, index = True, index + 1
        elif arg in rules.flags:
            index += 1
        else:
            try:
                option, value, index = _option_value(args, index, rules)
            except KeyError:
                raise _refuse_option(name, arg) from None
            _check_value(name, option, value, rules.valued[option], project_dir, cwd)
    return list(rules.append)


def check_launcher(
    args: list[str], rule: LauncherRule, name: str, *, project_dir: Path, cwd: Path
) -> list[str]:
    """An interpreter runs a listed entry (``-m pytest``, ``--test``) or a script in the
    project; returns the options to append."""
    index = 0
    while index < len(args) and args[index] in rule.flags:
        index += 1
    rest = args[index:]
    # Longest entry first: `-m unittest discover` before `-m unittest`.
    for key in sorted(rule.entries, key=lambda k: -len(k.split())):
        words = key.split()
        if rest[: len(words)] == words:
            tail = rest[len(words) :]
            return check_arguments(
                tail, rule.entries[key], f"{name} {key}", project_dir=project_dir, cwd=cwd
            )
    target = rest[0] if rest else ""
    script = Path(os.path.realpath(cwd / target)) if target else None
    if (
        script is None
        or target.startswith("-")
        or not script.is_relative_to(Path(os.path.realpath(project_dir)))
        or not script.is_file()
        or script.suffix not in rule.script_suffixes
    ):
        shown = ", ".join(rule.entries) or "none"
        raise SandboxEscapeError(
            f"{name} {target!r}: only a script file inside the project "
            f"({', '.join(rule.script_suffixes) or 'none'}) or one of: {shown} may run; "
            "inline code (-c, -e) and other modules are refused",
            value=args,
            reason="interpreter target not allowed",
        )
    return []


def resolve_executable(name: str, search_path: list[Path]) -> str:
    """The executable's path on the fixed search path (never the worker's own PATH)."""
    found = shutil.which(name, path=os.pathsep.join(str(p) for p in search_path))
    if found is None:
        raise ResourceUnavailableError(
            f"{name!r} is allowed but not installed on {os.pathsep.join(map(str, search_path))}",
            executable=name,
        )
    return found
