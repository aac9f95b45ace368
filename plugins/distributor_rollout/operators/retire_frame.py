"""The tasks that frame a retire run before its waves: validate, and the one approval.

Validate checks the plan and the params (no AWS call) and refuses while the plan's
rollout DAG has a running run. The approval reads what the run would remove (the stack
set's instances per wave, the buckets) and asks a person once, before the first wave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.exceptions import HITLRejectException, HITLTimeoutError
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk.execution_time.hitl import HITLUser

from distributor_rollout import settings
from distributor_rollout.core.deployment import Instance
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import ValidationFailure
from distributor_rollout.core.retire_buckets import RetiredBucket, retired_buckets
from distributor_rollout.core.retire_overview import (
    RetireOverview,
    retire_overview,
    retire_question,
)
from distributor_rollout.core.retire_params import RetireConfig
from distributor_rollout.core.retire_report import SKIP_REASON_XCOM_KEY
from distributor_rollout.core.run_policy import approvers_for, refused_answer
from distributor_rollout.core.steps import VALIDATION_XCOM_KEY
from distributor_rollout.core.waves import organization_scope, resolve_waves
from distributor_rollout.hooks.connection_guard import refuse_scaled_time_on_real_aws
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.operators.approval import DEFAULT_APPROVAL_TIMEOUT, ApprovalDeclined
from distributor_rollout.operators.retire_config import load_retire_config
from distributor_rollout.operators.retire_guard import refuse_retire_during_rollout
from distributor_rollout.run_config import triggered_by


def skip(context: Any, reason: str) -> AirflowSkipException:
    """The skip a retire task raises, its reason recorded first for the report."""
    context["ti"].xcom_push(key=SKIP_REASON_XCOM_KEY, value=reason)
    return AirflowSkipException(reason)


class ValidateRetireOperator(BaseOperator):
    """Validate the plan and the retire run's params; refuse while the plan's rollout runs.

    Every problem is recorded (under ``validation_problems``, as the rollout's validate
    does) before the task fails, so the report names them. No AWS call. Returns the run's
    shape: ``{"waves"`` (in retire order), ``"dry_run", "delete_buckets",
    "skip_approval", "plan_digest"}``; later tasks refuse a plan file changed since.
    """

    template_fields: Sequence[str] = ("plan_path", "run_params")
    template_fields_renderers = {"run_params": "json"}  # noqa: RUF012 (Airflow's own shape)
    ui_color = "#f0e4a8"

    def __init__(
        self,
        *,
        plan_path: str,
        run_params: Mapping[str, Any] | None = None,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Record and raise every problem, or return the run's shape."""
        try:
            refuse_scaled_time_on_real_aws(self.aws_conn_id, settings.time_scale())
            config = load_retire_config(self.plan_path, self.run_params, context=context)
            refuse_retire_during_rollout(context)
        except ValidationError as error:
            record = ValidationFailure.from_error(error).to_dict()
            context["ti"].xcom_push(key=VALIDATION_XCOM_KEY, value=record)
            raise
        plan = config.plan
        self.log.info(
            "Retire %s (plan %s) from stack set %s, waves in this order: %s%s%s",
            plan.package.name,
            plan.name,
            plan.stack_set.name,
            ", ".join(wave.name for wave in config.waves),
            "; dry run: nothing will change" if config.dry_run else "",
            _buckets_note(config),
        )
        return config.summary()


def _buckets_note(config: RetireConfig) -> str:
    if not config.delete_buckets:
        return "; buckets kept"
    if config.plan.package.is_existing:
        return "; then the artifacts bucket is deleted (an existing package has no package bucket)"
    return "; then the package buckets and the artifacts bucket are deleted"


