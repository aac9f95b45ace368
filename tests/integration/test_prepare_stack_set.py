"""Prepare against awssim: content-addressed templates, create vs record, never update."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
import yaml
from airflow_support import RUN_ID, MemoryStateStore, make_context, run_task

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.artifacts import template_key
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.package import MANIFEST_FILE
from distributor_rollout.core.plan_validation import load_plan, validate_plan
from distributor_rollout.core.principals import runner_principal_arn, with_any_path
from distributor_rollout.core.release import (
    CREATED_BY_TAG,
    TEMPLATE_SHA256_KEY,
    Release,
    release_key,
    run_tag_value,
)
from distributor_rollout.core.stack_parameters import render_stack_parameters, to_cfn_parameters
from distributor_rollout.hooks.errors import ArtifactDigestMismatch, ConfigurationError
from distributor_rollout.hooks.package_bucket import MANAGED_TAG
from distributor_rollout.operators.package_build import BuildPackageOperator
from distributor_rollout.operators.release_render import TEMPLATE_PATH
from distributor_rollout.operators.stack_set_prepare import (
    RELEASE_SHA256_KEY,
    PrepareStackSetOperator,
)

ADMIN = "222222222222"
STACK_SET = "distributor-examplepackage"
ARTIFACTS = f"distributor-rollout-{ADMIN}-us-east-1"
AS_ADMIN = {"CallAs": "DELEGATED_ADMIN"}
SECURED_BUCKET = [
    "CreateBucket",
    "PutPublicAccessBlock",
    "PutBucketOwnershipControls",
    "PutBucketVersioning",
    "PutBucketEncryption",
    "PutBucketTagging",
    "PutBucketPolicy",
]
"""How Prepare creates the artifacts bucket: created, then secured before anything is stored."""


@dataclass
class Env:
    """What each test works with: the example plan built, awssim and the connection."""

    plan: Path
    root: Path
    built: dict[str, Any]
    sim: Simulator
    aws: AwsClients
    conn: str
    stores: dict[str, MemoryStateStore] = field(default_factory=dict)
    """Prepare's task state store per run: Airflow keeps one across tries and clears."""


@pytest.fixture
def env(
    example_plan_path: Path, tmp_path: Path, sim: Simulator, aws: AwsClients, aws_conn: str
) -> Env:
    """The example plan, built into ``tmp_path``, against a fresh awssim."""
    operator = BuildPackageOperator(
        task_id="build", plan_path=str(example_plan_path), build_root=str(tmp_path)
    )
    built: dict[str, Any] = run_task(operator)
    return Env(example_plan_path, tmp_path, built, sim, aws, aws_conn)


def prepare(
    env: Env, plan: Path | None = None, run_id: str = RUN_ID, **kwargs: Any
) -> dict[str, Any]:
    """Run the Prepare task in ``run_id`` (``kwargs`` override the operator's arguments)."""
    arguments: dict[str, Any] = {
        "plan_path": str(plan or env.plan),
        "build": env.built,
        "build_root": str(env.root),
        "aws_conn_id": env.conn,
        **kwargs,
    }
    operator = PrepareStackSetOperator(task_id="prepare", **arguments)
    store = env.stores.setdefault(run_id, MemoryStateStore())
    result: dict[str, Any] = run_task(operator, make_context("prepare", run_id=run_id, store=store))
    return result


def mutations(sim: Simulator) -> list[str]:
    """The operations of every mutating call so far."""
    return [call.operation for call in sim.ledger.calls()]


def url_of(key: str) -> str:
    """The artifacts bucket object URL of ``key``."""
    return f"https://{ARTIFACTS}.s3.us-east-1.amazonaws.com/{key}"


def rendered(env: Env, **package: Any) -> dict[str, str]:
    """The parameters the plan (with ``package`` changes) renders for the built manifest."""
    data = load_plan(env.plan).model_dump(mode="json")
    data["package"].update(package)
    manifest = (Path(env.built["out_dir"]) / MANIFEST_FILE).read_text()
    return render_stack_parameters(
        validate_plan(data), manifest, account_id=ADMIN, runner_arn=runner_arn(env)
    )


