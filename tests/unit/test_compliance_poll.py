"""One poll of the compliance gate: counts by status, unread targets, failure wording."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.compliance_poll import (
    as_failed,
    compliance_from_counts,
    elapsed_since,
    evaluate_poll,
    failure_message,
    failure_trigger,
    name_targets,
)
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate import GateSettings, TargetCompliance, evaluate_gate
from distributor_rollout.core.targets import Target

pytestmark = pytest.mark.unit

SETTINGS = GateSettings(threshold_percent=90, min_nodes=1, timeout_seconds=600, bake_seconds=120)
HERE = Target("111122223333", "eu-west-1")
THERE = Target("444455556666", "us-east-1")


def test_compliance_counts_every_status_against_the_nodes_targeted() -> None:
    counts = {"Success": 7, "Failed": 1, "Pending": 1, "InProgress": 2, "Skipped": 1}

    compliance = compliance_from_counts(HERE, counts)

    assert compliance == TargetCompliance(
        HERE, expected=12, success=7, failed=1, pending=3, skipped=1
    )


def test_offline_nodes_come_out_of_the_unfinished_ones_pending_first() -> None:
    counts = {"Success": 7, "Failed": 1, "Pending": 2, "Skipped": 2}

    assert compliance_from_counts(HERE, counts, offline=3) == TargetCompliance(
        HERE, expected=12, success=7, failed=1, pending=0, skipped=1, offline=3
    )
    # More offline agents than unfinished nodes: the rest reported before going away.
    assert compliance_from_counts(HERE, counts, offline=9).offline == 4


@given(
    counts=st.dictionaries(
        st.sampled_from(["Success", "Failed", "Pending", "InProgress", "Skipped", "Odd"]),
        st.integers(0, 50),
    ),
    offline=st.integers(0, 120),
)
def test_offline_never_changes_results_nor_the_node_total(
    counts: dict[str, int], offline: int
) -> None:
    plain = compliance_from_counts(HERE, counts)
    split = compliance_from_counts(HERE, counts, offline=offline)

    assert (split.expected, split.success, split.failed) == (
        plain.expected,
        plain.success,
        plain.failed,
    )
    assert split.reported_total == plain.reported_total == split.expected
    assert split.offline == min(offline, plain.pending + plain.skipped)


def test_a_negative_offline_count_is_named() -> None:
    with pytest.raises(ValidationError, match="offline"):
        compliance_from_counts(HERE, {"Success": 1}, offline=-1)


def test_compliance_of_statuses_aws_may_add_is_never_success_nor_failure() -> None:
    compliance = compliance_from_counts(HERE, {"Success": 2, "Cancelled": 1, "Unheard": 1})

    assert (compliance.expected, compliance.success, compliance.failed) == (4, 2, 0)
    assert compliance.pending == 2


def test_compliance_of_a_missing_association_is_nothing_expected() -> None:
    assert compliance_from_counts(HERE, None) == TargetCompliance(HERE, 0, 0, 0, 0)
    assert compliance_from_counts(HERE, {}) == TargetCompliance(HERE, 0, 0, 0, 0)


@pytest.mark.parametrize("count", [-1, 1.5, True, "3"])
def test_compliance_refuses_counts_that_are_not_node_counts(count: object) -> None:
    with pytest.raises(ValidationError, match=r"counts\['Success'\]: not a node count"):
        compliance_from_counts(HERE, {"Success": count})  # type: ignore[dict-item]


def test_a_complete_poll_is_the_gate_itself() -> None:
    read = [TargetCompliance(HERE, 10, 10, 0, 0)]

    assert evaluate_poll(read, [], SETTINGS, 200.0, 50.0) == evaluate_gate(
        read, SETTINGS, 200.0, 50.0
    )


def test_an_incomplete_poll_neither_passes_nor_fails_on_thresholds() -> None:
    passing = [TargetCompliance(HERE, 10, 10, 0, 0)]
    failing = [TargetCompliance(HERE, 10, 0, 10, 0)]

    waits_instead_of_passing = evaluate_poll(passing, [THERE], SETTINGS, 500.0, 100.0)
    waits_instead_of_failing = evaluate_poll(failing, [THERE], SETTINGS, 10.0)

    assert waits_instead_of_passing.state == "WAIT"
    assert waits_instead_of_passing.passing_since == 100.0  # the bake goes on
    assert waits_instead_of_passing.reason.startswith(
        "poll incomplete, 1 target could not be read (444455556666/us-east-1)"
    )
    assert waits_instead_of_failing.state == "WAIT"
    assert waits_instead_of_failing.passing_since is None


def test_an_incomplete_poll_fails_when_the_gate_time_is_up() -> None:
    read = [TargetCompliance(HERE, 10, 5, 0, 5)]

    decision = evaluate_poll(read, [THERE], SETTINGS, 600.0)

    assert decision.state == "FAIL"
    assert decision.reason.startswith("timed out after 600s: 1 target could not be read")
    assert decision.totals.pending == 5


def test_an_incomplete_poll_of_a_passing_gate_may_still_finish_its_bake() -> None:
    read = [TargetCompliance(HERE, 10, 10, 0, 0)]

    within_bake = evaluate_poll(read, [THERE], SETTINGS, 700.0, 590.0)
    after_bake = evaluate_poll(read, [THERE], SETTINGS, 720.0, 590.0)

    assert within_bake.state == "WAIT"
    assert after_bake.state == "FAIL"


def test_failure_trigger_tells_failed_nodes_from_time_running_out() -> None:
    unreachable = evaluate_gate([TargetCompliance(HERE, 10, 5, 5, 0)], SETTINGS, 10.0)
    timed_out = evaluate_gate([TargetCompliance(HERE, 10, 5, 0, 5)], SETTINGS, 600.0)
    nothing_targeted = evaluate_gate([TargetCompliance(HERE, 0, 0, 0, 0)], SETTINGS, 600.0)

    assert failure_trigger(unreachable, SETTINGS) == "compliance_failed"
    assert failure_trigger(timed_out, SETTINGS) == "compliance_timeout"
    assert failure_trigger(nothing_targeted, SETTINGS) == "compliance_timeout"


def test_failure_message_names_the_wave_the_reason_and_the_worst_targets() -> None:
    decision = evaluate_gate(
        [TargetCompliance(HERE, 10, 2, 8, 0), TargetCompliance(THERE, 12, 9, 0, 1)],
        SETTINGS,
        30.0,
    )

    message = failure_message("canary", decision)

    assert message.startswith(f"compliance gate of wave 'canary' failed: {decision.reason}")
    assert message.endswith(
        ". Least compliant: 111122223333/eu-west-1 (2/10 succeeded, 8 failed); "
        "444455556666/us-east-1 (9/12 succeeded, 1 in progress, 2 never reported)"
    )


def test_name_targets_shows_a_few_sorted_then_counts_the_rest() -> None:
    many = [Target(f"{n:012d}", "eu-west-1") for n in range(8, 0, -1)]

    assert name_targets([THERE, HERE]) == "111122223333/eu-west-1, 444455556666/us-east-1"
    assert name_targets(many).endswith("000000000005/eu-west-1 and 3 more")
    assert name_targets(many).startswith("000000000001/eu-west-1, ")


def test_elapsed_since_the_gate_opened_is_never_negative() -> None:
    assert elapsed_since(1_000.0, 1_090.5) == 90.5
    assert elapsed_since(1_000.0, 999.0) == 0.0


def test_failed_targets_count_every_node_as_failed() -> None:
    a, b = Target("300000000001", "us-east-1"), Target("300000000002", "us-east-1")
    counted = as_failed(
        [TargetCompliance(a, 5, 5, 0, 0), TargetCompliance(b, 4, 3, 0, 1)], frozenset({a})
    )
    assert counted == [TargetCompliance(a, 5, 0, 5, 0), TargetCompliance(b, 4, 3, 0, 1)]
