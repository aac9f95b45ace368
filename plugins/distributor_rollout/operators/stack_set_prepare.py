"""Prepare the stack set for this run's package version: render, store, create or record.

The template is stored as an immutable, content-addressed S3 object, so the template a
rollback restores is exactly the one that ran, never whatever the template file says
today. Every later use reads it back and checks its sha256 against its address, then
hands StackSets the checked text (``TemplateBody``) where it fits (``core.artifacts``).
Prepare creates the stack set when it is missing; when it exists it records what it runs
now (template and parameters) as the release's previous version. It never updates the
stack set: the waves do, each restricted to its targets. The release is recorded once per
run in the artifacts bucket, so Prepare re-run after the waves changed the stack set still
returns what it ran before the run; its sha256 is kept in the task's state store (which
outlives clears), and a re-run uses the record only if it still has that digest. A dry run
reads and renders the same, and stores, creates and records nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from distributor_rollout.core.artifacts import sha256_hex, template_source
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.package import MANIFEST_FILE
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.principals import runner_principal_arn
from distributor_rollout.core.release import Release
from distributor_rollout.core.rules import fill_bucket_pattern
from distributor_rollout.core.stack_parameters import render_stack_parameters, to_cfn_parameters
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.package_bucket import MANAGED_TAG, PackageBucketHook, same_policy
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.operators.package import ensure_build
from distributor_rollout.resources import template
from distributor_rollout.run_config import load_run_config
from distributor_rollout.task_store import state_store

if TYPE_CHECKING:
    from airflow.sdk import Context

TEMPLATE_PATH = template()
PERMISSION_MODEL = "SERVICE_MANAGED"
# The template creates a named IAM role (the compliance reader).
CAPABILITIES = ("CAPABILITY_NAMED_IAM",)
TEMPLATE_SHA256_KEY = "template_sha256"
"""A dry-run release's extra key: the sha256 of this version's template text. Its template
URL is where the text would be stored, but nothing is there, so the deploy step compares
this digest with the stack set's template instead of reading the template from S3."""
RELEASE_SHA256_KEY = "release_record_sha256"
"""The task state store key of the sha256 of the release record this run wrote: kept
across tries and clears, so a re-run of Prepare uses the record only if it is unchanged."""
CREATED_BY_TAG = "distributor-rollout:created-by-run"
"""Tags the stack set with the run that created it: a retry of that run's Prepare task then
still knows the run created it (no previous version to restore), instead of mistaking its
own template for the previous one."""


def render_release(
    plan: Plan,
    build: Mapping[str, Any],
    build_root: str | None,
    account: str,
    template_path: str | Path | None = None,
    *,
    runner_arn: str,
) -> tuple[str, dict[str, str]]:
    """This release's template text and stack set parameters, from the (re)built package
    (``runner_arn``: the role the rollout runs as, which the compliance reader trusts)."""
    out = ensure_build(plan, build, build_root)
    parameters = render_stack_parameters(
        plan,
        (out / MANIFEST_FILE).read_text(encoding="utf-8"),
        account_id=account,
        runner_arn=runner_arn,
    )
    shipped = Path(template_path) if template_path else TEMPLATE_PATH
    return shipped.read_text(encoding="utf-8"), parameters


def release_key(stack_set_name: str, run_id: str) -> str:
    """Where a run's release is recorded in the artifacts bucket (written once per run)."""
    return f"runs/{stack_set_name}/{run_tag_value(run_id)}/release.json"


def run_tag_value(run_id: str) -> str:
    """The ``CREATED_BY_TAG`` value for a run (a digest: run ids hold characters tags refuse)."""
    return hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:32]


def template_sha256(template_text: str) -> str:
    """The sha256 of a template's text (UTF-8): its content address."""
    return sha256_hex(template_text)


def template_key(stack_set_name: str, template_text: str) -> str:
    """``templates/<stack set>/<sha256 of the text>.yaml``: same text, same key, forever."""
    return f"templates/{stack_set_name}/{template_sha256(template_text)}.yaml"


