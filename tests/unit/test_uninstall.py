"""Uninstall progress from association node counts."""

from __future__ import annotations

from distributor_rollout.core.gate import TargetCompliance
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import uninstall_progress

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
