"""retry_with_backoff's arithmetic: delays, the escalated timeout, when to stop (pure).

Attempts count from 1: ``attempt`` is the number of the attempt that just failed, so the
first retry waits ``compute_backoff_s(1, policy)``.
"""

from __future__ import annotations

import random

from orchestrator.models import RetryPolicy
from recovery.analysis import Severity

#: The spec's example task timed out at 120 s and is retried with 300 s (severity high) or
#: 180 s (otherwise): as factors of the task's own timeout, 2.5 and 1.5.
TIMEOUT_FACTOR_SEVERE = 2.5
#: The most a timeout retry multiplies a task's timeout by (deployment limits use it).
MAX_TIMEOUT_ESCALATION = TIMEOUT_FACTOR_SEVERE
TIMEOUT_FACTOR = 1.5
# 2**62 seconds outlasts any cap; a larger exponent would only risk float overflow.
_MAX_EXPONENT = 62


def compute_backoff_s(
    attempt: int, policy: RetryPolicy, *, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retrying after failed attempt number ``attempt``.

    Exponential: ``backoff_base_s * 2**(attempt - 1)``, capped at ``backoff_max_s``. With
    ``policy.jitter`` the delay is drawn uniformly from ``[0, that]`` ("full jitter": retries
    of many tasks failing together spread out instead of hitting the service in waves).
    Pass a seeded ``rng`` for a reproducible draw.
    """
    exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
    delay_s = min(policy.backoff_base_s * float(2**exponent), policy.backoff_max_s)
    if not policy.jitter:
        return delay_s
    return (rng or random).uniform(0.0, delay_s)  # spreads load; not a secret


def escalated_timeout_s(task_timeout_s: float, severity: Severity) -> float:
    """The timeout for the retry of a timed-out task.

    ``task_timeout_s`` times 2.5 if severity is high or critical, 1.5 otherwise: the spec's
    300 s / 180 s for its 120 s example task.
    """
    severe = severity in (Severity.HIGH, Severity.CRITICAL)
    return task_timeout_s * (TIMEOUT_FACTOR_SEVERE if severe else TIMEOUT_FACTOR)


def should_give_up(attempt: int, policy: RetryPolicy) -> bool:
    """True once attempt number ``attempt`` has used the policy's last attempt."""
    return attempt >= policy.max_attempts
