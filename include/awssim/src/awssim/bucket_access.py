"""S3 HeadBucket as AWS answers a caller that is not the bucket's owner.

moto's HeadBucket answers 200 for any existing bucket, whoever asks, and 404 for a missing
one. AWS also answers 403 (no body, so botocore's error code is ``403``, message
``Forbidden``) when the caller may not list the bucket: the bucket belongs to another
account whose bucket policy does not allow the caller's account ``s3:ListBucket``, or the
request's ``ExpectedBucketOwner`` is not the owner. The 403 still carries the bucket's
Region in ``x-amz-bucket-region``, as S3 sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.s3.models import s3_backends
from moto.s3.responses import S3Response

from awssim import runtime
from awssim.bucket_policy import account_allowed, request_context

_installed = False


def _owner_checked(original: Callable[[S3Response], Any]) -> Callable[[S3Response], Any]:
    def head_bucket(self: S3Response) -> Any:
        status, headers, body = original(self)
        located = s3_backends.bucket_accounts.get(self.bucket_name)
        if status != 200 or located is None:
            return status, headers, body
        partition, owner = located
        caller = self.current_account
        expected = self.headers.get("x-amz-expected-bucket-owner")
        if (expected and expected != owner) or (
            caller != owner and not _lets_list(partition, owner, self.bucket_name, caller)
        ):
            return 403, {"x-amz-bucket-region": headers.get("x-amz-bucket-region", "")}, ""
        return status, headers, body

    return head_bucket


def _lets_list(partition: str, owner: str, bucket_name: str, caller: str) -> bool:
    bucket = s3_backends[owner][partition].buckets[bucket_name]
    sim = runtime.current()
    org_id = sim.org.org_id if sim.org.is_member(caller) else None
    context = {**request_context(org_id), "aws:principalaccount": caller}
    return account_allowed(
        bucket.policy, "s3:ListBucket", f"arn:aws:s3:::{bucket_name}", caller, context
    )


def install() -> None:
    """Patch moto's HeadBucket (idempotent)."""
    global _installed  # noqa: PLW0603 - one patch per process
    if not _installed:
        S3Response.head_bucket = _owner_checked(S3Response.head_bucket)  # type: ignore[method-assign,assignment]
        _installed = True
