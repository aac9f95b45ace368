"""S3 buckets the rollout writes to: package buckets (one per Region) and the artifacts bucket.

A thin hook over ``boto3.client("s3")``: one call per method (plus pagination, and the
batches of ``DeleteObjects`` that empty a bucket a retire deletes), service errors turned
into the domain errors of ``hooks.errors``. The client's Region matters (buckets are
created in it, and each Region has its own package bucket), so callers make one hook per
Region.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.artifacts import sha256_hex
from distributor_rollout.core.principals import with_any_path
from distributor_rollout.hooks.errors import (
    ArtifactDigestMismatch,
    AwsRolloutError,
    ConfigurationError,
)
from distributor_rollout.hooks.retries import RetryingAwsHook, error_code, http_status
from distributor_rollout.resources import iam_policy

BUCKET_POLICY_PATH = iam_policy("package-bucket-policy.json")
ARTIFACTS_POLICY_PATH = iam_policy("artifacts-bucket-policy.json")
MANAGED_TAG = "distributor-rollout:managed"
"""Tags a bucket this product created: its settings are the product's to (re)apply."""
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
OWNERSHIP_CONTROLS = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
"""SSE-S3: the plan names no KMS key (SSE-KMS would need the key's policy to let every
reader decrypt, StackSets' execution roles included)."""
BASELINE = ("public access block", "object ownership", "versioning", "default encryption")
"""The settings every bucket of the product gets (``PackageBucketHook.missing_baseline``)."""
_ABSENT_CODES = frozenset(
    {
        "NoSuchPublicAccessBlockConfiguration",
        "OwnershipControlsNotFoundError",
        "ServerSideEncryptionConfigurationNotFoundError",
        "NoSuchTagSet",
        "NoSuchBucketPolicy",
    }
)

#: The object metadata key (``x-amz-meta-sha256``) holding the hex sha256 of the object.
SHA256_METADATA = "sha256"

DELETE_BATCH = 1000
"""``DeleteObjects`` takes at most 1,000 keys (versions) per call."""

BucketState = Literal["exists", "missing", "not_yours"]


@dataclass(frozen=True)
class BucketHead:
    """What ``HeadBucket`` says about a bucket: its state and, when it exists, its Region."""

    state: BucketState
    region: str | None = None


@dataclass(frozen=True)
class StoredObject:
    """An object's key and the hex sha256 it was stored with (None when none was recorded)."""

    key: str
    sha256: str | None


def render_bucket_policy(
    template: str, *, bucket: str, organization_id: str, partition: str = "aws"
) -> str:
    """The package-bucket policy for one bucket: organization-read, TLS only.

    ``string.Template.substitute`` fails on a placeholder left without a value, so a new
    placeholder in the policy file cannot slip through as an empty string.
    """
    text = string.Template(template).substitute(BucketName=bucket, OrganizationId=organization_id)
    return text.replace("arn:aws:", f"arn:{partition}:")


def render_artifacts_policy(
    template: str, *, bucket: str, runner_principal_arn: str, partition: str = "aws"
) -> str:
    """The artifacts-bucket policy: only the runner (``aws:PrincipalArn``, with or without
    a path) writes or deletes objects, and only over TLS."""
    text = string.Template(template).substitute(
        BucketName=bucket,
        RunnerPrincipalArn=runner_principal_arn,
        RunnerPrincipalArnAnyPath=with_any_path(runner_principal_arn),
    )
    return text.replace("arn:aws:s3:", f"arn:{partition}:s3:")


def same_policy(a: str | None, b: str) -> bool:
    """Whether two policy documents say the same (JSON, whitespace aside)."""
    try:
        return a is not None and json.loads(a) == json.loads(b)
    except ValueError:
        return False