def s3_object_url(bucket: str, region: str, key: str) -> str:
    """The virtual-hosted-style HTTPS URL of an object (what ``TemplateURL`` takes)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{region}.{suffix}/{key}"


def create_request(
    plan: Plan,
    template_url: str,
    parameters: Mapping[str, str],
    run_id: str,
    template_body: str | None = None,
) -> dict[str, Any]:
    """``CreateStackSet`` fields (besides name and CallAs) for the plan's stack set: the
    template as ``TemplateBody`` when given and small enough, else by URL."""
    stack_set = plan.stack_set
    auto: dict[str, Any] = {"Enabled": stack_set.auto_deployment.enabled}
    if stack_set.auto_deployment.enabled:
        # AWS accepts RetainStacksOnAccountRemoval only together with Enabled=true.
        auto["RetainStacksOnAccountRemoval"] = (
            stack_set.auto_deployment.retain_stacks_on_account_removal
        )
    request: dict[str, Any] = {
        **template_source(template_url, template_body),
        "Parameters": to_cfn_parameters(dict(parameters)),
        "Capabilities": list(CAPABILITIES),
        "PermissionModel": PERMISSION_MODEL,
        "AutoDeployment": auto,
        "ManagedExecution": {"Active": stack_set.managed_execution},
        "Tags": [{"Key": key, "Value": value} for key, value in stack_set.tags.items()]
        + [{"Key": CREATED_BY_TAG, "Value": run_tag_value(run_id)}],
    }
    if stack_set.description:
        request["Description"] = stack_set.description
    return request


class PrepareStackSetOperator(AwsBaseOperator[StackSetHook]):
    """Render this version's stack set template and parameters; create the stack set if new.

    The template is stored in the artifacts bucket (the plan's pattern for the caller's
    account and the stack set's Region; created if missing) under
    ``templates/<stack set>/<sha256>.yaml``. A missing stack set is created
    (``SERVICE_MANAGED``, ``CAPABILITY_NAMED_IAM``, the plan's auto-deployment, managed
    execution, tags and ``CallAs``) with no instances; an existing one is left unchanged,
    and its current template (stored the same way) and parameters become the release's
    ``previous``. Never calls ``UpdateStackSet``. Returns ``Release.to_dict()``.

    In a dry run (the run's ``dry_run`` param) it reads as usual (caller identity, the
    artifacts bucket, the stack set) and renders the template and parameters, but stores,
    creates and records nothing: it logs what it would do and returns the release it
    would record (template URLs are content-addressed, so they are known without
    storing; a stack set that does not exist yet gives ``created: True``) plus
    ``"dry_run": True`` and ``"template_sha256"`` (the sha256 of this version's template
    text, which the deploy step compares with the stack set's template in place of the
    object that was never stored).

    :param plan_path: the rollout plan file (templated)
    :param build: the Build task's return value (templated, from XCom)
    :param run_params: the run's trigger params, e.g. ``"{{ params }}"`` (templated)
    :param build_root: folder for builds (templated); default ``$AIRFLOW_HOME/distributor-builds``
    :param template_path: the stack set template (templated); default the shipped
        ``distributor-package.yaml`` (package data, ``distributor_rollout.resources``)
    :param aws_conn_id: The Airflow connection used for AWS credentials (the delegated
        administrator account).
    :param region_name: AWS region_name; the stack set's Region comes from the plan.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    aws_hook_class = StackSetHook
    template_fields: Sequence[str] = aws_template_fields(
        "plan_path", "run_params", "build", "build_root", "template_path"
    )
    ui_color = "#6b9659"

    def __init__(
        self,
        *,
        plan_path: str,
        build: Mapping[str, Any] | str,
        run_params: Mapping[str, Any] | None = None,
        build_root: str | None = None,
        template_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.build = build
        self.run_params = run_params
        self.build_root = build_root
        self.template_path = template_path

    def execute(self, context: Context) -> dict[str, Any]:
        """Read everything first (bucket, stack set), then store templates and create; in
        a dry run, only read and log what would be done."""
        if not isinstance(self.build, Mapping):
            raise TypeError(f"build must be the Build task's result (a dict), got {self.build!r}")
        config = load_run_config(self.plan_path, self.run_params)
        plan = config.plan
        spec = plan.stack_set
        region = spec.region
        hook_parameters = {**self._hook_parameters, "region_name": region}
        identity = AccountIdentityHook(**hook_parameters)
        account = identity.caller_account_id()
        runner = runner_principal_arn(identity.caller_arn())
        template_text, parameters = render_release(
            plan, self.build, self.build_root, account, self.template_path, runner_arn=runner
        )
        s3 = PackageBucketHook(**hook_parameters)
        bucket = fill_bucket_pattern(spec.artifacts_bucket, account_id=account, region=region)
        bucket_missing = self._check_artifacts_bucket(s3, bucket, account, region)
        run_id = str(context["run_id"])
        record_key = release_key(spec.name, run_id)
        if config.dry_run:
            # A dry run records no release, so none can be there for its run id.
            return self._dry_run(
                stack_sets=StackSetHook(**hook_parameters),
                s3=s3,
                bucket=bucket,
                runner=runner,
                bucket_missing=bucket_missing,
                plan=plan,
                template=TemplateRef(
                    s3_object_url(bucket, region, template_key(spec.name, template_text)),
                    parameters,
                ),
                template_text=template_text,
                run_id=run_id,
                record_key=record_key,
            )
        store = state_store(context)
        if not bucket_missing and (
            recorded := self._recorded_release(s3, bucket, record_key, store)
        ):
            # A re-run of this run's Prepare (cleared after waves changed the stack set):
            # what the stack set runs now is no longer what it ran before the run.
            self.log.info("Release of this run recorded at s3://%s/%s", bucket, record_key)
            return Release.from_dict(json.loads(recorded)).to_dict()
        stack_sets = StackSetHook(**hook_parameters)
        current = self._current_stack_set(stack_sets, plan)

        # Everything is checked: the calls from here on change things.
        self._secure_artifacts_bucket(s3, bucket, runner, bucket_missing=bucket_missing)
        url = self._store_template(s3, bucket, region, spec.name, template_text)
        template = TemplateRef(url, parameters)
        release = self._release(
            stack_sets=stack_sets,
            s3=s3,
            bucket=bucket,
            plan=plan,
            current=current,
            template=template,
            template_text=template_text,
            run_id=run_id,
        )
        record = json.dumps(release.to_dict())
        if store is not None:
            # Recorded before the object is written: a record with no digest is never used.
            store.set(RELEASE_SHA256_KEY, sha256_hex(record))
        s3.put_text(bucket, record_key, record, content_type="application/json")
        return release.to_dict()

    def _recorded_release(
        self, s3: PackageBucketHook, bucket: str, key: str, store: Any | None
    ) -> str | None:
        """This run's release record, checked against the digest its task state store
        holds. Where the store holds none (no store, or one Airflow did not keep across
        the re-run), there is nothing to check by: the record is used with a warning."""
        digest = store.get(RELEASE_SHA256_KEY) if store is not None else None
        if digest is None:
            self.log.warning("No recorded digest: release record s3://%s/%s unchecked", bucket, key)
        return s3.get_checked_text(bucket, key, sha256=digest, unchecked=digest is None)

    def _dry_run(
        self,
        *,
        stack_sets: StackSetHook,
        s3: PackageBucketHook,
        bucket: str,
        runner: str,
        bucket_missing: bool,
        plan: Plan,
        template: TemplateRef,
        template_text: str,
        run_id: str,
        record_key: str,
    ) -> dict[str, Any]:
        """Read the stack set; log what a real run would store, create and record."""
        spec = plan.stack_set
        current = self._current_stack_set(stack_sets, plan)
        if bucket_missing:
            self.log.info("Dry run: would create artifacts bucket %s in %s", bucket, spec.region)
        else:
            self._secure_artifacts_bucket(s3, bucket, runner, bucket_missing=False, dry_run=True)
        self._log_template(s3, bucket, bucket_missing, spec.name, template_text)
        if current is None:
            self.log.info(
                "Dry run: would create stack set %s (%s) in %s holding %s with Version=%s",
                spec.name,
                spec.call_as,
                spec.region,
                template.template_url,
                template.parameters.get("Version", "?"),
            )
            release = Release(spec.name, spec.call_as, spec.region, template, None, created=True)
        else:
            release = self._existing_release(
                s3,
                bucket,
                plan,
                current,
                template=template,
                run_id=run_id,
                bucket_missing=bucket_missing,
                dry_run=True,
            )
        self.log.info("Dry run: would record the release at s3://%s/%s", bucket, record_key)
        return {
            **release.to_dict(),
            "dry_run": True,
            TEMPLATE_SHA256_KEY: template_sha256(template_text),
        }

    def _log_template(
        self, s3: PackageBucketHook, bucket: str, bucket_missing: bool, name: str, text: str
    ) -> None:
        """Dry run: whether a template would be stored or is already there (reads only)."""
        key = template_key(name, text)
        if not bucket_missing and s3.head_object(bucket, key) is not None:
            self.log.info("Dry run: template s3://%s/%s is already stored", bucket, key)
        else:
            self.log.info("Dry run: would store template s3://%s/%s", bucket, key)

    def _release(
        self,
        *,
        stack_sets: StackSetHook,
        s3: PackageBucketHook,
        bucket: str,
        plan: Plan,
        current: dict[str, Any] | None,
        template: TemplateRef,
        template_text: str,
        run_id: str,
    ) -> Release:
        """Create the stack set, or record what it runs now as the previous version."""
        spec = plan.stack_set
        region, url, parameters = spec.region, template.template_url, template.parameters
        if current is None:
            self.log.info("Creating stack set %s (%s) in %s", spec.name, spec.call_as, region)
            request = create_request(plan, url, parameters, run_id, template_text)
            stack_set_id = stack_sets.create_stack_set(spec.name, call_as=spec.call_as, **request)
            self.log.info("Created stack set %s", stack_set_id)
            return Release(spec.name, spec.call_as, region, template, None, created=True)
        return self._existing_release(s3, bucket, plan, current, template=template, run_id=run_id)

    def _existing_release(
        self,
        s3: PackageBucketHook,
        bucket: str,
        plan: Plan,
        current: dict[str, Any],
        *,
        template: TemplateRef,
        run_id: str,
        bucket_missing: bool = False,
        dry_run: bool = False,
    ) -> Release:
        """The release over an existing stack set: its current template (stored, or in a
        dry run only addressed) and parameters are the previous version, unless this run
        created it."""
        spec = plan.stack_set
        region = spec.region
        tags = {tag["Key"]: tag["Value"] for tag in current.get("Tags", [])}
        if tags.get(CREATED_BY_TAG) == run_tag_value(run_id):
            self.log.info("Stack set %s was created by this run (an earlier try)", spec.name)
            return Release(spec.name, spec.call_as, region, template, None, created=True)
        body = current["TemplateBody"]
        if dry_run:
            self._log_template(s3, bucket, bucket_missing, spec.name, body)
            url = s3_object_url(bucket, region, template_key(spec.name, body))
        else:
            url = self._store_template(s3, bucket, region, spec.name, body)
        previous = TemplateRef(
            url,
            {p["ParameterKey"]: p.get("ParameterValue", "") for p in current.get("Parameters", [])},
        )
        self.log.info(
            "Stack set %s exists: it runs %s with Version=%s, %s as the previous version",
            spec.name,
            previous.template_url,
            previous.parameters.get("Version", "?"),
            "would be recorded" if dry_run else "recorded",
        )
        return Release(spec.name, spec.call_as, region, template, previous, created=False)

    def _secure_artifacts_bucket(
        self,
        s3: PackageBucketHook,
        bucket: str,
        runner: str,
        *,
        bucket_missing: bool,
        dry_run: bool = False,
    ) -> None:
        """Create the artifacts bucket secured, or secure the one there if it is ours.

        A new bucket gets public access blocked, bucket-owner-enforced ownership,
        versioning, SSE-S3 default encryption, the ``MANAGED_TAG`` tag and the policy that
        lets only the runner write, over TLS only. An existing bucket tagged
        ``MANAGED_TAG`` (this product created it) gets whatever of these it lacks; one
        without the tag is someone else's to configure: what it lacks is logged as a
        warning and left as it is. A dry run only logs.
        """
        policy = s3.artifacts_policy(bucket, runner_principal_arn=runner)
        if bucket_missing:
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

    @staticmethod
    def _check_artifacts_bucket(
        s3: PackageBucketHook, bucket: str, account: str, region: str
    ) -> bool:
        """Whether the artifacts bucket must be created; raise if it cannot be used."""
        head = s3.head_bucket(bucket, owner=account)
        if head.state == "not_yours":
            raise ConfigurationError(
                f"artifacts bucket {bucket} (Region {region}) exists but is not this account's "
                f"({account}) or cannot be read by it; change stack_set.artifacts_bucket"
            )
        if head.region and head.region != region:
            # Keep the template next to the stack set: its TemplateURL names that Region.
            raise ConfigurationError(
                f"artifacts bucket {bucket} is in Region {head.region}, not the stack set's "
                f"Region {region}; put {{region}} in stack_set.artifacts_bucket"
            )
        return head.state == "missing"

    @staticmethod
    def _current_stack_set(stack_sets: StackSetHook, plan: Plan) -> dict[str, Any] | None:
        """The stack set as it is now (None if absent); raise if it is not service-managed."""
        spec = plan.stack_set
        current = stack_sets.describe_stack_set(spec.name, call_as=spec.call_as)
        if current is not None and current.get("PermissionModel") != PERMISSION_MODEL:
            raise ConfigurationError(
                f"stack set {spec.name} (Region {spec.region}, CallAs {spec.call_as}) exists "
                f"with permission model {current.get('PermissionModel')}, not "
                f"{PERMISSION_MODEL}: rollouts deploy through AWS Organizations; use another "
                "stack_set.name"
            )
        return current

    def _store_template(
        self, s3: PackageBucketHook, bucket: str, region: str, stack_set_name: str, text: str
    ) -> str:
        """Put the template under its content address unless it is there; its URL.

        An object already there is reused only if its bytes still hash to the address
        (``ArtifactDigestMismatch`` otherwise, before any StackSets call)."""
        key = template_key(stack_set_name, text)
        if s3.head_object(bucket, key) is None:
            self.log.info("Storing template s3://%s/%s", bucket, key)
            s3.put_text(bucket, key, text, content_type="application/x-yaml")
        else:
            s3.get_checked_text(bucket, key, sha256=template_sha256(text))
            self.log.info("Template s3://%s/%s is already stored (sha256 checked)", bucket, key)
        return s3_object_url(bucket, region, key)
