"""The shipped template as a service-managed stack set across the demo organization.

This is the path the product takes, end to end, with plain boto3: publish a real package
to one bucket per Region, create the stack set as the delegated administrator, deploy it to
OUs, then read associations and compliance in member accounts through the compliance-reader
role the template creates. Ground truth (what each node has installed) must agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.iam.models import iam_backends

from awssim.identity import trust_allows
from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.package import build_package
from distributor_rollout.resources import iam_policy, template

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = template().read_text()
SOURCE = REPO / "include" / "packages" / "examplepackage"
POLICY = iam_policy("package-bucket-policy.json").read_text()
ADMIN = "222222222222"
PACKAGE = "ExamplePackage"
FOLDER = "examplepackage"
READER = "DistributorRolloutComplianceReader"
STACK_SET = "distributor-examplepackage"
CHUNK = 4096
SUSPENDED = "300666666667"


def _bucket(region: str) -> str:
    return f"s3-examplepackage-{ADMIN}-{region}"


def _publish(aws: AwsClients, sim: Simulator, out: Path, version: str) -> str:
    """Build the example package and upload it to every Region's bucket; returns the manifest."""
    build_package(SOURCE, out, name=PACKAGE, version=version)
    for region in sim.org_spec.regions:
        s3 = aws.client("s3", region=region)
        bucket = _bucket(region)
        if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            extra: dict[str, Any] = (
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=bucket, **extra)
            policy = POLICY.replace("${BucketName}", bucket).replace(
                "${OrganizationId}", sim.org.org_id
            )
            s3.put_bucket_policy(Bucket=bucket, Policy=policy)
        for path in sorted(out.iterdir()):
            s3.put_object(
                Bucket=bucket, Key=f"{FOLDER}/{version}/{path.name}", Body=path.read_bytes()
            )
    manifest = json.loads((out / "manifest.json").read_text())
    return json.dumps(manifest, separators=(",", ":"))


def _parameters(manifest: str, version: str, **extra: str) -> list[dict[str, str]]:
    chunks = [manifest[i : i + CHUNK] for i in range(0, len(manifest), CHUNK)]
    chunks += [""] * (16 - len(chunks))
    values = {
        "PackageName": PACKAGE,
        "S3PackageBucket": _bucket("us-east-1"),
        "S3PackageBucketFolder": FOLDER,
        "Version": version,
        "AssociationName": f"{PACKAGE}-PackageDistributor",
        "TargetResourceTagKey": "Distributor",
        "TargetResourceTagValue": "enabled",
        "ComplianceSeverity": "HIGH",
        "ComplianceReaderRoleName": READER,
        "ComplianceReaderTrustedAccountId": ADMIN,
        # The caller every test acts as (moto names it arn:aws:sts::<account>:user/moto).
        "ComplianceReaderTrustedPrincipals": f"arn:aws:iam::{ADMIN}:user/moto",
        "ComplianceReaderHomeRegion": "us-east-1",
        "ManifestContent": chunks[0],
        **{f"ManifestContentPart{n:02d}": chunks[n - 1] for n in range(2, 17)},
        **extra,
    }
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def _wait(aws: AwsClients, sim: Simulator, operation_id: str) -> dict[str, Any]:
    sim.settle(horizon=1800)
    cfn = aws.client("cloudformation")
    return cfn.describe_stack_set_operation(
        StackSetName=STACK_SET, OperationId=operation_id, CallAs="DELEGATED_ADMIN"
    )["StackSetOperation"]


def _deploy(aws: AwsClients, sim: Simulator, ous: list[str], regions: list[str]) -> None:
    cfn = aws.client("cloudformation")
    ou_ids = [sim.org.ou_ids_by_path[path] for path in ous]
    for region in regions:
        operation = cfn.create_stack_instances(
            StackSetName=STACK_SET,
            DeploymentTargets={"OrganizationalUnitIds": ou_ids},
            Regions=[region],
            ParameterOverrides=[
                {"ParameterKey": "S3PackageBucket", "ParameterValue": _bucket(region)}
            ],
            OperationPreferences={"MaxConcurrentPercentage": 100, "FailureToleranceCount": 0},
            CallAs="DELEGATED_ADMIN",
        )
        assert _wait(aws, sim, operation["OperationId"])["Status"] == "SUCCEEDED"


@pytest.fixture
def deployed(aws: AwsClients, sim: Simulator, tmp_path: Path) -> str:
    """Version 1.0.2 deployed to /Sandbox and /NonProd in two Regions."""
    manifest = _publish(aws, sim, tmp_path / "1.0.2", "1.0.2")
    aws.client("cloudformation").create_stack_set(
        StackSetName=STACK_SET,
        TemplateBody=TEMPLATE,
        Parameters=_parameters(manifest, "1.0.2"),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": False},
        CallAs="DELEGATED_ADMIN",
    )
    _deploy(aws, sim, ["/Sandbox", "/NonProd"], ["us-east-1", "us-west-2"])
    sim.settle(horizon=1800)
    return manifest


