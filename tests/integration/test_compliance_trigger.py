"""AssociationComplianceTrigger against awssim over HTTP: the gate decided in the triggerer."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
from airflow.sdk.execution_time.comms import ErrorResponse
from airflow_support import first_event
from compliance_support import (
    ASSOCIATION,
    NONPROD,
    READER,
    SANDBOX,
    count_calls,
    prepare,
    reader_role,
    tagged_nodes,
    targets,
)
from trigger_comms import RecordingComms, as_triggerer, task_instance

from awssim.pytest_plugin import AwsClients
from awssim.scenario import Latency, Scenario, Throttling
from awssim.simulator import Simulator
from distributor_rollout.core.gate import GateSettings
from distributor_rollout.core.gate_progress import LatestPoll
from distributor_rollout.core.steps import LATEST_POLL_XCOM_KEY
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks import association_status
from distributor_rollout.triggers.compliance import AssociationComplianceTrigger

CANARY = targets(SANDBOX, ["us-east-1", "us-west-2"])
FAST = GateSettings(
    threshold_percent=95, min_nodes=1, timeout_seconds=6, bake_seconds=0, poll_interval_seconds=0.2
)


def trigger(conn: str, wave: list[Target], gate: GateSettings = FAST, **kw: Any) -> Any:
    """A trigger for ``wave`` opened now, rebuilt from its serialized form (as the
    triggerer does)."""
    built = AssociationComplianceTrigger(
        targets=[str(target) for target in wave],
        association_name=ASSOCIATION,
        role_name=READER,
        gate=gate.to_dict(),
        opened_at=time.time(),
        aws_conn_id=conn,
        **kw,
    )
    classpath, kwargs = built.serialize()
    assert classpath == "distributor_rollout.triggers.compliance.AssociationComplianceTrigger"
    return AssociationComplianceTrigger(**kwargs)


def run(trig: AssociationComplianceTrigger) -> dict[str, Any]:
    """The trigger's one event."""
    payload: dict[str, Any] = asyncio.run(first_event(trig, timeout=30)).payload
    return payload


