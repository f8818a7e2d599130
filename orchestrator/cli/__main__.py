"""``python -m orchestrator.cli`` runs the ``orchestrator`` command."""

from orchestrator.cli import main

main()