class RetireApprovalOperator(ApprovalOperator):
    """A person approves the retire once, before the first wave, seeing what it removes.

    The question (Airflow's Required Actions page) lists each wave in the order the
    retire takes them, its OUs × Regions, accounts and the stack instances it still has
    (``ListStackInstances``), the instances outside the plan's waves, and the buckets to
    delete. Reject, or no answer within ``response_timeout``, fails the task for good
    (``ApprovalDeclined``) and nothing is removed. Skipped in a dry run, with the
    ``skip_approval`` param (where the plan allows it), and when there is nothing to
    remove. Answers the plan does not let count (its approvers, no self-approval) are
    logged and the question is asked again, as for a rollout's wave.
    """

    template_fields: Sequence[str] = (*ApprovalOperator.template_fields, "plan_path", "run_params")

    def __init__(
        self,
        *,
        plan_path: str,
        run_params: Mapping[str, Any] | None = None,
        aws_conn_id: str | None = "aws_default",
        response_timeout: timedelta | None = DEFAULT_APPROVAL_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("subject", "Approve retiring this package from the organization?")
        super().__init__(fail_on_reject=True, response_timeout=response_timeout, **kwargs)
        self.plan_path = plan_path
        self.run_params = run_params
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> Any:
        """Skip when no approval is needed; otherwise read what will go, and ask."""
        config = load_retire_config(self.plan_path, self.run_params, context=context)
        if config.dry_run:
            raise skip(context, "dry run: no approval needed")
        if config.skip_approval:
            raise skip(context, "approval skipped by the run's skip_approval param")
        overview = self._overview(config)
        if overview.nothing_to_remove:
            raise skip(
                context,
                f"nothing to retire: stack set {overview.stack_set} does not exist and no "
                "bucket is to be deleted",
            )
        question = retire_question(overview, config.plan.name)
        self.subject, self.body = question.subject, question.body
        self.log.info("%s\n%s", question.subject, question.body)
        approvers = approvers_for(config.plan.approvals, triggered_by(context))
        self.assigned_users = [HITLUser(id=user, name=user) for user in approvers] or None
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Approve goes on; Reject or no answer in time fails for good; an approval the
        plan does not count is asked again."""
        try:
            answer = super().execute_complete(context, event)
        except (HITLRejectException, HITLTimeoutError) as declined:
            raise ApprovalDeclined(f"the retire was not approved: {declined}") from declined
        responder = (event.get("responded_by_user") or {}).get("id")
        plan = load_plan(Path(self.plan_path))
        refused = refused_answer(
            plan.approvals, approved=True, responder=responder, triggered_by=triggered_by(context)
        )
        if refused is None:
            self.log.info("Retire approved by %s", responder)
            return answer
        self.log.warning("Approval not counted: %s; asking again", refused)
        return self.execute(context)

    def _overview(self, config: RetireConfig) -> RetireOverview:
        """What the run would remove, read from StackSets, Organizations, STS and S3 (the
        buckets that exist)."""
        plan = config.plan
        spec = plan.stack_set
        stack_sets = StackSetHook(aws_conn_id=self.aws_conn_id, region_name=spec.region)
        instances: list[Instance] | None = None
        if stack_sets.describe_stack_set(spec.name, call_as=spec.call_as) is not None:
            instances = [
                Instance.from_api(summary)
                for summary in stack_sets.list_stack_instances(spec.name, call_as=spec.call_as)
            ]
        resolution = resolve_waves(
            plan,
            OrganizationsHook(aws_conn_id=self.aws_conn_id).snapshot(organization_scope(plan)),
        )
        resolution.raise_for_problems("waves against the organization")
        buckets: list[RetiredBucket] = []
        if config.delete_buckets:
            identity = AccountIdentityHook(aws_conn_id=self.aws_conn_id, region_name=spec.region)
            account = identity.caller_account_id()
            buckets = self._existing(retired_buckets(plan, account), account)
        return retire_overview(plan, resolution.waves, instances, buckets)

    def _existing(self, buckets: list[RetiredBucket], account: str) -> list[RetiredBucket]:
        """The buckets that exist (a repeated retire asks nothing about deleted ones)."""
        return [
            bucket
            for bucket in buckets
            if PackageBucketHook(aws_conn_id=self.aws_conn_id, region_name=bucket.region)
            .head_bucket(bucket.name, owner=account)
            .state
            == "exists"
        ]
