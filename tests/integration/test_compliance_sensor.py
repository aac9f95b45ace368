"""AssociationComplianceSensor against awssim: deferred, poke and reschedule modes."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSkipException, TaskDeferred
from airflow_support import RecordingTaskInstance, make_context, run_task
from compliance_support import (
    ASSOCIATION,
    NONPROD,
    READER,
    SANDBOX,
    count_calls,
    prepare,
    tagged_nodes,
    targets,
    write_plan,
)

from awssim.pytest_plugin import AwsClients
from awssim.scenario import Latency, Scenario
from awssim.simulator import Simulator
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate_progress import LatestPoll
from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.steps import GATE_XCOM_KEY, LATEST_POLL_XCOM_KEY
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import FailureTolerance, InstanceResult, judge_operation
from distributor_rollout.hooks.errors import MemberAccessDenied
from distributor_rollout.links.console import AssociationLink
from distributor_rollout.sensors.compliance import (
    BACKSTOP_SLACK_SECONDS,
    AssociationComplianceSensor,
    ComplianceGateFailed,
)
from distributor_rollout.triggers.compliance import AssociationComplianceTrigger

CANARY = targets(SANDBOX, ["us-east-1", "us-west-2"])
NONPROD_WAVE = targets(NONPROD, ["us-east-1"])


@dataclass
class RescheduledTaskInstance(RecordingTaskInstance):
    """A task instance that was first started ``first_started`` ago (reschedule mode)."""

    first_started: timedelta = timedelta(0)

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        """When this try was first started, if it was rescheduled since."""
        if not context.get("task_reschedule_count"):
            return None
        return datetime.now(UTC) - self.first_started


def sensor(plan: str, wave: str, conn: str, wave_targets: Any, **kw: Any) -> Any:
    """A compliance sensor for one wave of ``plan``."""
    return AssociationComplianceSensor(
        task_id=f"compliance_{wave}",
        plan_path=plan,
        wave=wave,
        targets=wave_targets,
        aws_conn_id=conn,
        **kw,
    )


def utc_timestamp(text: str) -> datetime:
    """An ISO-8601 timestamp that must name UTC."""
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() == timedelta(0), text
    return parsed


def rescheduled_context(first_started: timedelta, reschedules: int) -> dict[str, Any]:
    """A context as a rescheduled sensor's try sees it."""
    ti = RescheduledTaskInstance(task_id="compliance_nonprod", first_started=first_started)
    return {"ti": ti, "task_instance": ti, "task_reschedule_count": reschedules}


def test_poke_mode_passes_returns_the_decision_and_links_an_association(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY)
    # A template renders a list to its JSON text: the sensor takes either.
    task = sensor(
        write_plan(tmp_path),
        "canary",
        aws_conn,
        json.dumps([str(t) for t in CANARY]),
        run_params={"gate_threshold_percent": 100},
        deferrable=False,
    )
    context = make_context(task.task_id)

    before = datetime.now(UTC)
    result = run_task(task, context)

    assert result["state"] == "PASS"
    assert result["totals"]["success"] == len(tagged_nodes(fast_sim, CANARY))
    ti = context["ti"]
    recorded = ti.xcom[GATE_XCOM_KEY]
    assert recorded == {"decision": result, "decided_at": recorded["decided_at"]}
    assert before <= utc_timestamp(recorded["decided_at"]) <= datetime.now(UTC)
    link = ti.xcom[AssociationLink.key]
    assert link["region_name"] in {"us-east-1", "us-west-2"}
    assert link["association_id"]
    assert (
        AssociationLink()
        .format_link(**link)
        .startswith("https://console.aws.amazon.com/systems-manager/state-manager/")
    )


def test_deferred_by_default_and_passes_in_the_trigger(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY)
    task = sensor(write_plan(tmp_path, bake="1s"), "canary", aws_conn, [str(t) for t in CANARY])
    context = make_context(task.task_id)

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, AssociationComplianceTrigger)
    assert trigger.association_name == ASSOCIATION
    assert trigger.role_name == READER
    assert trigger.gate["threshold_percent"] == 95.0
    assert trigger.gate["bake_seconds"] == 1
    assert deferred.value.timeout == timedelta(seconds=10 + 1 + 2 + BACKSTOP_SLACK_SECONDS)

    before = datetime.now(UTC)
    result = run_task(task, context)

    assert result["state"] == "PASS"
    assert result["passing_since"] is not None
    assert context["ti"].xcom[AssociationLink.key]["association_id"]
    # Decided in the trigger: the time is the trigger's, carried by its event.
    recorded = context["ti"].xcom[GATE_XCOM_KEY]
    assert recorded["decision"] == result
    assert before <= utc_timestamp(recorded["decided_at"]) <= datetime.now(UTC)