def test_prepare_creates_the_stack_set_from_a_stored_template(env: Env) -> None:
    result = prepare(env)

    text = TEMPLATE_PATH.read_text()
    key = template_key(STACK_SET, text)
    assert key == f"templates/{STACK_SET}/{hashlib.sha256(text.encode()).hexdigest()}.yaml"
    release = Release.from_dict(result)
    assert json.loads(json.dumps(result)) == result
    assert (release.stack_set_name, release.call_as, release.region) == (
        STACK_SET,
        "DELEGATED_ADMIN",
        "us-east-1",
    )
    assert (release.created, release.previous) == (True, None)
    assert release.template.template_url == url_of(key)
    assert dict(release.template.parameters) == rendered(env)

    s3 = env.aws.client("s3")
    assert s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read().decode() == text
    described = env.aws.client("cloudformation").describe_stack_set(
        StackSetName=STACK_SET, **AS_ADMIN
    )["StackSet"]
    assert described["PermissionModel"] == "SERVICE_MANAGED"
    assert described["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert described["TemplateBody"] == text
    assert described["Description"] == "ExamplePackage through Distributor and State Manager"
    assert described["Tags"] == [
        {"Key": "owner", "Value": "platform-team"},
        {"Key": CREATED_BY_TAG, "Value": run_tag_value(RUN_ID)},
    ]
    assert described["AutoDeployment"]["Enabled"] is False
    assert described["ManagedExecution"] == {"Active": False}
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    assert parameters == dict(release.template.parameters)
    assert mutations(env.sim) == [*SECURED_BUCKET, "PutObject", "CreateStackSet", "PutObject"]
    record = s3.get_object(Bucket=ARTIFACTS, Key=release_key(STACK_SET, RUN_ID))
    assert json.loads(record["Body"].read()) == result


def test_a_retried_prepare_changes_nothing_and_knows_its_run_created_the_stack_set(
    env: Env,
) -> None:
    first = Release.from_dict(prepare(env))
    before = mutations(env.sim)
    again = Release.from_dict(prepare(env))
    assert mutations(env.sim) == before
    assert again == first


def test_a_later_run_records_the_current_template_as_previous(env: Env) -> None:
    first = Release.from_dict(prepare(env))
    before = mutations(env.sim)
    later = Release.from_dict(prepare(env, run_id="scheduled__2026-11-28T06:00:00+00:00"))
    assert mutations(env.sim)[len(before) :] == ["PutObject"]  # the later run's record
    assert later.created is False
    assert later.template == first.template
    # What the stack set runs now is this version's own template: that is its previous.
    assert later.previous == first.template


def test_prepare_records_an_existing_stack_set_without_touching_it(env: Env) -> None:
    older_text = TEMPLATE_PATH.read_text() + "\n# the template as it was for 1.0.1\n"
    older = rendered(env, version="1.0.1")
    cfn = env.aws.client("cloudformation")
    cfn.create_stack_set(
        StackSetName=STACK_SET,
        TemplateBody=older_text,
        Parameters=to_cfn_parameters(older),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": False},
        **AS_ADMIN,
    )
    before = len(mutations(env.sim))

    # The build folder is not on this worker: Prepare rebuilds it.
    release = Release.from_dict(prepare(env, build_root=str(env.root / "fresh")))

    assert release.created is False
    assert release.previous is not None
    older_key = template_key(STACK_SET, older_text)
    assert release.previous.template_url == url_of(older_key)
    assert dict(release.previous.parameters) == older
    assert release.template.parameters["Version"] == "1.0.2"
    s3 = env.aws.client("s3")
    assert s3.get_object(Bucket=ARTIFACTS, Key=older_key)["Body"].read().decode() == older_text
    assert mutations(env.sim)[before:] == [*SECURED_BUCKET, "PutObject", "PutObject", "PutObject"]
    described = cfn.describe_stack_set(StackSetName=STACK_SET, **AS_ADMIN)["StackSet"]
    assert described["TemplateBody"] == older_text
    assert {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]} == older


