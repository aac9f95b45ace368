"""The report task against awssim: its SNS summary goes out for the plan's events only, and a
run that stopped in validate is reported (its problems named) but not uploaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow_support import RecordingTaskInstance, make_context

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import RunReport
from distributor_rollout.core.steps import REPORT_XCOM_KEY, VALIDATION_XCOM_KEY
from distributor_rollout.operators.report import RolloutFailed, RunReportOperator
from distributor_rollout.operators.rollout import ValidateRunOperator
from distributor_rollout.settings import packages_root


def report(plan: Plan, status: str) -> RunReport:
    return RunReport(
        run_id="manual__1",
        dag_id="distributor_rollout__examplepackage",
        plan_name=plan.name,
        plan_digest=plan.digest(),
        package_name=plan.package.name,
        package_version=plan.package.version,
        started_at="2026-11-27T09:00:00+00:00",
        status=status,  # type: ignore[arg-type]
        summary=f"ExamplePackage 1.0.2: {status}",
    )


@pytest.fixture
def topic_and_queue(sim: Simulator, aws: AwsClients) -> tuple[str, Any, str]:
    """An SNS topic in the delegated admin account with an SQS queue subscribed to it."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="rollouts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="rollout-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, sqs, queue_url


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_the_summary_goes_to_the_plans_topic_for_its_events_only(
    aws_conn: str, topic_and_queue: tuple[str, Any, str], example_plan_path: Path
) -> None:
    topic, sqs, queue_url = topic_and_queue
    plan = load_plan(example_plan_path)
    plan = plan.model_copy(
        update={"notify": plan.notify.model_copy(update={"sns_topic_arn": topic})}
    )
    assert plan.notify.events == ["failure", "rollback"]
    operator = RunReportOperator(
        task_id="report", plan_path=str(example_plan_path), aws_conn_id=aws_conn
    )

    operator._notify(plan, report(plan, "succeeded"))  # "success" is not listed
    assert received(sqs, queue_url) == []

    operator._notify(plan, report(plan, "rolled_back"))
    [message] = received(sqs, queue_url)
    assert message["Subject"] == "Rollout rolled_back: ExamplePackage 1.0.2"
    assert message["Message"] == "ExamplePackage 1.0.2: rolled_back"


class RunTaskInstance(RecordingTaskInstance):
    """A task instance that also reads the run: other tasks' states and XComs."""

    def __init__(self, task_id: str, states: dict[str, str | None], xcoms: dict[Any, Any]):
        super().__init__(task_id=task_id)
        self.states = states
        self.xcoms = xcoms

    def get_task_states(self, dag_id: str, run_ids: list[str]) -> dict[str, Any]:
        return dict.fromkeys(run_ids, self.states)

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))


def test_a_run_that_stopped_in_validate_is_reported_but_not_uploaded(
    aws_conn: str,
    aws: AwsClients,
    topic_and_queue: tuple[str, Any, str],
    example_plan_path: Path,
    tmp_path: Path,
) -> None:
    topic, sqs, queue_url = topic_and_queue
    plan_path = tmp_path / "examplepackage.yaml"
    text = example_plan_path.read_text()
    source = (example_plan_path.parent / "../packages/examplepackage").resolve()
    text = text.replace("source: ../packages/examplepackage", f"source: {source}")
    text = text.replace("notify:\n", f"notify:\n  sns_topic_arn: {topic}\n")
    plan_path.write_text(text)
    params = {"source": "does/not/exist", "waves": ["canary", "qa"]}

    validate = ValidateRunOperator(task_id="validate", plan_path=str(plan_path), run_params=params)
    validate_context = make_context("validate")
    with pytest.raises(ValidationError):
        validate.execute(validate_context)
    record = validate_context["ti"].xcom[VALIDATION_XCOM_KEY]
    assert [problem["field"] for problem in record["problems"]] == ["waves[1]", "source"]

    # The artifacts bucket exists: an upload would succeed, so none happening is the point.
    s3 = aws.client("s3")
    bucket = "distributor-rollout-222222222222-us-east-1"
    s3.create_bucket(Bucket=bucket)
    states: dict[str, str | None] = {"validate": "failed", "build": "upstream_failed"}
    ti = RunTaskInstance("report", states, {("validate", VALIDATION_XCOM_KEY): record})
    report_task = RunReportOperator(
        task_id="report", plan_path=str(plan_path), run_params=params, aws_conn_id=aws_conn
    )
    with pytest.raises(RolloutFailed) as failed:
        report_task.execute({"ti": ti, "task_instance": ti, "run_id": ti.run_id})

    report = RunReport.from_dict(ti.xcom[REPORT_XCOM_KEY])
    assert report.status == "failed"
    assert report.validation is not None
    assert [str(problem) for problem in report.validation.problems] == [
        "waves[1]: not a wave of this plan (got 'qa'; expected one of canary, nonprod, prod)",
        f"source: not an existing folder (got 'does/not/exist'; expected a package folder "
        f"under the packages root {packages_root()} "
        f"({packages_root().resolve() / 'does/not/exist'} does not exist))",
    ]
    assert str(failed.value) == report.summary
    assert "failed before the waves: validate (trigger params: waves[1]: not a wave" in (
        report.summary
    )
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    [message] = received(sqs, queue_url)
    assert message["Message"] == report.summary
