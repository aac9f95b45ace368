"""The run report task: how the rollout went, as JSON in S3, as XCom and as a log table.

What the report says is ``core.run_outcome``'s; where it goes, ``core.report_delivery``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowFailException

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import RunReport, render_table
from distributor_rollout.core.report_delivery import (
    delivery,
    notification,
    report_key,
    rollout_succeeded,
)
from distributor_rollout.core.rules import fill_bucket_pattern
from distributor_rollout.core.run_outcome import FAILED, build_report
from distributor_rollout.core.steps import REPORT_XCOM_KEY, VALIDATE
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.operators.run_facts import run_facts
from distributor_rollout.run_config import load_run_config


class RolloutFailed(AirflowFailException):
    """The rollout did not succeed; the message is the report's one-line summary."""


class RunReportOperator(AwsBaseOperator[PackageBucketHook]):
    """Build the run's report from every task's state and record; publish it; end the run.

    Runs whatever happened before it (trigger rule ``all_done``). It logs the wave table,
    uploads the report as JSON to ``s3://<artifacts bucket>/rollouts/<package>/<run_id>.json``,
    pushes it as XCom (key ``report``, and the return value on success), and sends the
    summary to the plan's SNS topic for the events it lists. Dry runs and "nothing to do"
    runs change nothing, so they only log it; a run that stopped in ``validate`` changed
    nothing either and has no release, so its report (naming the validation problems) is
    not uploaded, but its summary is still sent. A run that did not succeed fails this task
    with the one-line summary, so the DAG run ends failed with its reason.
    """

    aws_hook_class = PackageBucketHook
    template_fields: Sequence[str] = aws_template_fields("plan_path", "run_params")
    ui_color = "#c9d7ea"

    def __init__(
        self,
        *,
        plan_path: str,
        run_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params

    def execute(self, context: Any) -> dict[str, Any]:
        """Report; raise ``RolloutFailed`` when the rollout did not succeed."""
        plan, dry_run = self._plan()
        facts = run_facts(context, plan, dry_run=dry_run)
        report = build_report(facts)
        self.log.info("Rollout report\n%s", render_table(report))
        self.log.info("%s", report.summary)
        result = report.to_dict()
        context["ti"].xcom_push(key=REPORT_XCOM_KEY, value=result)
        succeeded = rollout_succeeded(report)
        plan_delivery = delivery(
            changed_nothing=dry_run or facts.nothing_to_do,
            stopped_in_validate=facts.step_states.get(VALIDATE) == FAILED,
        )
        if plan_delivery.note:
            self.log.info("%s", plan_delivery.note)
        if plan_delivery.publish:
            try:
                self._publish(plan, report, upload=plan_delivery.upload)
            except Exception as error:
                if succeeded:
                    raise  # retried; the rollout's own outcome is already recorded
                # The rollout's failure is the news: do not let the upload hide it.
                self.log.exception("Could not publish the report")
                raise RolloutFailed(f"{report.summary} (report not published: {error})") from error
        if not succeeded:
            raise RolloutFailed(report.summary)
        return result

    def _plan(self) -> tuple[Plan, bool]:
        """The run's plan; the plan alone if the params were invalid (validate failed)."""
        try:
            config = load_run_config(self.plan_path, self.run_params, pinned=False)
        except ValidationError as error:
            self.log.warning("Reporting on the plan as written: %s", error)
            return load_plan(Path(self.plan_path)), False
        return config.plan, config.dry_run

    def _publish(self, plan: Plan, report: RunReport, *, upload: bool = True) -> None:
        if upload:
            self._upload(plan, report)
        self._notify(plan, report)

    def _upload(self, plan: Plan, report: RunReport) -> None:
        spec = plan.stack_set
        hook_parameters = {**self._hook_parameters, "region_name": spec.region}
        account = AccountIdentityHook(**hook_parameters).caller_account_id()
        bucket = fill_bucket_pattern(spec.artifacts_bucket, account_id=account, region=spec.region)
        s3 = PackageBucketHook(**hook_parameters)
        if s3.head_bucket(bucket, owner=account).state != "exists":
            self.log.warning(
                "Artifacts bucket %s is missing or not this account's: report not uploaded", bucket
            )
        else:
            key = report_key(plan.package.name, report.run_id)
            s3.put_text(bucket, key, report.to_json(), content_type="application/json")
            self.log.info("Report uploaded to s3://%s/%s", bucket, key)

    def _notify(self, plan: Plan, report: RunReport) -> None:
        message = notification(plan, report)
        if message is None:
            return
        hook = SnsHook(**{**self._hook_parameters, "region_name": message.region})  # type: ignore[no-untyped-call]
        hook.publish_to_target(
            target_arn=message.topic_arn, message=message.message, subject=message.subject
        )
        self.log.info("Sent the %s summary to %s", message.event, message.topic_arn)
