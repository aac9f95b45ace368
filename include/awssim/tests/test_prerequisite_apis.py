"""What a preflight reads: StackSets trusted access, the registered delegated administrator,
the Regions' opt-in status and whether a bucket is reachable, in botocore's shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stacksets_support import (
    ADMIN,
    AS_ADMIN,
    MANAGEMENT,
    SANDBOX,
    admin_cfn,
    create_service_managed,
    operation,
    watch,
)

from awssim.identity import STACKSETS_PRINCIPAL
from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

ACCESS_REQUIRED = "You must enable organizations access to operate a service managed stack set"


def _error(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def _status(cfn: Any, **kwargs: Any) -> str:
    return str(cfn.describe_organizations_access(**kwargs)["Status"])


def test_trusted_access_is_enabled_for_the_management_account_and_the_admin(
    aws: AwsClients,
) -> None:
    management = aws.client("cloudformation", account=MANAGEMENT)
    assert _status(management) == _status(management, CallAs="SELF") == "ENABLED"
    assert _status(admin_cfn(aws), **AS_ADMIN) == "ENABLED"
    # The admin without DELEGATED_ADMIN, and a plain member, are answered as for any
    # service-managed call they may not make.
    assert _error(admin_cfn(aws).describe_organizations_access)[:2] == (
        "ValidationError",
        "You must be the management account or delegated admin account of an organization "
        "before operating a SERVICE_MANAGED stack set",
    )
    member = aws.client("cloudformation", account=SANDBOX[0])
    assert _error(member.describe_organizations_access, **AS_ADMIN)[:2] == (
        "ValidationError",
        "Account used is not a delegated administrator",
    )


def test_deactivated_trusted_access_stops_service_managed_deployments(
    aws: AwsClients, sim: Simulator
) -> None:
    cfn = admin_cfn(aws)
    create_service_managed(cfn, "before")
    management = aws.client("cloudformation", account=MANAGEMENT)
    assert _error(cfn.deactivate_organizations_access) == (
        "InvalidOperationException",
        "Only the management account of the organization can deactivate organizations access",
        400,
    )
    management.deactivate_organizations_access()
    assert _status(cfn, **AS_ADMIN) == _status(management) == "DISABLED"
    principals = aws.client(
        "organizations", account=MANAGEMENT
    ).list_aws_service_access_for_organization()
    assert STACKSETS_PRINCIPAL not in {
        entry["ServicePrincipal"] for entry in principals["EnabledServicePrincipals"]
    }

    targets = {"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/Sandbox"]]}
    refused = [
        _error(create_service_managed, cfn=cfn, name="after"),
        _error(
            cfn.create_stack_instances,
            StackSetName="before",
            DeploymentTargets=targets,
            Regions=["us-east-1"],
            **AS_ADMIN,
        ),
        _error(
            cfn.update_stack_set,
            StackSetName="before",
            UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "Value", "UsePreviousValue": True}],
            **AS_ADMIN,
        ),
    ]
    assert set(refused) == {("ValidationError", ACCESS_REQUIRED, 400)}
    # Reads still answer.
    assert cfn.describe_stack_set(StackSetName="before", **AS_ADMIN)["StackSet"]["Status"] == (
        "ACTIVE"
    )

    management.activate_organizations_access()
    assert _status(cfn, **AS_ADMIN) == "ENABLED"
    operation_id = cfn.create_stack_instances(
        StackSetName="before", DeploymentTargets=targets, Regions=["us-east-1"], **AS_ADMIN
    )["OperationId"]
    assert watch(sim, cfn, "before", operation_id).status == "SUCCEEDED"
    assert operation(cfn, "before", operation_id)["Action"] == "CREATE"
    mutating = [(c.account, c.operation, c.status) for c in sim.ledger.calls()]
    assert (MANAGEMENT, "DeactivateOrganizationsAccess", 200) in mutating
    assert (MANAGEMENT, "ActivateOrganizationsAccess", 200) in mutating


def test_the_service_principal_alone_is_not_trusted_access(aws: AwsClients) -> None:
    """Enabling StackSets' principal through Organizations does not activate trusted access
    (users report the same error after it); disabling it there cuts StackSets off."""
    organizations = aws.client("organizations", account=MANAGEMENT)
    management = aws.client("cloudformation", account=MANAGEMENT)
    organizations.disable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)
    assert _status(management) == "DISABLED"
    organizations.enable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)
    assert _status(management) == "ENABLED", "CloudFormation's own switch was never turned off"
    management.deactivate_organizations_access()
    organizations.enable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)
    assert _status(management) == "DISABLED"


def test_delegated_administrators_are_listed_registered_and_deregistered(
    aws: AwsClients,
) -> None:
    organizations = aws.client("organizations", account=MANAGEMENT)
    listed = organizations.list_delegated_administrators(ServicePrincipal=STACKSETS_PRINCIPAL)
    [admin] = listed["DelegatedAdministrators"]
    assert (admin["Id"], admin["Status"], admin["Name"]) == (ADMIN, "ACTIVE", "delegated-admin")
    assert admin["Arn"].endswith(f"/{ADMIN}")
    assert "DelegationEnabledDate" in admin
    as_admin = aws.client("organizations")  # the registered admin may list them too
    assert [
        a["Id"] for a in as_admin.list_delegated_administrators()["DelegatedAdministrators"]
    ] == [ADMIN]

    member = aws.client("organizations", account=SANDBOX[0])
    for call in (
        member.register_delegated_administrator,
        as_admin.register_delegated_administrator,
    ):
        assert _error(call, AccountId=SANDBOX[0], ServicePrincipal=STACKSETS_PRINCIPAL)[:2] == (
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        )
    assert (
        _error(
            organizations.register_delegated_administrator,
            AccountId=ADMIN,
            ServicePrincipal=STACKSETS_PRINCIPAL,
        )[0]
        == "AccountAlreadyRegisteredException"
    )
    assert (
        _error(
            organizations.register_delegated_administrator,
            AccountId=MANAGEMENT,
            ServicePrincipal=STACKSETS_PRINCIPAL,
        )[0]
        == "ConstraintViolationException"
    )

    organizations.register_delegated_administrator(
        AccountId=SANDBOX[0], ServicePrincipal=STACKSETS_PRINCIPAL
    )
    organizations.deregister_delegated_administrator(
        AccountId=ADMIN, ServicePrincipal=STACKSETS_PRINCIPAL
    )
    listed = organizations.list_delegated_administrators(ServicePrincipal=STACKSETS_PRINCIPAL)
    assert [a["Id"] for a in listed["DelegatedAdministrators"]] == [SANDBOX[0]]
    # StackSets follows the registration: the new admin operates, the old one no longer.
    create_service_managed(aws.client("cloudformation", account=SANDBOX[0]), "new-admin")
    assert _error(create_service_managed, cfn=admin_cfn(aws), name="old-admin")[:2] == (
        "ValidationError",
        "Account used is not a delegated administrator",
    )
    assert _error(as_admin.list_delegated_administrators)[0] == "AccessDeniedException"


def test_regions_report_their_opt_in_status(aws: AwsClients, sim: Simulator) -> None:
    ec2 = aws.client("ec2")
    every = {r["RegionName"]: r for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    assert every["us-east-1"] == {
        "RegionName": "us-east-1",
        "Endpoint": "ec2.us-east-1.amazonaws.com",
        "OptInStatus": "opt-in-not-required",
    }
    for region in ("af-south-1", "ap-east-1", "eu-south-1", "me-south-1"):
        assert every[region]["OptInStatus"] == "not-opted-in"
    assert not any(name.startswith(("us-gov-", "cn-")) for name in every)
    enabled = {r["RegionName"] for r in ec2.describe_regions()["Regions"]}
    assert enabled == {n for n, r in every.items() if r["OptInStatus"] != "not-opted-in"}
    assert set(sim.org_spec.regions) <= enabled
    named = ec2.describe_regions(RegionNames=["ap-east-1", "eu-west-1"])["Regions"]
    assert [(r["RegionName"], r["OptInStatus"]) for r in named] == [
        ("ap-east-1", "not-opted-in"),
        ("eu-west-1", "opt-in-not-required"),
    ]
    filtered = ec2.describe_regions(
        AllRegions=True, Filters=[{"Name": "opt-in-status", "Values": ["not-opted-in"]}]
    )["Regions"]
    assert {r["RegionName"] for r in filtered} == {
        n for n, r in every.items() if r["OptInStatus"] == "not-opted-in"
    }
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        ec2.describe_regions(Filters=[{"Name": "opt-in", "Values": ["x"]}])


def test_an_opt_in_region_the_org_uses_is_opted_in(aws: AwsClients, sim: Simulator) -> None:
    spec = sim.org_spec.model_copy(update={"regions": ["us-east-1", "af-south-1"]})
    sim.load(spec, None, speed=1.0, seed=0)
    ec2 = aws.client("ec2", region="af-south-1")
    [africa] = ec2.describe_regions(RegionNames=["af-south-1"])["Regions"]
    assert africa["OptInStatus"] == "opted-in"
    assert "af-south-1" in {r["RegionName"] for r in ec2.describe_regions()["Regions"]}
    [hong_kong] = ec2.describe_regions(RegionNames=["ap-east-1"])["Regions"]
    assert hong_kong["OptInStatus"] == "not-opted-in"


def test_head_bucket_answers_the_owner_and_whom_its_policy_lets_list(
    aws: AwsClients, sim: Simulator
) -> None:
    owner = aws.client("s3")  # the delegated administrator
    owner.create_bucket(Bucket="artifacts-bucket")
    assert owner.head_bucket(Bucket="artifacts-bucket")["BucketRegion"] == "us-east-1"
    assert owner.head_bucket(Bucket="artifacts-bucket", ExpectedBucketOwner=ADMIN)
    assert _error(owner.head_bucket, Bucket="no-such-bucket") == ("404", "Not Found", 404)
    assert _error(owner.head_bucket, Bucket="artifacts-bucket", ExpectedBucketOwner=SANDBOX[0]) == (
        "403",
        "Forbidden",
        403,
    )

    member = aws.client("s3", account=SANDBOX[0])
    assert _error(member.head_bucket, Bucket="artifacts-bucket") == ("403", "Forbidden", 403)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::artifacts-bucket",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": sim.org.org_id}},
            }
        ],
    }
    owner.put_bucket_policy(Bucket="artifacts-bucket", Policy=json.dumps(policy))
    assert (
        member.head_bucket(Bucket="artifacts-bucket")["ResponseMetadata"]["HTTPStatusCode"] == 200
    )
    outsider = aws.client("s3", account="123456789012")
    assert _error(outsider.head_bucket, Bucket="artifacts-bucket")[0] == "403"
