"""core.deployment: which calls a wave needs, in what order, and what it changed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.deployment import (
    Call,
    Finished,
    Instance,
    OperationRecord,
    Start,
    Wait,
    WaveSnapshot,
    account_ous,
    candidate_operation_ids,
    create_operation_id,
    deployment_gap,
    holds_template,
    next_step,
    planned_calls,
    recovered_changes,
    rollback_preferences,
    update_operation_id,
)
from distributor_rollout.core.org import Account, Organization, OrgUnit
from distributor_rollout.core.plan import OperationPreferences
from distributor_rollout.core.rollback_actions import MAX_OUS_PER_ACTION, target_scopes
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import InstanceResult
from distributor_rollout.core.waves import ResolvedWave

RUN = "manual__2026-11-27T08:00:00+00:00"
OU, CHILD = "ou-ab12-00000001", "ou-ab12-00000002"
A, B = "300000000001", "300000000002"
EAST, WEST = "us-east-1", "us-west-2"
V2 = TemplateRef("https://b.s3.us-east-1.amazonaws.com/t/2.json", {"Version": "2"})
V1 = TemplateRef("https://b.s3.us-east-1.amazonaws.com/t/1.json", {"Version": "1"})
PREFS = OperationPreferences(
    region_order=(EAST, WEST),
    region_concurrency="SEQUENTIAL",
    concurrency_mode="STRICT_FAILURE_TOLERANCE",
    max_concurrent_percentage=50,
    failure_tolerance_count=0,
)
WAVE = ResolvedWave("canary", (OU,), (EAST, WEST), (A, B))
UPDATE = update_operation_id(RUN, "canary")
CREATE = create_operation_id(RUN, "canary", 0)


def facts(**changes: Any) -> WaveSnapshot:
    base = WaveSnapshot(
        run_id=RUN,
        wave=WAVE,
        ou_of={A: OU, B: OU},
        preferences=PREFS,
        template=V2,
        previous=V1,
        holds_release=False,
        instances=(),
    )
    return replace(base, **changes)


def instance(account: str, region: str, status: str = "CURRENT", last: str = "") -> Instance:
    return Instance(Target(account, region), status, last or None)


def record(operation_id: str, status: str, *targets: Target, result: str = "SUCCEEDED") -> Any:
    results = tuple(InstanceResult(target, result) for target in targets)
    return {operation_id: OperationRecord(operation_id, status, results)}


def everywhere(status: str = "CURRENT", last: str = "") -> tuple[Instance, ...]:
    return tuple(instance(a, r, status, last) for a in (A, B) for r in (EAST, WEST))


def kinds(step: Finished) -> dict[str, str]:
    return {str(change.target): change.kind for change in step.changes.changes}


def test_a_new_wave_on_a_stack_set_holding_the_release_is_one_create() -> None:
    step = next_step(facts(holds_release=True))
    assert isinstance(step, Start)
    assert step.call.kind == "create"
    assert step.call.operation_id == CREATE
    assert step.call.request["DeploymentTargets"] == {
        "OrganizationalUnitIds": [OU],
        "Accounts": [A, B],
        "AccountFilterType": "INTERSECTION",
    }
    assert step.call.request["Regions"] == [EAST, WEST]
    assert step.call.request["OperationPreferences"]["FailureToleranceCount"] == 0


def test_an_older_template_is_replaced_before_the_create() -> None:
    calls = planned_calls(facts())
    assert [call.kind for call in calls] == ["update", "create"]
    update = calls[0]
    assert update.targets == ()
    assert update.request["TemplateURL"] == V2.template_url
    assert update.request["Parameters"] == [{"ParameterKey": "Version", "ParameterValue": "2"}]
    assert update.request["DeploymentTargets"] == {"OrganizationalUnitIds": [OU]}
    assert update.request["Regions"] == [EAST, WEST]


def test_a_later_wave_updates_the_held_release_by_previous_template_and_values() -> None:
    # Named by value, the update would mark every other wave's instances OUTDATED again
    # (API reference, UpdateStackSet, Regions): once the stack set holds the release, the
    # same content is named by UsePreviousTemplate and UsePreviousValue.
    outdated = (*everywhere()[:3], instance(B, WEST, "OUTDATED"))
    (update,) = planned_calls(facts(holds_release=True, instances=outdated))
    assert update.kind == "update"
    assert update.request["UsePreviousTemplate"] is True
    assert "TemplateURL" not in update.request
    assert "TemplateBody" not in update.request
    assert update.request["Parameters"] == [{"ParameterKey": "Version", "UsePreviousValue": True}]
    assert update.request["DeploymentTargets"] == {"OrganizationalUnitIds": [OU]}
    assert update.request["Regions"] == [EAST, WEST]


_statuses = st.sampled_from([None, "CURRENT", "OUTDATED"])
_operation_statuses = st.sampled_from(["QUEUED", "RUNNING", "SUCCEEDED", "FAILED"])


@given(
    statuses=st.lists(_statuses, min_size=4, max_size=4),
    update_status=_operation_statuses,
    create_status=st.none() | _operation_statuses,
)
def test_a_retry_after_its_own_update_set_the_release_adopts_that_update(
    statuses: list[str | None], update_status: str, create_status: str | None
) -> None:
    # This run's update made the stack set hold the release, so a retry sees
    # holds_release and computes the update by UsePreviousTemplate instead of TemplateURL:
    # the update's id already exists, so the step is the same as if the release were not
    # held yet, and that update is never started again.
    targets = [Target(a, r) for a in (A, B) for r in (EAST, WEST)]
    present = tuple(
        Instance(target, status, UPDATE)
        for target, status in zip(targets, statuses, strict=True)
        if status is not None
    )
    operations = record(UPDATE, update_status, *(i.target for i in present))
    if create_status is not None:
        operations |= record(CREATE, create_status)
    before, after = (
        facts(holds_release=held, instances=present, operations=operations)
        for held in (False, True)
    )
    step = next_step(after)
    assert step == next_step(before)
    assert not (isinstance(step, Start) and step.call.operation_id == UPDATE)
    assert [c.operation_id for c in planned_calls(after)] == [
        c.operation_id for c in planned_calls(before)
    ]


def test_the_first_call_is_waited_for_and_the_last_is_not() -> None:
    step = next_step(facts(operations=record(UPDATE, "RUNNING")))
    assert step == Wait((UPDATE,), "UpdateStackSet must end before the next call")
    step = next_step(facts(operations=record(UPDATE, "SUCCEEDED")))
    assert isinstance(step, Start)
    assert step.call.operation_id == CREATE
    started = {**record(UPDATE, "SUCCEEDED"), **record(CREATE, "RUNNING")}
    done = next_step(facts(operations=started))
    assert isinstance(done, Finished)
    assert done.operations == (UPDATE, CREATE)


def test_a_failed_first_call_stops_the_wave() -> None:
    existing = everywhere()[:2]  # A in both Regions
    failed = record(UPDATE, "FAILED", Target(A, EAST), result="FAILED")
    step = next_step(facts(instances=existing, operations=failed))
    assert isinstance(step, Finished)
    assert step.operations == (UPDATE,)
    assert "UpdateStackSet" in step.stopped_early
    assert kinds(step) == {f"{A}/{EAST}": "updated"}


def test_a_wave_already_on_the_release_needs_nothing() -> None:
    step = next_step(facts(holds_release=True, instances=everywhere()))
    assert isinstance(step, Finished)
    assert step.nothing_to_do
    assert step.result(WAVE.targets).to_dict() == {
        "wave": "canary",
        "operations": [],
        "changes": {"wave": "canary", "templates": [], "changes": []},
        "nothing_to_do": True,
        "targets": [str(target) for target in WAVE.targets],
    }


def test_outdated_instances_are_updated_even_when_the_stack_set_holds_the_release() -> None:
    outdated = (*everywhere()[:3], instance(B, WEST, "OUTDATED"))
    step = next_step(facts(holds_release=True, instances=outdated))
    assert isinstance(step, Start)
    assert step.call.kind == "update"


def test_updated_targets_record_the_previous_template() -> None:
    started = record(UPDATE, "RUNNING", *(i.target for i in everywhere()))
    step = next_step(facts(instances=everywhere(), operations=started))
    assert isinstance(step, Finished)
    assert set(kinds(step).values()) == {"updated"}
    assert {change.previous for change in step.changes.changes} == {V1}
    assert {change.ou_id for change in step.changes.changes} == {OU}


def test_created_instances_stay_created_after_a_retry() -> None:
    # The retry sees the instances its own create made: they are not "existing".
    created = everywhere("OUTDATED", last=CREATE)
    step = next_step(
        facts(holds_release=True, instances=created, operations=record(CREATE, "RUNNING"))
    )
    assert isinstance(step, Finished)
    assert step.operations == (CREATE,)
    assert set(kinds(step).values()) == {"created"}


def test_a_fresh_create_is_recorded_from_its_intended_targets() -> None:
    step = next_step(facts(holds_release=True, operations=record(CREATE, "QUEUED")))
    assert isinstance(step, Finished)
    assert len(kinds(step)) == 4
    assert set(kinds(step).values()) == {"created"}


def test_a_foreign_operation_is_waited_out_before_any_start() -> None:
    step = next_step(facts(foreign_active=("someone-else",)))
    assert step == Wait(("someone-else",), "another operation is running on the stack set")


def test_new_targets_in_different_regions_are_created_in_groups() -> None:
    existing = (instance(A, EAST),)
    calls = planned_calls(facts(holds_release=True, instances=existing))
    assert [
        (c.kind, c.request["Regions"], c.request["DeploymentTargets"]["Accounts"]) for c in calls
    ] == [
        ("create", [EAST, WEST], [B]),
        ("create", [WEST], [A]),
    ]
    assert calls[1].operation_id == create_operation_id(RUN, "canary", 1)
    assert calls[1].operation_id in candidate_operation_ids(RUN, WAVE)
    assert calls[1].targets == (Target(A, WEST),)


def test_targets_outside_the_wave_are_never_recorded() -> None:
    stranger = Target("399999999999", EAST)  # e.g. a suspended account the update skipped
    started = record(UPDATE, "RUNNING", stranger, *(i.target for i in everywhere()))
    step = next_step(facts(instances=everywhere(), operations=started))
    assert isinstance(step, Finished)
    assert str(stranger) not in kinds(step)


def test_scopes_split_above_the_ou_limit() -> None:
    count = MAX_OUS_PER_ACTION + 1
    accounts = [f"{400000000000 + n:012d}" for n in range(count)]
    ou_of = {account: f"ou-ab12-{n:08d}" for n, account in enumerate(accounts)}
    scopes = target_scopes([Target(a, EAST) for a in accounts], ou_of)
    assert [len(ous) for ous, _, _ in scopes] == [MAX_OUS_PER_ACTION, 1]
    assert sum(len(accts) for _, accts, _ in scopes) == count


def test_account_ous_prefer_the_wave_ou_that_reaches_the_account() -> None:
    org = Organization(
        root_id="r-test",
        management_account_id="100000000000",
        units=(OrgUnit(OU, "Parent", "r-test"), OrgUnit(CHILD, "Child", OU)),
        accounts=(Account(A, "a", OU), Account(B, "b", CHILD)),
    )
    wave = ResolvedWave("canary", (OU,), (EAST,), (A, B))
    assert account_ous(org, wave) == {A: OU, B: OU}


def test_holds_template_compares_text_and_given_parameters() -> None:
    described = {
        "TemplateBody": "body",
        "Parameters": [
            {"ParameterKey": "Version", "ParameterValue": "2"},
            {"ParameterKey": "Tier", "ParameterValue": "standard"},
        ],
    }
    assert holds_template(described, "body", V2)
    assert not holds_template(described, "other", V2)
    assert not holds_template(described, "body", V1)


def test_rollback_preferences_attempt_every_target() -> None:
    preferences = rollback_preferences(PREFS, [WEST])
    aws = preferences.to_aws()
    assert aws["FailureTolerancePercentage"] == 100
    assert "FailureToleranceCount" not in aws
    assert aws["ConcurrencyMode"] == "SOFT_FAILURE_TOLERANCE"
    assert aws["RegionOrder"] == [WEST]
    assert aws["MaxConcurrentPercentage"] == 50
    assert rollback_preferences(None, [EAST, WEST]).region_order == (EAST, WEST)


@pytest.mark.parametrize("kind", ["update", "create"])
def test_calls_name_their_api(kind: str) -> None:
    call = Call(kind, "id", (), {"OperationPreferences": {"FailureToleranceCount": 2}})
    assert call.api_call == {"update": "UpdateStackSet", "create": "CreateStackInstances"}[kind]


@pytest.mark.parametrize(("tolerated", "stops"), [(0, True), (1, False)])
def test_a_first_call_is_judged_by_its_own_failure_tolerance(tolerated: int, stops: bool) -> None:
    existing = everywhere()[:2]  # A in both Regions
    ended = record(UPDATE, "SUCCEEDED", Target(A, EAST), result="FAILED")
    step = next_step(
        facts(
            preferences=replace(PREFS, failure_tolerance_count=tolerated),
            instances=existing,
            operations=ended,
        )
    )
    assert isinstance(step, Finished) is stops


def test_a_lost_wave_record_is_rebuilt_from_its_operations() -> None:
    previous = TemplateRef("https://b.s3.us-east-1.amazonaws.com/t.yaml", {"Version": "1"})
    ou = "ou-ab12-cdef3456"

    def result(account: str, status: str) -> dict[str, str]:
        return {
            "Account": account,
            "Region": EAST,
            "Status": status,
            "OrganizationalUnitId": ou,
        }

    changes = recovered_changes(
        "canary",
        [
            ("UPDATE", [result("300000000001", "SUCCEEDED"), result("300000000002", "FAILED")]),
            ("CREATE", [result("300000000003", "SUCCEEDED"), result("300000000004", "CANCELLED")]),
        ],
        previous,
    )
    assert [(str(c.target), c.kind, c.previous) for c in changes.changes] == [
        (f"300000000001/{EAST}", "updated", previous),
        (f"300000000002/{EAST}", "updated", previous),
        (f"300000000003/{EAST}", "created", None),
    ]


def test_a_release_is_out_only_where_every_target_has_a_current_instance() -> None:
    wanted = [Target("111111111111", "us-east-1"), Target("222222222222", "us-east-1")]
    current = [Instance(target, "CURRENT") for target in wanted]
    assert deployment_gap(current, wanted) is None
    assert (
        deployment_gap([*current, Instance(Target("3" * 12, "us-east-1"), "OUTDATED")], wanted)
        is None
    )

    outdated = [current[0], Instance(wanted[1], "OUTDATED")]
    assert deployment_gap(outdated, wanted) == (
        "0 targets have no instance, 1 are not CURRENT (e.g. 222222222222/us-east-1)"
    )
    assert deployment_gap(current[:1], wanted) == (
        "1 targets have no instance, 0 are not CURRENT (e.g. 222222222222/us-east-1)"
    )
