"""Helpers for the State Manager tests: a real Distributor package published into awssim."""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from awssim.fleet import Node
from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.package import build_package
from distributor_rollout.resources import template

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "include" / "packages" / "examplepackage"
TEMPLATE = Path(str(template()))
PACKAGE = "ExamplePackage"
MEMBER = "300000000001"  # sandbox-1, in /Sandbox
NONPROD = "300222222223"  # nonprod-1, in /NonProd
REGION = "us-east-1"
BUCKET = "examplepackage-300000000001-us-east-1"
FOLDER = "examplepackage"
TAG_TARGETS = [{"Key": "tag:Distributor", "Values": ["enabled"]}]


@dataclass(frozen=True)
class Built:
    """One built package version: its compact manifest and its zips."""

    version: str
    manifest: str
    files: dict[str, bytes]


@functools.cache
def built(version: str) -> Built:
    """The example package built at ``version`` (once per test session)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        result = build_package(EXAMPLE, out, name=PACKAGE, version=version)
        files = {item.name: (out / item.name).read_bytes() for item in result.files}
        manifest = json.loads(result.manifest_path.read_text())
    return Built(version, json.dumps(manifest, separators=(",", ":")), files)


@functools.cache
def _cached_client(endpoint_url: str, service: str, account: str, region: str) -> Any:
    session = boto3.Session(
        aws_access_key_id=account, aws_secret_access_key="awssim", region_name=region
    )
    return session.client(service, endpoint_url=endpoint_url)


def client(aws: AwsClients, service: str, account: str = MEMBER, region: str = REGION) -> Any:
    """A boto3 client as ``account`` (reused across tests: building clients is slow)."""
    return _cached_client(aws.endpoint_url, service, account, region)


def source_url(version: str, bucket: str = BUCKET) -> str:
    """The attachment location of a version (virtual-hosted S3 URL of its folder)."""
    return f"https://{bucket}.s3.{REGION}.amazonaws.com/{FOLDER}/{version}"


def upload(
    aws: AwsClients,
    version: str,
    *,
    account: str = MEMBER,
    bucket: str = BUCKET,
    corrupt: bool = False,
) -> None:
    """Put a version's zips in ``bucket`` (created if needed) under ``FOLDER/version/``."""
    s3 = client(aws, "s3", account)
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    for name, data in built(version).files.items():
        body = data + b"tampered" if corrupt else data
        s3.put_object(Bucket=bucket, Key=f"{FOLDER}/{version}/{name}", Body=body)


def register(
    aws: AwsClients, version: str, *, account: str = MEMBER, bucket: str = BUCKET
) -> dict[str, Any]:
    """Create the package document, or add ``version`` to it as the new default version."""
    ssm = client(aws, "ssm", account)
    arguments = {
        "Content": built(version).manifest,
        "Name": PACKAGE,
        "VersionName": version,
        "Attachments": [{"Key": "SourceUrl", "Values": [source_url(version, bucket)]}],
        "DocumentFormat": "JSON",
    }
    try:
        ssm.describe_document(Name=PACKAGE)
    except ClientError:
        return dict(ssm.create_document(DocumentType="Package", **arguments)["DocumentDescription"])
    described = ssm.update_document(DocumentVersion="$LATEST", **arguments)["DocumentDescription"]
    ssm.update_document_default_version(Name=PACKAGE, DocumentVersion=described["DocumentVersion"])
    return dict(described)


def publish(aws: AwsClients, version: str, *, account: str = MEMBER, bucket: str = BUCKET) -> None:
    """Upload a version's zips to the account's bucket and register it."""
    upload(aws, version, account=account, bucket=bucket)
    register(aws, version, account=account, bucket=bucket)


def package_parameters(
    version: str = "", action: str = "Install", name: str = PACKAGE
) -> dict[str, list[str]]:
    """AWS-ConfigureAWSPackage parameters."""
    parameters = {
        "action": [action],
        "installationType": ["Uninstall and reinstall"],
        "name": [name],
    }
    if version:
        parameters["version"] = [version]
    return parameters


def create_package_association(ssm: Any, version: str = "1.0.0", **overrides: Any) -> str:
    """An association that installs the example package on the tagged nodes; its id.

    ``overrides`` replace the defaults; an override of None leaves the member out.
    """
    arguments: dict[str, Any] = {
        "Name": "AWS-ConfigureAWSPackage",
        "AssociationName": "ExamplePackage-Distributor",
        "Parameters": package_parameters(version),
        "Targets": TAG_TARGETS,
        "ScheduleExpression": "rate(30 minutes)",
        **overrides,
    }
    present = {key: value for key, value in arguments.items() if value is not None}
    return str(ssm.create_association(**present)["AssociationDescription"]["AssociationId"])


def nodes(
    sim: Simulator, account: str = MEMBER, region: str = REGION, *, tagged: bool | None = True
) -> list[Node]:
    """The account's nodes; tagged=True: Distributor=enabled only, False: the others, None: all."""
    every = sim.fleet.nodes(account, region)
    if tagged is None:
        return every
    return [node for node in every if (node.tags.get("Distributor") == "enabled") == tagged]


def installed_versions(targets: list[Node]) -> set[str | None]:
    """The example package versions installed on ``targets`` (None: not installed)."""
    return {node.installed.get(PACKAGE) for node in targets}


def overview(ssm: Any, association_id: str) -> dict[str, Any]:
    """DescribeAssociation's Overview."""
    return dict(
        ssm.describe_association(AssociationId=association_id)["AssociationDescription"]["Overview"]
    )


def executions(ssm: Any, association_id: str) -> list[dict[str, Any]]:
    """Every execution, newest first."""
    paginator = ssm.get_paginator("describe_association_executions")
    return [
        execution
        for page in paginator.paginate(AssociationId=association_id)
        for execution in page["AssociationExecutions"]
    ]


def execution_targets(
    ssm: Any, association_id: str, execution_id: str, **kwargs: Any
) -> list[dict[str, Any]]:
    """Every target of one execution."""
    paginator = ssm.get_paginator("describe_association_execution_targets")
    return [
        target
        for page in paginator.paginate(
            AssociationId=association_id, ExecutionId=execution_id, **kwargs
        )
        for target in page["AssociationExecutionTargets"]
    ]


def reasons(sim: Simulator, association_id: str) -> dict[str, str | None]:
    """Ground truth: the failure reason per targeted node (None when it did not fail)."""
    with sim.lock:
        truth = sim.statemanager.state()[association_id]["target_status"]
    return {instance_id: status["reason"] for instance_id, status in truth.items()}


def step_until(
    sim: Simulator, done: Callable[[], bool], *, step: float = 5.0, limit: float = 3600.0
) -> float:
    """Advance simulated time in steps until ``done()``; returns the seconds advanced."""
    waited = 0.0
    while not done():
        if waited >= limit:
            msg = f"still not done after {limit} simulated seconds"
            raise AssertionError(msg)
        sim.advance(step)
        waited += step
    return waited
