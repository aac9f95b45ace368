"""The retire run's report task: how the retire went, in the log, XCom and S3.

What the report says is ``core.retire_report``'s. It is uploaded to the artifacts bucket
under ``retirements/<package>/<run_id>.json`` unless that bucket was deleted by the run
(then the log and XCom keep it), the run is a dry run, or it stopped in validate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowFailException

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.retire_report import (
    RetireReport,
    build_retire_report,
    render_retire_table,
    retire_delivery,
    retire_report_key,
)
from distributor_rollout.core.rules import fill_bucket_pattern
from distributor_rollout.core.steps import REPORT_XCOM_KEY
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.operators.retire_config import load_retire_config
from distributor_rollout.operators.run_facts import task_states


class RetireFailed(AirflowFailException):
    """The retire did not finish; the message is the report's one-line summary."""


class RetireReportOperator(AwsBaseOperator[PackageBucketHook]):
    """Build the retire run's report from every task's state and record; publish it.

    Runs whatever happened before it (trigger rule ``all_done``): logs the table, pushes
    the report as XCom (key ``report``, and the return value on success), uploads it
    (see the module), and fails the run with the summary unless the package is retired
    (or it was a dry run): a wave that stopped, instances left behind (offline nodes may
    hold the package), or a refusal.
    """

    aws_hook_class = PackageBucketHook
    template_fields: Sequence[str] = aws_template_fields("plan_path", "run_params")
    ui_color = "#c9d7ea"

    def __init__(
        self, *, plan_path: str, run_params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params

    def execute(self, context: Any) -> dict[str, Any]:
        """Report; raise ``RetireFailed`` when the retire did not finish."""
        plan, dry_run, delete_buckets = self._plan()
        states = task_states(context)
        ti = context["ti"]
        report = build_retire_report(
            plan,
            run_id=str(context["run_id"]),
            dag_id=str(ti.dag_id),
            dry_run=dry_run,
            delete_buckets=delete_buckets,
            states=states,
            pull=lambda task_id, key: ti.xcom_pull(task_ids=task_id, key=key),
        )
        self.log.info("Retire report\n%s", render_retire_table(report))
        result = report.to_dict()
        ti.xcom_push(key=REPORT_XCOM_KEY, value=result)
        delivery = retire_delivery(report, states)
        if delivery.upload:
            try:
                self._upload(plan, report)
            except Exception as error:
                if report.succeeded:
                    raise  # retried: the retire's own outcome is recorded
                self.log.exception("Could not upload the report")
                raise RetireFailed(f"{report.summary} (report not uploaded: {error})") from error
        else:
            self.log.info("%s", delivery.note)
        if not report.succeeded:
            raise RetireFailed(report.summary)
        return result

    def _plan(self) -> tuple[Plan, bool, bool]:
        """The run's plan and choices; the plan alone when the params were refused."""
        try:
            config = load_retire_config(self.plan_path, self.run_params, pinned=False)
        except ValidationError as error:
            self.log.warning("Reporting on the plan as written: %s", error)
            return load_plan(Path(self.plan_path)), False, False
        return config.plan, config.dry_run, config.delete_buckets

    def _upload(self, plan: Plan, report: RetireReport) -> None:
        spec = plan.stack_set
        hook_parameters = {**self._hook_parameters, "region_name": spec.region}
        account = AccountIdentityHook(**hook_parameters).caller_account_id()
        bucket = fill_bucket_pattern(spec.artifacts_bucket, account_id=account, region=spec.region)
        s3 = PackageBucketHook(**hook_parameters)
        if s3.head_bucket(bucket, owner=account).state != "exists":
            self.log.warning(
                "Artifacts bucket %s is missing or not this account's: not uploaded", bucket
            )
            return
        key = retire_report_key(plan.package.name, report.run_id)
        s3.put_text(bucket, key, report.to_json(), content_type="application/json")
        self.log.info("Report uploaded to s3://%s/%s", bucket, key)