def test_run_params_override_the_wave_gate_and_targets_may_be_rendered_text(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY)  # the sensor looks once before it defers
    plan = Path(write_plan(tmp_path))
    data = yaml.safe_load(plan.read_text())
    data["manual_runs"] = {"gates": "any"}  # the plan lets a run loosen its gates
    plan.write_text(yaml.safe_dump(data))
    task = sensor(
        str(plan),
        "canary",
        aws_conn,
        # What a template renders a Python list to, without native rendering.
        str([str(t) for t in CANARY]),
        run_params={"gate_threshold_percent": 50, "gate_bake": "3s"},
    )

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(make_context(task.task_id))

    assert deferred.value.trigger.gate["threshold_percent"] == 50.0
    assert deferred.value.trigger.gate["bake_seconds"] == 3
    assert deferred.value.trigger.targets == [str(t) for t in CANARY]


def test_canary_failure_fails_the_task_with_the_reason(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    fast_sim.set_scenario("canary-failure")
    prepare(aws, CANARY)
    task = sensor(write_plan(tmp_path), "canary", aws_conn, [str(t) for t in CANARY])
    context = make_context(task.task_id)

    with pytest.raises(ComplianceGateFailed) as failed:
        run_task(task, context)

    message = str(failed.value)
    assert message.startswith("compliance gate of wave 'canary' failed: threshold unreachable")
    assert "Least compliant: 300" in message
    assert failed.value.trigger == "compliance_failed"
    recorded = context["ti"].xcom[GATE_XCOM_KEY]
    assert recorded["trigger"] == "compliance_failed"
    assert recorded["decision"]["state"] == "FAIL"
    assert set(recorded) == {"decision", "decided_at", "trigger"}
    assert utc_timestamp(recorded["decided_at"]) <= datetime.now(UTC)


def test_access_denied_names_the_account(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY, without_role=[SANDBOX[0]])
    task = sensor(write_plan(tmp_path), "canary", aws_conn, [str(t) for t in CANARY])

    with pytest.raises(MemberAccessDenied) as denied:
        run_task(task, make_context(task.task_id))

    assert denied.value.account_id == SANDBOX[0]
    assert f"arn:aws:iam::{SANDBOX[0]}:role/{READER}" in str(denied.value)


def test_a_rescheduled_gate_counts_its_timeout_from_the_first_poke(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    fast_sim.set_scenario("unmanaged-nodes")
    prepare(aws, NONPROD_WAVE)
    fast_sim.settle(horizon=600)
    silent = [node for node in tagged_nodes(fast_sim, NONPROD_WAVE) if not node.managed]
    task = sensor(
        write_plan(tmp_path),
        "nonprod",
        aws_conn,
        [str(t) for t in NONPROD_WAVE],
        deferrable=False,
        mode="reschedule",
    )
    # This try started 30 s ago and has been rescheduled since: the 10 s timeout is past.
    context = rescheduled_context(timedelta(seconds=30), reschedules=3)

    with pytest.raises(ComplianceGateFailed) as failed:
        task.execute(context)

    assert failed.value.trigger == "compliance_timeout"
    assert re.search(r"timed out after 3\ds", str(failed.value))
    # Their agents are offline (PingStatus ConnectionLost): named as such, not as pending.
    assert f"{len(silent)} offline (excluded)" in str(failed.value)
    assert "of nodes offline, above the 20% cap" in str(failed.value)


def test_reschedule_mode_frees_the_worker_while_the_fleet_is_not_there(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    fast_sim.set_scenario("unmanaged-nodes")
    prepare(aws, NONPROD_WAVE)
    task = sensor(
        write_plan(tmp_path),
        "nonprod",
        aws_conn,
        [str(t) for t in NONPROD_WAVE],
        deferrable=False,
        mode="reschedule",
    )

    context = rescheduled_context(timedelta(0), reschedules=0)
    with pytest.raises(AirflowRescheduleException):
        task.execute(context)

    # Where the waiting gate stands, for the Rollout tab: the poll's decision and time.
    poll = LatestPoll.from_dict(context["ti"].xcom[LATEST_POLL_XCOM_KEY])
    assert poll.decision.state == "WAIT"
    assert poll.decision.totals.expected > 0
    assert poll.polled_at is not None
    assert GATE_XCOM_KEY not in context["ti"].xcom, "no decision yet"


def test_reschedule_mode_bakes_in_process_once_passing(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    task = sensor(
        write_plan(tmp_path, bake="2s"),
        "canary",
        aws_conn,
        [str(t) for t in CANARY],
        deferrable=False,
        mode="reschedule",
    )

    started = time.monotonic()
    result = task.execute(rescheduled_context(timedelta(0), reschedules=0))

    assert result["state"] == "PASS"
    assert time.monotonic() - started >= 2


def test_slow_reads_past_the_deadline_end_in_the_gates_own_timeout(
    sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The clock runs in real time: the installs stay pending for the whole test.
    prepare(aws, CANARY)
    # Each poll's reads take longer than the gate's timeout plus two intervals: the first
    # poll, begun in time, says WAIT; Airflow's own sensor timeout must not cut in before
    # the next poll decides (it would leave no gate record, and a compliance_failed
    # trigger where the truth is compliance_timeout).
    slow = Latency(services=["ssm"], operations=["ListAssociations"], seconds=3.2)
    sim.set_scenario(Scenario(name="slow reads", latency=[slow]))
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE", "10")  # 1s and 1s
    task = sensor(
        write_plan(tmp_path, timeout="10s", poll_interval="10s"),
        "canary",
        aws_conn,
        [str(t) for t in CANARY],
        deferrable=False,
    )
    context = make_context(task.task_id)

    with pytest.raises(ComplianceGateFailed, match="timed out"):
        run_task(task, context)

    assert context["ti"].xcom[GATE_XCOM_KEY]["decision"]["state"] == "FAIL"


def test_bad_inputs_are_refused_before_any_call(
    fast_sim: Simulator, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    with pytest.raises(ValidationError, match="wave: not a wave of the plan"):
        sensor(plan, "qa", aws_conn, [str(t) for t in CANARY]).execute(make_context())
    for empty in ([], "", "300000000001/us-east-1 and more"):
        with pytest.raises(ValidationError, match="targets: no targets to gate"):
            sensor(plan, "canary", aws_conn, empty).execute(make_context())
    with pytest.raises(ValidationError, match="not a target"):
        sensor(plan, "canary", aws_conn, ["300000000001"]).execute(make_context())


def test_a_wave_this_run_does_not_deploy_is_skipped(aws_conn: str, tmp_path: Path) -> None:
    sensor = AssociationComplianceSensor(
        task_id="wait_compliance",
        plan_path=write_plan(tmp_path),
        wave="nonprod",
        targets=[],
        run_params={"waves": ["canary"]},
        aws_conn_id=aws_conn,
    )
    with pytest.raises(AirflowSkipException, match="not among this run's waves"):
        run_task(sensor)


def test_a_dry_run_is_skipped_before_any_aws_call(
    sim: Simulator, aws_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(sim, monkeypatch)
    for deferrable in (True, False):
        task = sensor(
            write_plan(tmp_path),
            "canary",
            aws_conn,
            [str(t) for t in CANARY],
            run_params={"dry_run": True},
            deferrable=deferrable,
        )
        context = make_context(task.task_id)
        with pytest.raises(AirflowSkipException, match="dry run: nothing was deployed to gate"):
            run_task(task, context)
        assert GATE_XCOM_KEY not in context["ti"].xcom
    assert sum(calls.values()) == 0


def test_the_time_scale_divides_the_gate_at_run_time(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(aws, CANARY)  # the sensor looks once before it defers
    # Built (as at DAG parse) before the scale is set: it is read when the task runs.
    task = sensor(
        write_plan(tmp_path, timeout="60s", bake="30s", poll_interval="5s"),
        "canary",
        aws_conn,
        [str(t) for t in CANARY],
    )
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE", "10")

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(make_context(task.task_id))

    gate = deferred.value.trigger.gate
    assert (gate["timeout_seconds"], gate["bake_seconds"], gate["poll_interval_seconds"]) == (
        6,
        3,
        0.5,
    )
    assert gate["threshold_percent"] == 95.0
    assert gate["min_nodes"] == 1
    assert deferred.value.timeout == timedelta(seconds=6 + 3 + 2 * 0.5 + BACKSTOP_SLACK_SECONDS)

    # Poke mode waits between polls in real seconds too.
    poking = sensor(
        write_plan(tmp_path, timeout="60s", bake="30s", poll_interval="5s"),
        "canary",
        aws_conn,
        [str(t) for t in CANARY],
        deferrable=False,
    )
    assert poking._load().poll_interval_seconds == 0.5

    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE", "0")
    with pytest.raises(ValidationError, match=r"distributor_rollout\.time_scale"):
        task.execute(make_context(task.task_id))


def failed_operation_result(*targets: Target) -> dict[str, Any]:
    """A ``StackSetOperationSensor`` result whose operation failed in ``targets`` (within
    its tolerance), made as the sensor makes it."""
    results = [InstanceResult(target, "FAILED", "Stack update failed") for target in targets]
    results += [InstanceResult(target, "SUCCEEDED") for target in CANARY if target not in targets]
    verdict = judge_operation("SUCCEEDED", results, FailureTolerance(percentage=100))
    return OperationsSummary.from_verdicts(
        {
            "dr-op-update": verdict,
            "dr-op-create": judge_operation("SUCCEEDED", [], FailureTolerance()),
        }
    ).to_dict()


def test_an_operation_result_adds_its_failed_targets(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY)  # the sensor looks once before it defers
    result = failed_operation_result(CANARY[0], CANARY[1])
    failed = result["operations"]["dr-op-update"]["failed"]
    assert [item["target"] for item in failed] == [CANARY[0].to_dict(), CANARY[1].to_dict()]
    # Rendered by a template to JSON or to a Python literal, or with a target as text.
    as_text = {"operations": {"x": {"failed": [{"target": str(CANARY[3]), "reason": "r"}]}}}
    for given, expected in (
        (result, [CANARY[1], CANARY[0]]),
        (json.dumps(result), [CANARY[1], CANARY[0]]),
        (str(result), [CANARY[1], CANARY[0]]),
        (as_text, [CANARY[1], CANARY[3]]),
        (None, [CANARY[1]]),
        ("None", [CANARY[1]]),
    ):
        # A gate that passes at once and then bakes: the sensor's first look defers.
        task = sensor(
            write_plan(tmp_path, threshold_percent=0, bake="1h"),
            "canary",
            aws_conn,
            [str(t) for t in CANARY],
            failed_targets=[str(CANARY[1])],
            operation_result=given,
        )
        with pytest.raises(TaskDeferred) as deferred:
            task.execute(make_context(task.task_id))
        assert deferred.value.trigger.failed_targets == [str(t) for t in expected], given

    for bad in ("not a result", json.dumps([1, 2]), {"operations": {"x": {"failed": [7]}}}):
        task = sensor(
            write_plan(tmp_path),
            "canary",
            aws_conn,
            [str(t) for t in CANARY],
            operation_result=bad,
        )
        with pytest.raises(ValidationError, match="operation_result"):
            task.execute(make_context(task.task_id))


def test_targets_the_operation_failed_in_count_as_failed_nodes(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)  # every node reports success (for the version it runs)
    task = sensor(
        write_plan(tmp_path),
        "canary",
        aws_conn,
        [str(t) for t in CANARY],
        run_params={"gate_threshold_percent": 100},
        operation_result=failed_operation_result(CANARY[0]),
        deferrable=False,
    )
    context = make_context(task.task_id)

    with pytest.raises(ComplianceGateFailed):
        run_task(task, context)

    decision = context["ti"].xcom[GATE_XCOM_KEY]["decision"]
    stale = len(tagged_nodes(fast_sim, [CANARY[0]]))
    assert decision["totals"]["failed"] == stale
    assert decision["totals"]["success"] == len(tagged_nodes(fast_sim, CANARY)) - stale
