"""What every CLI command shares: consoles, exit codes, opening the orchestrator."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click
from pydantic import ValidationError
from rich.console import Console

from config.settings import Settings
from orchestrator.control import Orchestrator, RunNotFound, checked_user_id
from orchestrator.dag import ChainValidationError
from orchestrator.models.goal import PreferenceValue
from orchestrator.planner import MissingGoalContext, NoMatchingWorkflow

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


@contextmanager
def invalid_input_exits() -> Iterator[None]:
    """Turn every kind of invalid goal or chain into exit code 2 with a clear message."""
    try:
        yield
    except (ChainValidationError, NoMatchingWorkflow, MissingGoalContext) as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail(f"invalid input:\n{exc}")


def acting_user(settings: Settings, user: str | None) -> str:
    """``--user``, else the default user, validated (an invalid id exits 2: see
    ``OrchestratorGroup``)."""
    return checked_user_id(user or settings.default_user)


def parse_preferences(prefs: tuple[str, ...]) -> dict[str, PreferenceValue]:
    """``--pref KEY=VALUE`` options as a goal's user preferences (exit 2 if malformed)."""
    preferences: dict[str, PreferenceValue] = {}
    for pref in prefs:
        key, sep, value = pref.partition("=")
        if not sep or not key:
            fail(f"--pref takes KEY=VALUE, got {pref!r}")
        preferences[key] = value
    return preferences


def open_orchestrator() -> Orchestrator:
    try:
        return Orchestrator.from_settings(Settings())
    except ValidationError as exc:
        fail(f"invalid settings:\n{exc}", EXIT_FAILED)


@contextmanager
def session(*, live_run: bool = False) -> Iterator[Orchestrator]:
    """The orchestrator for one command, always closed.

    A run this user can't see exits 1 (``live_run``: the message says the run must still
    be live), and so does a wait that timed out.
    """
    orch = open_orchestrator()
    try:
        yield orch
    except RunNotFound as exc:
        fail(f"no {'live run' if live_run else 'run'} {exc.args[0]} for this user", EXIT_FAILED)
    except TimeoutError as exc:
        fail(str(exc), EXIT_FAILED)
    finally:
        orch.close()


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
