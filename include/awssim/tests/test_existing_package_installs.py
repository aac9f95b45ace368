"""The simulated agent installs packages that exist before any rollout: AWS's by name, and
documents shared by ARN; unpinned gets the default version, a missing pin fails the node."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from awssim.catalog import VENDOR_PACKAGE, vendor_document_arn
from awssim.fleet import Node
from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

MEMBER = "300000000001"  # /Sandbox
OWNER = "300222222223"  # /NonProd: shares a package of its own
REGION = "us-east-1"
TAGGED = [{"Key": "tag:Distributor", "Values": ["enabled"]}]
EVERY_NODE = [{"Key": "InstanceIds", "Values": ["*"]}]


def _associate(
    aws: AwsClients,
    name: str,
    version: str | None = "",
    *,
    account: str = MEMBER,
    region: str = REGION,
    action: str = "Install",
    targets: list[dict[str, Any]] | None = None,
) -> str:
    parameters = {"action": [action], "name": [name]}
    if version is not None:
        parameters["version"] = [version]
    ssm = aws.client("ssm", account=account, region=region)
    created = ssm.create_association(
        Name="AWS-ConfigureAWSPackage",
        Parameters=parameters,
        Targets=targets or TAGGED,
    )
    return str(created["AssociationDescription"]["AssociationId"])


def _tagged(sim: Simulator, account: str = MEMBER, region: str = REGION) -> list[Node]:
    return [
        node
        for node in sim.fleet.nodes(account, region)
        if node.tags.get("Distributor") == "enabled"
    ]


def _statuses(sim: Simulator, association_id: str) -> dict[str, tuple[str, str | None]]:
    truth = sim.state()["associations"][association_id]["target_status"]
    return {node: (status["status"], status["reason"]) for node, status in truth.items()}


@pytest.mark.parametrize(("version", "expected"), [("", "1.300032.2"), (None, "1.300032.2")])
def test_an_unpinned_aws_package_installs_its_default_version(
    sim: Simulator, aws: AwsClients, version: str | None, expected: str
) -> None:
    association = _associate(aws, "AmazonCloudWatchAgent", version)
    sim.advance(600)
    tagged = _tagged(sim)
    assert {node.platform for node in tagged} == {"amazon", "ubuntu", "windows"}
    assert {node.installed.get("AmazonCloudWatchAgent") for node in tagged} == {expected}
    assert {status for status, _reason in _statuses(sim, association).values()} == {"Success"}
    truth = {node["instance_id"]: node["installed"] for node in sim.state()["nodes"]}
    assert all(truth[node.instance_id] == {"AmazonCloudWatchAgent": expected} for node in tagged)


def test_a_pinned_aws_package_version_installs_and_a_missing_one_fails(
    sim: Simulator, aws: AwsClients
) -> None:
    _associate(aws, "AmazonCloudWatchAgent", "1.300031.1")
    sim.advance(600)
    assert {n.installed.get("AmazonCloudWatchAgent") for n in _tagged(sim)} == {"1.300031.1"}

    missing = _associate(aws, "AWSEFSTools", "9.9.9", account=OWNER)
    sim.advance(600)
    statuses = _statuses(sim, missing)
    assert set(statuses) == {node.instance_id for node in _tagged(sim, OWNER)}
    assert set(statuses.values()) == {
        (
            "Failed",
            "failed to download manifest - failed to retrieve package document: "
            "InvalidDocumentVersion: The document version is not valid or does not exist.",
        )
    }
    assert all("AWSEFSTools" not in node.installed for node in _tagged(sim, OWNER))
    overview = aws.client("ssm", account=OWNER).describe_association(AssociationId=missing)
    assert overview["AssociationDescription"]["Overview"]["Status"] == "Failed"


def test_a_linux_only_aws_package_fails_on_windows_nodes(sim: Simulator, aws: AwsClients) -> None:
    association = _associate(aws, "AWSEFSTools", "2.1.0")
    sim.advance(600)
    statuses = _statuses(sim, association)
    for node in _tagged(sim):
        status, reason = statuses[node.instance_id]
        if node.platform == "windows":
            assert status == "Failed"
            assert reason is not None
            assert reason.startswith("failed to find platform: no manifest found for platform:")
            assert "AWSEFSTools" not in node.installed
        else:
            assert (status, node.installed["AWSEFSTools"]) == ("Success", "2.1.0")


def test_the_vendor_package_installs_by_arn_under_its_document_name(
    sim: Simulator, aws: AwsClients
) -> None:
    region = "eu-west-1"
    arn = vendor_document_arn(region)
    association = _associate(aws, arn, "3.1.0", region=region)
    sim.advance(600)
    tagged = _tagged(sim, region=region)
    assert {node.installed.get(VENDOR_PACKAGE) for node in tagged} == {"3.1.0"}
    assert all(arn not in node.installed for node in tagged)

    aws.client("ssm", account=MEMBER, region=region).update_association(
        AssociationId=association,
        Parameters={"action": ["Install"], "name": [arn], "version": [""]},
    )
    sim.advance(600)
    assert {node.installed.get(VENDOR_PACKAGE) for node in tagged} == {"3.2.0"}, "the default"

    aws.client("ssm", account=MEMBER, region=region).update_association(
        AssociationId=association, Parameters={"action": ["Uninstall"], "name": [arn]}
    )
    sim.advance(600)
    assert all(VENDOR_PACKAGE not in node.installed for node in tagged)


def test_a_shared_arn_of_another_region_fails_the_node(sim: Simulator, aws: AwsClients) -> None:
    association = _associate(aws, vendor_document_arn("us-west-2"), "")
    sim.advance(600)
    statuses = _statuses(sim, association)
    assert set(statuses.values()) == {
        (
            "Failed",
            "failed to download manifest - failed to retrieve package document: "
            "InvalidDocument: The specified document does not exist.",
        )
    }


def test_a_package_an_account_shares_installs_from_its_own_bucket(
    sim: Simulator, aws: AwsClients
) -> None:
    """The owner's files are read as the owner (Distributor copies them at creation), so its
    bucket needs no policy for the accounts it shares the document with."""
    bucket = f"vendorish-{OWNER}"
    data = b"package bytes"
    digest = hashlib.sha256(data).hexdigest()
    aws.client("s3", account=OWNER).create_bucket(Bucket=bucket)
    aws.client("s3", account=OWNER).put_object(Bucket=bucket, Key="pkg/1.0.0/any.zip", Body=data)
    owner = aws.client("ssm", account=OWNER)
    manifest = {
        "schemaVersion": "2.0",
        "version": "1.0.0",
        "packages": {
            platform: {"_any": {"x86_64": {"file": "any.zip"}}}
            for platform in ("amazon", "ubuntu", "windows")
        },
        "files": {"any.zip": {"checksums": {"sha256": digest}}},
    }
    owner.create_document(
        Name="TeamAgent",
        Content=json.dumps(manifest),
        DocumentType="Package",
        VersionName="1.0.0",
        Attachments=[
            {
                "Key": "SourceUrl",
                "Values": [f"https://{bucket}.s3.{REGION}.amazonaws.com/pkg/1.0.0"],
            }
        ],
    )
    arn = f"arn:aws:ssm:{REGION}:{OWNER}:document/TeamAgent"
    unshared = _associate(aws, arn, "1.0.0")
    sim.advance(600)
    assert {status for status, _reason in _statuses(sim, unshared).values()} == {"Failed"}

    owner.modify_document_permission(
        Name="TeamAgent", PermissionType="Share", AccountIdsToAdd=[MEMBER]
    )
    aws.client("ssm", account=MEMBER).start_associations_once(AssociationIds=[unshared])
    sim.advance(600)
    assert {node.installed.get("TeamAgent") for node in _tagged(sim)} == {"1.0.0"}
    assert {status for status, _reason in _statuses(sim, unshared).values()} == {"Success"}
