"""Distributor packages that exist before any rollout: AWS's, and documents shared by ARN.

Every answer is checked in botocore's shapes (boto3 parses only modeled members, so a
member awssim put in the wrong place would be missing here).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from awssim.catalog import VENDOR_ACCOUNT, VENDOR_PACKAGE, vendor_document_arn
from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

MEMBER = "300000000001"  # /Sandbox
OTHER = "300222222223"  # /NonProd
OUTSIDER = "123456789012"  # in no organization
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
MANIFEST = json.dumps(
    {
        "schemaVersion": "2.0",
        "version": "1.0.0",
        "packages": {"amazon": {"_any": {"x86_64": {"file": "own.zip"}}}},
        "files": {"own.zip": {"checksums": {"sha256": "0" * 64}}},
    }
)


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return dict(raised.value.response["Error"])


def _own_package(aws: AwsClients, name: str = "SharedPackage", region: str = "us-east-1") -> Any:
    ssm = aws.client("ssm", account=MEMBER, region=region)
    ssm.create_document(
        Name=name,
        Content=MANIFEST,
        DocumentType="Package",
        VersionName="1.0.0",
        Attachments=[{"Key": "SourceUrl", "Values": ["https://b.s3.amazonaws.com/own/1.0.0"]}],
    )
    return ssm


@pytest.mark.parametrize(("account", "region"), [(MEMBER, "us-east-1"), (OUTSIDER, "ap-east-1")])
def test_aws_packages_are_described_from_any_account_and_region(
    aws: AwsClients, account: str, region: str
) -> None:
    ssm = aws.client("ssm", account=account, region=region)
    document = ssm.describe_document(Name="AmazonCloudWatchAgent")["Document"]
    assert {key: document[key] for key in ("Name", "Owner", "DocumentType", "Status")} == {
        "Name": "AmazonCloudWatchAgent",
        "Owner": "Amazon",
        "DocumentType": "Package",
        "Status": "Active",
    }
    assert (document["VersionName"], document["DocumentVersion"]) == ("1.300032.2", "2")
    assert (document["DefaultVersion"], document["LatestVersion"]) == ("2", "2")
    assert document["PlatformTypes"] == ["Linux", "Windows"]
    assert {item["Name"] for item in document["AttachmentsInformation"]} == {
        "AmazonCloudWatchAgent-linux-x86_64.zip",
        "AmazonCloudWatchAgent-linux-arm64.zip",
        "AmazonCloudWatchAgent-windows-x86_64.zip",
    }
    assert "Tags" not in document

    older = ssm.describe_document(Name="AmazonCloudWatchAgent", VersionName="1.300031.1")
    assert older["Document"]["DocumentVersion"] == "1"
    by_number = ssm.describe_document(Name="AmazonCloudWatchAgent", DocumentVersion="1")
    assert by_number["Document"]["VersionName"] == "1.300031.1"
    for version in ("$DEFAULT", "$LATEST"):
        chosen = ssm.describe_document(Name="AWSEFSTools", DocumentVersion=version)["Document"]
        assert (chosen["VersionName"], chosen["PlatformTypes"]) == ("2.2.0", ["Linux"])


def test_a_missing_document_or_version_is_the_modeled_error(aws: AwsClients) -> None:
    ssm = aws.client("ssm", account=MEMBER)
    assert _error(ssm.describe_document, Name="NoSuchPackage") == {
        "Code": "InvalidDocument",
        "Message": "The specified document does not exist.",
    }
    for missing in ({"VersionName": "9.9.9"}, {"DocumentVersion": "7"}):
        assert _error(ssm.describe_document, Name="AmazonCloudWatchAgent", **missing) == {
            "Code": "InvalidDocumentVersion",
            "Message": "The document version is not valid or does not exist.",
        }
        assert _error(ssm.get_document, Name="AWSEFSTools", **missing)["Code"] == (
            "InvalidDocumentVersion"
        )
    assert _error(ssm.list_document_versions, Name="NoSuchPackage")["Code"] == "InvalidDocument"


def test_get_document_gives_the_manifest_and_where_each_file_is(
    aws: AwsClients, sim: Simulator
) -> None:
    ssm = aws.client("ssm", account=OTHER, region="eu-west-1")
    got = ssm.get_document(Name="AmazonCloudWatchAgent", VersionName="1.300031.1")
    manifest = json.loads(got["Content"])
    assert (got["Name"], got["DocumentVersion"], got["DocumentType"], got["DocumentFormat"]) == (
        "AmazonCloudWatchAgent",
        "1",
        "Package",
        "JSON",
    )
    assert manifest["version"] == "1.300031.1"
    assert manifest["packages"]["windows"]["_any"]["x86_64"] == {
        "file": "AmazonCloudWatchAgent-windows-x86_64.zip"
    }
    assert manifest["packages"]["ubuntu"]["_any"]["arm64"] == {
        "file": "AmazonCloudWatchAgent-linux-arm64.zip"
    }
    contents = {item["Name"]: item for item in got["AttachmentsContent"]}
    assert set(contents) == set(manifest["files"])
    s3 = aws.client("s3", account=OTHER)
    for name, item in contents.items():
        assert item["HashType"] == "Sha256"
        assert item["Hash"] == manifest["files"][name]["checksums"]["sha256"]
        bucket, key = item["Url"].removeprefix("https://").split(".s3.us-east-1.amazonaws.com/")
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(data).hexdigest() == item["Hash"], "the file AWS would serve"


def test_list_document_versions_pages_newest_first(aws: AwsClients) -> None:
    ssm = aws.client("ssm", account=MEMBER, region="us-west-2")
    first = ssm.list_document_versions(Name="AmazonCloudWatchAgent", MaxResults=1)
    assert [
        (v["DocumentVersion"], v["VersionName"], v["IsDefaultVersion"])
        for v in first["DocumentVersions"]
    ] == [("2", "1.300032.2", True)]
    rest = ssm.list_document_versions(
        Name="AmazonCloudWatchAgent", MaxResults=1, NextToken=first["NextToken"]
    )
    assert [(v["VersionName"], v["IsDefaultVersion"]) for v in rest["DocumentVersions"]] == [
        ("1.300031.1", False)
    ]
    assert "NextToken" not in rest
    assert {v["DocumentFormat"] for v in rest["DocumentVersions"]} == {"JSON"}
    with pytest.raises(ClientError, match="maxResults"):
        ssm.list_document_versions(Name="AWSEFSTools", MaxResults=51)


def test_aws_packages_are_not_the_accounts_own_documents(aws: AwsClients) -> None:
    ssm = aws.client("ssm", account=MEMBER)
    _own_package(aws, "MyPackage")
    own = ssm.list_documents(Filters=[{"Key": "Owner", "Values": ["Self"]}])
    assert [item["Name"] for item in own["DocumentIdentifiers"]] == ["MyPackage"]
    # Its permissions, sharing and deletion are AWS's business, not the account's.
    for call, arguments in (
        (ssm.describe_document_permission, {"PermissionType": "Share"}),
        (ssm.delete_document, {}),
        (ssm.modify_document_permission, {"PermissionType": "Share", "AccountIdsToAdd": [OTHER]}),
    ):
        assert _error(call, Name="AmazonCloudWatchAgent", **arguments)["Code"] == (
            "InvalidDocument"
        )


@pytest.mark.parametrize(
    "name", ["AmazonCloudWatchAgent", "AWSEFSTools", "aws-mine", "amazonish", "AMZN-tools"]
)
def test_names_aws_reserves_cannot_be_created(aws: AwsClients, name: str) -> None:
    ssm = aws.client("ssm", account=MEMBER)
    assert _error(ssm.create_document, Name=name, Content=MANIFEST, DocumentType="Package") == {
        "Code": "ValidationException",
        "Message": f"Invalid document name {name}",
    }


def test_cloudformation_cannot_create_a_reserved_name_either(aws: AwsClients) -> None:
    cfn = aws.client("cloudformation", account=MEMBER)
    template = {
        "Resources": {
            "Package": {
                "Type": "AWS::SSM::Document",
                "Properties": {
                    "Name": "AmazonCloudWatchAgent",
                    "DocumentType": "Package",
                    "Content": json.loads(MANIFEST),
                },
            }
        }
    }
    with pytest.raises(ClientError, match="Invalid document name AmazonCloudWatchAgent"):
        cfn.create_stack(StackName="reserved", TemplateBody=json.dumps(template))


def test_a_document_shared_with_an_account_is_read_by_arn_in_its_region_only(
    aws: AwsClients,
) -> None:
    owner = _own_package(aws)
    arn = f"arn:aws:ssm:us-east-1:{MEMBER}:document/SharedPackage"
    reader = aws.client("ssm", account=OTHER)
    assert _error(reader.describe_document, Name=arn)["Code"] == "InvalidDocument"

    owner.modify_document_permission(
        Name="SharedPackage", PermissionType="Share", AccountIdsToAdd=[OTHER]
    )
    described = reader.describe_document(Name=arn)["Document"]
    assert (described["Name"], described["Owner"], described["VersionName"]) == (
        "SharedPackage",
        MEMBER,
        "1.0.0",
    )
    assert json.loads(reader.get_document(Name=arn)["Content"])["version"] == "1.0.0"
    assert [v["VersionName"] for v in reader.list_document_versions(Name=arn)["DocumentVersions"]]
    assert owner.describe_document(Name=arn)["Document"]["Owner"] == MEMBER, "its own ARN"

    elsewhere = aws.client("ssm", account=OTHER, region="eu-west-1")
    assert _error(elsewhere.describe_document, Name=arn)["Code"] == "InvalidDocument"
    in_arn_only = arn.replace("us-east-1", "eu-west-1")
    assert _error(elsewhere.describe_document, Name=in_arn_only)["Code"] == "InvalidDocument"
    assert _error(reader.describe_document, Name="SharedPackage")["Code"] == "InvalidDocument"
    not_shared = aws.client("ssm", account="300333333334")
    assert _error(not_shared.describe_document, Name=arn)["Code"] == "InvalidDocument"

    permission = owner.describe_document_permission(Name="SharedPackage", PermissionType="Share")
    assert permission["AccountIds"] == [OTHER]
    assert permission["AccountSharingInfoList"] == [
        {"AccountId": OTHER, "SharedDocumentVersion": "$DEFAULT"}
    ]

    owner.modify_document_permission(
        Name="SharedPackage", PermissionType="Share", AccountIdsToRemove=[OTHER]
    )
    assert _error(reader.describe_document, Name=arn)["Code"] == "InvalidDocument"


def test_a_document_shared_with_all_is_read_by_any_account(aws: AwsClients) -> None:
    owner = _own_package(aws)
    owner.modify_document_permission(
        Name="SharedPackage", PermissionType="Share", AccountIdsToAdd=["All"]
    )
    arn = f"arn:aws:ssm:us-east-1:{MEMBER}:document/SharedPackage"
    for account in (OTHER, OUTSIDER):
        reader = aws.client("ssm", account=account)
        assert reader.describe_document(Name=arn)["Document"]["Owner"] == MEMBER
    permission = owner.describe_document_permission(Name="SharedPackage", PermissionType="Share")
    assert permission["AccountIds"] == ["all"]
    with pytest.raises(ClientError, match="DocumentPermissionLimit"):
        owner.modify_document_permission(
            Name="SharedPackage", PermissionType="Share", AccountIdsToAdd=["ALL", OTHER]
        )
    owner.modify_document_permission(
        Name="SharedPackage", PermissionType="Share", AccountIdsToRemove=["All"]
    )
    assert _error(aws.client("ssm", account=OTHER).describe_document, Name=arn)["Code"] == (
        "InvalidDocument"
    )


@pytest.mark.parametrize("org", ["demo", "field"])
def test_the_vendor_package_is_shared_with_every_account_in_every_region(
    aws: AwsClients, sim: Simulator, org: str
) -> None:
    sim.load(org, None, speed=1.0, seed=0)
    accounts = sorted(sim.org.account_ids())
    for region in sim.org_spec.regions:
        for account in (accounts[0], accounts[-1], sim.org_spec.delegated_admin):
            ssm = aws.client("ssm", account=account, region=region)
            document = ssm.describe_document(Name=vendor_document_arn(region))["Document"]
            assert (document["Name"], document["Owner"]) == (VENDOR_PACKAGE, VENDOR_ACCOUNT)
            assert document["VersionName"] == "3.2.0"
    outsider = aws.client("ssm", account=OUTSIDER, region=sim.org_spec.regions[0])
    denied = _error(outsider.describe_document, Name=vendor_document_arn(sim.org_spec.regions[0]))
    assert denied["Code"] == "InvalidDocument"
    vendor = aws.client("ssm", account=VENDOR_ACCOUNT, region=sim.org_spec.regions[-1])
    shared = vendor.describe_document_permission(Name=VENDOR_PACKAGE, PermissionType="Share")
    assert sorted(shared["AccountIds"]) == accounts
