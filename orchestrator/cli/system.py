"""CLI commands (placeholder; filled in by its owner)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add this module's commands to the ``orchestrator`` group."""
