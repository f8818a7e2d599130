"""Choosing a recovery: the YAML policy, the spec's ranking, learned probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.models import ErrorType, RecoveryType, RiskLevel
from recovery.policy import (
    DEFAULT_POLICY_PATH,
    MIN_OBSERVATIONS,
    TERMINAL_TYPES,
    OutcomeStats,
    RecoveryPolicy,
    StrategyOption,
    rank_strategies,
)

EVERYTHING = set(RecoveryType)


def option(
    option_id: str, kind: RecoveryType, p: float, risk: RiskLevel, **extra: Any
) -> StrategyOption:
    return StrategyOption(id=option_id, type=kind, success_probability=p, risk_level=risk, **extra)


SPLIT = option("split_generation", RecoveryType.ALTERNATIVE_APPROACH, 0.9, RiskLevel.LOW)
RETRY = option("retry_optimized", RecoveryType.RETRY_WITH_BACKOFF, 0.75, RiskLevel.MEDIUM)


def ids(ranked: list[Any]) -> list[str]:
    return [r.option.id for r in ranked]


# --- the shipped policy ------------------------------------------------------------------------


def test_shipped_policy_covers_every_error_type_and_fails_fast_where_nothing_helps() -> None:
    policy = RecoveryPolicy.load()
    assert set(policy.strategies) == set(ErrorType)
    # No retry or approval changes a refusal or wrong parameters: those fail at once.
    assert policy.options_for(ErrorType.PERMISSION_DENIED) == []
    assert policy.options_for(ErrorType.INVALID_INPUT) == []
    # Unattended runs never wait on a person for a service that is down.
    down = [o.type for o in policy.options_for(ErrorType.SERVICE_DOWN)]
    assert RecoveryType.ESCALATE_TO_USER not in down
    assert down
    # A person is asked about timeouts only after the automatic options.
    timeout = [o.type for o in policy.options_for(ErrorType.TASK_TIMEOUT)]
    assert timeout[-1] in TERMINAL_TYPES


def test_shipped_policy_picks_the_spec_strategies() -> None:
    policy = RecoveryPolicy.load()

    def best(error_type: ErrorType, available: set[RecoveryType]) -> str:
        ranked = rank_strategies(
            policy.options_for(error_type), learned={}, available=available, previous_occurrences=0
        )
        return ranked[0].option.id

    # A timeout splits the work when the task type has an alternative, else retries longer.
    assert best(ErrorType.TASK_TIMEOUT, EVERYTHING) == "split_generation"
    no_alternative = EVERYTHING - {RecoveryType.ALTERNATIVE_APPROACH}
    assert best(ErrorType.TASK_TIMEOUT, no_alternative) == "timeout_retry"
    assert best(ErrorType.SERVICE_DOWN, EVERYTHING) == "service_failover"
    assert best(ErrorType.CONFLICTING_GOALS, EVERYTHING) == "ask_which_goal"


def test_approval_flag_is_carried_to_the_choice() -> None:
    policy = RecoveryPolicy.load()
    ranked = rank_strategies(
        policy.options_for(ErrorType.DATA_CORRUPTION),
        learned={},
        available=EVERYTHING,
        previous_occurrences=0,
    )
    rollback = next(r for r in ranked if r.option.type is RecoveryType.ROLLBACK_AND_RESTART)
    assert rollback.option.requires_user_approval is True
    assert ranked[0].option.requires_user_approval is False


def test_policy_missing_an_error_type_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    del data["rate_limit_exceeded"]
    path = tmp_path / "recovery.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="rate_limit_exceeded"):
        RecoveryPolicy.load(path)


def test_policy_missing_an_error_type_or_with_unknown_fields_is_refused(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    del data["network_error"]
    path = tmp_path / "recovery.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="network_error"):
        RecoveryPolicy.load(path)

    data = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    data["network_error"][0]["succes_probability"] = 0.5
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="succes_probability"):
        RecoveryPolicy.load(path)


# --- ranking -----------------------------------------------------------------------------------


def test_spec_example_split_generation_beats_retry() -> None:
    ranked = rank_strategies(
        [RETRY, SPLIT], learned={}, available=EVERYTHING, previous_occurrences=3
    )
    assert ids(ranked) == ["split_generation", "retry_optimized"]
    assert ranked[0].score == pytest.approx(0.9 * 0.9)
    assert ranked[1].score == pytest.approx(0.75 * 0.7)
    assert not any(r.learned for r in ranked)


def test_unavailable_and_not_yet_recurring_options_are_dropped() -> None:
    history_based = option(
        "history_alt",
        RecoveryType.ALTERNATIVE_APPROACH,
        0.85,
        RiskLevel.MEDIUM,
        min_previous_occurrences=3,
    )
    options = [SPLIT, RETRY, history_based]
    without_alt = EVERYTHING - {RecoveryType.ALTERNATIVE_APPROACH}
    assert ids(
        rank_strategies(options, learned={}, available=without_alt, previous_occurrences=5)
    ) == ["retry_optimized"]
    assert "history_alt" not in ids(
        rank_strategies(options, learned={}, available=EVERYTHING, previous_occurrences=2)
    )
    assert "history_alt" in ids(
        rank_strategies(options, learned={}, available=EVERYTHING, previous_occurrences=3)
    )


def test_learned_success_rate_overrides_the_default_only_past_the_threshold() -> None:
    # Given the alternative has failed 15 of its recorded tries
    def rank(observations: int) -> list[Any]:
        successes = observations // 4
        stats = {
            RecoveryType.ALTERNATIVE_APPROACH: OutcomeStats(
                observations=observations, successes=successes
            )
        }
        return rank_strategies(
            [SPLIT, RETRY], learned=stats, available=EVERYTHING, previous_occurrences=0
        )

    # Below the threshold the YAML default still decides
    early = rank(MIN_OBSERVATIONS - 1)
    assert ids(early) == ["split_generation", "retry_optimized"]
    assert early[0].success_probability_used == 0.9
    assert early[0].learned is False
    # From the threshold on the measured 25 % success rate decides
    late = rank(MIN_OBSERVATIONS)
    assert ids(late) == ["retry_optimized", "split_generation"]
    split = late[1]
    assert split.learned is True
    assert split.success_probability_used == pytest.approx(0.25)
    assert late[0].learned is False  # nothing recorded for retries


def test_threshold_is_adjustable() -> None:
    stats = {RecoveryType.ALTERNATIVE_APPROACH: OutcomeStats(observations=5, successes=0)}
    ranked = rank_strategies(
        [SPLIT, RETRY],
        learned=stats,
        available=EVERYTHING,
        previous_occurrences=0,
        min_observations=5,
    )
    assert ids(ranked) == ["retry_optimized", "split_generation"]


def test_ties_keep_the_yaml_order() -> None:
    first = option("first", RecoveryType.RETRY_WITH_BACKOFF, 0.6, RiskLevel.LOW)
    second = option("second", RecoveryType.GRACEFUL_DEGRADATION, 0.6, RiskLevel.LOW)
    for order in ([first, second], [second, first]):
        ranked = rank_strategies(order, learned={}, available=EVERYTHING, previous_occurrences=0)
        assert ids(ranked) == [o.id for o in order]


def test_outcome_stats_reject_more_successes_than_tries() -> None:
    with pytest.raises(ValueError, match="successes exceed observations"):
        OutcomeStats(observations=2, successes=3)
