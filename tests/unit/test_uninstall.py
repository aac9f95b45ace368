"""Uninstall progress from association node counts."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.gate import TargetCompliance
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import (
    OfflineSplit,
    UninstallCheck,
    merged_checks,
    split_offline,
    unconfirmed_everywhere,
    uninstall_check,
    uninstall_progress,
)

A = Target("300000000001", "us-east-1")
B = Target("300000000002", "us-east-1")
C = Target("300000000003", "us-east-1")
D = Target("300000000004", "us-east-1")
E = Target("300000000005", "us-east-1")


def test_targets_are_done_failed_or_waiting() -> None:
    progress = uninstall_progress(
        [
            TargetCompliance(A, expected=4, success=4, failed=0, pending=0),
            TargetCompliance(B, expected=0, success=0, failed=0, pending=0),
            TargetCompliance(C, expected=4, success=3, failed=1, pending=0),
            TargetCompliance(D, expected=4, success=2, failed=1, pending=1),
            TargetCompliance(E, expected=5, success=4, failed=0, pending=0),
        ]
    )
    assert progress.done == {A, B}
    assert progress.failed == {C}
    assert progress.waiting == {D, E}  # E: a node that never reports


def test_offline_agents_are_judged_by_when_they_went_away() -> None:
    progress = uninstall_progress(
        [
            # 2 never reached (offline before the deploy): nothing to undo there.
            TargetCompliance(A, expected=6, success=4, failed=0, pending=0, offline=2),
            # 1 went away after the deploy: it may hold the package; keep the instance.
            TargetCompliance(B, expected=6, success=4, failed=0, pending=0, offline=2),
            # An online node still pending: wait, whatever the offline ones are.
            TargetCompliance(C, expected=6, success=3, failed=0, pending=1, offline=2),
            # A failure, and nothing online left to report.
            TargetCompliance(D, expected=6, success=3, failed=1, pending=0, offline=2),
        ],
        {
            A: OfflineSplit(before_deploy=2),
            B: OfflineSplit(before_deploy=1, since_deploy=1),
            C: OfflineSplit(before_deploy=2),
            D: OfflineSplit(before_deploy=2),
        },
    )
    assert progress.done == {A}
    assert progress.kept == {B}
    assert progress.waiting == {C}
    assert progress.failed == {D}
    assert progress.untouched == {A: 2, B: 1, C: 2, D: 2}
    assert progress.stranded == {B: 1}


def test_offline_agents_of_nodes_that_already_uninstalled_change_nothing() -> None:
    # Both offline agents ran the uninstall before they went away.
    progress = uninstall_progress(
        [TargetCompliance(A, expected=4, success=4, failed=0, pending=0)],
        {A: OfflineSplit(before_deploy=1, since_deploy=1)},
    )
    assert progress.done == {A}
    assert progress.untouched == {}


def test_split_offline_keeps_unknown_times_on_the_safe_side() -> None:
    assert split_offline([10.0, 30.0, None], deployed_at=20.0) == OfflineSplit(1, 2)
    assert split_offline([10.0], deployed_at=None) == OfflineSplit(0, 1)


@given(
    buckets=st.tuples(*(st.integers(0, 20) for _ in range(4))),
    before=st.integers(0, 30),
    since=st.integers(0, 30),
)
def test_every_target_lands_in_exactly_one_state(
    buckets: tuple[int, int, int, int], before: int, since: int
) -> None:
    success, failed, pending, offline = buckets
    item = TargetCompliance(
        A, success + failed + pending + offline, success, failed, pending, offline=offline
    )
    progress = uninstall_progress([item], {A: OfflineSplit(before, since)})

    states = [progress.done, progress.failed, progress.waiting, progress.kept]
    assert sum(A in state for state in states) == 1
    # Only offline agents that went away after the deploy can keep an instance.
    if A in progress.kept:
        assert since > 0
    # Nodes named as left alone never outnumber the unfinished ones.
    assert progress.untouched.get(A, 0) <= pending + offline


def test_a_wait_stops_when_nothing_is_left_or_time_is_up() -> None:
    progress = uninstall_progress(
        [
            TargetCompliance(A, expected=4, success=4, failed=0, pending=0),
            TargetCompliance(B, expected=4, success=3, failed=1, pending=0),
            TargetCompliance(C, expected=4, success=2, failed=0, pending=0, offline=2),
            TargetCompliance(D, expected=4, success=2, failed=0, pending=2),
        ],
        {C: OfflineSplit(before_deploy=0, since_deploy=2)},
    )
    assert uninstall_check(progress) is None  # D's online nodes are still running it
    # An unread target is still to hear from, like a waiting one.
    assert uninstall_check(replace(progress, waiting=frozenset()), [E]) is None

    check = uninstall_check(progress, [E], timed_out=True)
    assert check == UninstallCheck(frozenset({B, D, E}), {C: 2}, {})


def test_a_target_both_unconfirmed_and_stranded_is_not_kept() -> None:
    progress = uninstall_progress(
        [TargetCompliance(C, expected=4, success=2, failed=0, pending=0, offline=2)],
        {C: OfflineSplit(0, 2)},
    )
    check = uninstall_check(progress, [C], timed_out=True)
    assert check == UninstallCheck(frozenset({C}), {}, {})


def test_checks_merge_and_an_unreadable_fleet_confirms_nothing() -> None:
    merged = merged_checks(
        [UninstallCheck(frozenset({A}), {B: 1}, {C: 2}), UninstallCheck(frozenset({D}), {B: 3})]
    )
    assert merged == UninstallCheck(frozenset({A, D}), {B: 3}, {C: 2})
    assert merged_checks([]) == UninstallCheck()
    assert unconfirmed_everywhere({A, B}) == UninstallCheck(frozenset({A, B}))
