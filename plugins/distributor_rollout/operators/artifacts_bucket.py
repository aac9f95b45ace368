"""The artifacts bucket as Prepare uses it: checked, secured, and holding templates under
their content address and the run's release record.

Where things go and what may be used are ``core.artifacts``' decisions; this module makes
the S3 calls through ``PackageBucketHook`` and logs what it does (or, in a dry run, what
it would do).
"""

from __future__ import annotations

from dataclasses import dataclass

from distributor_rollout.core.artifacts import (
    artifacts_bucket_refusal,
    s3_object_url,
    template_key,
    template_sha256,
    template_url,
)
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.package_bucket import MANAGED_TAG, PackageBucketHook, same_policy
from distributor_rollout.operators.task_log import TaskLog


@dataclass(frozen=True)
class ArtifactsBucket:
    """The stack set's artifacts bucket (``bucket`` in ``region``), read and written
    through ``s3``; ``log`` is the task's logger."""

    s3: PackageBucketHook
    bucket: str
    region: str
    log: TaskLog

    def must_create(self, account: str) -> bool:
        """Whether the bucket must be created; raise if it cannot be used."""
        head = self.s3.head_bucket(self.bucket, owner=account)
        refusal = artifacts_bucket_refusal(
            self.bucket, self.region, account=account, state=head.state, found_region=head.region
        )
        if refusal:
            raise ConfigurationError(refusal)
        return head.state == "missing"

    def secure(self, runner: str, *, missing_bucket: bool, dry_run: bool = False) -> None:
        """Create the bucket secured, or secure the one there if it is ours.

        A new bucket gets public access blocked, bucket-owner-enforced ownership,
        versioning, SSE-S3 default encryption, the ``MANAGED_TAG`` tag and the policy that
        lets only the runner write, over TLS only. An existing bucket tagged
        ``MANAGED_TAG`` (this product created it) gets whatever of these it lacks; one
        without the tag is someone else's to configure: what it lacks is logged as a
        warning and left as it is. A dry run only logs.
        """
        s3, bucket = self.s3, self.bucket
        if missing_bucket and dry_run:
            self.log.info("Dry run: would create artifacts bucket %s in %s", bucket, self.region)
            return
        policy = s3.artifacts_policy(bucket, runner_principal_arn=runner)
        if missing_bucket:
            self.log.info("Creating artifacts bucket %s (writable by %s only)", bucket, runner)
            s3.create_bucket(bucket)
            s3.tag_bucket(bucket, {MANAGED_TAG: "true"})
            s3.put_bucket_policy(bucket, policy)
            return
        missing = s3.missing_baseline(bucket)
        if not same_policy(s3.bucket_policy(bucket), policy):
            missing.append("bucket policy")
        if not missing:
            return
        if s3.bucket_tags(bucket).get(MANAGED_TAG) != "true":
            self.log.warning(
                "Artifacts bucket %s lacks %s, but it is not tagged %s (this product did "
                "not create it): left as it is; its owner should apply distributor_rollout/"
                "resources/iam/artifacts-bucket-policy.json and the settings in its README.md",
                bucket,
                ", ".join(missing),
                MANAGED_TAG,
            )
            return
        if dry_run:
            self.log.info("Dry run: would apply %s to artifacts bucket %s", missing, bucket)
            return
        self.log.info("Applying %s to artifacts bucket %s", ", ".join(missing), bucket)
        s3.apply_baseline(bucket, missing)
        if "bucket policy" in missing:
            s3.put_bucket_policy(bucket, policy)

    def template(
        self, stack_set_name: str, text: str, *, missing_bucket: bool, dry_run: bool
    ) -> str:
        """The template's URL under its content address: stored (``store_template``), or
        in a dry run only addressed (``log_template``)."""
        if not dry_run:
            return self.store_template(stack_set_name, text)
        self.log_template(stack_set_name, text, missing_bucket=missing_bucket)
        return template_url(self.bucket, self.region, stack_set_name, text)

    def store_template(self, stack_set_name: str, text: str) -> str:
        """Put the template under its content address unless it is there; its URL.

        An object already there is reused only if its bytes still hash to the address
        (``ArtifactDigestMismatch`` otherwise, before any StackSets call)."""
        key = template_key(stack_set_name, text)
        if self.s3.head_object(self.bucket, key) is None:
            self.log.info("Storing template s3://%s/%s", self.bucket, key)
            self.s3.put_text(self.bucket, key, text, content_type="application/x-yaml")
        else:
            self.s3.get_checked_text(self.bucket, key, sha256=template_sha256(text))
            self.log.info(
                "Template s3://%s/%s is already stored (sha256 checked)", self.bucket, key
            )
        return s3_object_url(self.bucket, self.region, key)

    def log_template(self, stack_set_name: str, text: str, *, missing_bucket: bool) -> None:
        """Dry run: whether a template would be stored or is already there (reads only)."""
        key = template_key(stack_set_name, text)
        if not missing_bucket and self.s3.head_object(self.bucket, key) is not None:
            self.log.info("Dry run: template s3://%s/%s is already stored", self.bucket, key)
        else:
            self.log.info("Dry run: would store template s3://%s/%s", self.bucket, key)

    def recorded_release(self, key: str, digest: str | None) -> str | None:
        """This run's release record, checked against the digest the task's state store
        holds. Where the store holds none (no store, or one Airflow did not keep across
        the re-run), there is nothing to check by: the record is used with a warning."""
        if digest is None:
            self.log.warning(
                "No recorded digest: release record s3://%s/%s unchecked", self.bucket, key
            )
        return self.s3.get_checked_text(self.bucket, key, sha256=digest, unchecked=digest is None)
