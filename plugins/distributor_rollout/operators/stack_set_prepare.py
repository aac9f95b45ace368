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

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from distributor_rollout.core.artifacts import sha256_hex
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.principals import runner_principal_arn
from distributor_rollout.core.release import (
    Release,
    created_by_run,
    dry_run_release,
    release_key,
    stack_set_parameters,
)
from distributor_rollout.core.rules import fill_bucket_pattern
from distributor_rollout.core.stack_set_creation import create_request, unusable_stack_set
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.operators.artifacts_bucket import ArtifactsBucket
from distributor_rollout.operators.release_render import render_release
from distributor_rollout.run_config import load_run_config
from distributor_rollout.task_store import state_store

if TYPE_CHECKING:
    from airflow.sdk import Context

RELEASE_SHA256_KEY = "release_record_sha256"
"""The task state store key of the sha256 of the release record this run wrote: kept
across tries and clears, so a re-run of Prepare uses the record only if it is unchanged."""


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
        build: Mapping[str, Any] | str | None = None,
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
        config = load_run_config(self.plan_path, self.run_params)
        plan, dry_run = config.plan, config.dry_run
        spec = plan.stack_set
        hook_parameters = {**self._hook_parameters, "region_name": spec.region}
        identity = AccountIdentityHook(**hook_parameters)
        account = identity.caller_account_id()
        runner = runner_principal_arn(identity.caller_arn())
        build = self.build if isinstance(self.build, Mapping) else None  # None: existing package
        template_text, parameters = render_release(
            plan, build, self.build_root, account, self.template_path, runner_arn=runner
        )
        artifacts = ArtifactsBucket(
            PackageBucketHook(**hook_parameters),
            fill_bucket_pattern(spec.artifacts_bucket, account_id=account, region=spec.region),
            spec.region,
            self.log,
        )
        missing_bucket = artifacts.must_create(account)
        run_id = str(context["run_id"])
        record_key = release_key(spec.name, run_id)
        store = None if dry_run else state_store(context)
        # A dry run records no release, so none can be there for its run id.
        if not (dry_run or missing_bucket) and (
            recorded := artifacts.recorded_release(
                record_key, store.get(RELEASE_SHA256_KEY) if store is not None else None
            )
        ):
            # A re-run of this run's Prepare (cleared after waves changed the stack set):
            # what the stack set runs now is no longer what it ran before the run.
            self.log.info(
                "Release of this run recorded at s3://%s/%s", artifacts.bucket, record_key
            )
            return Release.from_dict(json.loads(recorded)).to_dict()
        stack_sets = StackSetHook(**hook_parameters)
        current = self._current_stack_set(stack_sets, plan)

        # Everything is checked: the calls from here on change things (none in a dry run).
        artifacts.secure(runner, missing_bucket=missing_bucket, dry_run=dry_run)
        url = artifacts.template(
            spec.name, template_text, missing_bucket=missing_bucket, dry_run=dry_run
        )
        release = Release(
            spec.name, spec.call_as, spec.region, TemplateRef(url, parameters), None, created=True
        )
        if current is None:
            self._create(stack_sets, plan, release, template_text, run_id, dry_run=dry_run)
        elif created_by_run(current, run_id):
            self.log.info("Stack set %s was created by this run (an earlier try)", spec.name)
        else:
            previous = TemplateRef(
                artifacts.template(
                    spec.name,
                    current["TemplateBody"],
                    missing_bucket=missing_bucket,
                    dry_run=dry_run,
                ),
                stack_set_parameters(current),
            )
            self.log.info(
                "Stack set %s exists: it runs %s with Version=%s, %s as the previous version",
                spec.name,
                previous.template_url,
                previous.parameters.get("Version", "?"),
                "would be recorded" if dry_run else "recorded",
            )
            release = replace(release, previous=previous, created=False)
        if dry_run:
            self.log.info(
                "Dry run: would record the release at s3://%s/%s", artifacts.bucket, record_key
            )
            return dry_run_release(release, template_text)
        record = json.dumps(release.to_dict())
        if store is not None:
            # Recorded before the object is written: a record with no digest is never used.
            store.set(RELEASE_SHA256_KEY, sha256_hex(record))
        artifacts.s3.put_text(artifacts.bucket, record_key, record, content_type="application/json")
        return release.to_dict()

    def _create(
        self,
        stack_sets: StackSetHook,
        plan: Plan,
        release: Release,
        template_text: str,
        run_id: str,
        *,
        dry_run: bool,
    ) -> None:
        """Create the stack set holding ``release``'s template, with no instances (in a dry
        run, log that it would)."""
        spec, template = plan.stack_set, release.template
        if dry_run:
            self.log.info(
                "Dry run: would create stack set %s (%s) in %s holding %s with Version=%s",
                spec.name,
                spec.call_as,
                spec.region,
                template.template_url,
                template.parameters.get("Version", "?"),
            )
            return
        self.log.info("Creating stack set %s (%s) in %s", spec.name, spec.call_as, spec.region)
        request = create_request(
            plan, template.template_url, template.parameters, run_id, template_text
        )
        stack_set_id = stack_sets.create_stack_set(spec.name, call_as=spec.call_as, **request)
        self.log.info("Created stack set %s", stack_set_id)

    @staticmethod
    def _current_stack_set(stack_sets: StackSetHook, plan: Plan) -> dict[str, Any] | None:
        """The stack set as it is now (None if absent); raise if it is not service-managed."""
        spec = plan.stack_set
        current = stack_sets.describe_stack_set(spec.name, call_as=spec.call_as)
        if refusal := unusable_stack_set(plan, current):
            raise ConfigurationError(refusal)
        return current