class PackageBucketHook(RetryingAwsHook):
    """Package and artifacts buckets in the hook's Region (``boto3.client("s3")``).

    Extra arguments (``aws_conn_id``, ``region_name``...) go to ``AwsBaseHook``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "s3"
        super().__init__(*args, **kwargs)

    # Buckets ----------------------------------------------------------------------------

    def head_bucket(self, bucket: str, *, owner: str) -> BucketHead:
        """``HeadBucket`` with ``ExpectedBucketOwner``: exists (ours), missing or not yours.

        S3 answers 403 both for a bucket of another account and for one this caller may
        not read; either way the rollout cannot publish to it.
        """
        try:
            response = self.conn.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
        except ClientError as error:
            status = http_status(error)
            if status == 404 or error_code(error) in {"404", "NoSuchBucket"}:
                return BucketHead("missing")
            if status == 403 or error_code(error) in {"403", "AccessDenied"}:
                return BucketHead("not_yours")
            raise
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        region = response.get("BucketRegion") or headers.get("x-amz-bucket-region")
        return BucketHead("exists", region)

    def create_bucket(self, bucket: str) -> None:
        """``CreateBucket`` in the hook's Region (``LocationConstraint`` outside us-east-1).

        A bucket this account already owns is success (a retried task); a name another
        account holds is a ConfigurationError.
        """
        region = self.conn_region_name
        request: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.conn.create_bucket(**request)
        except ClientError as error:
            if error_code(error) == "BucketAlreadyOwnedByYou":
                self.apply_baseline(bucket, self.missing_baseline(bucket))
                return
            if error_code(error) == "BucketAlreadyExists":
                raise ConfigurationError(
                    f"bucket {bucket} (Region {region}) cannot be created: another account "
                    "owns that name; change the plan's bucket pattern"
                ) from error
            raise
        self.apply_baseline(bucket, BASELINE)

    def delete_bucket(self, bucket: str, *, owner: str) -> bool:
        """``DeleteBucket`` with ``ExpectedBucketOwner``: True when deleted, False when it
        was already gone. S3 refuses a bucket that still holds object versions
        (``BucketNotEmpty``): empty it first (``delete_versions``)."""
        try:
            self.conn.delete_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
        except ClientError as error:
            if error_code(error) == "NoSuchBucket":
                return False
            raise
        return True

    def _absent_is_none(self, call: Any, **request: Any) -> Any:
        """A Get* of a bucket setting; None when the bucket has none."""
        try:
            return call(**request)
        except ClientError as error:
            if error_code(error) in _ABSENT_CODES:
                return None
            raise

    def missing_baseline(self, bucket: str) -> list[str]:
        """Which of ``BASELINE`` the bucket lacks (reads only)."""
        missing = []
        block = self._absent_is_none(self.conn.get_public_access_block, Bucket=bucket)
        if block is None or block["PublicAccessBlockConfiguration"] != PUBLIC_ACCESS_BLOCK:
            missing.append("public access block")
        ownership = self._absent_is_none(self.conn.get_bucket_ownership_controls, Bucket=bucket)
        if ownership is None or ownership["OwnershipControls"] != OWNERSHIP_CONTROLS:
            missing.append("object ownership")
        if self.conn.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            missing.append("versioning")
        encryption = self._absent_is_none(self.conn.get_bucket_encryption, Bucket=bucket)
        if encryption is None or not encryption["ServerSideEncryptionConfiguration"]["Rules"]:
            missing.append("default encryption")
        return missing

    def apply_baseline(self, bucket: str, settings: Sequence[str]) -> None:
        """Put each of ``settings`` (names from ``BASELINE``): public access blocked,
        bucket-owner-enforced ownership, versioning, SSE-S3 default encryption."""
        if "public access block" in settings:
            self.conn.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK
            )
        if "object ownership" in settings:
            self.conn.put_bucket_ownership_controls(
                Bucket=bucket, OwnershipControls=OWNERSHIP_CONTROLS
            )
        if "versioning" in settings:
            self.conn.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        if "default encryption" in settings:
            self.conn.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration=DEFAULT_ENCRYPTION
            )

    def bucket_tags(self, bucket: str) -> dict[str, str]:
        """``GetBucketTagging``: the bucket's tags ({} when it has none)."""
        tagging = self._absent_is_none(self.conn.get_bucket_tagging, Bucket=bucket)
        return {tag["Key"]: tag["Value"] for tag in (tagging or {}).get("TagSet", [])}

    def tag_bucket(self, bucket: str, tags: Mapping[str, str]) -> None:
        """``PutBucketTagging`` (replaces the bucket's tags)."""
        tag_set = [{"Key": key, "Value": value} for key, value in tags.items()]
        self.conn.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set})

    def bucket_policy(self, bucket: str) -> str | None:
        """``GetBucketPolicy``: the policy document, or None when the bucket has none."""
        found = self._absent_is_none(self.conn.get_bucket_policy, Bucket=bucket)
        return None if found is None else str(found["Policy"])

    def artifacts_policy(self, bucket: str, *, runner_principal_arn: str) -> str:
        """The artifacts-bucket policy for ``bucket`` (``render_artifacts_policy``)."""
        return render_artifacts_policy(
            ARTIFACTS_POLICY_PATH.read_text(encoding="utf-8"),
            bucket=bucket,
            runner_principal_arn=runner_principal_arn,
            partition=self.conn_partition,
        )

    def put_bucket_policy(self, bucket: str, policy: str) -> None:
        """``PutBucketPolicy``."""
        self.conn.put_bucket_policy(Bucket=bucket, Policy=policy)

    def has_bucket_policy(self, bucket: str) -> bool:
        """``GetBucketPolicy``: whether the bucket has a policy at all."""
        try:
            self.conn.get_bucket_policy(Bucket=bucket)
        except ClientError as error:
            if error_code(error) == "NoSuchBucketPolicy":
                return False
            raise
        return True

    def put_package_bucket_policy(
        self, bucket: str, *, organization_id: str, policy_path: Traversable = BUCKET_POLICY_PATH
    ) -> str:
        """``PutBucketPolicy`` with the organization-read, TLS-only policy; returns it."""
        policy = render_bucket_policy(
            policy_path.read_text(encoding="utf-8"),
            bucket=bucket,
            organization_id=organization_id,
            partition=self.conn_partition,
        )
        self.conn.put_bucket_policy(Bucket=bucket, Policy=policy)
        return policy

    # Objects ----------------------------------------------------------------------------

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """``ListObjectsV2``, every page: the keys under ``prefix``."""
        paginator = self.conn.get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def object_versions(self, bucket: str, *, owner: str) -> list[dict[str, str]]:
        """``ListObjectVersions`` with ``ExpectedBucketOwner``, every page: each object
        version and delete marker as ``{"Key", "VersionId"}`` (what ``DeleteObjects``
        takes; ``"null"`` for one written while versioning was off)."""
        paginator = self.conn.get_paginator("list_object_versions")
        found: list[dict[str, str]] = []
        for page in paginator.paginate(Bucket=bucket, ExpectedBucketOwner=owner):
            for item in (*page.get("Versions", ()), *page.get("DeleteMarkers", ())):
                found.append({"Key": item["Key"], "VersionId": item.get("VersionId") or "null"})
        return found

    def delete_versions(
        self, bucket: str, versions: Sequence[Mapping[str, str]], *, owner: str
    ) -> None:
        """``DeleteObjects`` with ``ExpectedBucketOwner`` of these versions (each deleted
        for good), ``DELETE_BATCH`` at a time; raises ``AwsRolloutError`` naming how many
        versions S3 refused and the first of them."""
        for start in range(0, len(versions), DELETE_BATCH):
            batch = [dict(version) for version in versions[start : start + DELETE_BATCH]]
            response = self.conn.delete_objects(
                Bucket=bucket, Delete={"Objects": batch, "Quiet": True}, ExpectedBucketOwner=owner
            )
            errors: list[dict[str, Any]] = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise AwsRolloutError(
                    f"S3 refused to delete {len(errors)} object versions of {bucket}, e.g. "
                    f"{first.get('Key')} ({first.get('VersionId')}): {first.get('Code')} "
                    f"{first.get('Message')}"
                )

    def head_object(self, bucket: str, key: str) -> StoredObject | None:
        """``HeadObject``: the object's recorded sha256, or None when the key does not exist.

        The sha256 comes from the ``sha256`` metadata this hook writes, else from S3's own
        SHA-256 checksum when the object was uploaded with one.
        """
        try:
            response = self.conn.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as error:
            if http_status(error) == 404 or error_code(error) in {"404", "NoSuchKey"}:
                return None
            raise
        sha256 = (response.get("Metadata") or {}).get(SHA256_METADATA)
        checksum = response.get("ChecksumSHA256")
        # A multipart checksum ("<base64>-<parts>") is not the object's sha256.
        if sha256 is None and checksum and "-" not in checksum:
            sha256 = base64.b64decode(checksum).hex()
        return StoredObject(key, sha256)

    def upload_file(
        self, bucket: str, key: str, path: Path, *, sha256: str, content_type: str
    ) -> None:
        """``PutObject`` of a local file, recording ``sha256`` in its metadata.

        ``ChecksumSHA256`` makes S3 refuse the upload if the bytes sent are not the bytes
        the build hashed.
        """
        with path.open("rb") as body:
            self.conn.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata={SHA256_METADATA: sha256},
                ChecksumSHA256=_checksum_sha256(sha256),
            )

    def put_text(self, bucket: str, key: str, text: str, *, content_type: str) -> str:
        """``PutObject`` of a small UTF-8 document (JSON, YAML); returns its hex sha256."""
        data = text.encode("utf-8")
        sha256 = sha256_hex(data)
        self.conn.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata={SHA256_METADATA: sha256},
            ChecksumSHA256=_checksum_sha256(sha256),
        )
        return sha256

    def get_checked_text(
        self, bucket: str, key: str, *, sha256: str | None, unchecked: bool = False
    ) -> str | None:
        """``GetObject`` of a small UTF-8 document whose bytes must hash to ``sha256``; None
        when the key does not exist.

        The digest is computed here from the bytes read, never taken from the object's
        metadata (whoever can replace an object can set its metadata too). Raises
        ``ArtifactDigestMismatch`` naming the object, the expected and the actual digest
        when they differ, or when ``sha256`` is None (nothing recorded to trust it by),
        unless ``unchecked`` (a caller that has no digest to check by, and says so).
        """
        try:
            response = self.conn.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error_code(error) == "NoSuchKey":
                return None
            raise
        data = response["Body"].read()
        actual = sha256_hex(data)
        if actual != sha256 and not unchecked:
            raise ArtifactDigestMismatch(bucket, key, sha256, actual)
        return str(data.decode("utf-8"))


def _checksum_sha256(sha256: str) -> str:
    """A hex sha256 as ``PutObject``'s ``ChecksumSHA256`` (base64 of the digest's bytes),
    so S3 refuses the upload if the bytes it received do not hash to it."""
    return base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