def test_gate_passes_once_every_tagged_node_installed(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    prepare(aws, CANARY)
    every_node = GateSettings(threshold_percent=100, timeout_seconds=6, poll_interval_seconds=0.2)

    before = datetime.now(UTC)
    event = run(trigger(aws_conn, CANARY, every_node))

    assert event["status"] == "success"
    decision = event["decision"]
    assert decision["state"] == "PASS"
    nodes = tagged_nodes(fast_sim, CANARY)
    assert decision["totals"]["expected"] == decision["totals"]["success"] == len(nodes)
    assert all(node.installed == {"ExamplePackage": "1.0.2"} for node in nodes)
    assert event["targets"] == len(CANARY)
    assert event["missing_count"] == 0
    assert event["association"]["association_id"]
    decided_at = datetime.fromisoformat(event["decided_at"])
    assert decided_at.utcoffset() == timedelta(0)
    assert before <= decided_at <= datetime.now(UTC)


def test_bake_time_is_respected(fast_sim: Simulator, aws: AwsClients, aws_conn: str) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    baking = GateSettings(
        threshold_percent=95,
        min_nodes=1,
        timeout_seconds=6,
        bake_seconds=1.5,
        poll_interval_seconds=0.5,
    )

    started = time.monotonic()
    event = run(trigger(aws_conn, CANARY, baking))

    decision = event["decision"]
    assert decision["state"] == "PASS"
    assert time.monotonic() - started >= 1.5
    assert event["elapsed"] - decision["passing_since"] >= 1.5
    assert "passing for" in decision["reason"]


def test_canary_failure_fails_the_gate_with_the_reason(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    fast_sim.set_scenario("canary-failure")
    prepare(aws, CANARY)

    event = run(trigger(aws_conn, CANARY))

    decision = event["decision"]
    assert decision["state"] == "FAIL"
    assert decision["reason"].startswith("threshold unreachable")
    assert datetime.fromisoformat(event["decided_at"]).utcoffset() == timedelta(0)
    assert decision["totals"]["failed"] > 0
    assert {item["target"]["account_id"] for item in decision["worst"]} <= set(SANDBOX)
    assert any(item["failed"] for item in decision["worst"])


@pytest.mark.parametrize("offline_nodes", ["exclude", "count"])
def test_nodes_that_never_report_time_the_gate_out_naming_how_many(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, offline_nodes: str
) -> None:
    fast_sim.set_scenario("unmanaged-nodes")
    wave = prepare(aws, targets(NONPROD, ["us-east-1"]))
    silent = [node for node in tagged_nodes(fast_sim, wave) if not node.managed]
    assert silent
    short = GateSettings(
        threshold_percent=95,
        min_nodes=1,
        timeout_seconds=2,
        poll_interval_seconds=0.5,
        offline_nodes=offline_nodes,  # type: ignore[arg-type]
    )

    event = run(trigger(aws_conn, wave, short))

    decision = event["decision"]
    assert decision["state"] == "FAIL"
    timed_out = re.match(r"timed out after (\d+)s", decision["reason"])
    assert timed_out is not None
    assert int(timed_out.group(1)) >= 2
    assert event["elapsed"] >= 2
    # Read as offline through DescribeInstanceInformation (PingStatus), not as pending.
    assert decision["totals"]["offline"] == len(silent)
    assert decision["totals"]["pending"] == 0
    if offline_nodes == "exclude":
        assert f"{len(silent)} offline (excluded)" in decision["reason"]
        assert decision["totals"]["excluded_offline"] == len(silent)
    else:
        assert f"{len(silent)} offline (counted)" in decision["reason"]
        assert decision["totals"]["excluded_offline"] == 0


def test_a_throttling_storm_delays_the_gate_but_never_fails_it(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    fast_sim.set_scenario("throttling")
    calls = count_calls(fast_sim, monkeypatch)

    event = run(trigger(aws_conn, CANARY))

    assert event["status"] == "success"
    assert event["decision"]["state"] == "PASS"
    assert calls["ssm.ListAssociations"] > len(CANARY)  # some were throttled and retried


def test_a_poll_begun_before_the_timeout_is_judged_as_of_its_start(
    sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    # The clock runs in real time: the installs stay pending for the whole test.
    prepare(aws, CANARY)
    # Each read takes longer than the whole gate's timeout (as a throttled read backing
    # off can): the first poll ends past the deadline but began well before it.
    slow = Latency(services=["ssm"], operations=["ListAssociations"], seconds=2.5)
    sim.set_scenario(Scenario(name="slow reads", latency=[slow]))
    short = GateSettings(
        threshold_percent=95, min_nodes=1, timeout_seconds=2, poll_interval_seconds=0.2
    )

    event = run(trigger(aws_conn, CANARY, short))

    decision = event["decision"]
    assert decision["state"] == "FAIL"
    assert decision["reason"].startswith("timed out")
    # Judged at its end, the first poll would have timed the gate out on its own.
    assert event["polls"] == 2


def test_targets_that_stay_throttled_make_the_gate_wait_then_time_out(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    storm = Throttling(services=["ssm"], operations=["ListAssociations"], rate=1.0)
    fast_sim.set_scenario(Scenario(name="storm", throttling=[storm]))
    # No retries at all, so every read stays throttled at once.
    monkeypatch.setattr(association_status, "THROTTLE_RETRIES", 0)
    short = GateSettings(timeout_seconds=1, poll_interval_seconds=0.3)

    no_retries = {"retries": {"total_max_attempts": 1}}

    event = run(trigger(aws_conn, CANARY, short, botocore_config=no_retries))

    decision = event["decision"]
    assert decision["state"] == "FAIL"
    assert "4 targets could not be read" in decision["reason"]


def test_a_role_that_cannot_be_assumed_names_the_account(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    prepare(aws, CANARY, without_role=[SANDBOX[1]])

    event = run(trigger(aws_conn, CANARY))

    assert event["status"] == "error"
    assert event["account_id"] == SANDBOX[1]
    assert event["role_arn"] == f"arn:aws:iam::{SANDBOX[1]}:role/{READER}"
    assert SANDBOX[1] in event["message"]
    assert event["reason"]


def test_credentials_are_assumed_once_per_account_across_polls(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    baking = GateSettings(bake_seconds=0.8, poll_interval_seconds=0.2, threshold_percent=95)
    calls = count_calls(fast_sim, monkeypatch)

    event = run(trigger(aws_conn, CANARY, baking))

    assert event["decision"]["state"] == "PASS"
    assert event["polls"] >= 2
    assert calls["sts.AssumeRole"] == len(SANDBOX)
    assert calls["ssm.ListAssociations"] == event["polls"] * len(CANARY)
    assert set(calls) == {"sts.AssumeRole", "ssm.ListAssociations"}


def test_targets_without_the_association_are_reported_not_counted(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    prepare(aws, CANARY[:2])
    reader_role(aws, SANDBOX[1])
    absent = CANARY[2:]

    event = run(trigger(aws_conn, CANARY))

    assert event["decision"]["state"] == "PASS"
    assert event["missing_count"] == len(absent)
    assert event["missing_associations"] == [str(target) for target in absent]


def test_unusable_arguments_end_the_trigger_with_an_error_event(aws_conn: str) -> None:
    broken = trigger(aws_conn, CANARY, FAST)
    broken.targets = ["not-a-target"]

    event = run(broken)

    assert event["status"] == "error"
    assert "not a target" in event["message"]


def test_a_target_whose_stack_update_failed_counts_as_failed_whatever_it_reports(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)  # every node reports success (for the version it runs)
    gate = GateSettings(threshold_percent=100, timeout_seconds=6, poll_interval_seconds=0.2)

    event = run(trigger(aws_conn, CANARY, gate, failed_targets=[str(CANARY[0])]))

    decision = event["decision"]
    assert decision["state"] == "FAIL"
    stale = len(tagged_nodes(fast_sim, [CANARY[0]]))
    assert decision["totals"]["failed"] == stale
    assert decision["totals"]["success"] == len(tagged_nodes(fast_sim, CANARY)) - stale


BAKING = GateSettings(bake_seconds=0.8, poll_interval_seconds=0.2, threshold_percent=95)


def recorded_polls(comms: RecordingComms) -> list[LatestPoll]:
    """The polls the trigger wrote, read back as the tab reads them."""
    polls = [LatestPoll.read(write.value) for write in comms.xcom_writes]
    assert all(poll is not None for poll in polls), polls
    return [poll for poll in polls if poll is not None]


def test_each_waiting_poll_is_recorded_in_the_tasks_xcom_for_the_tab(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)  # passing at once: the gate waits out its bake
    trig = trigger(aws_conn, CANARY, BAKING)
    ti = task_instance(task_id="canary.wait_compliance")

    with as_triggerer(trig, RecordingComms(), ti) as comms:
        event = run(trig)

    assert event["decision"]["state"] == "PASS"
    writes = comms.xcom_writes
    # Every poll but the deciding one, which the task records as the gate's decision.
    assert len(writes) == event["polls"] - 1 >= 1
    assert {(w.key, w.dag_id, w.task_id, w.run_id, w.map_index) for w in writes} == {
        (LATEST_POLL_XCOM_KEY, ti.dag_id, "canary.wait_compliance", ti.run_id, -1)
    }
    polls = recorded_polls(comms)
    assert {poll.decision.state for poll in polls} == {"WAIT"}
    assert all(poll.decision.passing_since is not None for poll in polls), "baking"
    assert polls[-1].decision.totals.expected == event["decision"]["totals"]["expected"]
    polled = [datetime.fromisoformat(str(poll.polled_at)) for poll in polls]
    assert polled == sorted(set(polled)), "one per poll, in order"
    assert all(stamp.utcoffset() == timedelta(0) for stamp in polled)


def test_a_gate_that_times_out_records_each_poll_it_waited_on(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    fast_sim.set_scenario("unmanaged-nodes")
    wave = prepare(aws, targets(NONPROD, ["us-east-1"]))
    short = GateSettings(
        threshold_percent=95, min_nodes=1, timeout_seconds=1.5, poll_interval_seconds=0.5
    )
    trig = trigger(aws_conn, wave, short)

    with as_triggerer(trig, RecordingComms()) as comms:
        event = run(trig)

    assert event["decision"]["reason"].startswith("timed out")
    polls = recorded_polls(comms)
    assert len(polls) == event["polls"] - 1 >= 2
    assert all(poll.decision.passing_since is None for poll in polls)
    assert all(poll.decision.totals.offline > 0 for poll in polls)


REFUSED = AirflowRuntimeError(
    ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": 500})
)
"""What a trigger's ``XCom.aset`` raises when the triggerer's supervisor could not store it."""


@pytest.mark.parametrize(
    "failure", [REFUSED, ConnectionResetError("supervisor gone")], ids=["refused", "broken"]
)
def test_a_failing_xcom_write_never_stops_or_fails_the_gate(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, failure: Exception
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    trig = trigger(aws_conn, CANARY, BAKING)

    with as_triggerer(trig, RecordingComms(fail=failure)) as comms:
        event = run(trig)

    assert event["status"] == "success"
    assert event["decision"]["state"] == "PASS"
    # Tried after every waiting poll: a failed write never ended the polling.
    assert len(comms.xcom_writes) == event["polls"] - 1 >= 1


def test_without_a_task_instance_the_trigger_records_nothing(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str
) -> None:
    # As dag.test() runs a deferred task's trigger: supervisor comms, no task instance.
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    trig = trigger(aws_conn, CANARY, BAKING)

    with as_triggerer(None, RecordingComms()) as comms:
        event = run(trig)

    assert event["decision"]["state"] == "PASS"
    assert event["polls"] >= 2
    assert comms.messages == []
