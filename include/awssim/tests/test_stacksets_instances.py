"""awssim StackSets: stack instances are real stacks in member accounts, targeted as AWS does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stacksets_support import (
    AS_ADMIN,
    KEEP,
    MANAGEMENT,
    NONPROD_ACTIVE,
    NONPROD_SUSPENDED,
    PROD_DIRECT,
    PROD_EU,
    SANDBOX,
    TOPIC_TEMPLATE,
    admin_cfn,
    create_service_managed,
    instances,
    operation,
    parameter_template,
    results,
    watch,
)

from awssim.pytest_plugin import AwsClients
from awssim.scenario import Scenario, StackInstanceFailure
from awssim.simulator import Simulator

PARAMETER = "/rollout/stackset/value"
FAST = {"MaxConcurrentCount": 10, "FailureToleranceCount": 9}


def _value(aws: AwsClients, account: str, region: str = "us-east-1") -> str | None:
    ssm = aws.client("ssm", account=account, region=region)
    try:
        return str(ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def _run(sim: Simulator, cfn: Any, name: str, call: str, **request: Any) -> str:
    op_id = str(getattr(cfn, call)(StackSetName=name, **AS_ADMIN, **request)["OperationId"])
    sim.settle()
    return op_id


def _deploy(sim: Simulator, cfn: Any, name: str, accounts: list[str], regions: list[str]) -> str:
    return _run(
        sim,
        cfn,
        name,
        "create_stack_instances",
        DeploymentTargets={"Accounts": accounts},
        Regions=regions,
        OperationPreferences=FAST,
    )


def test_instances_are_stacks_with_resources_in_member_accounts(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "members", Tags=[{"Key": "team", "Value": "platform"}])
    op_id = _deploy(sim, cfn, "members", SANDBOX, ["us-east-1", "eu-west-1"])
    assert operation(cfn, "members", op_id)["Status"] == "SUCCEEDED"
    for account in SANDBOX:
        for region in ("us-east-1", "eu-west-1"):
            assert _value(aws, account, region) == "v1:standard"
    assert _value(aws, NONPROD_ACTIVE[0]) is None

    described = cfn.describe_stack_instance(
        StackSetName="members",
        StackInstanceAccount=SANDBOX[0],
        StackInstanceRegion="eu-west-1",
        **AS_ADMIN,
    )["StackInstance"]
    assert described["Status"] == "CURRENT"
    assert described["StackInstanceStatus"] == {"DetailedStatus": "SUCCEEDED"}
    assert described["LastOperationId"] == op_id
    member = aws.client("cloudformation", account=SANDBOX[0], region="eu-west-1")
    (stack,) = member.describe_stacks()["Stacks"]
    assert stack["StackId"] == described["StackId"]
    assert stack["StackName"].startswith("StackSet-members-")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {"Key": "team", "Value": "platform"} in stack["Tags"]

    truth = json.loads(json.dumps(sim.state()["stack_sets"]))
    (stack_set,) = truth.values()
    assert stack_set["name"] == "members"
    assert stack_set["parameters"] == {"Value": "v1"}
    assert {i["status"] for i in stack_set["instances"]} == {"CURRENT"}
    assert stack_set["instances"][0]["parameters"] == {"Value": "v1", "Tier": "standard"}
    assert stack_set["operations"][0]["status"] == "SUCCEEDED"
    assert len(stack_set["operations"][0]["results"]) == 4


def test_ou_targets_include_nested_ous_and_honour_account_filters(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "ous")
    prod, nonprod = sim.org.ou_ids_by_path["/Prod"], sim.org.ou_ids_by_path["/NonProd"]

    def targeted(targets: dict[str, Any]) -> dict[str, str]:
        op_id = cfn.create_stack_instances(
            StackSetName="ous",
            DeploymentTargets=targets,
            Regions=["us-west-2"],
            OperationPreferences=FAST,
            **AS_ADMIN,
        )["OperationId"]
        found = results(cfn, "ous", op_id)
        sim.settle()
        return {account: r.get("OrganizationalUnitId", "") for (account, _), r in found.items()}

    nested = targeted({"OrganizationalUnitIds": [prod]})
    assert sorted(nested) == sorted(PROD_DIRECT + PROD_EU)
    assert set(nested.values()) == {prod}
    picked = targeted(
        {
            "OrganizationalUnitIds": [nonprod],
            "Accounts": [*NONPROD_ACTIVE[:2], SANDBOX[0]],
            "AccountFilterType": "INTERSECTION",
        }
    )
    assert sorted(picked) == NONPROD_ACTIVE[:2]
    rest = targeted(
        {
            "OrganizationalUnitIds": [nonprod],
            "Accounts": [*NONPROD_ACTIVE[:2], NONPROD_SUSPENDED],
            "AccountFilterType": "DIFFERENCE",
        }
    )
    assert sorted(rest) == NONPROD_ACTIVE[2:]
    everyone = targeted({"OrganizationalUnitIds": [sim.org.root_id]})
    assert MANAGEMENT not in everyone
    assert len(instances(cfn, "ous")) == len(sim.org.account_ids()) - 1


def test_update_stack_instances_overrides_parameters_of_existing_instances(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "overrides")
    _deploy(sim, cfn, "overrides", SANDBOX, ["us-east-1"])
    first = _run(
        sim,
        cfn,
        "overrides",
        "update_stack_instances",
        DeploymentTargets={"Accounts": [SANDBOX[0]]},
        Regions=["us-east-1"],
        ParameterOverrides=[{"ParameterKey": "Tier", "ParameterValue": "gold"}],
    )
    assert operation(cfn, "overrides", first)["Action"] == "UPDATE"
    assert operation(cfn, "overrides", first)["Status"] == "SUCCEEDED"
    assert _value(aws, SANDBOX[0]) == "v1:gold"
    assert _value(aws, SANDBOX[1]) == "v1:standard"

    def overrides(account: str) -> list[dict[str, Any]]:
        return list(
            cfn.describe_stack_instance(
                StackSetName="overrides",
                StackInstanceAccount=account,
                StackInstanceRegion="us-east-1",
                **AS_ADMIN,
            )["StackInstance"]["ParameterOverrides"]
        )

    assert overrides(SANDBOX[0]) == [{"ParameterKey": "Tier", "ParameterValue": "gold"}]
    assert overrides(SANDBOX[1]) == []
    # Overrides survive a new stack set value; UsePreviousValue keeps one, absence drops it.
    _run(
        sim,
        cfn,
        "overrides",
        "update_stack_set",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "Value", "ParameterValue": "v2"}],
    )
    assert _value(aws, SANDBOX[0]) == "v2:gold"
    _run(
        sim,
        cfn,
        "overrides",
        "update_stack_instances",
        DeploymentTargets={"Accounts": [SANDBOX[0]]},
        Regions=["us-east-1"],
        ParameterOverrides=[
            {"ParameterKey": "Tier", "UsePreviousValue": True},
            {"ParameterKey": "Value", "ParameterValue": "pinned"},
        ],
    )
    assert _value(aws, SANDBOX[0]) == "pinned:gold"
    _run(
        sim,
        cfn,
        "overrides",
        "update_stack_instances",
        DeploymentTargets={"Accounts": [SANDBOX[0]]},
        Regions=["us-east-1"],
        ParameterOverrides=[],
    )
    assert _value(aws, SANDBOX[0]) == "v2:standard"
    with pytest.raises(cfn.exceptions.StackInstanceNotFoundException):
        cfn.update_stack_instances(
            StackSetName="overrides",
            DeploymentTargets={"Accounts": [SANDBOX[0]]},
            Regions=["eu-west-1"],
            ParameterOverrides=[{"ParameterKey": "Tier", "ParameterValue": "gold"}],
            **AS_ADMIN,
        )


def test_update_stack_set_with_targets_stages_a_version_through_waves(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "waves")
    _deploy(sim, cfn, "waves", SANDBOX + NONPROD_ACTIVE, ["us-east-1", "us-west-2"])
    sandbox = sim.org.ou_ids_by_path["/Sandbox"]
    wave = cfn.update_stack_set(
        StackSetName="waves",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "Value", "ParameterValue": "v2"}],
        DeploymentTargets={"OrganizationalUnitIds": [sandbox]},
        Regions=["us-east-1"],
        OperationPreferences=FAST,
        **AS_ADMIN,
    )["OperationId"]
    # The new version makes every instance OUTDATED at once; only the wave is updated.
    assert {i["Status"] for i in instances(cfn, "waves").values()} == {"OUTDATED"}
    assert sorted(results(cfn, "waves", wave)) == [(a, "us-east-1") for a in SANDBOX]
    assert watch(sim, cfn, "waves", wave).status == "SUCCEEDED"
    statuses = {key: i["Status"] for key, i in instances(cfn, "waves").items()}
    assert {statuses[(a, "us-east-1")] for a in SANDBOX} == {"CURRENT"}
    assert {s for key, s in statuses.items() if key[0] not in SANDBOX} == {"OUTDATED"}
    assert _value(aws, SANDBOX[0]) == "v2:standard"
    assert _value(aws, SANDBOX[0], "us-west-2") == "v1:standard"
    assert _value(aws, NONPROD_ACTIVE[0]) == "v1:standard"

    # The next wave repeats the same version (no new change) for the next targets.
    _run(
        sim,
        cfn,
        "waves",
        "update_stack_set",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "Value", "UsePreviousValue": True}],
        DeploymentTargets={"Accounts": NONPROD_ACTIVE[:2]},
        Regions=["us-east-1", "us-west-2"],
        OperationPreferences=FAST,
    )
    assert _value(aws, NONPROD_ACTIVE[1], "us-west-2") == "v2:standard"
    assert _value(aws, SANDBOX[0], "us-west-2") == "v1:standard"
    # Without targets, every instance is updated.
    _run(
        sim,
        cfn,
        "waves",
        "update_stack_set",
        UsePreviousTemplate=True,
        Parameters=KEEP,
        OperationPreferences=FAST,
    )
    assert {i["Status"] for i in instances(cfn, "waves").values()} == {"CURRENT"}
    assert _value(aws, NONPROD_ACTIVE[3], "us-west-2") == "v2:standard"
    with pytest.raises(cfn.exceptions.StackInstanceNotFoundException):
        cfn.update_stack_set(
            StackSetName="waves",
            UsePreviousTemplate=True,
            Parameters=KEEP,
            DeploymentTargets={"Accounts": [PROD_EU[0]]},
            Regions=["us-east-1"],
            **AS_ADMIN,
        )


def _truth(sim: Simulator, name: str) -> dict[str, Any]:
    """Ground truth of one stack set: its parameters, and per (account, Region) the
    instance's status, detailed status and the parameters its stack runs."""
    (stack_set,) = (s for s in sim.state()["stack_sets"].values() if s["name"] == name)
    return {
        "parameters": stack_set["parameters"],
        "instances": {
            (i["account"], i["region"]): (i["status"], i["detailed_status"], i["parameters"])
            for i in stack_set["instances"]
        },
    }


