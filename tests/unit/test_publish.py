"""core.publish: what publishing to each Region's bucket takes, decided from what was read."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.publish import (
    PackageObject,
    RegionPublish,
    compare_published,
    conflict_refusal,
    existing_bucket_publish,
    new_bucket_publish,
    package_bucket_refusal,
    publish_summary,
)

PREFIX = "pkg/1.0.0/"
SHA = st.sampled_from(["a" * 64, "b" * 64, "c" * 64])
NAMES = st.sampled_from(["linux.zip", "windows.zip", "macos.zip", "manifest.json"])


@dataclass(frozen=True)
class Stored:
    """A stored object as the hook reports it (``core.publish.StoredDigest``)."""

    key: str
    sha256: str | None


@given(
    objects=st.dictionaries(NAMES, SHA, min_size=1),
    stored=st.dictionaries(
        st.one_of(NAMES, st.just("old.zip")), st.one_of(st.none(), SHA), max_size=4
    ),
)
def test_every_object_is_uploaded_skipped_or_in_conflict(
    objects: dict[str, str], stored: dict[str, str | None]
) -> None:
    build = [PackageObject(name, sha) for name, sha in objects.items()]
    found = [Stored(PREFIX + name, sha) for name, sha in stored.items()]
    upload, skipped, conflicts = compare_published(PREFIX, build, found)
    # Uploaded: exactly what is not stored yet, in the build's order.
    assert upload == [item for item in build if item.name not in stored]
    # Skipped: stored with the build's bytes; conflicts: every other stored key.
    matching = {name for name, sha in stored.items() if name in objects and objects[name] == sha}
    assert skipped == len(matching)
    assert conflicts == sorted(PREFIX + name for name in stored if name not in matching)


def test_a_new_bucket_gets_everything() -> None:
    objects = (PackageObject("a.zip", "a" * 64), PackageObject("manifest.json", "m" * 64))
    assert new_bucket_publish("eu-west-1", "b-1", objects) == RegionPublish(
        "eu-west-1", "b-1", create_bucket=True, put_policy=True, upload=objects
    )


def test_an_existing_bucket_names_its_conflicts_by_url() -> None:
    objects = (PackageObject("a.zip", "a" * 64), PackageObject("manifest.json", "m" * 64))
    step = existing_bucket_publish(
        "eu-west-1",
        "b-1",
        PREFIX,
        objects,
        [Stored(PREFIX + "a.zip", "a" * 64), Stored(PREFIX + "old.zip", None)],
        has_policy=True,
        missing_baseline=["versioning"],
    )
    assert step == RegionPublish(
        "eu-west-1",
        "b-1",
        upload=(objects[1],),
        skipped=1,
        missing_baseline=("versioning",),
        conflicts=(f"s3://b-1/{PREFIX}old.zip",),
    )
    refusal = conflict_refusal("1.0.0", [step, RegionPublish("us-east-1", "b-2")])
    assert refusal is not None
    assert f"s3://b-1/{PREFIX}old.zip" in refusal
    assert "immutable" in refusal
    assert conflict_refusal("1.0.0", [RegionPublish("us-east-1", "b-2")]) is None


def test_the_summary_counts_every_region() -> None:
    one = RegionPublish("us-east-1", "b-1", upload=(PackageObject("a.zip", "a" * 64),))
    two = RegionPublish("eu-west-1", "b-2", skipped=2)
    assert publish_summary([one, two]) == {
        "regions": {"us-east-1": "b-1", "eu-west-1": "b-2"},
        "uploaded": 1,
        "skipped": 2,
    }


@pytest.mark.parametrize(
    ("state", "found", "create", "expected"),
    [
        ("exists", "eu-west-1", False, None),
        ("exists", None, False, None),
        ("missing", None, True, None),
        ("missing", None, False, "package.create_buckets is false"),
        ("not_yours", None, True, "is not this account's"),
        ("exists", "us-east-1", True, "is in Region us-east-1, not eu-west-1"),
    ],
)
def test_package_bucket_refusals(
    state: str, found: str | None, create: bool, expected: str | None
) -> None:
    refusal = package_bucket_refusal(
        "b-1",
        "eu-west-1",
        account="222222222222",
        state=state,
        found_region=found,
        create_buckets=create,
    )
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert expected in refusal
        assert "b-1" in refusal
