"""Where the stack set stands after a rollback: what it holds, and the instances that are
not CURRENT with it, the run's and the others."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.rollback_standing import (
    NAMES_KEPT,
    InstanceStatus,
    StackSetStanding,
    stack_set_standing,
    version_text,
)
from distributor_rollout.core.targets import Target

pytestmark = pytest.mark.unit

RESTORED = {
    "PackageName": "ExamplePackage",
    "Version": "1.1.0",
    "AssociationVersion": "1.0.2",
    "Action": "Install",
}
BEFORE = {"PackageName": "ExamplePackage", "Version": "1.0.2", "AssociationVersion": ""}


@pytest.mark.parametrize(
    ("parameters", "text"),
    [
        (BEFORE, "ExamplePackage 1.0.2"),
        (RESTORED, "ExamplePackage 1.0.2 (package document at 1.1.0)"),
        ({**RESTORED, "AssociationVersion": "1.1.0"}, "ExamplePackage 1.1.0"),
        (
            {**RESTORED, "Action": "Uninstall"},
            "the uninstall of ExamplePackage (package document at 1.1.0)",
        ),
        ({"Version": "2.0.0"}, "2.0.0"),
        ({}, "no package version"),
    ],
)
def test_what_the_parameters_install_in_words(parameters: dict[str, str], text: str) -> None:
    assert version_text(parameters) == text


def _status(account: int, status: str, region: str = "us-east-1") -> InstanceStatus:
    return InstanceStatus(Target(f"{account:012d}", region), status)


def test_a_forward_restore_leaves_the_waves_never_reached_outdated() -> None:
    canary = [_status(n, "CURRENT") for n in (1, 2)]
    nonprod = [
        _status(n, "OUTDATED", region) for n in (3, 4) for region in ("us-east-1", "us-west-2")
    ]
    standing = stack_set_standing(
        RESTORED,
        BEFORE,
        [*nonprod, *canary],
        changed={item.target for item in canary},
        failed=set(),
    )
    assert standing == StackSetStanding(
        holds="ExamplePackage 1.0.2 (package document at 1.1.0)",
        before="ExamplePackage 1.0.2",
        instances=6,
        current=2,
        untouched_outdated=tuple(sorted(str(item.target) for item in nonprod)),
        untouched_outdated_total=4,
    )


def test_restored_instances_not_current_are_named_but_failed_ones_are_not_counted_again() -> None:
    restored, other, failed, deleted = (
        _status(1, "OUTDATED"),
        _status(2, "CURRENT"),
        _status(3, "OUTDATED"),
        Target("000000000004", "us-east-1"),
    )
    standing = stack_set_standing(
        RESTORED,
        None,
        [restored, other, failed],
        changed={restored.target, other.target, failed.target, deleted},
        failed={failed.target},
    )
    assert standing.before == ""
    assert (standing.instances, standing.current) == (3, 1)
    assert standing.restored_outdated == (str(restored.target),)
    assert standing.restored_outdated_total == 1
    assert standing.untouched_outdated_total == 0


def test_an_inoperable_instance_the_run_never_changed_is_not_called_outdated() -> None:
    standing = stack_set_standing(
        BEFORE, BEFORE, [_status(1, "INOPERABLE")], changed=set(), failed=set()
    )
    assert (standing.instances, standing.current, standing.untouched_outdated_total) == (1, 0, 0)


statuses = st.sampled_from(["CURRENT", "OUTDATED", "INOPERABLE"])
instance_lists = st.lists(
    st.tuples(st.integers(1, 150), st.sampled_from(["us-east-1", "eu-west-1"]), statuses),
    unique_by=lambda item: (item[0], item[1]),
    max_size=200,
)


@given(instance_lists, st.data())
def test_every_instance_is_counted_once_and_the_names_are_capped(
    listed: list[tuple[int, str, str]], data: st.DataObject
) -> None:
    instances = [_status(account, status, region) for account, region, status in listed]
    targets = [item.target for item in instances]
    changed = set(data.draw(st.lists(st.sampled_from(targets)) if targets else st.just([])))
    failed = set(data.draw(st.lists(st.sampled_from(sorted(changed)))) if changed else set())
    standing = stack_set_standing(RESTORED, BEFORE, instances, changed=changed, failed=failed)

    status = {item.target: item.status for item in instances}
    untouched = sorted(t for t in targets if t not in changed and status[t] == "OUTDATED")
    restored = sorted(
        t for t in targets if t in changed and t not in failed and status[t] != "CURRENT"
    )
    assert standing.instances == len(instances)
    assert standing.current == sum(1 for s in status.values() if s == "CURRENT")
    assert standing.untouched_outdated_total == len(untouched)
    assert standing.untouched_outdated == tuple(str(t) for t in untouched[:NAMES_KEPT])
    assert standing.restored_outdated_total == len(restored)
    assert standing.restored_outdated == tuple(str(t) for t in restored[:NAMES_KEPT])
    assert StackSetStanding.from_dict(json.loads(json.dumps(standing.to_dict()))) == standing