def test_outdated_instances_turn_current_only_through_an_operation_that_reaches_them(
    aws: AwsClients, sim: Simulator
) -> None:
    # A staged update (a wave), then the stack set put back on the first version for that
    # wave only (a rollback's restore): the instances the update never reached run the
    # first version all along, yet stay OUTDATED until an operation updates them.
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "restore")
    _deploy(sim, cfn, "restore", SANDBOX + NONPROD_ACTIVE[:2], ["us-east-1"])
    sandbox_ou = sim.org.ou_ids_by_path["/Sandbox"]
    sandbox = [(a, "us-east-1") for a in SANDBOX]
    rest = [(a, "us-east-1") for a in NONPROD_ACTIVE[:2]]
    v1 = {"Value": "v1", "Tier": "standard"}
    v2 = {"Value": "v2", "Tier": "standard"}

    def wave(value: str) -> str:
        return _run(
            sim,
            cfn,
            "restore",
            "update_stack_set",
            UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "Value", "ParameterValue": value}],
            DeploymentTargets={"OrganizationalUnitIds": [sandbox_ou]},
            Regions=["us-east-1"],
            OperationPreferences=FAST,
        )

    wave("v2")
    truth = _truth(sim, "restore")
    assert truth["parameters"] == {"Value": "v2"}
    assert {key: truth["instances"][key] for key in sandbox} == dict.fromkeys(
        sandbox, ("CURRENT", "SUCCEEDED", v2)
    )
    # Left out: OUTDATED with DetailedStatus PENDING (as AWS shows them), still running v1.
    assert {key: truth["instances"][key] for key in rest} == dict.fromkeys(
        rest, ("OUTDATED", "PENDING", v1)
    )
    listed = instances(cfn, "restore")
    assert {
        (listed[key]["Status"], listed[key]["StackInstanceStatus"]["DetailedStatus"])
        for key in rest
    } == {("OUTDATED", "PENDING")}
    assert all("StatusReason" not in listed[key] for key in rest)

    wave("v1")  # the stack set holds exactly what the rest run again
    truth = _truth(sim, "restore")
    assert truth["parameters"] == {"Value": "v1"}
    assert {key: truth["instances"][key] for key in sandbox} == dict.fromkeys(
        sandbox, ("CURRENT", "SUCCEEDED", v1)
    )
    assert {key: truth["instances"][key] for key in rest} == dict.fromkeys(
        rest, ("OUTDATED", "PENDING", v1)
    )
    assert _value(aws, NONPROD_ACTIVE[0]) == "v1:standard"

    # An operation over them (their stacks have nothing to change) makes them CURRENT, and
    # leaves the others as they are: the stack set's template and parameters did not change.
    nothing_changes = _run(
        sim,
        cfn,
        "restore",
        "update_stack_set",
        UsePreviousTemplate=True,
        Parameters=KEEP,
        DeploymentTargets={"Accounts": NONPROD_ACTIVE[:2]},
        Regions=["us-east-1"],
        OperationPreferences=FAST,
    )
    assert operation(cfn, "restore", nothing_changes)["Status"] == "SUCCEEDED"
    assert _truth(sim, "restore")["instances"] == dict.fromkeys(
        sandbox + rest, ("CURRENT", "SUCCEEDED", v1)
    )


