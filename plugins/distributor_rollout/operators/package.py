"""Build the Distributor package, then publish it to one package bucket per target Region.

Tasks of one run may land on different workers, so a build directory is never assumed to
be there: a later task rebuilds it (builds are deterministic) and refuses to go on when the
rebuilt manifest is not the one the build task recorded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from distributor_rollout.core.errors import RolloutError
from distributor_rollout.core.package import MANIFEST_FILE, BuildResult, build_package
from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.rules import fill_bucket_pattern
from distributor_rollout.core.source_location import S3Source, is_s3, parse_s3_source
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook, StoredObject
from distributor_rollout.hooks.source_bucket import SourceBucketHook
from distributor_rollout.links.console import PackageLink
from distributor_rollout.run_config import load_run_config

if TYPE_CHECKING:
    from airflow.sdk import Context

BUILD_DIR_NAME = "distributor-builds"


class BuildMismatchError(RolloutError):
    """A rebuilt package differs from the one the build task recorded (its source changed)."""


def default_build_root() -> Path:
    """``$AIRFLOW_HOME/distributor-builds`` (``~/airflow`` when AIRFLOW_HOME is unset)."""
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / BUILD_DIR_NAME


SourceFetcher = Callable[[S3Source, Path], object]
"""Downloads an S3 package source into an empty folder (``SourceBucketHook.download_source``)."""


def build_dir(build_root: str | Path | None, plan: Plan) -> Path:
    """``<build_root>/<package>/<version>``: where this plan's package version is built.

    The build replaces this folder, so it must be strictly below the build root whatever
    the plan's values say (they are validated as single path segments; checked again here).
    """
    root = (Path(build_root) if build_root else default_build_root()).resolve()
    out = (root / plan.package.name / plan.package.version).resolve()
    if out.parent.parent != root:
        raise ConfigurationError(
            f"package {plan.package.name!r} version {plan.package.version!r} would build "
            f"in {out}, outside the build root {root}: names and versions are single "
            "path segments"
        )
    return out


def s3_source(plan: Plan) -> S3Source | None:
    """The plan's S3 source, or None when its source is a folder."""
    if not is_s3(plan.package.source):
        return None
    parsed = parse_s3_source("package.source", plan.package.source, plan.package.source_buckets)
    if not isinstance(parsed, S3Source):
        raise ConfigurationError(str(parsed))
    return parsed


def build_into(plan: Plan, out: Path, fetch_source: SourceFetcher | None = None) -> BuildResult:
    """Build the plan's package into ``out``, replacing whatever an earlier build left there.

    The build goes to a fresh sibling folder first, so zips of an older build of the same
    version (other platform folders, other names) never mix with this one. An S3 source
    is downloaded (``fetch_source``) into another fresh folder first, and removed after.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    downloaded: Path | None = None
    try:
        source = Path(plan.package.source)
        remote = s3_source(plan)
        if remote is not None:
            if fetch_source is None:
                raise ConfigurationError(
                    f"{remote.url}: an S3 source needs an AWS connection to download it"
                )
            downloaded = Path(tempfile.mkdtemp(prefix=f".{out.name}.source.", dir=out.parent))
            fetch_source(remote, downloaded)
            source = downloaded
        result = build_package(
            source,
            staging,
            name=plan.package.name,
            version=plan.package.version,
            publisher=plan.package.publisher,
        )
        if out.exists():
            shutil.rmtree(out)
        try:
            staging.rename(out)
        except OSError:
            # Another task on this worker rebuilt the same version at the same moment and
            # won the rename: its build is as good as ours if it has the same manifest.
            if _sha256(out / MANIFEST_FILE) != result.manifest_sha256:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if downloaded is not None:
            shutil.rmtree(downloaded, ignore_errors=True)
    return BuildResult(out / MANIFEST_FILE, result.manifest_sha256, result.files, result.warnings)


SOURCE_CONN_KEY = "source_aws_conn_id"
"""In a build summary of an S3 source: the connection it was downloaded with, so a task on
another worker can download it again to rebuild."""


def build_summary(
    plan: Plan, result: BuildResult, out: Path, *, source_conn_id: str | None = None
) -> dict[str, Any]:
    """The Build task's JSON-safe result, which later tasks receive through XCom."""
    summary: dict[str, Any] = {
        "package": plan.package.name,
        "version": plan.package.version,
        "manifest_sha256": result.manifest_sha256,
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in result.files],
        "out_dir": str(out),
    }
    if is_s3(plan.package.source):
        summary["source"] = plan.package.source
        summary[SOURCE_CONN_KEY] = source_conn_id
    return summary


