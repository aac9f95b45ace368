"""The run report task: how the rollout went, as JSON in S3, as XCom and as a log table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowFailException

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import NotifyEvent, Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import RunReport, RunStatus, render_table
from distributor_rollout.core.rules import fill_bucket_pattern
from distributor_rollout.core.run_outcome import FAILED, SKIPPED, SUCCESS, RunFacts, build_report
from distributor_rollout.core.steps import (
    CHECK_DEPLOYED,
    FINALIZE,
    REPORT_XCOM_KEY,
    ROLLBACK,
    ROLLBACK_DECISION_XCOM_KEY,
    ROLLBACK_XCOM_KEY,
    STEPS_BEFORE_WAVES,
    VALIDATE,
    VALIDATION_XCOM_KEY,
)
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.operators.run_facts import task_states, wave_facts
from distributor_rollout.run_config import load_run_config

NOTIFY_EVENT: dict[RunStatus, NotifyEvent] = {
    "succeeded": "success",
    "failed": "failure",
    "rollback_failed": "failure",
    "rolled_back": "rollback",
}


class RolloutFailed(AirflowFailException):
    """The rollout did not succeed; the message is the report's one-line summary."""


def report_key(package: str, run_id: str) -> str:
    """Where a run's report lives in the artifacts bucket."""
    return f"rollouts/{package}/{run_id}.json"


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
        states = task_states(context)
        ti = context["ti"]
        rollback_state = states.get(ROLLBACK)
        # A rollback cleared with a resumed run keeps its old XComs until it runs again:
        # read them only when it ran in this try of the run.
        ran = rollback_state in (SUCCESS, FAILED)
        rollback = ti.xcom_pull(task_ids=ROLLBACK, key=ROLLBACK_XCOM_KEY) if ran else None
        decision = (
            ti.xcom_pull(task_ids=ROLLBACK, key=ROLLBACK_DECISION_XCOM_KEY) or {} if ran else {}
        )
        # A run that stopped in validate changed nothing and has no release or bucket.
        invalid = states.get(VALIDATE) == FAILED
        validation = ti.xcom_pull(task_ids=VALIDATE, key=VALIDATION_XCOM_KEY) if invalid else None
        dag_run = context.get("dag_run")
        started = getattr(dag_run, "start_date", None)
        facts = RunFacts(
            run_id=str(context["run_id"]),
            dag_id=str(ti.dag_id),
            plan=plan,
            version=plan.package.version,
            dry_run=dry_run,
            started_at=started.isoformat() if isinstance(started, datetime) else None,
            finished_at=datetime.now(UTC).isoformat(),
            waves=wave_facts(context, plan, states),
            step_states={step: states.get(step) for step in (*STEPS_BEFORE_WAVES, FINALIZE)},
            rollback_state=rollback_state,
            rollback=rollback,
            rollback_reason=decision.get("reason"),
            nothing_to_do=states.get(CHECK_DEPLOYED) == SKIPPED,
            validation=validation,
        )
        report = build_report(facts)
        self.log.info("Rollout report\n%s", render_table(report))
        self.log.info("%s", report.summary)
        result = report.to_dict()
        ti.xcom_push(key=REPORT_XCOM_KEY, value=result)
        succeeded = report.status in ("succeeded", "dry_run")
        if dry_run or facts.nothing_to_do:
            self.log.info("Nothing changed in this run: the report is not uploaded")
        else:
            if invalid:
                self.log.info(
                    "The run stopped in validate and changed nothing: the report is not "
                    "uploaded (it is in this log and in XCom)"
                )
            try:
                self._publish(plan, report, upload=not invalid)
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
        topic = plan.notify.sns_topic_arn
        event = NOTIFY_EVENT.get(report.status)
        if topic is None or event is None or event not in plan.notify.events:
            return
        # The topic's own Region (arn:aws:sns:<region>:<account>:<name>), not the connection's.
        region = topic.split(":")[3]
        hook = SnsHook(**{**self._hook_parameters, "region_name": region})  # type: ignore[no-untyped-call]
        hook.publish_to_target(
            target_arn=topic,
            message=report.summary,
            subject=f"Rollout {report.status}: {report.package_name} {report.package_version}"[
                :100
            ],
        )
        self.log.info("Sent the %s summary to %s", event, topic)