@pytest.mark.parametrize(
    "repeat",
    [
        pytest.param(
            {"Parameters": [{"ParameterKey": "Value", "ParameterValue": "v2"}]}, id="value"
        ),
        pytest.param({"TemplateBody": parameter_template(), "Parameters": KEEP}, id="template"),
    ],
)
def test_an_update_naming_the_held_template_or_values_marks_every_other_instance_outdated(
    aws: AwsClients, sim: Simulator, repeat: dict[str, Any]
) -> None:
    # The API reference (UpdateStackSet, Regions): an update that specifies TemplateBody or
    # TemplateURL, or the Parameters property, marks all stack instances OUTDATED before
    # updating the ones it names; one that does not leaves the others' status alone. So a
    # staged rollout's second wave, repeating what the stack set holds by value, leaves the
    # first wave's instances OUTDATED; by UsePreviousTemplate/UsePreviousValue it does not.
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "literal")
    _deploy(sim, cfn, "literal", SANDBOX + NONPROD_ACTIVE[:2], ["us-east-1"])
    sandbox = [(a, "us-east-1") for a in SANDBOX]
    rest = [(a, "us-east-1") for a in NONPROD_ACTIVE[:2]]
    v2 = {"Value": "v2", "Tier": "standard"}
    scope = {
        "DeploymentTargets": {"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/Sandbox"]]},
        "Regions": ["us-east-1"],
        "OperationPreferences": FAST,
    }
    _run(
        sim,
        cfn,
        "literal",
        "update_stack_set",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "Value", "ParameterValue": "v2"}],
        **scope,
    )
    assert {key: _truth(sim, "literal")["instances"][key] for key in sandbox} == dict.fromkeys(
        sandbox, ("CURRENT", "SUCCEEDED", v2)
    )
    later_wave = {
        "DeploymentTargets": {"Accounts": NONPROD_ACTIVE[:2]},
        "Regions": ["us-east-1"],
        "OperationPreferences": FAST,
    }
    template = {} if "TemplateBody" in repeat else {"UsePreviousTemplate": True}
    _run(sim, cfn, "literal", "update_stack_set", **template, **repeat, **later_wave)
    truth = _truth(sim, "literal")
    assert truth["parameters"] == {"Value": "v2"}
    assert {key: truth["instances"][key] for key in rest} == dict.fromkeys(
        rest, ("CURRENT", "SUCCEEDED", v2)
    )
    # The first wave runs v2 all along, yet reads OUTDATED/PENDING again.
    assert {key: truth["instances"][key] for key in sandbox} == dict.fromkeys(
        sandbox, ("OUTDATED", "PENDING", v2)
    )

    # The same wave again by UsePreviousTemplate and UsePreviousValue: only it is touched.
    _run(
        sim, cfn, "literal", "update_stack_set", UsePreviousTemplate=True, Parameters=KEEP, **scope
    )
    assert _truth(sim, "literal")["instances"] == dict.fromkeys(
        sandbox + rest, ("CURRENT", "SUCCEEDED", v2)
    )


