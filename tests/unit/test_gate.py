"""The association compliance gate: PASS, WAIT or FAIL, and when to look again."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate import (
    GateDecision,
    GateSettings,
    TargetCompliance,
    evaluate_gate,
    next_poll_in,
    total_compliance,
)
from distributor_rollout.core.targets import Target

pytestmark = pytest.mark.unit

SETTINGS = GateSettings(
    threshold_percent=95,
    min_nodes=5,
    timeout_seconds=600,
    bake_seconds=120,
    poll_interval_seconds=30,
)


def node_counts(
    expected: int, success: int, failed: int = 0, pending: int = 0, account: int = 1
) -> TargetCompliance:
    return TargetCompliance(
        Target(f"{account:012d}", "eu-west-1"), expected, success, failed, pending
    )


# --- counts -------------------------------------------------------------------------------


def test_unreported_is_what_is_left_of_expected() -> None:
    counts = node_counts(10, 5, 1, 2)
    assert counts.unreported == 2
    assert counts.compliant_percent == 50.0


def test_more_reports_than_expected_are_taken_as_reported() -> None:
    counts = node_counts(3, 4, 1, 0)
    assert counts.unreported == 0
    assert counts.effective_expected == 5
    assert total_compliance([counts]).expected == 5


def test_counts_must_be_non_negative_integers() -> None:
    with pytest.raises(ValidationError) as caught:
        node_counts(-1, 0, 1.5, True)  # type: ignore[arg-type]
    assert [p.path for p in caught.value.problems] == ["expected", "failed", "pending"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("threshold_percent", 101),
        ("threshold_percent", float("nan")),
        ("min_nodes", -1),
        ("timeout_seconds", 0),
        ("bake_seconds", -5),
        ("poll_interval_seconds", 0),
    ],
)
def test_settings_are_validated(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as caught:
        GateSettings.from_dict({field: value})
    assert caught.value.problems[0].path == field


def test_settings_round_trip_and_defaults() -> None:
    assert GateSettings.from_dict(SETTINGS.to_dict()) == SETTINGS
    assert GateSettings.from_dict({"min_nodes": 0}) == GateSettings(min_nodes=0)


# --- decisions ----------------------------------------------------------------------------


def test_waits_while_below_threshold() -> None:
    decision = evaluate_gate([node_counts(20, 10, 0, 5)], SETTINGS, elapsed=60)
    assert decision.state == "WAIT"
    assert decision.passing_since is None
    assert decision.reason == (
        "waiting: 50.0% compliant, need 95%; "
        "20 nodes: 10 compliant, 5 in progress, 5 never reported"
    )


def test_passing_starts_the_bake_and_passes_after_it() -> None:
    targets = [node_counts(20, 19)]
    first = evaluate_gate(targets, SETTINGS, elapsed=100)
    assert (first.state, first.passing_since) == ("WAIT", 100)
    assert "baking: 0s of 120s" in first.reason
    during = evaluate_gate(targets, SETTINGS, elapsed=219.9, passing_since=first.passing_since)
    assert during.state == "WAIT"
    done = evaluate_gate(targets, SETTINGS, elapsed=220, passing_since=first.passing_since)
    assert (done.state, done.passing_since) == ("PASS", 100)
    assert done.reason == (
        "95.0% compliant (need 95%); 20 nodes: 19 compliant, 1 never reported; passing for 120s"
    )


def test_zero_bake_passes_at_once() -> None:
    settings = dataclasses.replace(SETTINGS, bake_seconds=0)
    assert evaluate_gate([node_counts(5, 5)], settings, elapsed=0).state == "PASS"


def test_a_break_in_passing_restarts_the_bake() -> None:
    decision = evaluate_gate([node_counts(20, 18)], SETTINGS, elapsed=200, passing_since=100)
    assert (decision.state, decision.passing_since) == ("WAIT", None)
    again = evaluate_gate([node_counts(20, 20)], SETTINGS, elapsed=230, passing_since=None)
    assert again.passing_since == 230


def test_fails_early_when_threshold_is_unreachable() -> None:
    decision = evaluate_gate([node_counts(20, 2, failed=2)], SETTINGS, elapsed=10, passing_since=5)
    assert decision.state == "FAIL"
    assert decision.passing_since is None
    assert decision.reason == (
        "threshold unreachable: 2 of 20 nodes failed, at most 90.0% can comply, need 95%; "
        "20 nodes: 2 compliant, 2 failed, 16 never reported"
    )


def test_percentages_never_look_rounded_across_the_threshold() -> None:
    decision = evaluate_gate([node_counts(10000, 9496)], SETTINGS, elapsed=600)
    assert decision.reason.startswith("timed out after 600s: 94.96% compliant, need 95%")
    decision = evaluate_gate([node_counts(10000, 0, failed=504)], SETTINGS, elapsed=0)
    assert "at most 94.96% can comply" in decision.reason
    assert "at most 90.0% can comply" in evaluate_gate([node_counts(10, 0, 1)], SETTINGS, 0).reason


def test_one_failure_within_threshold_keeps_waiting() -> None:
    assert evaluate_gate([node_counts(20, 2, failed=1)], SETTINGS, elapsed=10).state == "WAIT"


def test_threshold_comparison_is_exact_for_decimal_thresholds() -> None:
    settings = dataclasses.replace(SETTINGS, threshold_percent=99.9, bake_seconds=0)
    assert evaluate_gate([node_counts(1000, 999)], settings, elapsed=0).state == "PASS"
    assert evaluate_gate([node_counts(1000, 998, failed=1)], settings, elapsed=0).state == "WAIT"
    settings = dataclasses.replace(settings, threshold_percent=29)
    assert evaluate_gate([node_counts(100, 29)], settings, elapsed=0).state == "PASS"


def test_times_out_naming_the_shortfall() -> None:
    decision = evaluate_gate([node_counts(15, 12)], SETTINGS, elapsed=600)
    assert decision.state == "FAIL"
    assert (
        decision.reason == "timed out after 600s: 80.0% compliant, need 95%; "
        "15 nodes: 12 compliant, 3 never reported"
    )


def test_times_out_when_too_few_nodes_reported() -> None:
    decision = evaluate_gate([node_counts(2, 2)], SETTINGS, elapsed=601)
    assert decision.reason == (
        "timed out after 601s: only 2 nodes reported, need at least 5 (the wave has only 2); "
        "2 nodes: 2 compliant"
    )


def test_times_out_when_no_nodes_are_targeted() -> None:
    decision = evaluate_gate([node_counts(0, 0)], SETTINGS, elapsed=700)
    assert decision.reason == "timed out after 700s: no targeted nodes found"
    assert evaluate_gate([], SETTINGS, elapsed=0).reason == "waiting: no targeted nodes found"


def test_passing_at_timeout_may_finish_its_bake() -> None:
    targets = [node_counts(20, 20)]
    at_timeout = evaluate_gate(targets, SETTINGS, elapsed=650, passing_since=590)
    assert at_timeout.state == "WAIT"
    assert evaluate_gate(targets, SETTINGS, elapsed=710, passing_since=590).state == "PASS"
    broke = evaluate_gate([node_counts(20, 10)], SETTINGS, elapsed=700, passing_since=590)
    assert broke.state == "FAIL"


def test_min_nodes_zero_and_threshold_zero() -> None:
    settings = GateSettings(threshold_percent=0, min_nodes=0, bake_seconds=0)
    assert evaluate_gate([node_counts(3, 0, pending=3)], settings, elapsed=0).state == "PASS"
    assert evaluate_gate([node_counts(0, 0)], settings, elapsed=0).state == "WAIT"


def test_worst_targets_are_the_least_compliant_first() -> None:
    targets = [node_counts(10, n, account=n + 1) for n in range(11)]
    targets.append(node_counts(0, 0, account=50))
    decision = evaluate_gate(targets, GateSettings(threshold_percent=50), elapsed=0)
    assert [item.success for item in decision.worst] == list(range(10))
    assert all(item.success < item.expected for item in decision.worst)


def test_evaluation_inputs_are_validated() -> None:
    with pytest.raises(ValidationError, match="elapsed"):
        evaluate_gate([], SETTINGS, elapsed=-1)
    with pytest.raises(ValidationError, match="passing_since"):
        evaluate_gate([], SETTINGS, elapsed=10, passing_since=11)


def test_decision_round_trips_through_json() -> None:
    decision = evaluate_gate([node_counts(20, 10, 1, 2), node_counts(5, 5, account=2)], SETTINGS, 5)
    assert GateDecision.from_dict(json.loads(json.dumps(decision.to_dict()))) == decision


# --- next poll ----------------------------------------------------------------------------


def test_next_poll_is_the_interval_by_default() -> None:
    decision = evaluate_gate([node_counts(20, 10)], SETTINGS, elapsed=0)
    assert next_poll_in(decision, SETTINGS, elapsed=0) == 30


def test_next_poll_lands_on_the_timeout() -> None:
    decision = evaluate_gate([node_counts(20, 10)], SETTINGS, elapsed=590)
    assert next_poll_in(decision, SETTINGS, elapsed=590) == 10


def test_a_slow_poll_shortens_the_wait_for_the_next() -> None:
    decision = evaluate_gate([node_counts(20, 10)], SETTINGS, elapsed=0)
    assert next_poll_in(decision, SETTINGS, elapsed=0, polling_took=12) == 18
    assert next_poll_in(decision, SETTINGS, elapsed=0, polling_took=45) == 0
    late = evaluate_gate([node_counts(20, 10)], SETTINGS, elapsed=590)
    assert next_poll_in(late, SETTINGS, elapsed=590, polling_took=4) == 6


def test_next_poll_lands_on_the_bake_end() -> None:
    decision = evaluate_gate([node_counts(20, 20)], SETTINGS, elapsed=700, passing_since=590)
    assert next_poll_in(decision, SETTINGS, elapsed=700) == 10


def test_no_next_poll_once_decided() -> None:
    decision = evaluate_gate([node_counts(20, 0, failed=20)], SETTINGS, elapsed=0)
    assert next_poll_in(decision, SETTINGS, elapsed=0) == 0.0


# --- properties ---------------------------------------------------------------------------


@st.composite
def fleets(draw: st.DrawFn) -> list[TargetCompliance]:
    items = []
    for index in range(draw(st.integers(0, 4))):
        success, failed, pending = (draw(st.integers(0, 30)) for _ in range(3))
        expected = draw(st.integers(0, 100))
        items.append(node_counts(expected, success, failed, pending, account=index + 1))
    return items


settings_strategy = st.builds(
    GateSettings,
    threshold_percent=st.sampled_from([0, 50, 90, 95, 99.5, 100]),
    min_nodes=st.integers(0, 20),
    timeout_seconds=st.sampled_from([60, 600]),
    bake_seconds=st.sampled_from([0, 30, 300]),
    poll_interval_seconds=st.just(30),
)


@st.composite
def clocks(draw: st.DrawFn) -> tuple[float, float | None]:
    elapsed = draw(st.floats(0, 1000))
    since = draw(st.none() | st.floats(0, elapsed))
    return elapsed, since


@given(fleets(), settings_strategy, clocks(), st.data())
def test_more_success_never_turns_pass_or_wait_into_fail(
    fleet: list[TargetCompliance],
    settings: GateSettings,
    clock: tuple[float, float | None],
    data: st.DataObject,
) -> None:
    assume(fleet)
    elapsed, since = clock
    before = evaluate_gate(fleet, settings, elapsed, since)
    index = data.draw(st.integers(0, len(fleet) - 1))
    more = data.draw(st.integers(1, 50))
    improved = list(fleet)
    improved[index] = dataclasses.replace(fleet[index], success=fleet[index].success + more)
    after = evaluate_gate(improved, settings, elapsed, since)
    if before.state != "FAIL":
        assert after.state != "FAIL"
    if before.state == "PASS":
        assert after.state == "PASS"


@given(fleets(), settings_strategy, clocks())
def test_never_fails_early_while_the_threshold_is_reachable(
    fleet: list[TargetCompliance], settings: GateSettings, clock: tuple[float, float | None]
) -> None:
    elapsed, since = clock
    decision = evaluate_gate(fleet, settings, elapsed, since)
    if decision.state == "FAIL" and elapsed < settings.timeout_seconds:
        totals = decision.totals
        assert totals.expected > 0
        reachable = (totals.expected - totals.failed) * 100 / totals.expected
        assert reachable < settings.threshold_percent


@given(fleets(), settings_strategy, clocks())
def test_never_passes_before_the_bake(
    fleet: list[TargetCompliance], settings: GateSettings, clock: tuple[float, float | None]
) -> None:
    elapsed, since = clock
    decision = evaluate_gate(fleet, settings, elapsed, since)
    if decision.state == "PASS":
        assert decision.passing_since is not None
        assert elapsed - decision.passing_since >= settings.bake_seconds
    if decision.state != "WAIT":
        assert next_poll_in(decision, settings, elapsed) == 0.0
    else:
        assert 0 < next_poll_in(decision, settings, elapsed) <= settings.poll_interval_seconds


@given(fleets(), settings_strategy)
def test_polling_a_steady_fleet_always_ends_within_timeout_plus_bake(
    fleet: list[TargetCompliance], settings: GateSettings
) -> None:
    elapsed, since, polls = 0.0, None, 0
    while True:
        decision = evaluate_gate(fleet, settings, elapsed, since)
        if decision.state != "WAIT":
            break
        since = decision.passing_since
        elapsed += next_poll_in(decision, settings, elapsed)
        polls += 1
        assert polls < 100
    assert elapsed <= settings.timeout_seconds + settings.bake_seconds


# --- time scale ---------------------------------------------------------------------------


def test_scaled_divides_every_duration_and_keeps_the_thresholds() -> None:
    scaled = SETTINGS.scaled(60)
    assert scaled == GateSettings(
        threshold_percent=95,
        min_nodes=5,
        timeout_seconds=10,
        bake_seconds=2,
        poll_interval_seconds=0.5,
    )
    assert SETTINGS.scaled(1) is SETTINGS
    assert SETTINGS.scaled(0.5).timeout_seconds == 1200


@pytest.mark.parametrize("factor", [0, -1, math.inf, math.nan, True, "60"])
def test_scaled_refuses_a_factor_that_is_not_a_positive_number(factor: object) -> None:
    with pytest.raises(ValidationError, match="factor: not a time scale"):
        SETTINGS.scaled(factor)  # type: ignore[arg-type]


@given(
    settings_strategy,
    st.floats(min_value=0.01, max_value=10_000, allow_nan=False, allow_infinity=False),
)
def test_scaled_durations_are_the_fleet_durations_over_the_factor(
    settings: GateSettings, factor: float
) -> None:
    scaled = settings.scaled(factor)
    for name in ("timeout_seconds", "bake_seconds", "poll_interval_seconds"):
        assert math.isclose(getattr(scaled, name) * factor, getattr(settings, name))
    assert (scaled.threshold_percent, scaled.min_nodes) == (
        settings.threshold_percent,
        settings.min_nodes,
    )
    assert GateSettings.from_dict(json.loads(json.dumps(scaled.to_dict()))) == scaled


@given(fleets(), settings_strategy, st.sampled_from([2, 60, 600]))
def test_a_scaled_gate_decides_as_the_fleet_gate_at_the_same_fleet_time(
    fleet: list[TargetCompliance], settings: GateSettings, factor: int
) -> None:
    """A gate under a time scale, at real time t, says what the fleet's gate says at
    t × factor: same state, same passing streak in fleet time."""
    scaled = settings.scaled(factor)
    for fleet_elapsed in (0.0, settings.bake_seconds, settings.timeout_seconds):
        fleet_decision = evaluate_gate(fleet, settings, fleet_elapsed)
        real_decision = evaluate_gate(fleet, scaled, fleet_elapsed / factor)
        assert real_decision.state == fleet_decision.state


# --- offline and skipped nodes ------------------------------------------------------------

OFFLINE_SETTINGS = dataclasses.replace(SETTINGS, bake_seconds=0, max_offline_percent=20)


def fleet(
    success: int, failed: int = 0, pending: int = 0, skipped: int = 0, offline: int = 0
) -> TargetCompliance:
    expected = success + failed + pending + skipped + offline
    return TargetCompliance(
        Target("000000000001", "eu-west-1"), expected, success, failed, pending, skipped, offline
    )


def test_offline_nodes_are_left_out_of_the_percentage_by_default() -> None:
    # 95 of 100 nodes compliant and 5 offline: 95/95 = 100% of the nodes that can answer.
    decision = evaluate_gate([fleet(95, offline=5)], OFFLINE_SETTINGS, elapsed=60)

    assert decision.state == "PASS"
    assert decision.compliant_percent == 100.0
    assert decision.totals.excluded_offline == 5
    assert "100 nodes: 95 compliant, 5 offline (excluded)" in decision.reason


def test_offline_nodes_count_against_the_gate_when_the_plan_says_count() -> None:
    settings = dataclasses.replace(OFFLINE_SETTINGS, offline_nodes="count")

    decision = evaluate_gate([fleet(90, offline=10)], settings, elapsed=60)

    assert decision.state == "WAIT"
    assert decision.compliant_percent == 90.0
    assert "10 offline (counted)" in decision.reason


def test_a_wave_mostly_offline_does_not_pass_and_times_out_saying_why() -> None:
    items = [fleet(66, offline=34)]

    waiting = evaluate_gate(items, OFFLINE_SETTINGS, elapsed=60)
    timed_out = evaluate_gate(items, OFFLINE_SETTINGS, elapsed=600)

    assert waiting.state == "WAIT"
    assert timed_out.state == "FAIL"
    assert timed_out.reason == (
        "timed out after 600s: 34.0% of nodes offline, above the 20% cap; "
        "100 nodes: 66 compliant, 34 offline (excluded)"
    )


def test_skipped_nodes_are_named_and_never_compliant() -> None:
    decision = evaluate_gate([fleet(90, failed=2, skipped=8)], OFFLINE_SETTINGS, elapsed=60)

    assert decision.state == "WAIT"
    assert decision.totals.skipped == 8
    assert "8 skipped by MaxErrors" in decision.reason


def test_min_nodes_names_a_wave_too_small_once_offline_nodes_are_out() -> None:
    decision = evaluate_gate([fleet(1, offline=1)], OFFLINE_SETTINGS, elapsed=600)

    assert decision.state == "FAIL"
    assert "need at least 5 (the wave has only 1 online)" in decision.reason


def test_a_wave_whose_every_node_is_offline_says_so() -> None:
    decision = evaluate_gate([fleet(0, offline=7)], OFFLINE_SETTINGS, elapsed=60)

    assert decision.state == "WAIT"
    assert decision.reason.startswith("waiting: all 7 nodes are offline")


node_buckets = st.tuples(*(st.integers(0, 60) for _ in range(5)))


@given(buckets=node_buckets, offline=st.integers(1, 60), data=st.data())
def test_offline_share_above_the_cap_never_passes(
    buckets: tuple[int, int, int, int, int], offline: int, data: st.DataObject
) -> None:
    item = fleet(*buckets[:4], offline=offline)
    share = offline * 100 / item.expected
    cap = data.draw(st.integers(0, math.ceil(share) - 1), label="cap")

    for offline_nodes in ("exclude", "count"):
        settings = dataclasses.replace(
            OFFLINE_SETTINGS, max_offline_percent=cap, offline_nodes=offline_nodes
        )
        assert evaluate_gate([item], settings, elapsed=60).state != "PASS"


@given(buckets=node_buckets)
def test_counting_offline_nodes_is_the_same_as_them_pending(
    buckets: tuple[int, int, int, int, int],
) -> None:
    success, failed, pending, skipped, offline = buckets
    settings = dataclasses.replace(OFFLINE_SETTINGS, offline_nodes="count", max_offline_percent=100)

    counted = evaluate_gate([fleet(*buckets)], settings, elapsed=60)
    as_pending = evaluate_gate(
        [fleet(success, failed, pending + offline, skipped)], settings, elapsed=60
    )

    assert (counted.state, counted.compliant_percent) == (
        as_pending.state,
        as_pending.compliant_percent,
    )


@given(buckets=node_buckets)
def test_excluding_offline_nodes_never_makes_a_gate_stricter(
    buckets: tuple[int, int, int, int, int],
) -> None:
    settings = dataclasses.replace(OFFLINE_SETTINGS, max_offline_percent=100)
    excluded = evaluate_gate([fleet(*buckets)], settings, elapsed=60)
    counted = evaluate_gate(
        [fleet(*buckets)], dataclasses.replace(settings, offline_nodes="count"), elapsed=60
    )

    assert excluded.compliant_percent >= counted.compliant_percent
    if counted.state == "PASS":
        assert excluded.state == "PASS"
    # Failed nodes decide "unreachable" the same way under both: offline ones may return.
    assert (excluded.state == "FAIL") == (counted.state == "FAIL")


@given(buckets=node_buckets)
def test_every_node_is_in_one_bucket_of_the_totals(
    buckets: tuple[int, int, int, int, int],
) -> None:
    totals = evaluate_gate([fleet(*buckets)], OFFLINE_SETTINGS, elapsed=60).totals

    assert totals.expected == sum(buckets)
    assert (
        totals.success
        + totals.failed
        + totals.pending
        + totals.skipped
        + totals.offline
        + totals.unreported
    ) == totals.expected


def test_gate_settings_name_a_bad_offline_policy_and_cap() -> None:
    with pytest.raises(ValidationError) as caught:
        GateSettings(offline_nodes="ignore", max_offline_percent=120)  # type: ignore[arg-type]
    text = str(caught.value)
    assert "offline_nodes" in text
    assert "exclude | count" in text
    assert "max_offline_percent" in text