def _targeted(sim: Simulator, ous: list[str], regions: list[str]) -> list[Any]:
    accounts = {a for path in ous for a in sim.org.accounts_under(sim.org.ou_ids_by_path[path])}
    return [
        node
        for node in sim.fleet
        if node.account_id in accounts
        and node.account_id != SUSPENDED
        and node.region in regions
        and node.tags.get("Distributor") == "enabled"
    ]


def test_stack_set_installs_on_exactly_the_tagged_nodes_of_the_targets(
    deployed: str, sim: Simulator
) -> None:
    targeted = _targeted(sim, ["/Sandbox", "/NonProd"], ["us-east-1", "us-west-2"])
    assert targeted
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in targeted)
    untouched = [node for node in sim.fleet if node not in targeted]
    assert all(node.installed == {} for node in untouched)


def test_suspended_account_is_skipped(deployed: str, aws: AwsClients) -> None:
    instances = aws.client("cloudformation").list_stack_instances(
        StackSetName=STACK_SET, CallAs="DELEGATED_ADMIN", StackInstanceAccount=SUSPENDED
    )["Summaries"]
    assert {i["StackInstanceStatus"]["DetailedStatus"] for i in instances} == {
        "SKIPPED_SUSPENDED_ACCOUNT"
    }


def test_compliance_is_readable_through_the_reader_role(
    deployed: str, aws: AwsClients, sim: Simulator
) -> None:
    member = "300222222223"
    role = f"arn:aws:iam::{member}:role/{READER}"
    for region in ("us-east-1", "us-west-2"):
        ssm = aws.assumed_client("ssm", role, region=region)
        (association,) = ssm.list_associations(
            AssociationFilterList=[
                {"key": "AssociationName", "value": f"{PACKAGE}-PackageDistributor"}
            ]
        )["Associations"]
        described = ssm.describe_association(AssociationId=association["AssociationId"])[
            "AssociationDescription"
        ]
        nodes = [
            n for n in sim.fleet.nodes(member, region) if n.tags.get("Distributor") == "enabled"
        ]
        assert described["Overview"]["Status"] == "Success"
        assert described["Overview"]["AssociationStatusAggregatedCount"] == {"Success": len(nodes)}
        summary = ssm.list_compliance_summaries(
            Filters=[{"Key": "ComplianceType", "Values": ["Association"], "Type": "EQUAL"}]
        )["ComplianceSummaryItems"]
        assert summary[0]["CompliantSummary"]["CompliantCount"] == len(nodes)


def test_the_reader_role_trusts_only_the_runner(deployed: str) -> None:
    member = "300222222223"
    role = next(r for r in iam_backends[member]["global"].roles.values() if r.name == READER)
    document = role.assume_role_policy_document
    (statement,) = json.loads(document)["Statement"]
    assert statement["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": [f"arn:aws:iam::{ADMIN}:user/moto"]}
    }
    assert trust_allows(document, ADMIN, f"arn:aws:sts::{ADMIN}:user/moto")
    # Another principal of the same administrator account may not read the fleet.
    other = f"arn:aws:sts::{ADMIN}:assumed-role/SomeoneElse/session"
    assert not trust_allows(document, ADMIN, other)


def test_staged_update_then_rollback_by_association_version(
    deployed: str, aws: AwsClients, sim: Simulator, tmp_path: Path
) -> None:
    manifest = _publish(aws, sim, tmp_path / "1.1.0", "1.1.0")
    cfn = aws.client("cloudformation")
    sandbox = sim.org.ou_ids_by_path["/Sandbox"]
    operation = cfn.update_stack_set(
        StackSetName=STACK_SET,
        TemplateBody=TEMPLATE,
        Parameters=_parameters(manifest, "1.1.0"),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        DeploymentTargets={"OrganizationalUnitIds": [sandbox]},
        Regions=["us-east-1"],
        CallAs="DELEGATED_ADMIN",
    )
    assert _wait(aws, sim, operation["OperationId"])["Status"] == "SUCCEEDED"
    sim.settle(horizon=1800)
    canary = _targeted(sim, ["/Sandbox"], ["us-east-1"])
    rest = [
        n
        for n in _targeted(sim, ["/Sandbox", "/NonProd"], ["us-east-1", "us-west-2"])
        if n not in canary
    ]
    assert all(node.installed == {PACKAGE: "1.1.0"} for node in canary)
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in rest)
    statuses = {
        (i["Account"], i["Region"]): i["Status"]
        for i in cfn.list_stack_instances(StackSetName=STACK_SET, CallAs="DELEGATED_ADMIN")[
            "Summaries"
        ]
    }
    assert {s for (a, r), s in statuses.items() if r == "us-west-2"} == {"OUTDATED"}

    rollback = cfn.update_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={"OrganizationalUnitIds": [sandbox]},
        Regions=["us-east-1"],
        ParameterOverrides=[
            {"ParameterKey": "S3PackageBucket", "ParameterValue": _bucket("us-east-1")},
            {"ParameterKey": "AssociationVersion", "ParameterValue": "1.0.2"},
        ],
        CallAs="DELEGATED_ADMIN",
    )
    assert _wait(aws, sim, rollback["OperationId"])["Status"] == "SUCCEEDED"
    sim.settle(horizon=1800)
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in canary)