def test_delete_stack_instances_deletes_or_retains_stacks(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "deletes")
    _deploy(sim, cfn, "deletes", SANDBOX, ["us-east-1"])
    deleted = _run(
        sim,
        cfn,
        "deletes",
        "delete_stack_instances",
        DeploymentTargets={"Accounts": [SANDBOX[0]]},
        Regions=["us-east-1"],
        RetainStacks=False,
    )
    described = operation(cfn, "deletes", deleted)
    assert (described["Action"], described["Status"], described["RetainStacks"]) == (
        "DELETE",
        "SUCCEEDED",
        False,
    )
    assert _value(aws, SANDBOX[0]) is None
    member = aws.client("cloudformation", account=SANDBOX[0])
    assert member.describe_stacks()["Stacks"] == []
    _run(
        sim,
        cfn,
        "deletes",
        "delete_stack_instances",
        DeploymentTargets={"Accounts": [SANDBOX[1]]},
        Regions=["us-east-1"],
        RetainStacks=True,
    )
    assert instances(cfn, "deletes") == {}
    assert _value(aws, SANDBOX[1]) == "v1:standard"  # the stack and its resources stay
    retained = aws.client("cloudformation", account=SANDBOX[1]).describe_stacks()["Stacks"]
    assert [s["StackStatus"] for s in retained] == ["CREATE_COMPLETE"]
    # Deleting what has no instance is a successful no-op.
    noop = _run(
        sim,
        cfn,
        "deletes",
        "delete_stack_instances",
        DeploymentTargets={"Accounts": SANDBOX},
        Regions=["us-east-1"],
        RetainStacks=False,
    )
    assert operation(cfn, "deletes", noop)["Status"] == "SUCCEEDED"
    assert results(cfn, "deletes", noop) == {}
    cfn.delete_stack_set(StackSetName="deletes", **AS_ADMIN)