def test_template_objects_are_immutable(env: Env) -> None:
    """A changed template is a new object; the old one stays as it was, written once."""
    first = Release.from_dict(prepare(env))
    changed = env.root / "template.yaml"
    changed.write_text(TEMPLATE_PATH.read_text() + "\n# a comment changes the address\n")
    second = Release.from_dict(
        prepare(env, run_id="manual__2026-11-28T09:00:00+00:00", template_path=str(changed))
    )
    assert second.template.template_url != first.template.template_url
    assert second.previous == first.template
    puts = [
        c.params["Key"]
        for c in env.sim.ledger.calls(service="s3", operation="PutObject")
        if str(c.params["Key"]).startswith("templates/")
    ]
    assert puts == [
        template_key(STACK_SET, TEMPLATE_PATH.read_text()),
        template_key(STACK_SET, changed.read_text()),
    ]
    assert "UpdateStackSet" not in mutations(env.sim)


def test_a_self_managed_stack_set_of_that_name_is_refused(env: Env) -> None:
    data = yaml.safe_load(env.plan.read_text())
    data["package"]["source"] = str((env.plan.parent / data["package"]["source"]).resolve())
    data["stack_set"]["call_as"] = "SELF"
    plan = env.root / "plan.yaml"
    plan.write_text(yaml.safe_dump(data))
    env.aws.client("cloudformation").create_stack_set(
        StackSetName=STACK_SET,
        TemplateBody=TEMPLATE_PATH.read_text(),
        Parameters=to_cfn_parameters(rendered(env)),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SELF_MANAGED",
        CallAs="SELF",
    )
    before = mutations(env.sim)
    with pytest.raises(ConfigurationError, match="permission model SELF_MANAGED"):
        prepare(env, plan)
    assert mutations(env.sim) == before