def _recorded_fetcher(build: Mapping[str, Any]) -> SourceFetcher | None:
    """A downloader through the connection the build task used, for an S3 source."""
    if SOURCE_CONN_KEY not in build:
        return None
    hook = SourceBucketHook(aws_conn_id=build[SOURCE_CONN_KEY])
    return hook.download_source


def _sha256(path: Path) -> str | None:
    """sha256 of a small file's bytes, or None when it is not there."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _intact(out: Path, build: Mapping[str, Any]) -> bool:
    """Whether ``out`` holds the recorded manifest and zips of the recorded sizes.

    The zips' bytes are not re-hashed here: uploads carry their sha256 as a checksum, so
    S3 refuses a zip whose bytes changed on disk.
    """
    if _sha256(out / MANIFEST_FILE) != build["manifest_sha256"]:
        return False
    return all(
        (out / f["name"]).is_file() and (out / f["name"]).stat().st_size == f["size"]
        for f in build["files"]
    )


def ensure_build(
    plan: Plan,
    build: Mapping[str, Any],
    build_root: str | Path | None,
    fetch_source: SourceFetcher | None = None,
) -> Path:
    """The build directory of ``build`` on this worker, rebuilt when missing or altered.

    An S3 source is downloaded again (``fetch_source``, by default through the connection
    the build task recorded); the rebuilt manifest's sha256 proves it is the same source.

    Raises BuildMismatchError when ``build`` is of another package version, or when the
    rebuilt manifest's sha256 is not the recorded one.
    """
    recorded = (build.get("package"), build.get("version"))
    if recorded != (plan.package.name, plan.package.version):
        raise BuildMismatchError(
            f"the build is of {recorded[0]} {recorded[1]}, but this run rolls out "
            f"{plan.package.name} {plan.package.version}"
        )
    out = build_dir(build_root, plan)
    if _intact(out, build):
        return out
    result = build_into(plan, out, fetch_source or _recorded_fetcher(build))
    if result.manifest_sha256 != build["manifest_sha256"]:
        raise BuildMismatchError(
            f"rebuilding {plan.package.name} {plan.package.version} from "
            f"{plan.package.source} gave manifest sha256 {result.manifest_sha256}, not the "
            f"build task's {build['manifest_sha256']}: the source changed since the build; "
            "start a new run"
        )
    return out


def publish_regions(config: RunConfig) -> tuple[str, ...]:
    """The Regions of the waves this run runs, in wave order, each once."""
    waves = [wave for wave in config.plan.waves if config.runs_wave(wave.name)]
    return tuple(dict.fromkeys(region for wave in waves for region in wave.regions))


@dataclass(frozen=True)
class PackageObject:
    """One object a published version holds: a zip or manifest.json, with its sha256."""

    name: str
    sha256: str

    @property
    def content_type(self) -> str:
        """The Content-Type it is stored with."""
        return "application/json" if self.name == MANIFEST_FILE else "application/zip"


def package_objects(build: Mapping[str, Any]) -> tuple[PackageObject, ...]:
    """The zips of a build, then manifest.json: the order they are uploaded in."""
    zips = tuple(PackageObject(f["name"], f["sha256"]) for f in build["files"])
    return (*zips, PackageObject(MANIFEST_FILE, build["manifest_sha256"]))


@dataclass
class RegionPublish:
    """What publishing to one Region needs: decided by reading, before anything changes."""

    region: str
    bucket: str
    create_bucket: bool = False
    put_policy: bool = False
    upload: list[PackageObject] = field(default_factory=list)
    skipped: int = 0
    missing_baseline: list[str] = field(default_factory=list)


def compare_published(
    prefix: str, objects: Sequence[PackageObject], stored: Sequence[StoredObject]
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


class BuildPackageOperator(AwsBaseOperator[SourceBucketHook]):
    """Build the plan's Distributor package version: its zips and manifest.json.

    Builds into ``<build_root>/<package>/<version>/`` (deterministic: the same source gives
    the same bytes) and returns ``{"package", "version", "manifest_sha256", "files":
    [{"name", "sha256", "size"}], "out_dir"}``. A source in S3 (``s3://bucket/prefix/``
    in one of the plan's ``package.source_buckets``) is downloaded and verified first,
    through the AWS connection; a folder source needs no AWS call.

    :param plan_path: the rollout plan file (templated)
    :param run_params: the run's trigger params, e.g. ``"{{ params }}"`` (templated)
    :param build_root: folder for builds (templated); default ``$AIRFLOW_HOME/distributor-builds``
    :param aws_conn_id: The Airflow connection an S3 source is downloaded with.
    """

    aws_hook_class = SourceBucketHook
    template_fields: Sequence[str] = aws_template_fields("plan_path", "run_params", "build_root")
    ui_color = "#f4d9b1"

    def __init__(
        self,
        *,
        plan_path: str,
        run_params: Mapping[str, Any] | None = None,
        build_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params
        self.build_root = build_root

    def execute(self, context: Context) -> dict[str, Any]:
        """Build, log the manifest's sha256, return the build summary."""
        plan = load_run_config(self.plan_path, self.run_params).plan
        out = build_dir(self.build_root, plan)
        self.log.info("Building %s %s into %s", plan.package.name, plan.package.version, out)
        result = build_into(plan, out, self.hook.download_source)
        for warning in result.warnings:
            self.log.warning("%s", warning)
        for built in result.files:
            self.log.info("  %s  %s (%d bytes)", built.sha256, built.name, built.size)
        self.log.info("  %s  %s", result.manifest_sha256, MANIFEST_FILE)
        return build_summary(plan, result, out, source_conn_id=self.aws_conn_id)


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
        prefix = f"{plan.package.folder}/{plan.package.version}/"
        objects = package_objects(self.build)
        hooks = {region: self._bucket_hook(region) for region in publish_regions(config)}

        steps = [
            self._check(plan, hooks[r], r, account=account, prefix=prefix, objects=objects)
            for r in hooks
        ]
        conflicts = [key for step in steps for key in step[1]]
        if conflicts:
            raise ConfigurationError(
                f"version {plan.package.version} is already published with different "
                f"bytes: {', '.join(conflicts)}. A published version is immutable: publish "
                "the change as a new version"
            )
        publishes = [step[0] for step in steps]
        summary = {
            "regions": {p.region: p.bucket for p in publishes},
            "uploaded": sum(len(p.upload) for p in publishes),
            "skipped": sum(p.skipped for p in publishes),
        }
        if config.dry_run:
            for step in publishes:
                self._log_dry_run(step, prefix)
            return {**summary, "dry_run": True}
        self._publish(publishes, hooks, out, prefix, identity)

        home = plan.stack_set.region if plan.stack_set.region in hooks else next(iter(hooks))
        home_bucket = next(p.bucket for p in publishes if p.region == home)
        PackageLink.persist(
            context=context,
            operator=self,
            region_name=home,
            aws_partition=hooks[home].conn_partition,
            bucket=home_bucket,
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

    def _check(
        self,
        plan: Plan,
        hook: PackageBucketHook,
        region: str,
        *,
        account: str,
        prefix: str,
        objects: Sequence[PackageObject],
    ) -> tuple[RegionPublish, list[str]]:
        """Read-only: what this Region needs, and the keys that forbid publishing there."""
        bucket = fill_bucket_pattern(plan.package.bucket, account_id=account, region=region)
        step = RegionPublish(region, bucket)
        head = hook.head_bucket(bucket, owner=account)
        if head.state == "not_yours":
            raise ConfigurationError(
                f"package bucket {bucket} (Region {region}) exists but is not this account's "
                f"({account}) or cannot be read by it; change the plan's package.bucket"
            )
        if head.state == "missing":
            if not plan.package.create_buckets:
                raise ConfigurationError(
                    f"package bucket {bucket} (Region {region}) does not exist and "
                    "package.create_buckets is false: create it, or set create_buckets: true"
                )
            step.create_bucket = step.put_policy = True
            step.upload = list(objects)
            return step, []
        if head.region and head.region != region:
            raise ConfigurationError(
                f"package bucket {bucket} is in Region {head.region}, not {region}: "
                "Distributor fetches package files from the target Region's bucket"
            )
        step.put_policy = not hook.has_bucket_policy(bucket)
        # A bucket the run did not create is not reconfigured: what it lacks is reported.
        step.missing_baseline = hook.missing_baseline(bucket)
        stored = [
            s for key in hook.list_keys(bucket, prefix) if (s := hook.head_object(bucket, key))
        ]
        step.upload, step.skipped, conflicts = compare_published(prefix, objects, stored)
        return step, [f"s3://{bucket}/{key}" for key in conflicts]

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
