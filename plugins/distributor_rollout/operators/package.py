"""The package tasks: publish a built version to one package bucket per target Region.

What to publish where is decided in ``core.publish`` from what the buckets hold; the Build
task, and the build on a worker that a task rebuilds when it runs elsewhere, are
``package_build``'s (its operator is importable from here too, beside Publish).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.publish import (
    PackageObject,
    RegionPublish,
    conflict_refusal,
    existing_bucket_publish,
    home_region,
    new_bucket_publish,
    package_bucket_refusal,
    package_objects,
    publish_regions,
    publish_summary,
    version_prefix,
)
from distributor_rollout.core.rules import fill_bucket_pattern
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.source_bucket import SourceBucketHook
from distributor_rollout.links.console import PackageLink
from distributor_rollout.operators.package_build import ensure_build
from distributor_rollout.run_config import load_run_config

if TYPE_CHECKING:
    from airflow.sdk import Context


class PublishPackageOperator(AwsBaseOperator[PackageBucketHook]):
    """Publish a built package version to the package bucket of every target Region.

    Target Regions are those of the waves this run runs; each Region's bucket is the plan's
    bucket pattern for the caller's account and that Region. Every Region is checked first
    (bucket present or creatable, no object of this version stored with other bytes), and
    only then are missing buckets created (with the organization-read, TLS-only policy)
    and missing objects uploaded, zips first and manifest.json last. Objects already there
    with the same sha256 are skipped, so a retry uploads nothing twice. Returns
    ``{"regions": {region: bucket}, "uploaded": n, "skipped": n}``.

    In a dry run (the run's ``dry_run`` param) every check is made as usual (a conflict
    still fails the task), then, per Region, what would be created, uploaded and skipped
    is logged, and nothing is created, uploaded or given a policy. The same summary is
    returned, ``uploaded`` counting what would be uploaded, with ``"dry_run": True``.

    :param plan_path: the rollout plan file (templated)
    :param run_params: the run's trigger params, e.g. ``"{{ params }}"`` (templated)
    :param build: the Build task's return value (templated, from XCom)
    :param build_root: folder for builds (templated); default ``$AIRFLOW_HOME/distributor-builds``
    :param aws_conn_id: The Airflow connection used for AWS credentials (the delegated
        administrator account).
    :param region_name: AWS region_name; the buckets' Regions come from the plan.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    aws_hook_class = PackageBucketHook
    template_fields: Sequence[str] = aws_template_fields(
        "plan_path", "run_params", "build", "build_root"
    )
    operator_extra_links = (PackageLink(),)
    ui_color = "#f4d9b1"

    def __init__(
        self,
        *,
        plan_path: str,
        build: Mapping[str, Any] | str,
        run_params: Mapping[str, Any] | None = None,
        build_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params
        self.build = build
        self.build_root = build_root

    def execute(self, context: Context) -> dict[str, Any]:
        """Check every Region, then create buckets and upload what is missing."""
        if not isinstance(self.build, Mapping):
            raise TypeError(f"build must be the Build task's result (a dict), got {self.build!r}")
        config = load_run_config(self.plan_path, self.run_params)
        plan = config.plan
        downloader = SourceBucketHook(**self._hook_parameters).download_source
        out = ensure_build(plan, self.build, self.build_root, downloader)
        identity = AccountIdentityHook(**self._hook_parameters)
        account = identity.caller_account_id()
        prefix = version_prefix(plan)
        objects = package_objects(self.build)
        hooks = {region: self._bucket_hook(region) for region in publish_regions(config)}
        publishes = [
            self._check(plan, hooks[r], r, account=account, prefix=prefix, objects=objects)
            for r in hooks
        ]
        if refusal := conflict_refusal(plan.package.built_version, publishes):
            raise ConfigurationError(refusal)
        summary = publish_summary(publishes)
        if config.dry_run:
            for step in publishes:
                self._log_dry_run(step, prefix)
            return {**summary, "dry_run": True}
        self._publish(publishes, hooks, out, prefix, identity)

        home = home_region(plan, list(hooks))
        PackageLink.persist(
            context=context,
            operator=self,
            region_name=home,
            aws_partition=hooks[home].conn_partition,
            bucket=summary["regions"][home],
            prefix=prefix.rstrip("/"),
        )
        return summary

    def _log_dry_run(self, step: RegionPublish, prefix: str) -> None:
        """What publishing to one Region would do."""
        if step.create_bucket:
            self.log.info("Dry run: %s: would create bucket %s", step.region, step.bucket)
        if step.put_policy:
            self.log.info(
                "Dry run: %s: would put the organization-read policy on %s",
                step.region,
                step.bucket,
            )
        for item in step.upload:
            self.log.info(
                "Dry run: %s: would upload s3://%s/%s%s",
                step.region,
                step.bucket,
                prefix,
                item.name,
            )
        self.log.info(
            "Dry run: %s: %d would be uploaded, %d already there",
            step.region,
            len(step.upload),
            step.skipped,
        )

    def _bucket_hook(self, region: str) -> PackageBucketHook:
        return PackageBucketHook(**{**self._hook_parameters, "region_name": region})

    @staticmethod
    def _check(
        plan: Plan,
        hook: PackageBucketHook,
        region: str,
        *,
        account: str,
        prefix: str,
        objects: Sequence[PackageObject],
    ) -> RegionPublish:
        """Read-only: what this Region needs (``core.publish`` decides from what is read)."""
        bucket = fill_bucket_pattern(plan.package.bucket_pattern, account_id=account, region=region)
        head = hook.head_bucket(bucket, owner=account)
        refusal = package_bucket_refusal(
            bucket,
            region,
            account=account,
            state=head.state,
            found_region=head.region,
            create_buckets=plan.package.create_buckets,
        )
        if refusal:
            raise ConfigurationError(refusal)
        if head.state == "missing":
            return new_bucket_publish(region, bucket, objects)
        has_policy = hook.has_bucket_policy(bucket)
        # A bucket the run did not create is not reconfigured: what it lacks is reported.
        missing_baseline = hook.missing_baseline(bucket)
        stored = [
            s for key in hook.list_keys(bucket, prefix) if (s := hook.head_object(bucket, key))
        ]
        return existing_bucket_publish(
            region,
            bucket,
            prefix,
            objects,
            stored,
            has_policy=has_policy,
            missing_baseline=missing_baseline,
        )

    def _publish(
        self,
        publishes: Sequence[RegionPublish],
        hooks: Mapping[str, PackageBucketHook],
        out: Path,
        prefix: str,
        identity: AccountIdentityHook,
    ) -> None:
        organization_id: str | None = None
        for step in publishes:
            hook = hooks[step.region]
            if step.missing_baseline:
                self.log.warning(
                    "Package bucket %s lacks %s: the runner applies them only to buckets it "
                    "creates; set them on the bucket (distributor_rollout/resources/iam/README.md)",
                    step.bucket,
                    ", ".join(step.missing_baseline),
                )
            if step.create_bucket:
                self.log.info("Creating bucket %s in %s", step.bucket, step.region)
                hook.create_bucket(step.bucket)
            if step.put_policy:
                if organization_id is None:
                    organization_id = identity.organization_id()
                self.log.info("Putting the organization-read policy on %s", step.bucket)
                hook.put_package_bucket_policy(step.bucket, organization_id=organization_id)
            # manifest.json is last in package_objects: a version whose manifest is in the
            # bucket has all its zips there.
            for item in step.upload:
                self.log.info("Uploading s3://%s/%s%s", step.bucket, prefix, item.name)
                hook.upload_file(
                    step.bucket,
                    prefix + item.name,
                    out / item.name,
                    sha256=item.sha256,
                    content_type=item.content_type,
                )
            self.log.info(
                "%s: %d uploaded, %d already there", step.region, len(step.upload), step.skipped
            )
