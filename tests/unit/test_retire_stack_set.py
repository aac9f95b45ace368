"""The retire's last step: which held instances it releases, what keeps the stack set."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.deployment import Instance
from distributor_rollout.core.retire_stack_set import (
    TARGETS_SHOWN,
    Remaining,
    StackSetOutcome,
    release_calls,
    remaining,
)
from distributor_rollout.core.retire_steps import retire_operation_id, scope_digest
from distributor_rollout.core.targets import Target
from distributor_rollout.core.waves import ResolvedWave

HOME, OTHER = "us-east-1", "eu-west-1"
ACCOUNTS = ("300000000001", "300000000002", "300000000003")
WAVE = ResolvedWave("prod", ("ou-abcd-11111111",), (HOME, OTHER), ACCOUNTS[:2])
targets = st.builds(Target, st.sampled_from(ACCOUNTS), st.sampled_from((HOME, OTHER, "us-west-2")))


def live(*items: Target) -> list[Instance]:
    return [Instance(target, "CURRENT") for target in items]


def test_a_held_instance_goes_once_nothing_else_of_its_account_is_left() -> None:
    a, b, c = ACCOUNTS
    left = remaining(
        live(Target(a, HOME), Target(b, HOME), Target(b, OTHER), Target(c, OTHER)),
        [WAVE],
        {Target(a, HOME), Target(b, HOME)},
        HOME,
    )
    assert left.release == (Target(a, HOME),)
    assert left.in_waves == (Target(b, OTHER), Target(b, HOME))
    assert left.outside == (Target(c, OTHER),)
    assert not left.empty
    assert remaining(live(Target(a, HOME)), [WAVE], {Target(a, HOME)}, HOME).empty


@given(st.sets(targets, max_size=9), st.sets(targets, max_size=9))
def test_every_live_instance_is_released_or_stays_and_only_held_ones_go(
    found: set[Target], held: set[Target]
) -> None:
    left = remaining(live(*found), [WAVE], held, HOME)
    parts = [set(left.release), set(left.in_waves), set(left.outside)]
    assert set().union(*parts) == found
    assert sum(map(len, parts)) == len(found)
    assert set(left.release) <= held
    assert all(target.region == HOME for target in left.release)
    staying = {target.account_id for target in (*left.in_waves, *left.outside)}
    assert not {target.account_id for target in left.release} & staying


def test_released_instances_are_deleted_under_ids_named_by_their_targets() -> None:
    a, b, _ = ACCOUNTS
    ou_of = dict.fromkeys(ACCOUNTS, "ou-abcd-11111111")
    released = [Target(a, HOME), Target(b, HOME)]
    [call] = release_calls("run", released, ou_of)
    assert set(call.targets) == set(released)
    assert call.operation_id == retire_operation_id(
        "run", "all-waves", "release-role", scope_digest(released)
    )
    assert call.request["RetainStacks"] is False


def test_an_outcome_reads_back_and_lists_at_most_its_cap() -> None:
    many = tuple(Target(ACCOUNTS[0], f"us-west-{n % 2 + 1}") for n in range(2)) + tuple(
        Target(f"4000000000{n:02d}", HOME) for n in range(TARGETS_SHOWN + 5)
    )
    kept = StackSetOutcome.kept("ss", Remaining(in_waves=many), released=2)
    assert kept.state == "kept"
    assert not kept.gone
    assert len(kept.in_waves) == TARGETS_SHOWN
    assert kept.in_waves_total == len(many)
    assert "not deleted" in kept.reason
    assert StackSetOutcome.from_dict(kept.to_dict()) == kept
    deleted = StackSetOutcome("ss", "deleted", "deleted")
    assert deleted.gone
    assert StackSetOutcome.from_dict(deleted.to_dict()) == deleted
