"""Publish and Prepare decisions that need no AWS: what to upload, which Regions, requests.

The hook's translation of S3 answers awssim cannot produce (403 for another account's
bucket) is checked against botocore's Stubber, with no network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from distributor_rollout.core.artifacts import s3_object_url, template_key
from distributor_rollout.core.params import apply_params
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan, validate_plan
from distributor_rollout.core.publish import (
    PackageObject,
    compare_published,
    package_objects,
    publish_regions,
)
from distributor_rollout.core.release import CREATED_BY_TAG, run_tag_value
from distributor_rollout.core.stack_set_creation import create_request
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.package_bucket import (
    BUCKET_POLICY_PATH,
    PackageBucketHook,
    StoredObject,
    render_bucket_policy,
)

PREFIX = "pkg/1.0.0/"
BUILD = {
    "package": "Pkg",
    "version": "1.0.0",
    "manifest_sha256": "m" * 64,
    "files": [{"name": "a.zip", "sha256": "a" * 64, "size": 1}],
}


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    """The shipped example plan."""
    return load_plan(example_plan_path)


def test_package_objects_end_with_the_manifest() -> None:
    objects = package_objects(BUILD)
    assert [o.name for o in objects] == ["a.zip", "manifest.json"]
    assert [o.content_type for o in objects] == ["application/zip", "application/json"]


def test_compare_uploads_what_is_missing_and_skips_what_matches() -> None:
    objects = package_objects(BUILD)
    stored = [StoredObject(PREFIX + "a.zip", "a" * 64)]
    upload, skipped, conflicts = compare_published(PREFIX, objects, stored)
    assert (upload, skipped, conflicts) == ([PackageObject("manifest.json", "m" * 64)], 1, [])


@pytest.mark.parametrize(
    "stored",
    [
        StoredObject(PREFIX + "a.zip", "b" * 64),  # other bytes
        StoredObject(PREFIX + "a.zip", None),  # bytes nobody recorded
        StoredObject(PREFIX + "old.zip", "c" * 64),  # not part of this build
    ],
    ids=["other-bytes", "no-sha256", "foreign-key"],
)
def test_compare_reports_every_object_the_build_does_not_account_for(
    stored: StoredObject,
) -> None:
    _, _, conflicts = compare_published(PREFIX, package_objects(BUILD), [stored])
    assert conflicts == [stored.key]


def test_publish_regions_follow_the_waves_run(plan: Plan) -> None:
    assert publish_regions(apply_params(plan, {})) == ("us-east-1", "us-west-2", "eu-west-1")
    canary = apply_params(plan, {"waves": ["canary"]})
    assert publish_regions(canary) == ("us-east-1",)


def test_bucket_policy_is_rendered_for_the_bucket_organization_and_partition() -> None:
    text = render_bucket_policy(
        BUCKET_POLICY_PATH.read_text(),
        bucket="b-1",
        organization_id="o-abc123def4",
        partition="aws-cn",
    )
    policy = json.loads(text)
    assert policy["Statement"][0]["Resource"] == "arn:aws-cn:s3:::b-1/*"
    assert policy["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == (
        "o-abc123def4"
    )
    assert "${" not in text


def test_template_urls_and_keys() -> None:
    assert template_key("ss", "x") == (
        "templates/ss/2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881.yaml"
    )
    assert s3_object_url("b", "eu-west-1", "k/t.yaml") == (
        "https://b.s3.eu-west-1.amazonaws.com/k/t.yaml"
    )
    assert s3_object_url("b", "cn-north-1", "k") == "https://b.s3.cn-north-1.amazonaws.com.cn/k"


def test_create_request_carries_the_plans_stack_set_settings(plan: Plan) -> None:
    request = create_request(
        plan, "https://b.s3.us-east-1.amazonaws.com/t", {"Version": "1"}, "manual__1"
    )
    assert request == {
        "TemplateURL": "https://b.s3.us-east-1.amazonaws.com/t",
        "Parameters": [{"ParameterKey": "Version", "ParameterValue": "1"}],
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "PermissionModel": "SERVICE_MANAGED",
        "AutoDeployment": {"Enabled": False},
        "ManagedExecution": {"Active": False},
        "Tags": [
            {"Key": "owner", "Value": "platform-team"},
            {"Key": CREATED_BY_TAG, "Value": run_tag_value("manual__1")},
        ],
        "Description": "ExamplePackage through Distributor and State Manager",
    }
    data = plan.model_dump(mode="json")
    data["stack_set"].update(
        description="",
        managed_execution=True,
        auto_deployment={"enabled": True, "retain_stacks_on_account_removal": True},
    )
    changed = create_request(validate_plan(data), "u", {}, "manual__1")
    assert changed["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": True}
    assert changed["ManagedExecution"] == {"Active": True}
    assert "Description" not in changed


def _stubbed_hook() -> tuple[PackageBucketHook, Stubber]:
    client = boto3.client(
        "s3", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    hook = PackageBucketHook(aws_conn_id=None, region_name="eu-west-1")
    hook.__dict__["conn"] = client  # the hook's cached client, replaced by the stubbed one
    return hook, Stubber(client)


@pytest.mark.parametrize(
    ("status", "state"), [(403, "not_yours"), (404, "missing")], ids=["403", "404"]
)
def test_head_bucket_tells_missing_from_not_yours(status: int, state: str) -> None:
    hook, stubber = _stubbed_hook()
    expected: dict[str, Any] = {"Bucket": "b-1", "ExpectedBucketOwner": "222222222222"}
    stubber.add_client_error(
        "head_bucket", str(status), http_status_code=status, expected_params=expected
    )
    with stubber:
        assert hook.head_bucket("b-1", owner="222222222222").state == state


def test_create_bucket_taken_by_another_account_is_a_configuration_error() -> None:
    hook, stubber = _stubbed_hook()
    stubber.add_client_error("create_bucket", "BucketAlreadyExists", http_status_code=409)
    with stubber, pytest.raises(ConfigurationError, match=r"b-1 \(Region eu-west-1\)"):
        hook.create_bucket("b-1")
