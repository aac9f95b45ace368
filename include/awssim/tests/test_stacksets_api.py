"""awssim StackSets: the API's validation, errors, CallAs rules and idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from stacksets_support import (
    AS_ADMIN,
    MANAGEMENT,
    NAMED_ROLE_TEMPLATE,
    SANDBOX,
    TOPIC_TEMPLATE,
    admin_cfn,
    create_service_managed,
    parameter_template,
    results,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response: dict[str, Any] = raised.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_create_describe_list_and_delete(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    stack_set_id = create_service_managed(
        cfn,
        "described",
        Description="rollout",
        Tags=[{"Key": "team", "Value": "platform"}],
        ManagedExecution={"Active": True},
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )
    assert stack_set_id.startswith("described:")
    described = cfn.describe_stack_set(StackSetName="described", **AS_ADMIN)["StackSet"]
    assert described["StackSetId"] == stack_set_id
    assert described["StackSetARN"] == (
        f"arn:aws:cloudformation:us-east-1:222222222222:stackset/{stack_set_id}"
    )
    assert described["Status"] == "ACTIVE"
    assert described["Description"] == "rollout"
    assert described["Parameters"] == [{"ParameterKey": "Value", "ParameterValue": "v1"}]
    assert described["Tags"] == [{"Key": "team", "Value": "platform"}]
    assert described["PermissionModel"] == "SERVICE_MANAGED"
    assert described["ManagedExecution"] == {"Active": True}
    assert described["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert described["TemplateBody"] == parameter_template()
    # Addressable by id too.
    by_id = cfn.describe_stack_set(StackSetName=stack_set_id, **AS_ADMIN)["StackSet"]
    assert by_id["StackSetName"] == "described"

    with pytest.raises(cfn.exceptions.NameAlreadyExistsException) as taken:
        create_service_managed(cfn, "described")
    assert _error(taken)[2] == 409

    summaries = cfn.list_stack_sets(**AS_ADMIN)["Summaries"]
    assert [(s["StackSetName"], s["Status"]) for s in summaries] == [("described", "ACTIVE")]
    cfn.delete_stack_set(StackSetName="described", **AS_ADMIN)
    deleted = cfn.list_stack_sets(Status="DELETED", **AS_ADMIN)["Summaries"]
    assert [s["StackSetId"] for s in deleted] == [stack_set_id]
    assert cfn.list_stack_sets(Status="ACTIVE", **AS_ADMIN)["Summaries"] == []
    with pytest.raises(cfn.exceptions.StackSetNotFoundException) as gone:
        cfn.describe_stack_set(StackSetName="described", **AS_ADMIN)
    assert _error(gone) == ("StackSetNotFoundException", "StackSet described not found", 404)
    assert create_service_managed(cfn, "described") != stack_set_id


def test_call_as_decides_who_may_operate_and_where_the_stack_set_lives(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    with pytest.raises(ClientError) as not_management:
        create_service_managed(cfn, "self-as-admin", CallAs="SELF")
    assert _error(not_management) == (
        "ValidationError",
        "You must be the management account or delegated admin account of an organization "
        "before operating a SERVICE_MANAGED stack set",
        400,
    )
    member = aws.client("cloudformation", account=SANDBOX[0])
    with pytest.raises(ClientError) as not_admin:
        create_service_managed(member, "member")
    assert _error(not_admin)[:2] == (
        "ValidationError",
        "Account used is not a delegated administrator",
    )

    management = aws.client("cloudformation", account=MANAGEMENT)
    create_service_managed(management, "from-management", CallAs="SELF")
    assert management.describe_stack_set(StackSetName="from-management")["StackSet"]
    create_service_managed(cfn, "from-admin")
    # A delegated administrator's stack set is only addressable with CallAs=DELEGATED_ADMIN.
    with pytest.raises(cfn.exceptions.StackSetNotFoundException):
        cfn.describe_stack_set(StackSetName="from-admin")
    with pytest.raises(cfn.exceptions.StackSetNotFoundException):
        cfn.describe_stack_set(StackSetName="from-management", **AS_ADMIN)
    # ...and lives in the caller's Region.
    west = admin_cfn(aws, "us-west-2")
    with pytest.raises(west.exceptions.StackSetNotFoundException):
        west.describe_stack_set(StackSetName="from-admin", **AS_ADMIN)


def test_named_iam_resources_need_capability_named_iam(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    request: dict[str, Any] = {
        "StackSetName": "roles",
        "TemplateBody": NAMED_ROLE_TEMPLATE,
        "PermissionModel": "SERVICE_MANAGED",
        **AS_ADMIN,
    }
    for capabilities in ([], ["CAPABILITY_IAM"]):
        with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException) as missing:
            cfn.create_stack_set(**request, Capabilities=capabilities)
        assert _error(missing)[1] == "Requires capabilities : [CAPABILITY_NAMED_IAM]"
    cfn.create_stack_set(**request, Capabilities=["CAPABILITY_NAMED_IAM"])
    with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException):
        cfn.update_stack_set(StackSetName="roles", UsePreviousTemplate=True, **AS_ADMIN)
    op_id = cfn.update_stack_set(
        StackSetName="roles",
        UsePreviousTemplate=True,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        **AS_ADMIN,
    )["OperationId"]
    sim.settle()
    status = cfn.describe_stack_set_operation(StackSetName="roles", OperationId=op_id, **AS_ADMIN)
    assert status["StackSetOperation"]["Status"] == "SUCCEEDED"


def test_parameters_are_checked_at_the_call(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    base: dict[str, Any] = {
        "StackSetName": "params",
        "TemplateBody": parameter_template(),
        "PermissionModel": "SERVICE_MANAGED",
        **AS_ADMIN,
    }
    with pytest.raises(ClientError) as missing:
        cfn.create_stack_set(**base)
    assert _error(missing)[:2] == ("ValidationError", "Parameters: [Value] must have values")
    with pytest.raises(ClientError) as unknown:
        cfn.create_stack_set(
            **base,
            Parameters=[
                {"ParameterKey": "Value", "ParameterValue": "x"},
                {"ParameterKey": "Colour", "ParameterValue": "red"},
            ],
        )
    assert _error(unknown)[1] == "Parameters: [Colour] do not exist in the template"
    create_service_managed(cfn, "params")
    with pytest.raises(ClientError, match=r"Parameters: \[Colour\] do not exist"):
        cfn.create_stack_instances(
            StackSetName="params",
            DeploymentTargets={"Accounts": [SANDBOX[0]]},
            Regions=["us-east-1"],
            ParameterOverrides=[{"ParameterKey": "Colour", "ParameterValue": "red"}],
            **AS_ADMIN,
        )
    with pytest.raises(ClientError, match=r"Parameters: \[Value\] must have values"):
        cfn.update_stack_set(
            StackSetName="params",
            TemplateBody=parameter_template(),
            Parameters=[{"ParameterKey": "Tier", "ParameterValue": "gold"}],
            **AS_ADMIN,
        )
    with pytest.raises(ClientError, match=r"Parameters: \[Value\] must have values"):
        cfn.update_stack_set(StackSetName="params", UsePreviousTemplate=True, **AS_ADMIN)
    with pytest.raises(ClientError, match="Cannot specify usePreviousValue as true and non empty"):
        cfn.update_stack_set(
            StackSetName="params",
            UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "Value", "ParameterValue": "x", "UsePreviousValue": True}],
            **AS_ADMIN,
        )
    with pytest.raises(ClientError, match="Template format error"):
        cfn.update_stack_set(StackSetName="params", TemplateBody="{not: [json", **AS_ADMIN)
    with pytest.raises(ClientError, match="Either Template URL or Template Body"):
        cfn.update_stack_set(StackSetName="params", **AS_ADMIN)


@pytest.mark.parametrize(
    "url",
    [
        "https://s3.amazonaws.com/{bucket}/templates/topic.json",
        "https://s3.us-east-1.amazonaws.com/{bucket}/templates/topic.json",
        "https://{bucket}.s3.amazonaws.com/templates/topic.json",
        "https://{bucket}.s3.us-east-1.amazonaws.com/templates/topic.json",
    ],
)
def test_template_url_reads_from_s3(url: str, aws: AwsClients, sim: Simulator) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="rollout-templates")
    s3.put_object(Bucket="rollout-templates", Key="templates/topic.json", Body=TOPIC_TEMPLATE)
    cfn = admin_cfn(aws)
    cfn.create_stack_set(
        StackSetName="from-url",
        TemplateURL=url.format(bucket="rollout-templates"),
        PermissionModel="SERVICE_MANAGED",
        **AS_ADMIN,
    )
    described = cfn.describe_stack_set(StackSetName="from-url", **AS_ADMIN)["StackSet"]
    assert described["TemplateBody"] == TOPIC_TEMPLATE
    with pytest.raises(ClientError, match="TemplateURL must reference a valid S3 object"):
        cfn.update_stack_set(
            StackSetName="from-url",
            TemplateURL="https://rollout-templates.s3.amazonaws.com/missing.json",
            **AS_ADMIN,
        )


def test_operation_id_is_an_idempotency_key(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "idempotent")
    request: dict[str, Any] = {
        "StackSetName": "idempotent",
        "DeploymentTargets": {"Accounts": [SANDBOX[0]]},
        "Regions": ["us-east-1"],
        "OperationId": "deploy-1",
        **AS_ADMIN,
    }
    assert cfn.create_stack_instances(**request)["OperationId"] == "deploy-1"
    with pytest.raises(cfn.exceptions.OperationIdAlreadyExistsException) as again:
        cfn.create_stack_instances(**request)
    assert _error(again)[2] == 409
    sim.settle()
    # Whatever the request: a finished operation's id stays taken, for any action.
    with pytest.raises(cfn.exceptions.OperationIdAlreadyExistsException):
        cfn.update_stack_set(
            StackSetName="idempotent", UsePreviousTemplate=True, OperationId="deploy-1", **AS_ADMIN
        )
    with pytest.raises(cfn.exceptions.OperationIdAlreadyExistsException):
        cfn.delete_stack_instances(**request, RetainStacks=False)
    ops = cfn.list_stack_set_operations(StackSetName="idempotent", **AS_ADMIN)["Summaries"]
    assert [op["OperationId"] for op in ops] == ["deploy-1"]


def test_deployment_targets_are_validated(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "targets")
    nonprod = sim.org.ou_ids_by_path["/NonProd"]

    def create(**extra: Any) -> Any:
        return cfn.create_stack_instances(
            StackSetName="targets", Regions=["us-east-1"], **AS_ADMIN, **extra
        )

    cases: list[tuple[dict[str, Any], str]] = [
        (
            {
                "DeploymentTargets": {
                    "OrganizationalUnitIds": [nonprod],
                    "Accounts": [SANDBOX[0]],
                    "AccountFilterType": "UNION",
                }
            },
            "UNION is not supported for CreateStackInstances",
        ),
        (
            {"DeploymentTargets": {"OrganizationalUnitIds": [nonprod], "Accounts": [SANDBOX[0]]}},
            "AccountFilterType must be specified",
        ),
        (
            {
                "DeploymentTargets": {
                    "OrganizationalUnitIds": [nonprod] * 2 + [f"ou-abcd-{n:08d}" for n in range(50)]
                }
            },
            "maximum number of organizational units per operation is 50",
        ),
        (
            {"DeploymentTargets": {"OrganizationalUnitIds": ["ou-zzzz-zzzzzzzz"]}},
            "OrganizationalUnitId ou-zzzz-zzzzzzzz does not exist",
        ),
        ({"DeploymentTargets": {"OrganizationalUnitIds": ["not-an-ou"]}}, "regular expression"),
        ({"Accounts": [SANDBOX[0]]}, "can only have DeploymentTargets"),
        ({"DeploymentTargets": {}}, "must specify OrganizationalUnitIds or Accounts"),
        (
            {
                "DeploymentTargets": {"OrganizationalUnitIds": [nonprod]},
                "OperationPreferences": {"MaxConcurrentCount": 1, "MaxConcurrentPercentage": 10},
            },
            "either MaxConcurrentCount or MaxConcurrentPercentage",
        ),
    ]
    for extra, message in cases:
        with pytest.raises(ClientError) as invalid:
            create(**extra)
        code, text, status = _error(invalid)
        assert (code, status) == ("ValidationError", 400), text
        assert message in text
    assert cfn.list_stack_set_operations(StackSetName="targets", **AS_ADMIN)["Summaries"] == []


def test_missing_things_are_their_own_errors(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "missing")
    with pytest.raises(cfn.exceptions.OperationNotFoundException):
        cfn.describe_stack_set_operation(StackSetName="missing", OperationId="nope", **AS_ADMIN)
    with pytest.raises(cfn.exceptions.OperationNotFoundException):
        cfn.list_stack_set_operation_results(StackSetName="missing", OperationId="nope", **AS_ADMIN)
    with pytest.raises(cfn.exceptions.StackInstanceNotFoundException) as no_instance:
        cfn.describe_stack_instance(
            StackSetName="missing",
            StackInstanceAccount=SANDBOX[0],
            StackInstanceRegion="us-east-1",
            **AS_ADMIN,
        )
    assert _error(no_instance)[2] == 404
    with pytest.raises(cfn.exceptions.StackInstanceNotFoundException):
        cfn.update_stack_instances(
            StackSetName="missing",
            DeploymentTargets={"Accounts": [SANDBOX[0]]},
            Regions=["us-east-1"],
            **AS_ADMIN,
        )
    with pytest.raises(cfn.exceptions.StackSetNotFoundException):
        cfn.create_stack_instances(
            StackSetName="absent",
            DeploymentTargets={"Accounts": [SANDBOX[0]]},
            Regions=["us-east-1"],
            **AS_ADMIN,
        )


def test_a_stack_set_with_instances_or_operations_cannot_be_deleted(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "busy")
    targets: dict[str, Any] = {"DeploymentTargets": {"Accounts": SANDBOX}, "Regions": ["us-east-1"]}
    cfn.create_stack_instances(StackSetName="busy", **targets, **AS_ADMIN)
    with pytest.raises(cfn.exceptions.OperationInProgressException):
        cfn.delete_stack_set(StackSetName="busy", **AS_ADMIN)
    sim.settle()
    with pytest.raises(cfn.exceptions.StackSetNotEmptyException) as not_empty:
        cfn.delete_stack_set(StackSetName="busy", **AS_ADMIN)
    assert _error(not_empty)[2] == 409
    cfn.delete_stack_instances(StackSetName="busy", RetainStacks=False, **targets, **AS_ADMIN)
    sim.settle()
    cfn.delete_stack_set(StackSetName="busy", **AS_ADMIN)


def test_lists_page_with_next_token(aws: AwsClients, sim: Simulator) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "paged")
    op_id = cfn.create_stack_instances(
        StackSetName="paged",
        DeploymentTargets={"OrganizationalUnitIds": [sim.org.root_id]},
        Regions=["us-east-1"],
        **AS_ADMIN,
    )["OperationId"]
    first = cfn.list_stack_set_operation_results(
        StackSetName="paged", OperationId=op_id, MaxResults=5, **AS_ADMIN
    )
    assert len(first["Summaries"]) == 5
    paginator = cfn.get_paginator("list_stack_set_operation_results")
    pages = paginator.paginate(
        StackSetName="paged", OperationId=op_id, PaginationConfig={"PageSize": 4}, **AS_ADMIN
    )
    accounts = [s["Account"] for page in pages for s in page["Summaries"]]
    assert len(accounts) == len(set(accounts)) == len(results(cfn, "paged", op_id))
    # The root holds every account but the management account, which is never a target.
    assert MANAGEMENT not in accounts
    assert len(accounts) == len(sim.org.account_ids()) - 1
    statuses = cfn.list_stack_set_operation_results(
        StackSetName="paged",
        OperationId=op_id,
        Filters=[{"Name": "OPERATION_RESULT_STATUS", "Values": "RUNNING"}],
        **AS_ADMIN,
    )["Summaries"]
    assert len(statuses) == 1
