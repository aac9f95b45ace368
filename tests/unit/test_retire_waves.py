"""Retiring a wave: the uninstall and delete calls, the order they run in, when each
instance was created, what the wait found, and which home-Region instances stay."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.deployment import Instance
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan, wave_operation
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.retire_steps import retire_operation_id
from distributor_rollout.core.retire_waves import (
    NO_RESULT,
    Done,
    RemovalCheck,
    StackSetCall,
    Start,
    Wait,
    delete_calls,
    first_created,
    held_for_role,
    next_call,
    reached_targets,
    removal_check,
    uninstall_call,
    wave_instances,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import UninstallCheck
from distributor_rollout.core.verdict import InstanceResult
from distributor_rollout.core.waves import ResolvedWave

US, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
A, B, C = "300000000001", "300000000002", "300000000003"
RUN = "manual__2026-01-01T00:00:00+00:00"
PARAMETERS = {"Action": "Install", "Version": "1.0.2", "ManifestContent": "{...}"}


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


def wave(name: str, accounts: tuple[str, ...], regions: tuple[str, ...]) -> ResolvedWave:
    return ResolvedWave(name, ("ou-abcd-11111111",), regions, accounts)


def instances(*targets: tuple[str, str]) -> list[Instance]:
    return [Instance(Target(account, region), "CURRENT") for account, region in targets]


def call_of(
    plan: Plan, resolved: ResolvedWave, found: list[Instance], **kw: object
) -> StackSetCall:
    return uninstall_call(
        RUN,
        resolved,
        wave_instances(resolved, found),
        parameters=kw.get("parameters", PARAMETERS),  # type: ignore[arg-type]
        preferences=wave_operation(plan, plan.wave("prod")),
        capabilities=["CAPABILITY_NAMED_IAM"],
    )


def test_the_uninstall_keeps_everything_but_the_action_and_reaches_only_the_wave(
    plan: Plan,
) -> None:
    prod = wave("prod", (A, B), (US, WEST, EU))
    found = instances((A, US), (B, US), (A, WEST), (C, US))  # no instance in EU; C elsewhere
    call = call_of(plan, prod, found)
    assert call.api_call == "UpdateStackSet"
    assert call.operation_id == retire_operation_id(RUN, "prod", "uninstall")
    assert set(call.targets) == {Target(A, US), Target(B, US), Target(A, WEST)}
    request = call.request
    assert request["DeploymentTargets"] == {"OrganizationalUnitIds": ["ou-abcd-11111111"]}
    assert request["Regions"] == [US, WEST]  # the wave's order, only where it has instances
    assert request["UsePreviousTemplate"] is True
    assert "TemplateURL" not in request
    assert "TemplateBody" not in request
    assert request["Parameters"] == [
        {"ParameterKey": "Action", "ParameterValue": "Uninstall"},
        {"ParameterKey": "ManifestContent", "UsePreviousValue": True},
        {"ParameterKey": "Version", "UsePreviousValue": True},
    ]
    assert request["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    # Every target attempted: failures are read from the results.
    preferences = request["OperationPreferences"]
    assert preferences["FailureTolerancePercentage"] == 100
    assert preferences["ConcurrencyMode"] == "SOFT_FAILURE_TOLERANCE"
    assert preferences["RegionOrder"] == [US, WEST]


def test_once_the_stack_set_holds_the_uninstall_a_wave_names_nothing_by_value(
    plan: Plan,
) -> None:
    # Named by value again, Action would mark every instance OUTDATED (UpdateStackSet,
    # Regions): the earlier waves' deleted ones do not matter, but kept ones would.
    prod = wave("prod", (A,), (US,))
    held = {**PARAMETERS, "Action": "Uninstall"}
    call = call_of(plan, prod, instances((A, US)), parameters=held)
    assert all(item.get("UsePreviousValue") for item in call.request["Parameters"])
    assert call.operation_id == call_of(plan, prod, instances((A, US))).operation_id


def test_a_template_without_the_action_parameter_cannot_uninstall(plan: Plan) -> None:
    prod = wave("prod", (A,), (US,))
    with pytest.raises(ValidationError, match="no Action parameter"):
        call_of(plan, prod, instances((A, US)), parameters={"Version": "1"})


def test_deletes_reach_exactly_their_targets_numbered_or_named_by_them() -> None:
    targets = [Target(A, US), Target(A, WEST), Target(B, US), Target(C, EU)]
    ou_of = dict.fromkeys((A, B, C), "ou-abcd-11111111")
    calls = delete_calls(RUN, "prod", targets, ou_of, None)
    reached = [target for call in calls for target in call.targets]
    assert sorted(reached) == sorted(targets)
    assert len(reached) == len(set(reached))
    assert all(call.request["RetainStacks"] is False for call in calls)
    assert all(
        call.request["DeploymentTargets"]["AccountFilterType"] == "INTERSECTION" for call in calls
    )
    numbered = [call.operation_id for call in calls]
    assert numbered == [
        retire_operation_id(RUN, "prod", "delete", str(n)) for n in range(1, len(calls) + 1)
    ]
    # Named by content: the same group keeps its id when the others are gone.
    by_content = delete_calls(RUN, "prod", targets, ou_of, None, by_content=True)
    rest = delete_calls(RUN, "prod", by_content[-1].targets, ou_of, None, by_content=True)
    assert rest[0].operation_id == by_content[-1].operation_id
    assert len({call.operation_id for call in by_content}) == len(by_content)


def call(name: str) -> StackSetCall:
    return StackSetCall("DeleteStackInstances", name, (), {})


def test_calls_run_one_after_another_after_anyone_elses() -> None:
    calls = [call("one"), call("two")]
    first = next_call(calls, {}, ["theirs"])
    assert isinstance(first, Wait)
    assert first.operation_ids == ("theirs",)
    assert next_call(calls, {}) == Start(calls[0])
    assert isinstance(next_call(calls, {"one": "RUNNING"}), Wait)
    assert next_call(calls, {"one": "SUCCEEDED"}) == Start(calls[1])
    # The last one is a sensor's to wait for, unless asked.
    assert next_call(calls, {"one": "SUCCEEDED", "two": "RUNNING"}) == Done(("one", "two"))
    assert isinstance(next_call(calls, {"one": "FAILED", "two": "RUNNING"}, wait_last=True), Wait)
    assert next_call([], {}) == Done(())


@given(st.lists(st.sampled_from(["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", None]), max_size=4))
def test_a_started_call_is_never_started_again(statuses: list[str | None]) -> None:
    calls = [call(f"c{index}") for index in range(len(statuses))]
    known = {f"c{index}": status for index, status in enumerate(statuses) if status is not None}
    step = next_call(calls, known)
    if isinstance(step, Start):
        assert step.call.operation_id not in known


def result(
    account: str, region: str, status: str = "SUCCEEDED", reason: str = ""
) -> InstanceResult:
    return InstanceResult(Target(account, region), status, reason)


def test_an_instance_was_created_by_the_first_create_that_reached_it() -> None:
    created = first_created(
        [
            (200.0, [result(A, US), result(B, US, "FAILED")]),
            (100.0, [result(A, US, "CANCELLED")]),
            (300.0, [result(B, US), result(A, US)]),
        ]
    )
    assert created == {Target(A, US): 200.0, Target(B, US): 300.0}


def test_targets_the_uninstall_did_not_reach_cannot_be_confirmed() -> None:
    targets = [Target(A, US), Target(B, US), Target(C, US)]
    reached, not_reached = reached_targets(
        targets, [result(A, US), result(B, US, "FAILED", "throttled"), result(C, EU)]
    )
    assert reached == {Target(A, US)}
    assert not_reached == {Target(B, US): "throttled", Target(C, US): NO_RESULT}


def test_what_the_wait_found_decides_which_instances_go() -> None:
    check = UninstallCheck(
        unconfirmed=frozenset({Target(B, US)}),
        kept={Target(C, US): 2, Target(B, US): 1},
        untouched={Target(A, US): 3},
    )
    reached = {Target(A, US), Target(B, US), Target(C, US)}
    removal = removal_check("prod", reached, {Target(A, WEST): "failed"}, check)
    assert removal.removed == (Target(A, US),)
    assert removal.kept == {Target(C, US): 2}  # an unconfirmed target is not "kept"
    assert removal.unconfirmed == (Target(B, US),)
    assert removal.stopped == (Target(A, WEST), Target(B, US))
    assert removal.untouched == {Target(A, US): 3}
    failure = removal.failure()
    assert failure is not None
    assert "2 targets" in failure
    assert f"{Target(A, WEST)}: failed" in failure
    assert RemovalCheck.from_dict(removal.to_dict()) == removal
    clean = removal_check("prod", reached, {}, UninstallCheck(kept={Target(C, US): 2}))
    assert clean.failure() is None


def test_the_home_region_instance_stays_while_the_account_needs_its_reader_role(
    plan: Plan,
) -> None:
    home = plan.stack_set.compliance_home_region
    assert home == US
    # Plan order: canary then prod; the retire takes prod first, then canary.
    canary = wave("canary", (A,), (WEST,))
    prod = wave("prod", (A, B, C), (US,))
    waves = [canary, prod]
    removal = RemovalCheck(
        "prod",
        removed=(Target(A, US), Target(B, US)),
        kept={Target(C, EU): 1},
        unconfirmed=(),
    )
    # A: canary (retired after prod) still reads A's us-west-2; C keeps an instance in EU.
    kept_c = RemovalCheck("prod", removed=(Target(C, US),), kept={Target(C, EU): 1})
    assert held_for_role(plan, waves, "prod", removal) == {Target(A, US)}
    assert held_for_role(plan, waves, "prod", kept_c) == {Target(C, US)}
    # The wave retired last holds nothing for later waves.
    last = RemovalCheck("canary", removed=(Target(A, US),))
    assert held_for_role(plan, waves, "canary", last) == set()
    no_role = plan.model_copy(
        update={
            "stack_set": plan.stack_set.model_copy(
                update={
                    "compliance_reader": plan.stack_set.compliance_reader.model_copy(
                        update={"create": False}
                    )
                }
            )
        }
    )
    assert held_for_role(no_role, waves, "prod", removal) == set()


def test_a_removal_record_reads_back() -> None:
    record = RemovalCheck(
        "nonprod",
        removed=(Target(A, US),),
        kept={Target(B, US): 2},
        untouched={Target(C, US): 1},
        unconfirmed=(Target(C, WEST),),
        not_reached={Target(A, EU): "no result"},
    )
    assert RemovalCheck.from_dict(record.to_dict()) == record
