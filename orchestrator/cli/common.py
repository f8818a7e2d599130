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
from orchestrator.control import Orchestrator
from orchestrator.dag import ChainValidationError
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


def open_orchestrator() -> Orchestrator:
    try:
        return Orchestrator.from_settings(Settings())
    except ValidationError as exc:
        fail(f"invalid settings:\n{exc}", EXIT_FAILED)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
