"""The compliance gate with the plan's change feed: the trigger and the sensor poll through
``hooks.compliance_feed`` and never act on a poll that did not read every target."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_support import first_event, make_context, run_task
from compliance_support import (
    AGGREGATOR,
    ASSOCIATION,
    READER,
    SANDBOX,
    count_calls,
    organization_aggregator,
    prepare,
    tagged_nodes,
    targets,
    write_plan,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.gate import GateSettings, TargetCompliance
from distributor_rollout.core.plan import ChangeFeed
from distributor_rollout.hooks.association_status import AssociationStatus, StatusPoll
from distributor_rollout.hooks.compliance_feed import FeedPoller
from distributor_rollout.sensors.compliance import AssociationComplianceSensor
from distributor_rollout.triggers.compliance import AssociationComplianceTrigger

CANARY = targets(SANDBOX, ["us-east-1", "us-west-2"])
FEED = {"aggregator": AGGREGATOR, "region": "us-east-1", "full_read_minutes": 600}
EVERY_NODE = GateSettings(
    threshold_percent=100, timeout_seconds=8, bake_seconds=1.0, poll_interval_seconds=0.2
)
"""Every node, passing for a second: polls through the feed while the gate bakes."""


@pytest.fixture
def aggregator(fast_sim: Simulator, aws: AwsClients) -> str:
    """An organization-wide aggregator in the delegated administrator's account."""
    return organization_aggregator(aws)


def trigger(conn: str, gate: GateSettings = EVERY_NODE, **kw: Any) -> Any:
    """A trigger for the canary with the change feed, rebuilt from its serialized form."""
    built = AssociationComplianceTrigger(
        targets=[str(target) for target in CANARY],
        association_name=ASSOCIATION,
        role_name=READER,
        gate=gate.to_dict(),
        opened_at=time.time(),
        aws_conn_id=conn,
        change_feed=ChangeFeed.model_validate(FEED).model_dump(),
        time_scale=600.0,
        **kw,
    )
    _, kwargs = built.serialize()
    return AssociationComplianceTrigger(**kwargs)


def test_the_trigger_waits_through_the_feed_and_decides_on_a_poll_of_every_target(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    aggregator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    nodes = tagged_nodes(fast_sim, CANARY)
    # More nodes than the wave has: the gate waits (through the feed) until it times out.
    unreachable = GateSettings(
        threshold_percent=100,
        min_nodes=len(nodes) + 1,
        timeout_seconds=1.5,
        poll_interval_seconds=0.2,
    )
    calls = count_calls(fast_sim, monkeypatch)

    event = asyncio.run(first_event(trigger(aws_conn, unreachable), timeout=30)).payload

    decision = event["decision"]
    assert decision["state"] == "FAIL"
    assert decision["totals"]["success"] == len(nodes)
    # Between the first poll and the one confirming the timeout, both of every target,
    # the polls asked the aggregator and re-read only what changed. awssim's clock runs
    # ahead of the trigger's, so the install's items look newer than the first read: they
    # are read once more, then never (each row is acted on once).
    assert calls["config.SelectAggregateResourceConfig"] >= 3
    assert calls["ssm.ListAssociations"] <= 3 * len(CANARY)


class ScriptedPoller:
    """A feed poller whose partial polls say every node complied, and whose full polls
    (the truth) say one target still installs: the gate must not pass on the feed."""

    def __init__(self) -> None:
        self.last_full = False
        self.full_polls = 0

    async def poll_async(self, *, full: bool = False) -> StatusPoll:
        self.last_full = full
        self.full_polls += full
        pending = 2 if full else 0
        return StatusPoll(
            tuple(
                AssociationStatus(
                    TargetCompliance(target, 2, 2 - pending, 0, pending)
                    if index == 0
                    else TargetCompliance(target, 2, 2, 0, 0),
                    "assoc-1",
                )
                for index, target in enumerate(CANARY)
            )
        )


def test_a_partial_poll_that_would_pass_is_confirmed_and_the_gate_waits() -> None:
    scripted = ScriptedPoller()
    trig = trigger("aws_default", GateSettings(threshold_percent=100, timeout_seconds=1.0))
    trig.poller = lambda targets, feed: scripted

    event = asyncio.run(first_event(trig, timeout=30)).payload

    decision = event["decision"]
    assert decision["state"] == "FAIL"  # timed out waiting: never passed on the feed
    assert decision["totals"]["pending"] == 2
    assert scripted.full_polls >= 1


class BakingPoller:
    """A feed poller whose every poll says every node complied; it records which polls
    were asked to read every target."""

    def __init__(self) -> None:
        self.last_full = False
        self.asked: list[bool] = []

    async def poll_async(self, *, full: bool = False) -> StatusPoll:
        self.asked.append(full)
        self.last_full = full
        return StatusPoll(
            tuple(
                AssociationStatus(TargetCompliance(target, 2, 2, 0, 0), "assoc-1")
                for target in CANARY
            )
        )


def test_a_gate_bakes_only_on_polls_of_every_target() -> None:
    baking = BakingPoller()
    settings = GateSettings(
        threshold_percent=100, timeout_seconds=5.0, bake_seconds=0.5, poll_interval_seconds=0.1
    )
    trig = trigger("aws_default", settings)
    trig.poller = lambda targets, feed: baking

    event = asyncio.run(first_event(trig, timeout=30)).payload

    assert event["decision"]["state"] == "PASS"
    # The first (partial) poll would start the bake: it is confirmed by a full one, and
    # every poll of the bake reads every target.
    assert baking.asked[:2] == [False, True]
    assert all(baking.asked[1:])
    assert len(baking.asked) >= 3


def test_the_sensor_falls_back_to_reading_every_target_when_the_feed_fails(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)
    plan_path = Path(write_plan(tmp_path))
    plan = yaml.safe_load(plan_path.read_text())
    plan["stack_set"].setdefault("compliance_reader", {})["change_feed"] = FEED  # no aggregator
    plan_path.write_text(yaml.safe_dump(plan))
    calls = count_calls(fast_sim, monkeypatch)
    sensor = AssociationComplianceSensor(
        task_id="canary.wait_compliance",
        plan_path=str(plan_path),
        wave="canary",
        targets=[str(target) for target in CANARY],
        aws_conn_id=aws_conn,
        run_params={"gate_threshold_percent": 100},
        deferrable=False,
    )

    decision = run_task(sensor, make_context())

    assert decision["state"] == "PASS"
    assert decision["totals"]["success"] == len(tagged_nodes(fast_sim, CANARY))
    assert calls["ssm.ListAssociations"] == len(CANARY)  # the first poll: every target
    assert isinstance(sensor._poller, FeedPoller)
