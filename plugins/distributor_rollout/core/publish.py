"""Publish planning: what publishing a built version to each target Region's bucket takes.

Publish reads every Region first (the bucket, its policy and baseline, the objects under
the version's prefix) and only then changes anything; this module turns what was read
into one ``RegionPublish`` per Region: the bucket to create, the policy to put, the
objects to upload or skip, and the keys that forbid publishing (a published version is
immutable: the same version with other bytes is refused, never overwritten).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from distributor_rollout.core.package import MANIFEST_FILE
from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.plan import Plan


class StoredDigest(Protocol):
    """An object found under the version's prefix, with the sha256 it was stored with
    (None when none was recorded); ``hooks.package_bucket.StoredObject`` is one."""

    @property
    def key(self) -> str:
        """The object's key."""

    @property
    def sha256(self) -> str | None:
        """The hex sha256 recorded for it."""


@dataclass(frozen=True, slots=True)
class PackageObject:
    """One object a published version holds: a zip or manifest.json, with its sha256."""

    name: str
    sha256: str

    @property
    def content_type(self) -> str:
        """The Content-Type it is stored with."""
        return "application/json" if self.name == MANIFEST_FILE else "application/zip"


def package_objects(build: Mapping[str, Any]) -> tuple[PackageObject, ...]:
    """The zips of a build (the Build task's summary), then manifest.json: the order they
    are uploaded in, so a version whose manifest is in the bucket has all its zips there."""
    zips = tuple(PackageObject(f["name"], f["sha256"]) for f in build["files"])
    return (*zips, PackageObject(MANIFEST_FILE, build["manifest_sha256"]))


def version_prefix(plan: Plan) -> str:
    """``<folder>/<version>/``: where the plan's package version is published in a bucket."""
    return f"{plan.package.bucket_folder}/{plan.package.built_version}/"


def publish_regions(config: RunConfig) -> tuple[str, ...]:
    """The Regions of the waves this run runs, in wave order, each once."""
    waves = [wave for wave in config.plan.waves if config.runs_wave(wave.name)]
    return tuple(dict.fromkeys(region for wave in waves for region in wave.regions))


def home_region(plan: Plan, regions: Sequence[str]) -> str:
    """The Region whose bucket the task's console link shows: the stack set's when it is
    published to, else the first."""
    return plan.stack_set.region if plan.stack_set.region in regions else regions[0]


@dataclass(frozen=True, slots=True)
class RegionPublish:
    """What publishing to one Region needs: decided by reading, before anything changes.

    ``conflicts`` are the ``s3://`` URLs of stored objects the build does not account
    for; any of them, in any Region, refuses the whole publish (``conflict_refusal``).
    ``missing_baseline`` is what a bucket the run did not create lacks: reported, never
    applied.
    """

    region: str
    bucket: str
    create_bucket: bool = False
    put_policy: bool = False
    upload: tuple[PackageObject, ...] = ()
    skipped: int = 0
    missing_baseline: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


def package_bucket_refusal(
    bucket: str,
    region: str,
    *,
    account: str,
    state: str,
    found_region: str | None,
    create_buckets: bool,
) -> str | None:
    """Why the package bucket ``HeadBucket`` found (``state``, ``found_region``) cannot be
    published to for ``region``, or None when it can (or may be created)."""
    if state == "not_yours":
        return (
            f"package bucket {bucket} (Region {region}) exists but is not this account's "
            f"({account}) or cannot be read by it; change the plan's package.bucket"
        )
    if state == "missing":
        if create_buckets:
            return None
        return (
            f"package bucket {bucket} (Region {region}) does not exist and "
            "package.create_buckets is false: create it, or set create_buckets: true"
        )
    if found_region and found_region != region:
        return (
            f"package bucket {bucket} is in Region {found_region}, not {region}: "
            "Distributor fetches package files from the target Region's bucket"
        )
    return None


def new_bucket_publish(region: str, bucket: str, objects: Sequence[PackageObject]) -> RegionPublish:
    """Publishing to a bucket that does not exist yet: create it, give it the policy,
    upload everything."""
    return RegionPublish(region, bucket, create_bucket=True, put_policy=True, upload=tuple(objects))


def compare_published(
    prefix: str, objects: Sequence[PackageObject], stored: Sequence[StoredDigest]
) -> tuple[list[PackageObject], int, list[str]]:
    """Objects to upload, how many are already there, and the keys that conflict.

    A key under the version's prefix conflicts when the build has no such object or its
    recorded sha256 is another (or none): a published version is immutable.
    """
    expected = {prefix + item.name: item for item in objects}
    conflicts = [
        s.key for s in stored if s.key not in expected or s.sha256 != expected[s.key].sha256
    ]
    present = {s.key for s in stored}
    upload = [item for key, item in expected.items() if key not in present]
    return upload, len(present) - len(conflicts), sorted(conflicts)


def existing_bucket_publish(
    region: str,
    bucket: str,
    prefix: str,
    objects: Sequence[PackageObject],
    stored: Sequence[StoredDigest],
    *,
    has_policy: bool,
    missing_baseline: Sequence[str],
) -> RegionPublish:
    """Publishing to a bucket that exists: the policy if it has none, the objects not yet
    stored, and the stored ones that conflict."""
    upload, skipped, conflicts = compare_published(prefix, objects, stored)
    return RegionPublish(
        region,
        bucket,
        put_policy=not has_policy,
        upload=tuple(upload),
        skipped=skipped,
        missing_baseline=tuple(missing_baseline),
        conflicts=tuple(f"s3://{bucket}/{key}" for key in conflicts),
    )


def conflict_refusal(version: str, publishes: Sequence[RegionPublish]) -> str | None:
    """Why the version cannot be published anywhere (objects of it stored with other
    bytes, in any Region), or None."""
    conflicts = [url for publish in publishes for url in publish.conflicts]
    if not conflicts:
        return None
    return (
        f"version {version} is already published with different "
        f"bytes: {', '.join(conflicts)}. A published version is immutable: publish "
        "the change as a new version"
    )


def publish_summary(publishes: Sequence[RegionPublish]) -> dict[str, Any]:
    """The Publish task's result: ``{"regions": {region: bucket}, "uploaded": n,
    "skipped": n}`` (in a dry run, ``uploaded`` counts what would be uploaded)."""
    return {
        "regions": {p.region: p.bucket for p in publishes},
        "uploaded": sum(len(p.upload) for p in publishes),
        "skipped": sum(p.skipped for p in publishes),
    }
