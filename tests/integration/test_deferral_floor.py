"""No instant triggers (Airflow's deferral race): waits look once before they defer, and a
trigger's event never comes sooner than ``[distributor_rollout] min_deferral_seconds`` after
the deferral. Against awssim over HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from airflow.sdk.exceptions import TaskDeferred
from airflow_support import first_event, make_context
from compliance_support import SANDBOX, prepare, targets, write_plan
from stack_set_support import CALL_AS, REGION, STACK_SET
from test_stack_set_sensor import RUN, deployed
from test_stack_set_sensor import sensor as operation_sensor

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.sensors.compliance import AssociationComplianceSensor
from distributor_rollout.settings import min_deferral_seconds
from distributor_rollout.triggers.stack_set import StackSetOperationTrigger

CANARY = targets(SANDBOX, ["us-east-1", "us-west-2"])
FLOOR = 7.0


@pytest.fixture
def floor(monkeypatch: pytest.MonkeyPatch) -> float:
    """The deployment's floor, as a real scheduler's deployment would set it."""
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS", str(FLOOR))
    return FLOOR


def compliance_sensor(plan: str, conn: str) -> AssociationComplianceSensor:
    return AssociationComplianceSensor(
        task_id="compliance_canary",
        plan_path=plan,
        wave="canary",
        targets=[str(target) for target in CANARY],
        aws_conn_id=conn,
    )


def test_an_operation_that_already_ended_is_judged_without_deferring(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, floor: float
) -> None:
    deploy = deployed(tmp_path, aws, aws_conn, "nonprod")
    fast_sim.settle()  # the operation ended before the wait task starts

    result = operation_sensor(deploy["operations"], aws_conn).execute(
        make_context("wait", run_id=RUN)
    )

    assert result["outcome"] == "succeeded"


def test_a_running_operation_defers_with_the_floor(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, floor: float
) -> None:
    deploy = deployed(tmp_path, aws, aws_conn, "canary")  # real-speed clock: still running
    before = time.time()

    with pytest.raises(TaskDeferred) as deferred:
        operation_sensor(deploy["operations"], aws_conn).execute(make_context("wait", run_id=RUN))

    assert deferred.value.trigger.not_before >= before + floor


def test_a_gate_already_decided_finishes_without_deferring(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, floor: float
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)  # every node has installed

    result = compliance_sensor(write_plan(tmp_path), aws_conn).execute(make_context("c"))

    assert result["state"] == "PASS"


def test_a_gate_still_waiting_defers_its_next_look_and_its_event(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, floor: float
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    before = time.time()

    # Passing, then a bake: the first look starts it and hands it to the trigger.
    with pytest.raises(TaskDeferred) as deferred:
        compliance_sensor(write_plan(tmp_path, bake="1h"), aws_conn).execute(make_context("c"))

    trigger = deferred.value.trigger
    assert trigger.passing_since is not None
    assert trigger.first_poll_at > before
    assert trigger.not_before >= before + floor


def test_a_trigger_holds_its_event_until_the_floor(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    deploy = deployed(tmp_path, aws, aws_conn, "nonprod")
    not_before = time.time() + 1.5
    trigger = StackSetOperationTrigger(
        stack_set_name=STACK_SET,
        operation_ids=deploy["operations"],
        call_as=CALL_AS,
        region_name=REGION,
        aws_conn_id=aws_conn,
        poll_interval=0.1,
        not_before=not_before,
    )

    event = asyncio.run(first_event(trigger))

    assert event.payload["status"] == "success"  # the operation had ended long before
    assert time.time() >= not_before


def test_the_floor_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS", "-1")
    with pytest.raises(ValidationError, match="min_deferral_seconds"):
        min_deferral_seconds()
    monkeypatch.delenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS")
    assert min_deferral_seconds() == 30.0