def test_a_failing_resource_fails_the_instance_and_a_failed_delete_is_inoperable(
    aws: AwsClients, sim: Simulator
) -> None:
    taken = aws.client("ssm", account=SANDBOX[1])
    taken.put_parameter(Name=PARAMETER, Value="already here", Type="String")
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "failing")
    op_id = _deploy(sim, cfn, "failing", SANDBOX, ["us-east-1"])
    assert operation(cfn, "failing", op_id)["StatusDetails"]["FailedStackInstancesCount"] == 1
    failed = instances(cfn, "failing")[(SANDBOX[1], "us-east-1")]
    assert failed["StackInstanceStatus"]["DetailedStatus"] == "FAILED"
    assert failed["StatusReason"].startswith("Resource handler returned message:")
    assert "StackId" not in failed  # the failed stack was rolled back
    assert taken.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == "already here"

    sim.set_scenario(
        Scenario(
            name="delete-fails",
            stack_instance_failures=[
                StackInstanceFailure(accounts=[SANDBOX[0]], actions=["DELETE"], reason="boom")
            ],
        )
    )
    _run(
        sim,
        cfn,
        "failing",
        "delete_stack_instances",
        DeploymentTargets={"Accounts": [SANDBOX[0]]},
        Regions=["us-east-1"],
        RetainStacks=False,
    )
    inoperable = instances(cfn, "failing")[(SANDBOX[0], "us-east-1")]
    assert inoperable["Status"] == "INOPERABLE"
    assert inoperable["StatusReason"] == "boom"
    assert _value(aws, SANDBOX[0]) == "v1:standard"
    # INOPERABLE instances are left out of stack set updates...
    update = _run(
        sim, cfn, "failing", "update_stack_set", UsePreviousTemplate=True, Parameters=KEEP
    )
    assert sorted(results(cfn, "failing", update)) == [(SANDBOX[1], "us-east-1")]
    # ...and removed with RetainStacks.
    _run(
        sim,
        cfn,
        "failing",
        "delete_stack_instances",
        DeploymentTargets={"Accounts": [SANDBOX[0]]},
        Regions=["us-east-1"],
        RetainStacks=True,
    )
    assert list(instances(cfn, "failing")) == [(SANDBOX[1], "us-east-1")]


