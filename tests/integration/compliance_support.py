"""The example package installed by a State Manager association in member accounts, read
through a compliance-reader role: what the compliance gate tests poll (not a test module).

Each target gets what the stack set would create there, made directly with IAM, S3 and SSM
as the member account: the reader role (trusting the delegated administrator), a bucket
with the built package, the package document and the association.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from awssim.faults import CallDecision
from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.package import build_package
from distributor_rollout.core.targets import Target

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "include" / "packages" / "examplepackage"
ADMIN = "222222222222"
READER = "DistributorRolloutComplianceReader"
PACKAGE = "ExamplePackage"
ASSOCIATION = "ExamplePackage-PackageDistributor"
VERSION = "1.0.2"
SANDBOX = ["300000000001", "300111111112"]
NONPROD = ["300222222223", "300333333334", "300444444445", "300555555556"]
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "sts:AssumeRole"}],
    }
)


@functools.cache
def _built(version: str) -> tuple[str, tuple[tuple[str, bytes], ...]]:
    """The example package at ``version``: its compact manifest and its zips (built once)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        result = build_package(EXAMPLE, out, name=PACKAGE, version=version)
        files = tuple((item.name, (out / item.name).read_bytes()) for item in result.files)
        manifest = json.loads(result.manifest_path.read_text())
    return json.dumps(manifest, separators=(",", ":")), files


@functools.cache
def _client(endpoint_url: str, service: str, account: str, region: str) -> Any:
    session = boto3.Session(
        aws_access_key_id=account, aws_secret_access_key="awssim", region_name=region
    )
    return session.client(service, endpoint_url=endpoint_url)


def client(aws: AwsClients, service: str, account: str, region: str = "us-east-1") -> Any:
    """A boto3 client acting as ``account``, kept across tests (building one is slow)."""
    return _client(aws.endpoint_url, service, account, region)


def targets(accounts: Iterable[str], regions: Iterable[str]) -> list[Target]:
    """Every account × Region."""
    return [Target(account, region) for account in accounts for region in regions]


AGGREGATOR = "org-association-compliance"


def organization_aggregator(aws: AwsClients) -> str:
    """An organization-wide Config aggregator in the delegated administrator's account, in
    us-east-1 (the change feed's source); its name."""
    client(aws, "config", ADMIN).put_configuration_aggregator(
        ConfigurationAggregatorName=AGGREGATOR,
        OrganizationAggregationSource={
            "RoleArn": f"arn:aws:iam::{ADMIN}:role/ConfigAggregator",
            "AllAwsRegions": True,
        },
    )
    return AGGREGATOR


def reader_role(aws: AwsClients, account: str) -> None:
    """The compliance-reader role in ``account``, trusting the delegated administrator."""
    client(aws, "iam", account).create_role(RoleName=READER, AssumeRolePolicyDocument=TRUST)


def install(aws: AwsClients, target: Target, version: str = VERSION) -> str:
    """Publish the package in the target and associate it with the tagged nodes; the id."""
    account, region = target.account_id, target.region
    bucket = f"examplepackage-{account}-{region}"
    s3 = client(aws, "s3", account, region)
    extra = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=bucket, **extra)
    manifest, files = _built(version)
    for name, data in files:
        s3.put_object(Bucket=bucket, Key=f"examplepackage/{version}/{name}", Body=data)
    ssm = client(aws, "ssm", account, region)
    ssm.create_document(
        Name=PACKAGE,
        Content=manifest,
        DocumentType="Package",
        DocumentFormat="JSON",
        VersionName=version,
        Attachments=[
            {
                "Key": "SourceUrl",
                "Values": [f"https://{bucket}.s3.{region}.amazonaws.com/examplepackage/{version}"],
            }
        ],
    )
    created = ssm.create_association(
        Name="AWS-ConfigureAWSPackage",
        AssociationName=ASSOCIATION,
        Parameters={
            "action": ["Install"],
            "installationType": ["Uninstall and reinstall"],
            "name": [PACKAGE],
            "version": [version],
        },
        Targets=[{"Key": "tag:Distributor", "Values": ["enabled"]}],
        # Runs on creation; a day (144 s at 600x) keeps scheduled reruns out of every test.
        ScheduleExpression="rate(1 day)",
    )
    return str(created["AssociationDescription"]["AssociationId"])


def prepare(
    aws: AwsClients, wave: Iterable[Target], *, without_role: Iterable[str] = ()
) -> list[Target]:
    """Roles (except in ``without_role``) and installs for every target of a wave."""
    wave = list(wave)
    skipped = set(without_role)
    for account in sorted({target.account_id for target in wave} - skipped):
        reader_role(aws, account)
    for target in wave:
        install(aws, target)
    return wave


def tagged_nodes(sim: Simulator, wave: Iterable[Target]) -> list[Any]:
    """Ground truth: the nodes the association targets in a wave."""
    return [
        node
        for target in wave
        for node in sim.fleet.nodes(target.account_id, target.region)
        if node.tags.get("Distributor") == "enabled"
    ]


def count_calls(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every API call awssim serves from now on, by ``service.Operation`` (throttled ones
    included), counted where awssim decides each call's faults."""
    calls: Counter[str] = Counter()
    decide = sim.faults.for_call

    def counting(service: str, operation: str) -> CallDecision:
        calls[f"{service}.{operation}"] += 1
        return decide(service, operation)

    monkeypatch.setattr(sim.faults, "for_call", counting)
    return calls


def write_plan(tmp_path: Path, **gate: Any) -> str:
    """The example plan, its waves on the demo org, and a gate fast enough for tests
    (``gate`` replaces the defaults' gate settings)."""
    plan = yaml.safe_load((REPO / "include" / "rollouts" / "examplepackage.yaml").read_text())
    plan["package"]["source"] = str(EXAMPLE)
    plan["defaults"]["gate"] = {
        "threshold_percent": 95,
        "min_nodes": 1,
        "timeout": 10,
        "bake": 0,
        "poll_interval": 1,
        **gate,
    }
    plan["waves"] = [
        {"name": "canary", "ous": ["/Sandbox"], "regions": ["us-east-1", "us-west-2"]},
        {"name": "nonprod", "ous": ["/NonProd"], "regions": ["us-east-1"]},
        {"name": "prod", "ous": ["/Prod"], "regions": ["us-east-1", "eu-west-1"]},
    ]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return str(path)
