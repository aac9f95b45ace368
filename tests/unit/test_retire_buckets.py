"""Which buckets a retire deletes: only the plan's own, and only whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan, validate_plan
from distributor_rollout.core.retire_buckets import (
    MANAGED_TAG,
    BucketFacts,
    BucketOutcome,
    RetiredBucket,
    artifacts_deleted,
    bucket_decision,
    outcome,
    retired_buckets,
)

ACCOUNT = "222222222222"
TAGGED = {MANAGED_TAG: "true"}


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


@pytest.fixture(scope="module")
def existing(example_plan_path: Path) -> Plan:
    data: dict[str, Any] = yaml.safe_load(example_plan_path.read_text())
    data["package"] = {"existing": "AmazonCloudWatchAgent"}
    return validate_plan(data)


def test_a_built_package_has_a_package_bucket_per_region_then_the_artifacts_bucket(
    plan: Plan,
) -> None:
    buckets = retired_buckets(plan, ACCOUNT)
    assert [(b.kind, b.name, b.region) for b in buckets] == [
        ("package", f"s3-examplepackage-{ACCOUNT}-us-east-1", "us-east-1"),
        ("package", f"s3-examplepackage-{ACCOUNT}-us-west-2", "us-west-2"),
        ("package", f"s3-examplepackage-{ACCOUNT}-eu-west-1", "eu-west-1"),
        ("artifacts", f"distributor-rollout-{ACCOUNT}-us-east-1", "us-east-1"),
    ]
    assert buckets[0].own_prefixes == ("examplepackage/",)
    assert buckets[-1].own_prefixes == (
        "templates/distributor-examplepackage/",
        "runs/distributor-examplepackage/",
        "rollouts/ExamplePackage/",
        "retirements/ExamplePackage/",
    )
    assert buckets[-1].needs_managed_tag


def test_an_existing_package_has_no_package_bucket(existing: Plan) -> None:
    assert [b.kind for b in retired_buckets(existing, ACCOUNT)] == ["artifacts"]


PACKAGE = RetiredBucket("package", "pkg", "us-east-1", ("examplepackage/",))
ARTIFACTS = RetiredBucket(
    "artifacts", "art", "us-east-1", ("templates/ss/", "rollouts/P/"), needs_managed_tag=True
)


def test_a_bucket_holding_only_the_plans_objects_is_deleted_with_every_version() -> None:
    keys = ("examplepackage/1.0.2/manifest.json", "examplepackage/1.0.2/manifest.json")
    decision = bucket_decision(PACKAGE, BucketFacts("exists", {}, keys))
    assert decision.delete
    assert decision.versions == 2
    done = outcome(PACKAGE, decision, dry_run=False)
    assert (done.result, done.versions) == ("deleted", 2)
    assert outcome(PACKAGE, decision, dry_run=True).result == "would_delete"
    empty = bucket_decision(ARTIFACTS, BucketFacts("exists", TAGGED, ()))
    assert empty.delete


@pytest.mark.parametrize(
    ("bucket", "facts", "why"),
    [
        (PACKAGE, BucketFacts("exists", {}, ("examplepackage/a", "other/b")), "outside"),
        (ARTIFACTS, BucketFacts("exists", TAGGED, ("templates/other-ss/x.yaml",)), "outside"),
        (ARTIFACTS, BucketFacts("exists", {}, ()), "not tagged"),
        (PACKAGE, BucketFacts("not_yours", {}, ()), "not this account's"),
        (
            RetiredBucket("package", "p", "us-east-1", ("f/",), plan_creates_it=False),
            BucketFacts("exists", {}, ("f/a",)),
            "create_buckets: false",
        ),
    ],
)
def test_a_bucket_that_is_not_the_plans_alone_is_kept_whole(
    bucket: RetiredBucket, facts: BucketFacts, why: str
) -> None:
    decision = bucket_decision(bucket, facts)
    assert not decision.delete
    assert why in decision.reason
    assert outcome(bucket, decision, dry_run=False).result == "kept"


def test_a_missing_bucket_is_already_gone() -> None:
    decision = bucket_decision(PACKAGE, BucketFacts("missing", {}, ()))
    assert (decision.delete, decision.absent) == (False, True)
    assert outcome(PACKAGE, decision, dry_run=False).result == "absent"


def test_the_report_has_nowhere_to_go_once_the_artifacts_bucket_is_gone() -> None:
    gone = BucketOutcome("artifacts", "art", "us-east-1", "deleted", "")
    kept = BucketOutcome("artifacts", "art", "us-east-1", "kept", "shared")
    package = BucketOutcome("package", "pkg", "us-east-1", "deleted", "")
    assert artifacts_deleted([package, gone])
    assert not artifacts_deleted([package, kept])
    assert BucketOutcome.from_dict(gone.to_dict()) == gone
