"""retry_with_backoff's arithmetic: exponential, capped, jittered, reproducible, bounded."""

from __future__ import annotations

import random

import pytest

from orchestrator.models import RetryPolicy
from recovery.analysis import Severity
from recovery.backoff import compute_backoff_s, escalated_timeout_s, should_give_up

STEADY = RetryPolicy(max_attempts=5, backoff_base_s=2.0, backoff_max_s=30.0, jitter=False)
JITTERED = RetryPolicy(max_attempts=5, backoff_base_s=2.0, backoff_max_s=30.0, jitter=True)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 -- reproducible jitter, not secrecy


def test_delay_doubles_per_attempt_until_the_cap() -> None:
    delays = [compute_backoff_s(attempt, STEADY) for attempt in range(1, 8)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert compute_backoff_s(10_000, STEADY) == 30.0
    assert compute_backoff_s(0, STEADY) == 2.0  # nonsense attempt numbers read as the first


def test_full_jitter_stays_within_zero_and_the_capped_delay() -> None:
    rng = seeded(7)
    for attempt in range(1, 12):
        ceiling = compute_backoff_s(attempt, STEADY)
        samples = [compute_backoff_s(attempt, JITTERED, rng=rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.5 * ceiling  # spread over the range, not stuck at zero


def test_jitter_is_reproducible_with_a_seed() -> None:
    first = [compute_backoff_s(a, JITTERED, rng=seeded(42)) for a in range(1, 6)]
    second = [compute_backoff_s(a, JITTERED, rng=seeded(42)) for a in range(1, 6)]
    assert first == second
    assert first != [compute_backoff_s(a, STEADY) for a in range(1, 6)]


@pytest.mark.parametrize(
    ("severity", "expected_s"),
    [
        (Severity.HIGH, 300.0),
        (Severity.CRITICAL, 300.0),
        (Severity.MEDIUM, 180.0),
        (Severity.LOW, 180.0),
    ],
)
def test_timeout_escalation_matches_the_spec_for_a_120_s_task(
    severity: Severity, expected_s: float
) -> None:
    assert escalated_timeout_s(120.0, severity) == expected_s


def test_timeout_escalation_scales_with_the_task_timeout() -> None:
    assert escalated_timeout_s(10.0, Severity.HIGH) == 25.0
    assert escalated_timeout_s(10.0, Severity.MEDIUM) == 15.0


def test_retries_stop_at_the_policy_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [should_give_up(a, policy) for a in (1, 2, 3, 4)] == [False, False, True, True]
    assert should_give_up(1, RetryPolicy(max_attempts=1))