def test_suspended_accounts_are_skipped_until_deleted_with_retain_stacks(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "suspended")
    targets = {"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/NonProd"]]}
    _run(
        sim,
        cfn,
        "suspended",
        "create_stack_instances",
        DeploymentTargets=targets,
        Regions=["us-east-1"],
        OperationPreferences=FAST,
    )
    key = (NONPROD_SUSPENDED, "us-east-1")
    assert instances(cfn, "suspended")[key]["StackInstanceStatus"]["DetailedStatus"] == (
        "SKIPPED_SUSPENDED_ACCOUNT"
    )
    assert _value(aws, NONPROD_SUSPENDED) is None
    update = _run(
        sim, cfn, "suspended", "update_stack_set", UsePreviousTemplate=True, Parameters=KEEP
    )
    assert operation(cfn, "suspended", update)["Status"] == "SUCCEEDED"
    assert results(cfn, "suspended", update)[key]["Status"] == "SUCCEEDED"
    kept = _run(
        sim,
        cfn,
        "suspended",
        "delete_stack_instances",
        DeploymentTargets={"Accounts": [NONPROD_SUSPENDED]},
        Regions=["us-east-1"],
        RetainStacks=False,
    )
    assert operation(cfn, "suspended", kept)["Status"] == "SUCCEEDED"
    assert key in instances(cfn, "suspended")
    _run(
        sim,
        cfn,
        "suspended",
        "delete_stack_instances",
        DeploymentTargets={"Accounts": [NONPROD_SUSPENDED]},
        Regions=["us-east-1"],
        RetainStacks=True,
    )
    assert key not in instances(cfn, "suspended")


def test_self_managed_stack_sets_target_accounts(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    cfn.create_stack_set(
        StackSetName="self-managed",
        TemplateBody=TOPIC_TEMPLATE,
        PermissionModel="SELF_MANAGED",
    )
    described = cfn.describe_stack_set(StackSetName="self-managed")["StackSet"]
    assert described["ExecutionRoleName"] == "AWSCloudFormationStackSetExecutionRole"
    assert described["AdministrationRoleARN"].endswith(
        ":role/AWSCloudFormationStackSetAdministrationRole"
    )
    with pytest.raises(ClientError, match="SERVICE_MANAGED permissions"):
        cfn.create_stack_instances(
            StackSetName="self-managed",
            DeploymentTargets={"OrganizationalUnitIds": [sim.org.root_id]},
            Regions=["us-east-1"],
        )
    op_id = cfn.create_stack_instances(
        StackSetName="self-managed", Accounts=[SANDBOX[0]], Regions=["us-east-1"]
    )["OperationId"]
    sim.settle()
    status = cfn.describe_stack_set_operation(StackSetName="self-managed", OperationId=op_id)
    assert status["StackSetOperation"]["Status"] == "SUCCEEDED"
    sns = aws.client("sns", account=SANDBOX[0])
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [
        f"arn:aws:sns:us-east-1:{SANDBOX[0]}:awssim"
    ]
