"""The report task's SNS summary, against awssim's SNS: sent for the plan's events only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import RunReport
from distributor_rollout.operators.report import RunReportOperator


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
