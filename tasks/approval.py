"""The approval gate: a handler asks a person before it acts.

A handler raises :class:`ApprovalRequired` before its side effect (a trade above the
approval notional, say) with what it asks to be approved (``request``). The task then
parks exactly as an escalated failure does -- no worker slot held, durable across
restarts -- and shows in ``orchestrator approvals``. Approving sends it again with the
request in ``ctx.approval`` (kept across its retries); rejecting skips it. Approving an
escalated *failure* is not a gate approval: the gate asks again. It is not a failure
either: no recovery attempt is recorded for it.
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.models import ErrorType
from orchestrator.models.base import JsonScalar
from tasks.errors import HandlerError


class ApprovalRequired(HandlerError):
    """Raised by a handler that must not act without a person's approval.

    Where nobody can approve (a task run without Celery's task control) the task fails
    with this error instead; no recovery strategy can stand in for a person.
    """

    error_type: ClassVar[ErrorType] = ErrorType.CONFLICTING_GOALS
    recoverable: ClassVar[bool] = False

    def __init__(self, reason: str, **request: JsonScalar) -> None:
        super().__init__(reason, **request)
        self.reason = reason
        #: What the person is asked to approve; the handler finds it in ``ctx.approval``
        #: once approved, and can check that what it is about to do is what was approved.
        self.request: dict[str, JsonScalar] = dict(request)
