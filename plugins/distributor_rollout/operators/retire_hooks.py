"""The AWS calls only a retire makes: ``DeleteStackSet``, and emptying and deleting a
versioned bucket.

Thin hooks over the project's StackSets and S3 hooks, one call per method (plus
pagination and batching), service errors turned into results or domain errors as those
hooks do. They belong in ``hooks/stack_set.py`` and ``hooks/package_bucket.py``; they
live beside the retire operators until they move there, and nothing else imports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from distributor_rollout.hooks.errors import AwsRolloutError, OperationInProgress
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.retries import error_code
from distributor_rollout.hooks.stack_set import StackSetHook

DELETE_BATCH = 1000
"""``DeleteObjects`` takes at most 1,000 keys (versions) per call."""

DeleteStackSetResult = Literal["deleted", "absent", "not_empty"]


class RetireStackSetHook(StackSetHook):
    """``StackSetHook`` with ``DeleteStackSet``."""

    def delete_stack_set(self, stack_set_name: str, *, call_as: str) -> DeleteStackSetResult:
        """``DeleteStackSet``: ``deleted``, ``absent`` (no such stack set: already deleted)
        or ``not_empty`` (it still has instances); ``OperationInProgress`` while an
        operation runs on it."""
        try:
            self.conn.delete_stack_set(StackSetName=stack_set_name, CallAs=call_as)
        except ClientError as error:
            code = error_code(error)
            if code == "StackSetNotFoundException":
                return "absent"
            if code == "StackSetNotEmptyException":
                return "not_empty"
            if code == "OperationInProgressException":
                raise OperationInProgress(stack_set_name, str(error)) from error
            raise
        return "deleted"


class RetireBucketHook(PackageBucketHook):
    """``PackageBucketHook`` with what emptying and deleting a versioned bucket takes."""

    def object_versions(self, bucket: str) -> list[dict[str, str]]:
        """``ListObjectVersions``, every page: each object version and delete marker as
        ``{"Key", "VersionId"}`` (what ``DeleteObjects`` takes)."""
        paginator = self.conn.get_paginator("list_object_versions")
        found: list[dict[str, str]] = []
        for page in paginator.paginate(Bucket=bucket):
            for item in (*page.get("Versions", ()), *page.get("DeleteMarkers", ())):
                found.append({"Key": item["Key"], "VersionId": item.get("VersionId") or "null"})
        return found

    def delete_versions(self, bucket: str, versions: Sequence[dict[str, str]]) -> None:
        """``DeleteObjects`` of these versions, 1,000 at a time (each deleted for good);
        raises naming the first version S3 refused."""
        for start in range(0, len(versions), DELETE_BATCH):
            batch = list(versions[start : start + DELETE_BATCH])
            response = self.conn.delete_objects(
                Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
            )
            errors: list[dict[str, Any]] = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise AwsRolloutError(
                    f"S3 refused to delete {len(errors)} object versions of {bucket}, e.g. "
                    f"{first.get('Key')} ({first.get('VersionId')}): {first.get('Code')} "
                    f"{first.get('Message')}"
                )

    def delete_bucket(self, bucket: str) -> bool:
        """``DeleteBucket``: True when deleted, False when it was already gone."""
        try:
            self.conn.delete_bucket(Bucket=bucket)
        except ClientError as error:
            if error_code(error) == "NoSuchBucket":
                return False
            raise
        return True
