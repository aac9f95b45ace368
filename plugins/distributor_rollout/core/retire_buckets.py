"""Which buckets a retire empties and deletes, and which it leaves alone, and why.

Asked to (``delete_buckets``), once the stack set is gone, a retire deletes the package
buckets (one per Region of the plan's waves) and the artifacts bucket, every object
version first. Deleting is final, so a bucket goes only when it is the plan's alone:

- a package bucket only when the plan creates its buckets (``package.create_buckets``;
  buckets someone else provides are theirs to delete) and every object in it is under
  the plan's folder; an existing package has no package bucket at all;
- the artifacts bucket only when this product created it (tagged
  ``distributor-rollout:managed``) and everything in it is this plan's: its stack set's
  templates and release records, its package's rollout and retire reports. A bucket the
  plans share keeps everything.

A missing bucket is already gone (a retried or repeated retire); one of another account
(or unreadable) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.retire_steps import RETIRE_REPORT_PREFIX
from distributor_rollout.core.rules import fill_bucket_pattern

BucketKind = Literal["package", "artifacts"]
BucketResult = Literal["deleted", "kept", "absent", "would_delete"]
MANAGED_TAG = "distributor-rollout:managed"
"""The tag this product puts on a bucket it creates (``hooks.package_bucket.MANAGED_TAG``)."""


@dataclass(frozen=True, slots=True)
class RetiredBucket:
    """A bucket the plan wrote to: its kind, name and Region, the key prefixes that are the
    plan's, and whether the plan may delete it at all."""

    kind: BucketKind
    name: str
    region: str
    own_prefixes: tuple[str, ...]
    needs_managed_tag: bool = False
    plan_creates_it: bool = True


def retired_buckets(plan: Plan, account_id: str) -> list[RetiredBucket]:
    """The plan's package buckets (built packages only), then its artifacts bucket."""
    buckets: list[RetiredBucket] = []
    package = plan.package
    if not package.is_existing:
        regions = dict.fromkeys(region for wave in plan.waves for region in wave.regions)
        buckets.extend(
            RetiredBucket(
                "package",
                fill_bucket_pattern(package.bucket_pattern, account_id=account_id, region=region),
                region,
                (f"{package.bucket_folder}/",),
                plan_creates_it=package.create_buckets,
            )
            for region in regions
        )
    spec = plan.stack_set
    buckets.append(
        RetiredBucket(
            "artifacts",
            fill_bucket_pattern(spec.artifacts_bucket, account_id=account_id, region=spec.region),
            spec.region,
            (
                f"templates/{spec.name}/",
                f"runs/{spec.name}/",
                f"rollouts/{package.name}/",
                f"{RETIRE_REPORT_PREFIX}/{package.name}/",
            ),
            needs_managed_tag=True,
        )
    )
    return buckets


@dataclass(frozen=True, slots=True)
class BucketFacts:
    """What S3 says about a bucket: whether it is there and ours, its tags, and the key of
    every object version and delete marker in it."""

    state: Literal["exists", "missing", "not_yours"]
    tags: Mapping[str, str]
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BucketDecision:
    """Delete the bucket (after every version in it), or not, and why."""

    delete: bool
    reason: str
    absent: bool = False
    versions: int = 0
    """How many object versions (and delete markers) go with it."""


def bucket_decision(bucket: RetiredBucket, facts: BucketFacts) -> BucketDecision:
    """Whether the retire may empty and delete ``bucket`` (see the module)."""
    if facts.state == "missing":
        return BucketDecision(False, "does not exist (never created, or deleted)", absent=True)
    if facts.state == "not_yours":
        return BucketDecision(False, "not this account's, or not readable by the runner: kept")
    if not bucket.plan_creates_it:
        return BucketDecision(
            False,
            "the plan does not create its package buckets (package.create_buckets: false): "
            "left to their owner",
        )
    if bucket.needs_managed_tag and facts.tags.get(MANAGED_TAG) != "true":
        return BucketDecision(
            False, f"not tagged {MANAGED_TAG}=true (this product did not create it): kept"
        )
    foreign = [key for key in facts.keys if not key.startswith(bucket.own_prefixes)]
    if foreign:
        return BucketDecision(
            False,
            f"holds {len(foreign)} object versions outside {', '.join(bucket.own_prefixes)} "
            f"(e.g. {foreign[0]}): shared with something else, kept whole",
        )
    versions = len(facts.keys)
    return BucketDecision(
        True, f"{versions} object version{'s' * (versions != 1)} and the bucket", versions=versions
    )


@dataclass(frozen=True, slots=True)
class BucketOutcome:
    """What the retire did with one bucket, for XCom and the report."""

    kind: BucketKind
    name: str
    region: str
    result: BucketResult
    reason: str
    versions: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "kind": self.kind,
            "name": self.name,
            "region": self.region,
            "result": self.result,
            "reason": self.reason,
            "versions": self.versions,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BucketOutcome:
        """The inverse of ``to_dict``."""
        return cls(
            kind=data["kind"],
            name=str(data["name"]),
            region=str(data["region"]),
            result=data["result"],
            reason=str(data.get("reason", "")),
            versions=int(data.get("versions", 0)),
        )

    def line(self) -> str:
        """One line for the log and the report's table."""
        return f"{self.kind} bucket {self.name} ({self.region}): {self.result}, {self.reason}"


def outcome(bucket: RetiredBucket, decision: BucketDecision, *, dry_run: bool) -> BucketOutcome:
    """The outcome of acting on ``decision`` (or, in a dry run, of logging it)."""
    result: BucketResult
    if decision.absent:
        result = "absent"
    elif not decision.delete:
        result = "kept"
    else:
        result = "would_delete" if dry_run else "deleted"
    return BucketOutcome(
        bucket.kind, bucket.name, bucket.region, result, decision.reason, decision.versions
    )


def artifacts_deleted(outcomes: Iterable[BucketOutcome]) -> bool:
    """Whether the artifacts bucket is gone after the retire (no report can go there)."""
    return any(o.kind == "artifacts" and o.result in ("deleted", "absent") for o in outcomes)
