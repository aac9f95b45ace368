"""Where a package's source files come from: a folder confined to a root, or an S3 prefix.

A trigger param may name the source of a run. The user who triggers is not trusted, so a
folder is a relative path under the configured packages root (no absolute paths, no
``..``), resolved and checked again after symlinks: a run can never publish a folder of
the worker that is not a package source. An ``s3://bucket/prefix/`` source (the way a CI
pipeline hands over a build) must be in a bucket the plan lists, and every key below the
prefix must map to a safe relative path before anything is downloaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from distributor_rollout.core import rules
from distributor_rollout.core.errors import Problem, wrong

S3_SCHEME: Final = "s3://"
MAX_SOURCE_OBJECTS: Final = 10_000
"""The most files an S3 source may hold (a Distributor package has at most 20 zips)."""
MAX_SOURCE_BYTES: Final = 20 * 1024**3
"""The most bytes an S3 source may hold: 20 attachments of at most 1 GB each, unzipped
with room to spare."""
_UNSAFE_SEGMENT_CHARS: Final = re.compile(r"[\x00-\x1f\x7f\\:]")


@dataclass(frozen=True)
class S3Source:
    """A source that is every object under ``s3://bucket/prefix``."""

    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        """The ``s3://`` URL."""
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}"


def is_s3(source: str) -> bool:
    """Whether a source names an S3 prefix rather than a folder."""
    return source.startswith(S3_SCHEME)


def _segment_problem(segment: str) -> str | None:
    if segment in ("", ".", ".."):
        return f"a path segment {segment!r}"
    if _UNSAFE_SEGMENT_CHARS.search(segment):
        return f"a control character, '\\' or ':' in {segment!r}"
    return None


def parse_s3_source(field: str, source: str, allowed_buckets: list[str]) -> S3Source | Problem:
    """An ``S3Source`` from ``s3://bucket/prefix/``, or the problem with it."""
    expected = "s3://<bucket>/<prefix>/ in one of package.source_buckets (" + (
        ", ".join(allowed_buckets) or "none listed"
    )
    bucket, _, prefix = source.removeprefix(S3_SCHEME).partition("/")
    if rules.bucket_name(bucket) is not None:
        return wrong(field, "not an S3 bucket name", bucket, expected + ")")
    if bucket not in allowed_buckets:
        return wrong(field, "not a bucket the plan allows sources from", bucket, expected + ")")
    segments = prefix.removesuffix("/").split("/")
    for segment in segments:
        problem = _segment_problem(segment)
        if problem is not None:
            return wrong(field, f"not a safe S3 prefix ({problem})", source, expected + ")")
    return S3Source(bucket, "/".join(segments) + "/")


def confine_folder(field: str, source: str, root: Path) -> Path | Problem:
    """The resolved folder ``source`` names under ``root``, or the problem with it.

    Checked as written (relative, no ``..``) and again after resolving symlinks, so a
    symlink inside the root cannot lead out of it.
    """
    expected = f"a folder relative to the packages root {root}, without '..'"
    written = PurePosixPath(source)
    if source.startswith(("/", "\\")) or written.is_absolute() or re.match(r"^[A-Za-z]:", source):
        return wrong(field, "an absolute path", source, expected)
    for segment in written.parts:
        problem = _segment_problem(segment)
        if problem is not None and segment != ".":
            return wrong(field, f"not a confined path ({problem})", source, expected)
    if written.parts in ((), (".",)):
        return wrong(field, "the packages root itself", source, "a package folder under it")
    real_root = root.resolve()
    resolved = (real_root / written).resolve()
    if not resolved.is_relative_to(real_root) or resolved == real_root:
        return wrong(field, "leads out of the packages root (through a symlink)", source, expected)
    if not resolved.is_dir():
        return wrong(
            field,
            "not an existing folder",
            source,
            f"a package folder under the packages root {root} ({resolved} does not exist)",
        )
    return resolved


def object_path(source: S3Source, key: str) -> PurePosixPath | str:
    """The relative path an object of the source is stored at, or why it cannot be.

    A key such as ``prefix/../../etc/x`` or ``prefix/a\\b`` would write outside the
    download folder (or outside the package folder on a Windows node): refused.
    """
    relative = key.removeprefix(source.prefix)
    if relative == key:
        return f"{key!r} is not under {source.prefix!r}"
    for segment in relative.split("/"):
        problem = _segment_problem(segment)
        if problem is not None:
            return f"{key!r} holds {problem}"
    return PurePosixPath(relative)
