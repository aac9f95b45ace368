"""Build and Publish against awssim: buckets per Region, immutable versions, checks first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_support import make_context, run_task

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.package import MANIFEST_FILE
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.package_bucket import (
    BASELINE,
    BUCKET_POLICY_PATH,
    PackageBucketHook,
    render_bucket_policy,
)
from distributor_rollout.links.console import PackageLink
from distributor_rollout.operators.package import PublishPackageOperator
from distributor_rollout.operators.package_build import BuildMismatchError, BuildPackageOperator

ADMIN = "222222222222"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
PREFIX = "examplepackage/1.0.2/"


def bucket(region: str) -> str:
    """The example plan's package bucket in ``region``."""
    return f"s3-examplepackage-{ADMIN}-{region}"


def build(plan: Path, root: Path, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the Build task."""
    operator = BuildPackageOperator(
        task_id="build", plan_path=str(plan), run_params=params, build_root=str(root)
    )
    result: dict[str, Any] = run_task(operator)
    return result


def publish(
    plan: Path,
    built: dict[str, Any],
    root: Path,
    conn: str,
    *,
    params: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the Publish task."""
    operator = PublishPackageOperator(
        task_id="publish",
        plan_path=str(plan),
        run_params=params,
        build=built,
        build_root=str(root),
        aws_conn_id=conn,
    )
    result: dict[str, Any] = run_task(operator, context or make_context("publish"))
    return result


def plan_file(tmp_path: Path, example: Path, **package: Any) -> Path:
    """The example plan with ``package`` fields changed, written next to the tests' files."""
    data = yaml.safe_load(example.read_text())
    data["package"]["source"] = str((example.parent / data["package"]["source"]).resolve())
    data["package"].update(package)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def source_copy(tmp_path: Path, example: Path) -> Path:
    """A private copy of the example package source, to change."""
    data = yaml.safe_load(example.read_text())
    copy = tmp_path / "source"
    shutil.copytree((example.parent / data["package"]["source"]).resolve(), copy)
    return copy


def mutations(sim: Simulator) -> int:
    """How many mutating calls awssim has seen."""
    return len(sim.ledger.calls())


def test_build_is_deterministic_and_summarised(example_plan_path: Path, tmp_path: Path) -> None:
    stale = tmp_path / "a" / "ExamplePackage" / "1.0.2" / "ExamplePackage_gone.zip"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an older build of the same version")
    first = build(example_plan_path, tmp_path / "a")
    assert not stale.exists()
    second = build(example_plan_path, tmp_path / "b")
    assert first["package"] == "ExamplePackage"
    assert first["version"] == "1.0.2"
    assert first["out_dir"] == str(tmp_path / "a" / "ExamplePackage" / "1.0.2")
    assert {f["name"] for f in first["files"]} == {
        path.name for path in Path(first["out_dir"]).glob("*.zip")
    }
    assert {k: v for k, v in first.items() if k != "out_dir"} == {
        k: v for k, v in second.items() if k != "out_dir"
    }
    json.dumps(first)  # JSON-safe: it travels through XCom


def test_publish_uploads_every_region_with_policy_and_link(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    built = build(example_plan_path, tmp_path)
    context = make_context("publish")
    result = publish(example_plan_path, built, tmp_path, aws_conn, context=context)

    assert result == {
        "regions": {region: bucket(region) for region in REGIONS},
        "uploaded": 3 * (len(built["files"]) + 1),
        "skipped": 0,
    }
    expected = {f["name"]: f["sha256"] for f in built["files"]}
    expected[MANIFEST_FILE] = built["manifest_sha256"]
    for region in REGIONS:
        s3 = aws.client("s3", region=region)
        location = s3.get_bucket_location(Bucket=bucket(region))["LocationConstraint"]
        assert (location or "us-east-1") == region
        for name, sha256 in expected.items():
            head = s3.head_object(Bucket=bucket(region), Key=PREFIX + name)
            assert head["Metadata"]["sha256"] == sha256
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket(region))["Policy"])
        rendered = render_bucket_policy(
            BUCKET_POLICY_PATH.read_text(), bucket=bucket(region), organization_id=sim.org.org_id
        )
        assert policy == json.loads(rendered)
        org_read, tls_only = policy["Statement"]
        # Reads narrowed to the organization's StackSets execution roles: they create the
        # package documents, and Distributor copies the files to its own bucket then.
        assert org_read["Action"] == ["s3:GetObject"]
        assert org_read["Condition"] == {
            "StringEquals": {"aws:PrincipalOrgID": sim.org.org_id},
            "ArnLike": {
                "aws:PrincipalArn": [
                    "arn:aws:iam::*:role/stacksets-exec-*",
                    "arn:aws:iam::*:role/AWSCloudFormationStackSetExecutionRole",
                ]
            },
        }
        assert tls_only["Effect"] == "Deny"
        assert tls_only["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    # manifest.json goes last in each Region: once it is there, the zips are too.
    puts = [c for c in sim.ledger.calls(service="s3", operation="PutObject") if c.ok]
    for region in REGIONS:
        keys = [c.params["Key"] for c in puts if c.params["Bucket"] == bucket(region)]
        assert len(keys) == len(expected)
        assert keys[-1] == PREFIX + MANIFEST_FILE
    link = context["ti"].xcom[PackageLink.key]
    assert (link["region_name"], link["bucket"], link["prefix"]) == (
        "us-east-1",
        bucket("us-east-1"),
        "examplepackage/1.0.2",
    )


def test_publish_again_changes_nothing(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws_conn: str
) -> None:
    built = build(example_plan_path, tmp_path)
    first = publish(example_plan_path, built, tmp_path, aws_conn)
    before = mutations(sim)
    again = publish(example_plan_path, built, tmp_path, aws_conn)
    assert mutations(sim) == before
    assert again == {**first, "uploaded": 0, "skipped": first["uploaded"]}


def test_publish_rebuilds_on_a_worker_without_the_build(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    built = build(example_plan_path, tmp_path / "build-worker")
    fresh = tmp_path / "publish-worker"
    result = publish(example_plan_path, built, fresh, aws_conn)
    assert result["uploaded"] == 3 * (len(built["files"]) + 1)
    assert (fresh / "ExamplePackage" / "1.0.2" / MANIFEST_FILE).is_file()


def test_publish_refuses_a_rebuild_that_differs_from_the_build(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws_conn: str
) -> None:
    source = source_copy(tmp_path, example_plan_path)
    plan = plan_file(tmp_path, example_plan_path, source=str(source))
    built = build(plan, tmp_path / "build-worker")
    (source / "amazon" / "_any" / "x86_64" / "install.sh").write_text("echo changed\n")
    before = mutations(sim)
    with pytest.raises(BuildMismatchError, match="source changed"):
        publish(plan, built, tmp_path / "publish-worker", aws_conn)
    assert mutations(sim) == before


def test_publish_refuses_a_build_of_another_version(
    example_plan_path: Path, tmp_path: Path, aws_conn: str
) -> None:
    built = build(example_plan_path, tmp_path)
    with pytest.raises(BuildMismatchError, match=r"ExamplePackage 1\.0\.2.*1\.0\.3"):
        publish(example_plan_path, built, tmp_path, aws_conn, params={"version": "1.0.3"})


def test_changed_bytes_for_a_published_version_fail_before_any_mutation(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    source = source_copy(tmp_path, example_plan_path)
    plan = plan_file(tmp_path, example_plan_path, source=str(source))
    publish(plan, build(plan, tmp_path / "v1"), tmp_path / "v1", aws_conn)
    # Same version, other bytes; and one Region's bucket gone, so the run would create it.
    (source / "ubuntu" / "_any" / "x86_64" / "install.sh").write_text("echo changed\n")
    s3 = aws.client("s3", region="eu-west-1")
    # The bucket is versioned: emptying it means deleting every version.
    for item in s3.list_object_versions(Bucket=bucket("eu-west-1"))["Versions"]:
        s3.delete_object(Bucket=bucket("eu-west-1"), Key=item["Key"], VersionId=item["VersionId"])
    s3.delete_bucket(Bucket=bucket("eu-west-1"))
    changed = build(plan, tmp_path / "v1-changed")
    before = mutations(sim)
    with pytest.raises(ConfigurationError) as raised:
        publish(plan, changed, tmp_path / "v1-changed", aws_conn)
    message = str(raised.value)
    assert "version 1.0.2 is already published with different bytes" in message
    assert f"s3://{bucket('us-east-1')}/{PREFIX}{MANIFEST_FILE}" in message
    assert f"s3://{bucket('us-west-2')}/{PREFIX}ExamplePackage_ubuntu_any_x86_64.zip" in message
    assert mutations(sim) == before


def test_missing_bucket_without_create_buckets_fails_before_any_mutation(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    plan = plan_file(tmp_path, example_plan_path, create_buckets=False)
    # us-east-1 has its bucket; us-west-2 (checked next) has none.
    aws.client("s3").create_bucket(Bucket=bucket("us-east-1"))
    built = build(plan, tmp_path)
    before = mutations(sim)
    with pytest.raises(ConfigurationError) as raised:
        publish(plan, built, tmp_path, aws_conn)
    assert f"package bucket {bucket('us-west-2')} (Region us-west-2) does not exist" in str(
        raised.value
    )
    assert mutations(sim) == before


def test_bucket_in_another_region_is_refused(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    aws.client("s3").create_bucket(Bucket=bucket("eu-west-1"))  # in us-east-1
    built = build(example_plan_path, tmp_path)
    before = mutations(sim)
    with pytest.raises(ConfigurationError, match="is in Region us-east-1, not eu-west-1"):
        publish(example_plan_path, built, tmp_path, aws_conn)
    assert mutations(sim) == before


def test_publish_only_to_the_regions_of_the_waves_run(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    built = build(example_plan_path, tmp_path)
    waves = {"waves": ["canary", "nonprod"]}  # a manual run keeps the first wave
    result = publish(example_plan_path, built, tmp_path, aws_conn, params=waves)
    assert result["regions"] == {r: bucket(r) for r in ("us-east-1", "us-west-2")}
    names = {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}
    assert bucket("eu-west-1") not in names


def test_existing_bucket_without_a_policy_gets_one(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    """A bucket made before (by hand, or by a try that died before its policy) is readable
    by the organization afterwards; a bucket with its own policy keeps it."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket("us-east-1"))
    own = {"Version": "2012-10-17", "Statement": []}
    west = aws.client("s3", region="us-west-2")
    west.create_bucket(
        Bucket=bucket("us-west-2"), CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    west.put_bucket_policy(Bucket=bucket("us-west-2"), Policy=json.dumps(own))
    publish(example_plan_path, build(example_plan_path, tmp_path), tmp_path, aws_conn)
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket("us-east-1"))["Policy"])
    assert policy["Statement"][0]["Condition"]["StringEquals"] == {
        "aws:PrincipalOrgID": sim.org.org_id
    }
    assert json.loads(west.get_bucket_policy(Bucket=bucket("us-west-2"))["Policy"]) == own
    # Hand-made buckets are not reconfigured (the run reports what they lack); the bucket
    # the run created itself has the whole baseline.
    hardened = {
        call.params.get("Bucket")
        for call in sim.ledger.calls(service="s3", operation="PutPublicAccessBlock")
    }
    assert hardened == {bucket("eu-west-1")}
    hook = PackageBucketHook(aws_conn_id=aws_conn, region_name="us-east-1")
    assert hook.missing_baseline(bucket("us-east-1")) == list(BASELINE)
    assert hook.missing_baseline(bucket("eu-west-1")) == []


def test_a_wrong_region_name_fails_before_any_aws_call(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws_conn: str
) -> None:
    good = plan_file(tmp_path, example_plan_path)
    built = build(good, tmp_path)
    data = yaml.safe_load(good.read_text())
    data["waves"][1]["regions"] = ["us-east-1", "us-westt-2"]
    data["defaults"]["operation"]["region_order"] = ["us-east-1"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValidationError, match=r"waves\[1\]\.regions\[1\]: .*'us-westt-2'"):
        publish(bad, built, tmp_path, aws_conn)
    assert mutations(sim) == 0


def bucket_names(aws: AwsClients) -> set[str]:
    """Ground truth: every bucket of the delegated administrator."""
    return {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}


def test_a_dry_run_publishes_nothing_and_says_what_it_would(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    built = build(example_plan_path, tmp_path)
    context = make_context("publish")

    dry = publish(
        example_plan_path, built, tmp_path, aws_conn, params={"dry_run": True}, context=context
    )

    assert mutations(sim) == 0
    assert not {bucket(region) for region in REGIONS} & bucket_names(aws)
    assert dry == {
        "regions": {region: bucket(region) for region in REGIONS},
        "uploaded": 3 * (len(built["files"]) + 1),
        "skipped": 0,
        "dry_run": True,
    }
    assert PackageLink.key not in context["ti"].xcom  # nothing to link to yet

    # Once published, a dry run finds every object there.
    real = publish(example_plan_path, built, tmp_path, aws_conn)
    before = mutations(sim)
    again = publish(example_plan_path, built, tmp_path, aws_conn, params={"dry_run": True})
    assert mutations(sim) == before
    assert again == {**real, "uploaded": 0, "skipped": real["uploaded"], "dry_run": True}


def test_a_dry_run_still_refuses_changed_bytes_for_a_published_version(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws_conn: str
) -> None:
    source = source_copy(tmp_path, example_plan_path)
    plan = plan_file(tmp_path, example_plan_path, source=str(source))
    publish(plan, build(plan, tmp_path / "v1"), tmp_path / "v1", aws_conn)
    (source / "ubuntu" / "_any" / "x86_64" / "install.sh").write_text("echo changed\n")
    changed = build(plan, tmp_path / "v1-changed")
    before = mutations(sim)
    with pytest.raises(ConfigurationError, match="already published with different bytes"):
        publish(plan, changed, tmp_path / "v1-changed", aws_conn, params={"dry_run": True})
    assert mutations(sim) == before


def test_creating_a_bucket_already_ours_is_success_and_completes_its_baseline(
    sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    """A retried create (the first try died after CreateBucket) finishes the bucket's setup."""
    west = aws.client("s3", region="eu-west-1")
    west.create_bucket(
        Bucket=bucket("eu-west-1"), CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    hook = PackageBucketHook(aws_conn_id=aws_conn, region_name="eu-west-1")
    assert hook.missing_baseline(bucket("eu-west-1")) == list(BASELINE)
    hook.create_bucket(bucket("eu-west-1"))
    assert hook.missing_baseline(bucket("eu-west-1")) == []
