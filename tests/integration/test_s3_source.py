"""Package sources from S3 (the way a CI pipeline hands over a build), against awssim.

A plan lists the buckets sources may come from; Build downloads and verifies the prefix on
its worker, and a task on another worker downloads it again to rebuild the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_support import make_context, run_task

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.hooks.source_bucket import SourceDownloadError
from distributor_rollout.operators.package import PublishPackageOperator
from distributor_rollout.operators.package_build import BuildMismatchError, BuildPackageOperator
from distributor_rollout.operators.rollout import ValidateRunOperator

CI_BUCKET = "ci-builds-222222222222"
PREFIX = "examplepackage/1.0.2/"


@pytest.fixture
def example_source(example_plan_path: Path) -> Path:
    data = yaml.safe_load(example_plan_path.read_text())
    return (example_plan_path.parent / data["package"]["source"]).resolve()


def upload_source(aws: AwsClients, folder: Path, prefix: str = PREFIX) -> None:
    """The package source folder as a CI job would upload it (half with checksums)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=CI_BUCKET)
    for index, path in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        extra = {"ChecksumAlgorithm": "SHA256"} if index % 2 else {}
        key = prefix + path.relative_to(folder).as_posix()
        s3.put_object(Bucket=CI_BUCKET, Key=key, Body=path.read_bytes(), **extra)


def s3_plan(tmp_path: Path, example: Path, source: str) -> Path:
    data = yaml.safe_load(example.read_text())
    data["package"]["source"] = source
    data["package"]["source_buckets"] = [CI_BUCKET]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def build(plan: Path, root: Path, conn: str, params: dict[str, Any] | None = None) -> Any:
    operator = BuildPackageOperator(
        task_id="build",
        plan_path=str(plan),
        run_params=params,
        build_root=str(root),
        aws_conn_id=conn,
    )
    return run_task(operator)


def local_build(example_plan_path: Path, root: Path, conn: str) -> Any:
    return build(example_plan_path, root, conn)


def test_an_s3_source_builds_the_same_package_as_its_folder(
    example_plan_path: Path, example_source: Path, tmp_path: Path, aws: AwsClients, aws_conn: str
) -> None:
    upload_source(aws, example_source)
    plan = s3_plan(tmp_path, example_plan_path, f"s3://{CI_BUCKET}/{PREFIX}")
    from_s3 = build(plan, tmp_path / "worker-a", aws_conn)
    from_folder = local_build(example_plan_path, tmp_path / "local", aws_conn)
    assert from_s3["manifest_sha256"] == from_folder["manifest_sha256"]
    assert from_s3["source"] == f"s3://{CI_BUCKET}/{PREFIX}"
    # Nothing of the download is left next to the build.
    assert [p.name for p in (tmp_path / "worker-a" / "ExamplePackage").iterdir()] == ["1.0.2"]

    # Publish on a worker that never saw the build: it downloads the source again.
    publish = PublishPackageOperator(
        task_id="publish",
        plan_path=str(plan),
        build=from_s3,
        build_root=str(tmp_path / "worker-b"),
        aws_conn_id=aws_conn,
    )
    result = run_task(publish, make_context("publish"))
    assert result["uploaded"] == 3 * (len(from_s3["files"]) + 1)


def test_a_source_that_changed_after_the_build_is_refused_on_rebuild(
    example_plan_path: Path, example_source: Path, tmp_path: Path, aws: AwsClients, aws_conn: str
) -> None:
    upload_source(aws, example_source)
    plan = s3_plan(tmp_path, example_plan_path, f"s3://{CI_BUCKET}/{PREFIX}")
    built = build(plan, tmp_path / "worker-a", aws_conn)
    key = next(
        item["Key"]
        for item in aws.client("s3").list_objects_v2(Bucket=CI_BUCKET)["Contents"]
        if item["Key"].endswith(".sh")
    )
    aws.client("s3").put_object(Bucket=CI_BUCKET, Key=key, Body=b"#!/bin/sh\necho changed\n")
    publish = PublishPackageOperator(
        task_id="publish",
        plan_path=str(plan),
        build=built,
        build_root=str(tmp_path / "worker-b"),
        aws_conn_id=aws_conn,
    )
    with pytest.raises(BuildMismatchError):
        run_task(publish, make_context("publish"))


@pytest.mark.parametrize(
    "key",
    ["examplepackage/1.0.2/../../outside.sh", "examplepackage/1.0.2/linux\\install.sh"],
)
def test_a_key_that_is_not_a_safe_relative_path_stops_the_build_before_any_download(  # noqa: PLR0917
    example_plan_path: Path,
    example_source: Path,
    tmp_path: Path,
    aws: AwsClients,
    aws_conn: str,
    sim: Simulator,
    key: str,
) -> None:
    upload_source(aws, example_source)
    aws.client("s3").put_object(Bucket=CI_BUCKET, Key=key, Body=b"#!/bin/sh\nrm -rf /\n")
    plan = s3_plan(tmp_path, example_plan_path, f"s3://{CI_BUCKET}/{PREFIX}")
    before = len(sim.ledger.calls())
    with pytest.raises(SourceDownloadError, match=r"not a safe relative path|holds"):
        build(plan, tmp_path / "worker", aws_conn)
    assert len(sim.ledger.calls()) == before
    assert not (tmp_path / "outside.sh").exists()
    assert not list((tmp_path / "worker").rglob("*.sh"))


def test_a_run_may_take_its_source_only_from_a_bucket_the_plan_lists(
    example_plan_path: Path, tmp_path: Path, aws: AwsClients, aws_conn: str, sim: Simulator
) -> None:
    plan = s3_plan(tmp_path, example_plan_path, f"s3://{CI_BUCKET}/{PREFIX}")
    validate = ValidateRunOperator(
        task_id="validate",
        plan_path=str(plan),
        run_params={"source": "s3://attacker-bucket/examplepackage/"},
        aws_conn_id=aws_conn,
    )
    with pytest.raises(ValidationError, match="not a bucket the plan allows sources from"):
        validate.execute(make_context("validate"))
    assert sim.ledger.calls() == []


def test_a_plan_may_not_name_an_s3_source_outside_its_buckets(
    example_plan_path: Path, tmp_path: Path
) -> None:
    data = yaml.safe_load(example_plan_path.read_text())
    data["package"]["source"] = "s3://other-bucket/x/"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValidationError, match=r"package\.source: not a bucket the plan allows"):
        load_plan(path)
