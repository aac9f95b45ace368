"""PackageBucketHook's emptying and deleting of a versioned bucket, against awssim.

What a retire's delete_buckets task does to a package or artifacts bucket: list every
object version and delete marker (over several pages), delete them for good 1,000 per
``DeleteObjects`` call, report the versions S3 refused, then delete the bucket. Every call
names the bucket's expected owner. The versions the test wrote, and awssim's buckets, are
the ground truth.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.hooks.errors import AwsRolloutError
from distributor_rollout.hooks.package_bucket import DELETE_BATCH, PackageBucketHook

REGION = "eu-west-1"
BUCKET = "retire-test-package-bucket"
OWNER_HEADER = "x-amz-expected-bucket-owner"


def requests(hook: PackageBucketHook) -> list[tuple[str, dict[str, Any]]]:
    """Every request the hook's client sends from now on: (operation, request dict)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(event_name: str, params: dict[str, Any], **_: Any) -> None:
        seen.append((event_name.rsplit(".", 1)[-1], params))

    hook.conn.meta.events.register("before-call.s3", record)
    return seen


def fill(aws: AwsClients, keys: int, overwritten: int, deleted: int) -> set[tuple[str, str]]:
    """Write ``keys`` objects, a second version of the first ``overwritten`` and a delete
    marker on the last ``deleted``; every (key, version id) S3 answered with."""
    s3 = aws.client("s3", region=REGION)
    written: set[tuple[str, str]] = set()
    for index in range(keys):
        key = f"examplepackage/1.0.{index % 3}/file-{index:04d}.zip"
        copies = 2 if index < overwritten else 1
        for copy in range(copies):
            answer = s3.put_object(Bucket=BUCKET, Key=key, Body=f"{index}/{copy}".encode())
            written.add((key, answer["VersionId"]))
        if index >= keys - deleted:
            written.add((key, s3.delete_object(Bucket=BUCKET, Key=key)["VersionId"]))
    return written


def bucket_exists(aws: AwsClients) -> bool:
    """Ground truth: whether awssim still has the bucket."""
    return BUCKET in {bucket["Name"] for bucket in aws.client("s3").list_buckets()["Buckets"]}


@pytest.fixture
def owner(sim: Simulator) -> str:
    """The delegated administrator: the account the retire's buckets belong to."""
    return sim.default_account


@pytest.fixture
def hook(aws_conn: str, owner: str) -> PackageBucketHook:
    """The hook in the bucket's Region, after it created the bucket (versioning on)."""
    hook = PackageBucketHook(aws_conn_id=aws_conn, region_name=REGION)
    hook.create_bucket(BUCKET)
    assert hook.head_bucket(BUCKET, owner=owner).state == "exists"
    return hook


def test_an_empty_bucket_has_no_versions(hook: PackageBucketHook, owner: str) -> None:
    assert hook.object_versions(BUCKET, owner=owner) == []


def test_every_version_is_listed_over_pages_deleted_1000_at_a_time_then_the_bucket(
    aws: AwsClients, hook: PackageBucketHook, owner: str
) -> None:
    written = fill(aws, keys=990, overwritten=15, deleted=5)
    assert len(written) > DELETE_BATCH  # more than one page, more than one batch
    sent = requests(hook)

    versions = hook.object_versions(BUCKET, owner=owner)

    assert len(versions) == len(written)
    assert {(item["Key"], item["VersionId"]) for item in versions} == written
    listed = [params for operation, params in sent if operation == "ListObjectVersions"]
    assert len(listed) == 2
    with pytest.raises(ClientError) as not_empty:
        hook.delete_bucket(BUCKET, owner=owner)
    assert not_empty.value.response["Error"]["Code"] == "BucketNotEmpty"

    hook.delete_versions(BUCKET, versions, owner=owner)

    batches = [params for operation, params in sent if operation == "DeleteObjects"]
    assert [body_objects(params) for params in batches] == [DELETE_BATCH, len(written) - 1000]
    assert hook.object_versions(BUCKET, owner=owner) == []
    assert hook.delete_bucket(BUCKET, owner=owner) is True
    assert not bucket_exists(aws)
    assert hook.head_bucket(BUCKET, owner=owner).state == "missing"
    assert hook.delete_bucket(BUCKET, owner=owner) is False
    on_the_bucket = [params for _, params in sent]
    assert {params["headers"].get(OWNER_HEADER) for params in on_the_bucket} == {owner}


def test_nothing_to_delete_makes_no_call(hook: PackageBucketHook, owner: str) -> None:
    sent = requests(hook)
    hook.delete_versions(BUCKET, [], owner=owner)
    assert sent == []


def test_versions_s3_refuses_are_reported_and_the_bucket_stays(
    aws: AwsClients, hook: PackageBucketHook, owner: str
) -> None:
    s3 = aws.client("s3", region=REGION)
    for key in ("keep/a.zip", "keep/b.zip", "plain.zip"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    hook.put_bucket_policy(BUCKET, json.dumps(refusing_deletes_under("keep/")))

    with pytest.raises(
        AwsRolloutError,
        match=rf"S3 refused to delete 2 object versions of {BUCKET}, e\.g\. keep/a\.zip .*"
        "AccessDenied",
    ):
        hook.delete_versions(BUCKET, hook.object_versions(BUCKET, owner=owner), owner=owner)

    left = {item["Key"] for item in hook.object_versions(BUCKET, owner=owner)}
    assert left == {"keep/a.zip", "keep/b.zip"}
    assert bucket_exists(aws)


def body_objects(params: dict[str, Any]) -> int:
    """How many versions one DeleteObjects request carries."""
    body = params["body"]
    text = body.decode() if isinstance(body, bytes) else str(body)
    return text.count("<Object>")


def refusing_deletes_under(prefix: str) -> dict[str, Any]:
    """A bucket policy denying everyone the deletion of the objects under ``prefix``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KeepThem",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": f"arn:aws:s3:::{BUCKET}/{prefix}*",
            }
        ],
    }
