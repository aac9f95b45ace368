"""The Build task, and the package build on a worker: where a version is built, and the
build made again when a later task runs where the build task did not.

Tasks of one run may land on different workers, so a build directory is never assumed to
be there: a later task rebuilds it (builds are deterministic) and refuses to go on when the
rebuilt manifest is not the one the build task recorded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from distributor_rollout.core.artifacts import sha256_hex
from distributor_rollout.core.errors import RolloutError
from distributor_rollout.core.package import MANIFEST_FILE, BuildResult, build_package
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.source_location import S3Source, is_s3, parse_s3_source
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.source_bucket import SourceBucketHook
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
    out = (root / plan.package.name / plan.package.built_version).resolve()
    if out.parent.parent != root:
        raise ConfigurationError(
            f"package {plan.package.name!r} version {plan.package.version!r} would build "
            f"in {out}, outside the build root {root}: names and versions are single "
            "path segments"
        )
    return out


def s3_source(plan: Plan) -> S3Source | None:
    """The plan's S3 source, or None when its source is a folder."""
    source = plan.package.source_folder
    if not is_s3(source):
        return None
    parsed = parse_s3_source("package.source", source, plan.package.source_buckets)
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
        source = Path(plan.package.source_folder)
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
            version=plan.package.built_version,
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
    if is_s3(plan.package.source_folder):
        summary["source"] = plan.package.source_folder
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
    return sha256_hex(path.read_bytes()) if path.is_file() else None


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
