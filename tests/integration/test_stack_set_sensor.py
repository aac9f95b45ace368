"""StackSetOperationSensor and its trigger against awssim over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from airflow_support import first_event, make_context, run_task
from stack_set_support import CALL_AS, NONPROD, REGION, STACK_SET, cfn, release, write_plan

from awssim.pytest_plugin import AwsClients
from awssim.scenario import Scenario, Throttling
from awssim.simulator import Simulator
from distributor_rollout.hooks.retries import is_transient
from distributor_rollout.operators.stack_set_deploy import DeployWaveOperator
from distributor_rollout.sensors.stack_set import StackSetOperationFailed, StackSetOperationSensor
from distributor_rollout.triggers import stack_set as triggers
from distributor_rollout.triggers.stack_set import StackSetOperationTrigger

RUN = "manual__2026-11-27T09:00:00+00:00"
FAILING = {"300333333334", "300555555556"}  # the stackset-failure scenario's accounts


def deployed(tmp_path: Path, aws: AwsClients, conn: str, wave: str) -> dict[str, Any]:
    """Deploy a first version to ``wave``; the task's return value."""
    task = DeployWaveOperator(
        task_id=f"deploy_{wave}",
        plan_path=write_plan(tmp_path),
        wave=wave,
        release=release(aws, "1.0.0", None, create=True),
        aws_conn_id=conn,
        deferrable=False,
        poll_interval=0.1,
    )
    result: dict[str, Any] = run_task(task, make_context(run_id=RUN))
    return result


def wait(task: StackSetOperationSensor, *, deferrable: bool) -> Any:
    """Run the sensor deferred (through its trigger) or by poking it until it is done."""
    context = make_context("wait", run_id=RUN)
    if deferrable:
        return run_task(task, context)
    while (answer := task.poke(context)) is False:
        asyncio.run(asyncio.sleep(0.05))
    return answer.xcom_value


def sensor(operation_ids: list[str], conn: str, **kwargs: Any) -> StackSetOperationSensor:
    """A sensor on ``operation_ids`` polling fast enough for the 600x clock."""
    return StackSetOperationSensor(
        task_id="wait",
        stack_set_name=STACK_SET,
        operation_ids=operation_ids,
        call_as=CALL_AS,
        region_name=REGION,
        aws_conn_id=conn,
        poll_interval=0.1,
        timeout=60,
        **kwargs,
    )


def test_deferred_sensor_returns_counts_per_region(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    deploy = deployed(tmp_path, aws, aws_conn, "nonprod")

    result = run_task(sensor(deploy["operations"], aws_conn), make_context("wait", run_id=RUN))

    (verdict,) = result["operations"].values()
    assert result["outcome"] == "succeeded"
    assert verdict["status"] == "SUCCEEDED"
    assert verdict["failed"] == []
    # The suspended NonProd account is not a target: four accounts in each Region.
    assert {region: counts["succeeded"] for region, counts in verdict["regions"].items()} == {
        "us-east-1": 4,
        "us-west-2": 4,
    }


def test_poking_sensor_waits_then_succeeds(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    deploy = deployed(tmp_path, aws, aws_conn, "canary")
    task = sensor(deploy["operations"], aws_conn, deferrable=False)

    # The clock runs at real speed: the operation is still running.
    assert task.poke(make_context("wait", run_id=RUN)) is False
    sim.settle()
    assert run_task(task, make_context("wait", run_id=RUN))["outcome"] == "succeeded"


def test_an_empty_wave_succeeds_at_once(aws_conn: str) -> None:
    assert run_task(sensor([], aws_conn)) == {"outcome": "succeeded", "operations": {}}


@pytest.mark.parametrize("deferrable", [True, False])
def test_failures_beyond_tolerance_fail_naming_the_accounts(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, deferrable: bool
) -> None:
    fast_sim.set_scenario("stackset-failure")
    deploy = deployed(tmp_path, aws, aws_conn, "nonprod")
    task = sensor(deploy["operations"], aws_conn, deferrable=deferrable, poke_interval=0.1)

    with pytest.raises(StackSetOperationFailed) as failure:
        wait(task, deferrable=deferrable)

    message = str(failure.value)
    named = {account for account in NONPROD if f"{account}/us-west-2" in message}
    assert named
    assert named <= FAILING
    assert "over tolerance in us-west-2" in message


def test_the_trigger_outlasts_a_throttling_storm(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release(aws, "1.0.0", None, create=True)
    # One account at a time: the wait lasts long enough for the storm to hit it.
    slow = cfn(aws).create_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={"OrganizationalUnitIds": [fast_sim.org.ou_ids_by_path["/NonProd"]]},
        Regions=["us-east-1", "us-west-2"],
        OperationPreferences={"MaxConcurrentCount": 1},
        CallAs=CALL_AS,
    )["OperationId"]
    # A storm, not the demo's 30% drizzle: with this seed the first DescribeStackSetOperation
    # and the first ListStackSetOperationResults are both throttled, so the trigger meets the
    # storm however quickly the operation ends (timing on a loaded machine decides that).
    fast_sim.set_scenario(
        Scenario(
            name="storm",
            seed=3,
            throttling=[
                Throttling(
                    services=["cloudformation"],
                    operations=["DescribeStackSetOperation", "ListStackSetOperationResults"],
                    rate=0.9,
                )
            ],
        )
    )
    transient: list[BaseException] = []

    def recording(error: BaseException) -> bool:
        transient.append(error)
        return is_transient(error)

    monkeypatch.setattr(triggers, "is_transient", recording)
    trigger = StackSetOperationTrigger(
        stack_set_name=STACK_SET,
        operation_ids=[slow],
        call_as=CALL_AS,
        region_name=REGION,
        aws_conn_id=aws_conn,
        poll_interval=0.01,
        timeout=60,
        botocore_config={"retries": {"total_max_attempts": 1, "mode": "standard"}},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "distributor_rollout.triggers.stack_set.StackSetOperationTrigger"

    event = asyncio.run(first_event(StackSetOperationTrigger(**kwargs)))

    assert event.payload["status"] == "success"
    (verdict,) = event.payload["operations"].values()
    assert verdict["outcome"] == "succeeded"
    # Without botocore's own retries, the storm reached the trigger, which rode it out.
    assert transient
    assert all("Throttling" in str(error) for error in transient)


def test_the_trigger_reports_an_unknown_operation_as_an_error(
    sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    release(aws, "1.0.0", None, create=True)
    trigger = StackSetOperationTrigger(
        stack_set_name=STACK_SET,
        operation_ids=["dr-nope"],
        call_as=CALL_AS,
        region_name=REGION,
        aws_conn_id=aws_conn,
        poll_interval=0.05,
    )
    event = asyncio.run(first_event(trigger))
    assert event.payload["status"] == "error"
    assert "dr-nope" in event.payload["message"]
    assert (
        cfn(aws).list_stack_set_operations(StackSetName=STACK_SET, CallAs=CALL_AS)["Summaries"]
        == []
    )
