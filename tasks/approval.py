"""The approval gate: a handler asks a person before it acts.

A handler raises :class:`ApprovalRequired` before its side effect (a trade above the
approval notional, say) when ``ctx.approved`` is false. The task then parks exactly as an
escalated failure does -- no worker slot held, durable across restarts -- and shows in
``orchestrator approvals``. Approving sends it again with ``ctx.approved`` true; rejecting
skips it. It is not a failure: no recovery attempt is recorded for it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.models import ErrorType
from tasks.errors import HandlerError


class ApprovalRequired(HandlerError):
    """Raised by a handler that must not act without a person's approval.

    Where nobody can approve (a task run without Celery's task control) the task fails
    with this error instead; no recovery strategy can stand in for a person.
    """

    error_type: ClassVar[ErrorType] = ErrorType.CONFLICTING_GOALS
    recoverable: ClassVar[bool] = False

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason, **details)
        self.reason = reason
