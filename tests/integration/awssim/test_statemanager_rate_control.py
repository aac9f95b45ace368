"""Association runs over simulated time: MaxConcurrency, MaxErrors, schedules, superseded runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from statemanager_support import (
    PACKAGE,
    client,
    create_package_association,
    execution_targets,
    executions,
    installed_versions,
    nodes,
    overview,
    package_parameters,
    publish,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

EVERY_NODE = [{"Key": "InstanceIds", "Values": ["*"]}]


@pytest.fixture
def ssm(aws: AwsClients) -> Any:
    """SSM as the member account, with version 1.0.0 published."""
    publish(aws, "1.0.0")
    return client(aws, "ssm")


def _watch(sim: Simulator, ssm: Any, association_id: str) -> tuple[list[str], int]:
    """Poll the first execution until it ends: (nodes in the order they started, max running)."""
    started: list[str] = []
    most = 0
    while True:
        execution = executions(ssm, association_id)[-1]
        targets = execution_targets(ssm, association_id, execution["ExecutionId"])
        running = [t["ResourceId"] for t in targets if t["Status"] == "InProgress"]
        started += [instance_id for instance_id in running if instance_id not in started]
        most = max(most, len(running))
        if execution["Status"] not in {"Pending", "InProgress"}:
            return started, most
        sim.advance(3)


def test_max_concurrency_one_runs_the_nodes_one_after_another(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(ssm, MaxConcurrency="1")

    started, most = _watch(sim, ssm, association_id)

    assert most == 1
    assert sorted(started) == sorted(n.instance_id for n in nodes(sim))
    [execution] = executions(ssm, association_id)
    finished = {
        t["ResourceId"]: t["LastExecutionDate"]
        for t in execution_targets(ssm, association_id, execution["ExecutionId"])
    }
    assert sorted(finished, key=finished.__getitem__) == started, "each starts when one ends"


def test_a_percentage_of_the_targets_run_at_once(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(ssm, MaxConcurrency="25%")  # 13 targets -> 3

    started, most = _watch(sim, ssm, association_id)

    assert most == 3
    assert len(started) == 13
    assert installed_versions(nodes(sim)) == {"1.0.0"}


def test_max_errors_stops_sending_to_more_targets(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(
        ssm, Targets=EVERY_NODE, MaxConcurrency="1", MaxErrors="0", ScheduleExpression=None
    )
    sim.advance(3600)

    [execution] = executions(ssm, association_id)
    targets = execution_targets(ssm, association_id, execution["ExecutionId"])
    by_status: dict[str, set[str]] = {}
    for target in targets:
        by_status.setdefault(target["Status"], set()).add(target["ResourceId"])
    assert execution["Status"] == "Failed"
    assert len(by_status["Failed"]) == 1, "the first failure stops the run"
    assert by_status["Skipped"], "nodes after the failure were never sent the association"
    assert "OutputSource" not in next(t for t in targets if t["Status"] == "Skipped")
    # The association's per-node status says Skipped too (not Pending): those nodes were
    # not left waiting for an agent, the run stopped sending to them.
    counts = overview(ssm, association_id)["AssociationStatusAggregatedCount"]
    assert counts == {
        "Success": len(by_status.get("Success", ())),
        "Failed": 1,
        "Skipped": len(by_status["Skipped"]),
    }
    skipped = [n for n in nodes(sim, tagged=None) if n.instance_id in by_status["Skipped"]]
    assert all(PACKAGE not in n.installed for n in skipped)


def test_errors_within_max_errors_do_not_stop_the_run(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(
        ssm,
        Targets=EVERY_NODE,
        MaxConcurrency="1",
        MaxErrors="20%",  # 16 targets: 3 errors tolerated
        ScheduleExpression=None,
    )
    sim.advance(3600)

    [execution] = executions(ssm, association_id)
    assert execution["ResourceCountByStatus"] == "{Success=13, Failed=3}"


def test_a_rate_schedule_runs_from_the_last_run_without_replaying_missed_runs(
    sim: Simulator, ssm: Any
) -> None:
    association_id = create_package_association(ssm, ScheduleExpression="rate(30 minutes)")
    sim.advance(600)
    sim.advance(1800)
    assert len(executions(ssm, association_id)) == 2

    sim.advance(5 * 3600)  # an idle simulator catching up: one run, not ten
    assert len(executions(ssm, association_id)) == 3
    # The clock also runs in real time: 10 s either side of the next run is the margin.
    sim.advance(1790)
    assert len(executions(ssm, association_id)) == 3
    sim.advance(20)
    assert len(executions(ssm, association_id)) == 4
    assert {e["Status"] for e in executions(ssm, association_id)[1:]} == {"Success"}


def _next_even_hour(now: datetime) -> datetime:
    top = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return top if top.hour % 2 == 0 else top + timedelta(hours=1)


@pytest.mark.parametrize("seconds_before", [None, 20])
def test_apply_only_at_cron_interval_waits_for_the_cron_time(
    sim: Simulator, ssm: Any, seconds_before: int | None
) -> None:
    """``seconds_before``: start that close to a cron time (None: wherever the clock is)."""
    if seconds_before is not None:
        sim.advance(
            (_next_even_hour(sim.clock.now()) - sim.clock.now()).total_seconds() - seconds_before
        )
    next_run = _next_even_hour(sim.clock.now())
    if (next_run - sim.clock.now()).total_seconds() < 60:
        # Too close to call (the clock also runs in real time): start after that cron time,
        # or the association created just before it would run at it.
        sim.advance((next_run - sim.clock.now()).total_seconds() + 60)
        next_run = _next_even_hour(sim.clock.now())
    association_id = create_package_association(
        ssm, ScheduleExpression="cron(0 */2 * * ? *)", ApplyOnlyAtCronInterval=True
    )
    wait = (next_run - sim.clock.now()).total_seconds()

    assert executions(ssm, association_id) == []
    assert overview(ssm, association_id)["Status"] == "Pending"
    sim.advance(wait - 30)  # 30 s either side: the clock also runs in real time
    assert executions(ssm, association_id) == []
    sim.advance(60)
    [execution] = executions(ssm, association_id)
    assert execution["CreatedTime"].astimezone(UTC) >= next_run.astimezone(UTC)
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.0"}
    sim.advance(2 * 3600)
    assert len(executions(ssm, association_id)) == 2


def test_a_cron_schedule_also_runs_at_creation(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(ssm, ScheduleExpression="cron(0 0 ? * SUN *)")
    assert len(executions(ssm, association_id)) == 1
    since_sunday = (sim.clock.now() - datetime(2000, 1, 2, tzinfo=UTC)).total_seconds()
    sim.advance(8 * 86400 - since_sunday % (7 * 86400))  # to the Monday after next Sunday
    assert len(executions(ssm, association_id)) == 2


def test_an_update_supersedes_the_run_in_flight(sim: Simulator, aws: AwsClients, ssm: Any) -> None:
    publish(aws, "1.0.1")
    association_id = create_package_association(ssm, MaxConcurrency="1", ScheduleExpression=None)
    sim.advance(120)

    ssm.update_association(AssociationId=association_id, Parameters=package_parameters("1.0.1"))
    sim.advance(3600)

    newest, superseded = executions(ssm, association_id)
    assert newest["Status"] == "Success"
    assert superseded["Status"] == "Cancelled"
    assert "Cancelled=" in superseded["ResourceCountByStatus"]
    assert installed_versions(nodes(sim)) == {"1.0.1"}
    assert overview(ssm, association_id)["AssociationStatusAggregatedCount"] == {"Success": 13}
