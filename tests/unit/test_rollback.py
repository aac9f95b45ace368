"""Rollback plans: exactly the changed targets, in the right order, within API limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.changes import TargetChange, TemplateRef, WaveChanges
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.rollback import (
    RollbackPlan,
    forward_plan,
    plan_rollback,
    retried_summary,
    rollback_summary,
    uninstalls_to_confirm,
    unrestored,
)
from distributor_rollout.core.rollback_actions import (
    MAX_OUS_PER_ACTION,
    UNINSTALL_ACTIONS,
    DeleteInstances,
    RestoreTemplate,
    UninstallByTemplate,
    UninstallInstances,
    action_from_dict,
    forward_restore,
    narrowed,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import InstanceResult, judge_operation

pytestmark = pytest.mark.unit

EU, US, AP = "eu-west-1", "us-east-1", "ap-south-1"
V1 = TemplateRef("https://b.s3.eu-west-1.amazonaws.com/t/1.0.yaml", {"Version": "1.0"})
V0 = TemplateRef("https://b.s3.eu-west-1.amazonaws.com/t/0.9.yaml", {"Version": "0.9"})


def acct(number: int) -> str:
    return f"{number:012d}"


def ou(number: int) -> str:
    return f"ou-ab12-{number:08d}"


def updated(
    number: int, region: str, previous: TemplateRef = V1, ou_number: int = 1
) -> TargetChange:
    return TargetChange(Target(acct(number), region), ou(ou_number), "updated", previous)


def created(number: int, region: str, ou_number: int = 1) -> TargetChange:
    return TargetChange(Target(acct(number), region), ou(ou_number), "created")


def kinds(plan: RollbackPlan) -> list[tuple[str, str]]:
    return [(action.kind, action.wave) for action in plan.actions]


def test_previous_version_restores_updated_and_removes_created() -> None:
    waves = [
        WaveChanges("canary", (updated(1, EU), created(2, EU))),
        WaveChanges("prod", (updated(3, EU), updated(3, US), created(4, US))),
    ]
    plan = plan_rollback(waves, "previous_version")
    assert kinds(plan) == [
        ("uninstall", "prod"),
        ("uninstall", "canary"),
        ("restore_template", "prod"),
        ("restore_template", "canary"),
        ("delete", "prod"),
        ("delete", "canary"),
    ]
    restore_prod = plan.actions[2]
    assert isinstance(restore_prod, RestoreTemplate)
    assert restore_prod.api_request() == {
        "TemplateURL": V1.template_url,
        "Parameters": [{"ParameterKey": "Version", "ParameterValue": "1.0"}],
        "DeploymentTargets": {
            "OrganizationalUnitIds": [ou(1)],
            "Accounts": [acct(3)],
            "AccountFilterType": "INTERSECTION",
        },
        "Regions": [EU, US],
    }
    assert plan.targets() == {c.target for w in waves for c in w.changes}


def test_uninstall_mode_uninstalls_everything_and_deletes_only_created() -> None:
    waves = [WaveChanges("canary", (updated(1, EU), created(2, EU)))]
    plan = plan_rollback(waves, "uninstall")
    assert kinds(plan) == [("uninstall", "canary"), ("delete", "canary")]
    uninstall, delete = plan.actions
    assert uninstall.accounts == (acct(1), acct(2))
    assert uninstall.api_request()["ParameterOverrides"] == [
        {"ParameterKey": "Action", "ParameterValue": "Uninstall"}
    ]
    assert delete.accounts == (acct(2),)
    assert delete.api_request()["RetainStacks"] is False
    # The rollback task waits for the nodes to run an uninstall before deleting.
    assert isinstance(uninstall, UNINSTALL_ACTIONS)


def test_none_mode_plans_nothing_and_says_so() -> None:
    plan = plan_rollback([WaveChanges("canary", (updated(1, EU), created(2, EU)))], "none")
    assert plan.actions == ()
    assert plan.note == "rollback mode 'none': the 2 changed targets stay as is"


def test_nothing_changed_means_nothing_to_do() -> None:
    plan = plan_rollback([WaveChanges("canary")], "previous_version")
    assert plan.actions == ()
    assert "nothing to roll back" in plan.note


def test_accounts_with_different_regions_never_share_a_call() -> None:
    # 1 changed EU+US, 2 changed only EU: one call for both would touch 2/us-east-1.
    plan = plan_rollback(
        [WaveChanges("w", (updated(1, EU), updated(1, US), updated(2, EU)))], "uninstall"
    )
    scopes = sorted((a.accounts, a.regions) for a in plan.actions)
    assert scopes == [((acct(1),), (EU, US)), ((acct(2),), (EU,))]


def test_restores_are_grouped_by_previous_template() -> None:
    waves = [WaveChanges("w", (updated(1, EU, V0), updated(2, EU, V1), updated(3, EU, V0)))]
    plan = plan_rollback(waves, "previous_version")
    assert [
        (a.template_url, a.accounts) for a in plan.actions if isinstance(a, RestoreTemplate)
    ] == [
        (V0.template_url, (acct(1), acct(3))),
        (V1.template_url, (acct(2),)),
    ]


def test_template_parameters_matter_for_grouping() -> None:
    other = TemplateRef(V1.template_url, {"Version": "1.0", "Action": "Install"})
    plan = plan_rollback(
        [WaveChanges("w", (updated(1, EU, V1), updated(2, EU, other)))], "previous_version"
    )
    assert len(plan.actions) == 2


def test_ou_lists_are_chunked_to_the_api_limit() -> None:
    changes = tuple(updated(n, EU, ou_number=n) for n in range(1, 121))
    plan = plan_rollback([WaveChanges("big", changes)], "previous_version")
    assert [len(a.ou_ids) for a in plan.actions] == [50, 50, 20]
    assert plan.targets() == {c.target for c in changes}


def test_a_target_changed_twice_rolls_back_once_to_its_first_state() -> None:
    waves = [
        WaveChanges("one", (updated(1, EU, V0),)),
        WaveChanges("two", (updated(1, EU, V1),)),
    ]
    plan = plan_rollback(waves, "previous_version")
    assert len(plan.actions) == 1
    action = plan.actions[0]
    assert isinstance(action, RestoreTemplate)
    assert (action.wave, action.template) == ("two", V0)


def test_created_then_updated_is_still_created() -> None:
    waves = [WaveChanges("one", (created(1, EU),)), WaveChanges("two", (updated(1, EU, V1),))]
    plan = plan_rollback(waves, "previous_version")
    assert kinds(plan) == [("uninstall", "two"), ("delete", "two")]


def test_previous_version_needs_every_previous_template() -> None:
    change = TargetChange(Target(acct(1), EU), ou(1), "updated")
    with pytest.raises(ValidationError, match="000000000001/eu-west-1: updated, but its previous"):
        plan_rollback([WaveChanges("w", (change,))], "previous_version")
    assert len(plan_rollback([WaveChanges("w", (change,))], "uninstall").actions) == 1


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown rollback mode"):
        plan_rollback([], "revert")
    with pytest.raises(ValidationError, match="ou_id"):
        TargetChange(Target(acct(1), EU), "sales", "created")
    with pytest.raises(ValidationError, match="no previous template"):
        TargetChange(Target(acct(1), EU), ou(1), "created", V1)
    with pytest.raises(ValidationError, match="unknown action"):
        action_from_dict(
            {"kind": "explode", "wave": "w", "ou_ids": [], "accounts": [], "regions": []}
        )


def test_template_ref_is_frozen_hashable_and_copies_parameters() -> None:
    params = {"b": "2", "a": "1"}
    ref = TemplateRef("s3://t", params)
    params["c"] = "3"
    assert dict(ref.parameters) == {"a": "1", "b": "2"}
    assert hash(ref) == hash(TemplateRef("s3://t", {"a": "1", "b": "2"}))
    with pytest.raises(TypeError):
        ref.parameters["a"] = "x"  # type: ignore[index]


def test_change_records_and_plans_round_trip_through_json() -> None:
    wave = WaveChanges("w", (updated(1, EU), created(2, US)))
    assert WaveChanges.from_dict(json.loads(json.dumps(wave.to_dict()))) == wave
    plan = plan_rollback([wave], "previous_version")
    assert RollbackPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert isinstance(plan.actions[-1], DeleteInstances)


def test_summary_lists_every_action() -> None:
    waves = [WaveChanges("canary", (updated(1, EU), created(2, EU)))]
    assert rollback_summary(plan_rollback(waves, "previous_version")) == "\n".join(
        [
            "rollback (previous_version): 3 actions on 2 targets",
            "  1. [canary] uninstall the package on 1 account x 1 Region (eu-west-1)"
            " (UpdateStackInstances)",
            f"  2. [canary] restore {V1.template_url} (1 parameter) on 1 account x 1 Region"
            " (eu-west-1) (UpdateStackSet)",
            "  3. [canary] delete the stack instances on 1 account x 1 Region (eu-west-1)"
            " (DeleteStackInstances)",
        ]
    )
    assert rollback_summary(plan_rollback(waves, "none")) == (
        "rollback (none): 0 actions on 0 targets; "
        "rollback mode 'none': the 2 changed targets stay as is"
    )


# --- properties ---------------------------------------------------------------------------

_change = st.builds(
    lambda number, region, kind, template, ou_number: TargetChange(
        Target(acct(number), region),
        ou(ou_number),
        kind,
        template if kind == "updated" else None,
    ),
    st.integers(1, 12),
    st.sampled_from([EU, US, AP]),
    st.sampled_from(["created", "updated"]),
    st.sampled_from([V0, V1]),
    st.integers(1, 70),
)
_waves = st.lists(
    st.builds(
        WaveChanges, st.sampled_from(["a", "b", "c"]), st.lists(_change, max_size=15).map(tuple)
    ),
    max_size=4,
)


def _expand(actions: list[UninstallInstances | RestoreTemplate | DeleteInstances]) -> list[Target]:
    return [Target(a, r) for action in actions for a in action.accounts for r in action.regions]


@given(_waves, st.sampled_from(["previous_version", "uninstall"]))
def test_actions_reach_exactly_the_changed_targets(waves: list[WaveChanges], mode: str) -> None:
    plan = plan_rollback(waves, mode)
    first: dict[Target, TargetChange] = {}
    for wave in waves:
        for change in wave.changes:
            first.setdefault(change.target, change)
    was_created = {t for t, c in first.items() if c.kind == "created"}
    was_updated = set(first) - was_created

    ous_of: dict[str, set[str]] = {}
    for wave in waves:
        for change in wave.changes:
            ous_of.setdefault(change.target.account_id, set()).add(change.ou_id)

    by_kind: dict[str, list[UninstallInstances | RestoreTemplate | DeleteInstances]] = {}
    for action in plan.actions:
        by_kind.setdefault(action.kind, []).append(action)
        assert 1 <= len(action.ou_ids) <= MAX_OUS_PER_ACTION
        # INTERSECTION reaches an account only through an OU it was deployed through.
        assert all(ous_of[account] & set(action.ou_ids) for account in action.accounts)

    # Every kind reaches each target at most once, and exactly the set it should.
    expected = {
        "uninstall": was_created | (was_updated if mode == "uninstall" else set()),
        "restore_template": was_updated if mode == "previous_version" else set(),
        "delete": was_created,
    }
    for kind, targets in expected.items():
        reached = _expand(by_kind.get(kind, []))
        assert len(reached) == len(set(reached))
        assert set(reached) == targets
    for action in by_kind.get("restore_template", []):
        assert isinstance(action, RestoreTemplate)
        assert all(first[t].previous == action.template for t in action.targets())
    assert RollbackPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@given(_waves)
def test_later_waves_roll_back_first_within_each_step(waves: list[WaveChanges]) -> None:
    plan = plan_rollback(waves, "previous_version")
    steps = ["uninstall", "restore_template", "delete"]
    assert [steps.index(a.kind) for a in plan.actions] == sorted(
        steps.index(a.kind) for a in plan.actions
    )
    position: dict[Target, int] = {}
    for index, wave in enumerate(waves):
        for change in wave.changes:
            position[change.target] = index
    for step in steps:
        latest = [max(position[t] for t in a.targets()) for a in plan.actions if a.kind == step]
        assert latest == sorted(latest, reverse=True)


def test_forward_restore_pins_the_previous_version_without_moving_the_document_back() -> None:
    previous = TemplateRef(
        "https://b.s3.us-east-1.amazonaws.com/t/old.yaml",
        {
            "PackageName": "Pkg",
            "Version": "1.0.2",
            "ManifestContent": "{old}",
            "AssociationVersion": "",
            "ScheduleExpression": "rate(1 hour)",
        },
    )
    current = TemplateRef(
        "https://b.s3.us-east-1.amazonaws.com/t/new.yaml",
        {
            "PackageName": "Pkg",
            "Version": "1.1.0",
            "ManifestContent": "{new}",
            "AssociationVersion": "",
            "ScheduleExpression": "rate(30 minutes)",
        },
    )
    restored = forward_restore(previous, current)
    assert restored.template_url == current.template_url
    assert dict(restored.parameters) == {
        "PackageName": "Pkg",
        "Version": "1.1.0",
        "ManifestContent": "{new}",
        "AssociationVersion": "1.0.2",
        "ScheduleExpression": "rate(1 hour)",
    }
    pinned = TemplateRef(
        previous.template_url, {**previous.parameters, "AssociationVersion": "1.0.0"}
    )
    assert forward_restore(pinned, current).parameters["AssociationVersion"] == "1.0.0"
    other = TemplateRef(previous.template_url, {**previous.parameters, "PackageName": "Other"})
    assert forward_restore(other, current) == other
    unpinned = TemplateRef(current.template_url, {"PackageName": "Pkg", "Version": "1.1.0"})
    assert forward_restore(previous, unpinned) == previous


def test_wave_changes_write_each_previous_template_once() -> None:
    previous = TemplateRef("https://b.s3.us-east-1.amazonaws.com/t.yaml", {"M": "x" * 4096})
    ou = "ou-ab12-cdef3456"
    updated = [
        TargetChange(Target(f"3000000000{n:02d}", "us-east-1"), ou, "updated", previous)
        for n in range(20)
    ]
    created = TargetChange(Target("300000000099", "us-east-1"), ou, "created")
    changes = WaveChanges("canary", (*updated, created))
    data = changes.to_dict()
    assert len(json.dumps(data)) < 2 * 4096
    assert WaveChanges.from_dict(json.loads(json.dumps(data))) == changes


def test_unrestored_names_failed_and_cancelled_targets_or_all_when_none_are_named() -> None:
    a, b, c = (Target(f"30000000000{n}", "us-east-1") for n in (1, 2, 3))
    everything = frozenset({a, b, c})
    mixed = judge_operation(
        "FAILED",
        [
            InstanceResult(a, "SUCCEEDED"),
            InstanceResult(b, "FAILED", "boom"),
            InstanceResult(c, "CANCELLED"),
        ],
    )
    assert unrestored(mixed, everything) == {b, c}
    assert unrestored(judge_operation("FAILED", []), everything) == everything
    fine = judge_operation("SUCCEEDED", [InstanceResult(t, "SUCCEEDED") for t in everything])
    assert unrestored(fine, everything) == frozenset()


def test_narrowing_an_action_reaches_exactly_the_chosen_targets() -> None:
    action = DeleteInstances(
        wave="nonprod",
        ou_ids=("ou-1",),
        accounts=("111111111111", "222222222222", "333333333333"),
        regions=("us-east-1", "us-west-2"),
    )
    wanted = {
        Target("111111111111", "us-west-2"),
        Target("222222222222", "us-east-1"),
        Target("222222222222", "us-west-2"),
        Target("444444444444", "us-east-1"),  # not the action's: never reached
    }
    parts = narrowed(action, wanted)
    reached = [target for part in parts for target in part.targets()]
    assert sorted(reached) == sorted(wanted - {Target("444444444444", "us-east-1")})
    assert len(reached) == len(set(reached))
    assert all(part.ou_ids == ("ou-1",) for part in parts)
    assert all(part.wave == "nonprod" for part in parts)
    assert narrowed(action, set()) == []


CURRENT = TemplateRef(
    "https://b.s3.eu-west-1.amazonaws.com/t/2.0.yaml",
    {"PackageName": "p", "Version": "2.0", "AssociationVersion": "2.0", "Action": "Install"},
)


def test_the_plan_runs_forward_against_the_current_template() -> None:
    previous = TemplateRef(V0.template_url, {"PackageName": "p", "Version": "0.9"})
    plan = plan_rollback(
        [WaveChanges("a", (updated(1, EU, previous), created(2, EU)))], "previous_version"
    )
    forwarded = forward_plan(plan, CURRENT)

    assert [type(action) for action in forwarded.actions] == [
        UninstallByTemplate,
        RestoreTemplate,
        DeleteInstances,
    ]
    restore = forwarded.actions[1]
    assert isinstance(restore, RestoreTemplate)
    assert restore.template == forward_restore(previous, CURRENT)
    assert restore.parameters["AssociationVersion"] == "0.9"
    assert forwarded.actions[2] == plan.actions[2]
    assert forwarded.targets() == plan.targets()
    # A template without the Action parameter keeps the parameter-override uninstall.
    plain = TemplateRef(CURRENT.template_url, {"Version": "2.0"})
    assert type(forward_plan(plan, plain).actions[0]) is UninstallInstances


def test_only_uninstalls_whose_instances_stay_are_waited_on() -> None:
    waves = [WaveChanges("a", (updated(1, EU), updated(2, EU), created(3, EU)))]
    plan = plan_rollback(waves, "uninstall")
    gone = Target(acct(2), EU)

    waits = uninstalls_to_confirm(plan, already_failed={gone})

    # Created targets are waited on before their delete; failed ones need no wait.
    assert [(action.kind, set(targets)) for action, targets in waits] == [
        ("uninstall", {Target(acct(1), EU)})
    ]
    assert (
        uninstalls_to_confirm(
            plan_rollback([WaveChanges("a", (created(3, EU),))], "uninstall"), set()
        )
        == []
    )


def test_a_retry_adds_how_many_it_restored() -> None:
    lost = {Target(acct(1), EU), Target(acct(2), EU)}
    summary = retried_summary("op: 1 failed", 1, lost, {Target(acct(2), EU)})
    assert summary == "op: 1 failed; retry 1: 1 of 2 restored"
