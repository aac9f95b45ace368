"""Download a package source from S3 (``s3://bucket/prefix/``), verified on the worker.

A thin hook over ``boto3.client("s3")``. The bucket's contents are not trusted: every key
must map to a safe relative path, the source is bounded in files and bytes before any
byte is downloaded, and each object is checked on arrival against the size the listing
gave and, where S3 holds one, its full-object sha256 checksum.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.errors import RolloutError
from distributor_rollout.core.source_location import (
    MAX_SOURCE_BYTES,
    MAX_SOURCE_OBJECTS,
    S3Source,
    object_path,
)
from distributor_rollout.hooks.retries import RetryingAwsHook, error_code

CHUNK = 1024 * 1024


class SourceDownloadError(RolloutError):
    """An S3 package source cannot be used: missing, unsafe, too large or altered."""


@dataclass(frozen=True)
class SourceObject:
    """One object of an S3 source, as listed."""

    key: str
    size: int


class SourceBucketHook(RetryingAwsHook):
    """Reads package sources from S3 (``boto3.client("s3")``).

    Extra arguments (``aws_conn_id``, ``region_name``...) go to ``AwsBaseHook``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "s3"
        super().__init__(*args, **kwargs)

    def list_source(self, source: S3Source) -> list[SourceObject]:
        """Every object under the prefix (folder markers left out), checked for safety and
        size before anything is downloaded."""
        objects: list[SourceObject] = []
        total = 0
        paginator = self.conn.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=source.bucket, Prefix=source.prefix):
                for item in page.get("Contents", []):
                    key, size = str(item["Key"]), int(item.get("Size", 0))
                    if key.endswith("/") and size == 0:
                        continue
                    where = object_path(source, key)
                    if isinstance(where, str):
                        raise SourceDownloadError(
                            f"{source.url}: {where}; a package source holds only keys that "
                            "are safe relative paths"
                        )
                    objects.append(SourceObject(key, size))
                    total += size
                    if len(objects) > MAX_SOURCE_OBJECTS or total > MAX_SOURCE_BYTES:
                        raise SourceDownloadError(
                            f"{source.url}: more than {MAX_SOURCE_OBJECTS} files or "
                            f"{MAX_SOURCE_BYTES // 1024**3} GiB; not a package source"
                        )
        except ClientError as error:
            raise SourceDownloadError(
                f"{source.url}: cannot be listed ({error_code(error)}); the runner needs "
                "s3:ListBucket on the bucket"
            ) from error
        if not objects:
            raise SourceDownloadError(f"{source.url}: holds no files")
        return objects

    def download_source(self, source: S3Source, into: Path) -> list[SourceObject]:
        """Download every object of ``source`` below ``into`` (an empty folder); verified."""
        objects = self.list_source(source)
        for item in objects:
            relative = object_path(source, item.key)
            assert not isinstance(relative, str)  # list_source refused the rest
            target = into.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._download(source, item, target)
        return objects

    def _download(self, source: S3Source, item: SourceObject, target: Path) -> None:
        try:
            response = self.conn.get_object(
                Bucket=source.bucket, Key=item.key, ChecksumMode="ENABLED"
            )
        except ClientError as error:
            raise SourceDownloadError(
                f"s3://{source.bucket}/{item.key}: cannot be read ({error_code(error)})"
            ) from error
        digest, size = hashlib.sha256(), 0
        with target.open("xb") as out:
            for chunk in response["Body"].iter_chunks(CHUNK):
                size += len(chunk)
                if size > item.size:
                    break
                digest.update(chunk)
                out.write(chunk)
        if size != item.size:
            raise SourceDownloadError(
                f"s3://{source.bucket}/{item.key}: {size} bytes arrived, the listing said "
                f"{item.size}; the source changed while it was read: try again"
            )
        # A composite checksum (multipart upload, "<digest>-<parts>") is not the object's
        # sha256; only a full-object checksum can be compared.
        stored = response.get("ChecksumSHA256")
        if stored and response.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
            actual = base64.b64encode(digest.digest()).decode()
            if "-" not in stored and stored != actual:
                raise SourceDownloadError(
                    f"s3://{source.bucket}/{item.key}: its bytes do not match the sha256 "
                    "checksum S3 holds for it"
                )
