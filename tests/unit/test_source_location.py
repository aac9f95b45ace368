"""Package sources a run may name: folders confined to the packages root, allowed S3 prefixes."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from hypothesis import given, settings
from hypothesis import strategies as st

from distributor_rollout.core.errors import Problem
from distributor_rollout.core.source_location import (
    S3Source,
    confine_folder,
    object_path,
    parse_s3_source,
)

SEGMENTS = st.sampled_from(["pkg", "a", "..", ".", "", "b\\c", "c:d", "/", "link", "x\x00"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(SEGMENTS, min_size=1, max_size=5), lead=st.sampled_from(["", "/", "./"]))
def test_a_confined_folder_is_always_strictly_inside_the_root(parts: list[str], lead: str) -> None:
    root = Path("/tmp/source-location-root")
    (root / "pkg" / "a").mkdir(parents=True, exist_ok=True)
    link = root / "link"
    if not link.is_symlink():
        link.symlink_to("/etc")
    found = confine_folder("source", lead + "/".join(parts), root)
    if isinstance(found, Path):
        assert found.is_relative_to(root.resolve())
        assert found != root.resolve()
        assert found.is_dir()
    else:
        assert isinstance(found, Problem)
        assert found.path == "source"


def test_the_s3_source_must_name_an_allowed_bucket_and_a_safe_prefix() -> None:
    assert parse_s3_source("source", "s3://ci-builds/app/1.0", ["ci-builds"]) == S3Source(
        "ci-builds", "app/1.0/"
    )
    for url, what in (
        ("s3://CI-builds/app/", "not an S3 bucket name"),
        ("s3://other/app/", "not a bucket the plan allows sources from"),
        ("s3://ci-builds/", "not a safe S3 prefix (a path segment '')"),
        ("s3://ci-builds/app//x/", "not a safe S3 prefix (a path segment '')"),
        ("s3://ci-builds/app/../x/", "not a safe S3 prefix (a path segment '..')"),
    ):
        problem = parse_s3_source("source", url, ["ci-builds"])
        assert isinstance(problem, Problem)
        assert problem.message.startswith(what), (url, problem)


@given(key=st.text(alphabet="ab./\\:\x01", max_size=12))
def test_an_object_maps_to_a_safe_relative_path_or_is_refused(key: str) -> None:
    source = S3Source("ci", "app/")
    where = object_path(source, "app/" + key)
    if isinstance(where, PurePosixPath):
        assert not where.is_absolute()
        assert all(part not in ("", ".", "..") for part in where.parts)
        assert not any(char in str(where) for char in "\\:\x01")
    else:
        assert "app/" in where
