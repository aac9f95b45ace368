"""A package keeps at most 25 versions, as Distributor enforces."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from awssim.pytest_plugin import AwsClients

MANIFEST = json.dumps(
    {
        "schemaVersion": "2.0",
        "version": "v1",
        "packages": {"amazon": {"_any": {"x86_64": {"file": "a.zip"}}}},
        "files": {"a.zip": {"checksums": {"sha256": "0" * 64}}},
    }
)


def test_the_26th_package_version_is_refused_until_one_is_deleted(aws: AwsClients) -> None:
    ssm = aws.client("ssm", account="300000000001")
    attachments = [{"Key": "SourceUrl", "Values": ["https://b.s3.us-east-1.amazonaws.com/p"]}]
    ssm.create_document(
        Name="LimitedPackage",
        Content=MANIFEST,
        DocumentType="Package",
        DocumentFormat="JSON",
        VersionName="v1",
        Attachments=attachments,
    )
    for number in range(2, 26):
        ssm.update_document(
            Name="LimitedPackage",
            Content=MANIFEST.replace('"v1"', f'"v{number}"'),
            VersionName=f"v{number}",
            DocumentVersion="$LATEST",
            Attachments=attachments,
        )
    with pytest.raises(ClientError) as refused:
        ssm.update_document(
            Name="LimitedPackage",
            Content=MANIFEST.replace('"v1"', '"v26"'),
            VersionName="v26",
            DocumentVersion="$LATEST",
            Attachments=attachments,
        )
    assert refused.value.response["Error"]["Code"] == "DocumentVersionLimitExceeded"

    ssm.delete_document(Name="LimitedPackage", DocumentVersion="2")
    ssm.update_document(
        Name="LimitedPackage",
        Content=MANIFEST.replace('"v1"', '"v26"'),
        VersionName="v26",
        DocumentVersion="$LATEST",
        Attachments=attachments,
    )


def test_other_documents_are_not_limited_to_25_versions(aws: AwsClients) -> None:
    ssm = aws.client("ssm")
    content = json.dumps(
        {
            "schemaVersion": "2.2",
            "description": "d",
            "mainSteps": [
                {"action": "aws:runShellScript", "name": "s", "inputs": {"runCommand": ["true"]}}
            ],
        }
    )
    ssm.create_document(
        Name="Command", Content=content, DocumentType="Command", DocumentFormat="JSON"
    )
    for number in range(2, 28):
        ssm.update_document(
            Name="Command",
            Content=content.replace('"d"', f'"d{number}"'),
            DocumentVersion="$LATEST",
        )