def test_an_artifacts_bucket_in_another_region_is_refused(env: Env) -> None:
    west = env.aws.client("s3", region="eu-west-1")
    west.create_bucket(
        Bucket=ARTIFACTS, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    before = mutations(env.sim)
    with pytest.raises(ConfigurationError, match="is in Region eu-west-1, not the stack set's"):
        prepare(env)
    assert mutations(env.sim) == before


def test_a_cleared_prepare_returns_its_runs_release_not_what_the_waves_deployed(
    env: Env,
) -> None:
    older = rendered(env, version="1.0.1")
    cfn = env.aws.client("cloudformation")
    cfn.create_stack_set(
        StackSetName=STACK_SET,
        TemplateBody=TEMPLATE_PATH.read_text(),
        Parameters=to_cfn_parameters(older),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": False},
        **AS_ADMIN,
    )
    first = Release.from_dict(prepare(env))
    # A wave then moves the stack set to this run's version...
    cfn.update_stack_set(
        StackSetName=STACK_SET,
        TemplateURL=first.template.template_url,
        Parameters=to_cfn_parameters(dict(first.template.parameters)),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        **AS_ADMIN,
    )
    # ...and the run is cleared from Prepare: the previous version is still 1.0.1.
    again = Release.from_dict(prepare(env))
    assert again == first
    assert again.previous is not None
    assert again.previous.parameters["Version"] == "1.0.1"


DRY = {"dry_run": True}


def bucket_names(env: Env) -> set[str]:
    """Ground truth: every bucket of the delegated administrator."""
    return {bucket["Name"] for bucket in env.aws.client("s3").list_buckets()["Buckets"]}


def test_a_dry_run_before_anything_exists_creates_stores_and_records_nothing(env: Env) -> None:
    result = prepare(env, run_params=DRY)

    text = TEMPLATE_PATH.read_text()
    assert mutations(env.sim) == []
    assert ARTIFACTS not in bucket_names(env)
    assert env.sim.stacksets.state() == {}
    assert result == {
        **Release(
            STACK_SET,
            "DELEGATED_ADMIN",
            "us-east-1",
            TemplateRef(url_of(template_key(STACK_SET, text)), rendered(env)),
            None,
            created=True,
        ).to_dict(),
        "dry_run": True,
        TEMPLATE_SHA256_KEY: hashlib.sha256(text.encode()).hexdigest(),
    }
    json.dumps(result)  # XCom


def test_a_dry_run_over_an_existing_stack_set_gives_the_release_a_real_run_would(
    env: Env,
) -> None:
    older_text = TEMPLATE_PATH.read_text() + "\n# the template as it was for 1.0.1\n"
    older = rendered(env, version="1.0.1")
    env.aws.client("cloudformation").create_stack_set(
        StackSetName=STACK_SET,
        TemplateBody=older_text,
        Parameters=to_cfn_parameters(older),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": False},
        **AS_ADMIN,
    )
    env.sim.ledger.clear()

    dry = prepare(env, run_params=DRY)

    assert mutations(env.sim) == []
    assert ARTIFACTS not in bucket_names(env)
    assert dry["dry_run"] is True
    release = Release.from_dict(dry)
    assert release.created is False
    assert release.previous == TemplateRef(url_of(template_key(STACK_SET, older_text)), older)

    # The real run's release is the same: the addresses were content-addressed.
    real = prepare(env)
    assert Release.from_dict(real) == release
    assert TEMPLATE_SHA256_KEY not in real
    assert "dry_run" not in real


def test_a_dry_run_still_refuses_what_a_real_run_would(env: Env) -> None:
    west = env.aws.client("s3", region="eu-west-1")
    west.create_bucket(
        Bucket=ARTIFACTS, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    before = mutations(env.sim)
    with pytest.raises(ConfigurationError, match="is in Region eu-west-1, not the stack set's"):
        prepare(env, run_params=DRY)
    assert mutations(env.sim) == before


def stack_set_calls_after(sim: Simulator, position: int) -> list[str]:
    """The StackSets mutations made after ``position`` in the ledger."""
    return [c.operation for c in sim.ledger.calls()[position:] if c.service == "cloudformation"]


def test_the_stack_set_is_created_from_the_template_text(env: Env) -> None:
    prepare(env)
    [create] = env.sim.ledger.calls(operation="CreateStackSet")
    text = TEMPLATE_PATH.read_text()
    assert create.params.get("TemplateBodySha256") == hashlib.sha256(text.encode()).hexdigest()
    assert "TemplateURL" not in create.params


def test_a_changed_release_record_stops_a_cleared_prepare(env: Env) -> None:
    prepare(env)
    key = release_key(STACK_SET, RUN_ID)
    s3 = env.aws.client("s3")
    record = json.loads(s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read())
    record["created"] = False  # a rollback would no longer delete what this run created
    forged = json.dumps(record)
    s3.put_object(Bucket=ARTIFACTS, Key=key, Body=forged.encode())
    after_tamper = len(env.sim.ledger.calls())

    with pytest.raises(ArtifactDigestMismatch) as raised:
        prepare(env)

    message = str(raised.value)
    assert f"s3://{ARTIFACTS}/{key}" in message
    assert hashlib.sha256(forged.encode()).hexdigest() in message
    assert env.stores[RUN_ID].get(RELEASE_SHA256_KEY) in message
    assert len(env.sim.ledger.calls()) == after_tamper


def test_a_template_planted_under_its_address_stops_prepare_before_any_stack_set_call(
    env: Env,
) -> None:
    text = TEMPLATE_PATH.read_text()
    key = template_key(STACK_SET, text)
    s3 = env.aws.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    evil = text.replace("AWS-ConfigureAWSPackage", "Evil-Document")
    s3.put_object(Bucket=ARTIFACTS, Key=key, Body=evil.encode())
    after_plant = len(env.sim.ledger.calls())

    with pytest.raises(ArtifactDigestMismatch) as raised:
        prepare(env)

    assert f"s3://{ARTIFACTS}/{key}" in str(raised.value)
    assert hashlib.sha256(text.encode()).hexdigest() in str(raised.value)
    assert hashlib.sha256(evil.encode()).hexdigest() in str(raised.value)
    assert stack_set_calls_after(env.sim, after_plant) == []


def test_a_changed_previous_template_stops_a_later_runs_prepare(env: Env) -> None:
    prepare(env)
    text = TEMPLATE_PATH.read_text()
    key = template_key(STACK_SET, text)
    env.aws.client("s3").put_object(Bucket=ARTIFACTS, Key=key, Body=b"Resources: {}\n")
    after_tamper = len(env.sim.ledger.calls())

    with pytest.raises(ArtifactDigestMismatch, match=key):
        prepare(env, run_id="scheduled__2026-11-28T06:00:00+00:00")
    assert stack_set_calls_after(env.sim, after_tamper) == []


def runner_arn(env: Env) -> str:
    """The runner as policies see it (awssim's caller, as a principal ARN)."""
    caller = env.aws.client("sts").get_caller_identity()["Arn"]
    return runner_principal_arn(caller)


def assert_secured(env: Env) -> None:
    """Ground truth: the artifacts bucket has every setting of the product's baseline."""
    s3 = env.aws.client("s3")
    block = s3.get_public_access_block(Bucket=ARTIFACTS)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
        True,
    )
    ownership = s3.get_bucket_ownership_controls(Bucket=ARTIFACTS)["OwnershipControls"]
    assert ownership == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert s3.get_bucket_versioning(Bucket=ARTIFACTS)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=ARTIFACTS)["ServerSideEncryptionConfiguration"]
    default = rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "AES256"
    policy = json.loads(s3.get_bucket_policy(Bucket=ARTIFACTS)["Policy"])
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    writes = statements["OnlyTheRunnerWritesArtifacts"]
    assert writes["Effect"] == "Deny"
    assert writes["Principal"] == "*"
    assert set(writes["Action"]) == {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"}
    arn = runner_arn(env)
    assert writes["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [arn, with_any_path(arn)]}}
    tls = statements["DenyPlainHttp"]
    assert (tls["Effect"], tls["Condition"]) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    tags = s3.get_bucket_tagging(Bucket=ARTIFACTS)["TagSet"]
    assert {"Key": MANAGED_TAG, "Value": "true"} in tags


def test_prepare_creates_the_artifacts_bucket_secured(env: Env) -> None:
    prepare(env)
    assert_secured(env)
    # A later run finds it secured and changes nothing about it.
    before = len(mutations(env.sim))
    prepare(env, run_id="scheduled__2026-11-28T06:00:00+00:00")
    assert mutations(env.sim)[before:] == ["PutObject"]


def test_an_artifacts_bucket_of_this_product_is_secured_again(env: Env) -> None:
    prepare(env)
    s3 = env.aws.client("s3")
    s3.delete_bucket_policy(Bucket=ARTIFACTS)
    s3.put_bucket_versioning(Bucket=ARTIFACTS, VersioningConfiguration={"Status": "Suspended"})
    env.sim.ledger.clear()

    prepare(env, run_id="scheduled__2026-11-28T06:00:00+00:00")

    assert mutations(env.sim) == ["PutBucketVersioning", "PutBucketPolicy", "PutObject"]
    assert_secured(env)


def test_someone_elses_artifacts_bucket_is_left_as_it_is_with_a_warning(env: Env) -> None:
    env.aws.client("s3").create_bucket(Bucket=ARTIFACTS)
    env.sim.ledger.clear()

    with structlog.testing.capture_logs() as logs:
        prepare(env)

    assert not any(call.operation.startswith("PutBucket") for call in env.sim.ledger.calls())
    assert "PutPublicAccessBlock" not in mutations(env.sim)
    warning = next(
        str(entry["event"])
        for entry in logs
        if entry["log_level"] == "warning" and str(entry["event"]).startswith("Artifacts bucket")
    )
    assert ARTIFACTS in warning
    assert "public access block" in warning
    assert "bucket policy" in warning
    assert MANAGED_TAG in warning


def test_a_dry_run_does_not_secure_an_existing_bucket(env: Env) -> None:
    prepare(env)
    env.aws.client("s3").delete_bucket_policy(Bucket=ARTIFACTS)
    env.sim.ledger.clear()
    prepare(env, run_id="scheduled__2026-11-28T06:00:00+00:00", run_params=DRY)
    assert mutations(env.sim) == []
