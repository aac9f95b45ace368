"""Agents that go offline and come back: what the fleet does and how SSM shows it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from statemanager_support import (
    MEMBER,
    NONPROD,
    PACKAGE,
    REGION,
    client,
    create_package_association,
    execution_targets,
    executions,
    nodes,
    overview,
    package_parameters,
    publish,
)

from awssim.fleet import Node
from awssim.pytest_plugin import AwsClients
from awssim.scenario import Scenario, ScenarioError, load_scenario
from awssim.simulator import Simulator

TAGGED = [{"Key": "tag:Distributor", "Values": ["enabled"]}]
OFFLINE = [{"Key": "PingStatus", "Values": ["ConnectionLost", "Inactive"]}]


def _scenario(**offline: Any) -> Scenario:
    """Half of the member account's us-east-1 nodes offline as ``offline`` says."""
    rule = {"accounts": [MEMBER], "regions": [REGION], "fraction": 0.5, **offline}
    return Scenario.model_validate({"name": "reachability", "seed": 2, "offline_nodes": [rule]})


def _described(ssm: Any, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = ssm.get_paginator("describe_instance_information")
    return [i for page in paginator.paginate(**kwargs) for i in page["InstanceInformationList"]]


def _truth(sim: Simulator) -> dict[str, dict[str, Any]]:
    return {node["instance_id"]: node for node in sim.state()["nodes"]}


def _offline(sim: Simulator, targets: list[Node]) -> set[str]:
    now = sim.now()
    return {node.instance_id for node in targets if not node.online_at(now)}


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _same(first: datetime | None, second: datetime | None) -> bool:
    """Equal to the millisecond (the JSON protocol's timestamps have milliseconds)."""
    if first is None or second is None:
        return first is second
    return abs((first - second).total_seconds()) < 0.001


@pytest.fixture
def ssm(aws: AwsClients) -> Any:
    """SSM as the member account."""
    return client(aws, "ssm")


def test_a_window_takes_agents_offline_and_brings_them_back(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    sim.set_scenario(_scenario(**{"from": "10m", "until": "40m"}))
    everyone = nodes(sim, tagged=None)
    assert _described(ssm, Filters=OFFLINE) == []

    sim.advance(15 * 60)
    offline = _offline(sim, everyone)
    assert 0 < len(offline) < len(everyone)
    dropped = sim.clock.at(sim.faults.loaded + 600)
    lost = _described(ssm, Filters=OFFLINE, MaxResults=5)
    assert {i["InstanceId"] for i in lost} == offline
    assert {i["PingStatus"] for i in lost} == {"ConnectionLost"}
    assert all(_same(i["LastPingDateTime"], dropped) for i in lost)
    online = _described(ssm, Filters=[{"Key": "PingStatus", "Values": ["Online"]}])
    assert {i["InstanceId"] for i in online} == {n.instance_id for n in everyone} - offline
    assert all(i["LastPingDateTime"] > dropped for i in online)

    truth = _truth(sim)
    for instance_id in offline:
        assert truth[instance_id]["online"] is False
        assert _when(truth[instance_id]["offline_since"]) == dropped
        assert _when(truth[instance_id]["back_at"]) == sim.clock.at(sim.faults.loaded + 2400)
        assert truth[instance_id]["outages"] == [
            {"from": dropped.isoformat(), "until": truth[instance_id]["back_at"]}
        ]
    state = requests.get(f"{aws.endpoint_url}/_awssim/state", timeout=10).json()
    over_http = {n["instance_id"]: n for n in state["nodes"]}
    assert {i for i in offline if over_http[i]["online"] is False} == offline

    sim.advance(30 * 60)
    assert _described(ssm, Filters=OFFLINE) == []
    truth = _truth(sim)
    assert all(truth[i]["online"] and truth[i]["offline_since"] is None for i in offline)


def test_the_product_reads_targeted_offline_nodes_by_tag_with_paging(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    sim.set_scenario(_scenario(**{"from": 0}))
    sim.advance(60)
    tagged = nodes(sim)
    offline = _offline(sim, tagged)
    assert offline

    # A tag filter may not be combined with another filter (AWS: ValidationException), so
    # the targeted nodes are read by tag alone and split by PingStatus from each row.
    pages = list(
        ssm.get_paginator("describe_instance_information").paginate(
            Filters=TAGGED, PaginationConfig={"PageSize": 5}
        )
    )
    rows = [i for page in pages for i in page["InstanceInformationList"]]
    assert [len(p["InstanceInformationList"]) for p in pages[:-1]] == [5] * (len(pages) - 1)
    assert [i["InstanceId"] for i in rows] == [n.instance_id for n in tagged]
    assert {i["InstanceId"] for i in rows if i["PingStatus"] == "ConnectionLost"} == offline
    assert {
        i["InstanceId"]
        for i in _described(ssm, Filters=[{"Key": "tag-key", "Values": ["Distributor"]}])
    } >= offline
    # PingStatus alone, with several values (OR), combined with another non-tag filter (AND).
    platforms = {n.platform_type for n in tagged if n.instance_id in offline}
    platform = sorted(platforms)[0]
    both = _described(
        ssm, Filters=[*OFFLINE, {"Key": "PlatformTypes", "Values": [platform]}], MaxResults=50
    )
    everyone = nodes(sim, tagged=None)
    assert {i["InstanceId"] for i in both} == {
        n.instance_id
        for n in everyone
        if n.instance_id in _offline(sim, everyone) and n.platform_type == platform
    }


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (
            {"Filters": [*TAGGED, *OFFLINE]},
            "ValidationException",
            "Cannot mix tag or inventory filter with any other filter.",
        ),
        (
            {"Filters": [*TAGGED, {"Key": "tag-key", "Values": ["Env"]}]},
            "ValidationException",
            "Cannot mix tag or inventory filter with any other filter.",
        ),
        (
            {
                "Filters": OFFLINE,
                "InstanceInformationFilterList": [{"key": "PingStatus", "valueSet": ["Online"]}],
            },
            "ValidationException",
            "Cannot use both legacy and new filter simultaneously.",
        ),
        (
            {"InstanceInformationFilterList": [{"key": "tag:Distributor", "valueSet": ["x"]}]},
            "InvalidFilterKey",
            None,
        ),
        (
            {"Filters": [{"Key": "PingStatus", "Values": ["Offline"]}]},
            "InvalidInstanceInformationFilterValue",
            None,
        ),
        (
            {"Filters": [{"Key": "ResourceType", "Values": ["EC2Instance", "ManagedInstance"]}]},
            "InvalidInstanceInformationFilterValue",
            "ResourceType filter may contain only one value.",
        ),
        ({"Filters": TAGGED, "MaxResults": 51}, "ValidationException", None),
    ],
)
def test_filters_ssm_refuses(
    aws: AwsClients, request_: dict[str, Any], code: str, message: str | None
) -> None:
    unchecked = aws.client("ssm", account=MEMBER, config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as refused:
        unchecked.describe_instance_information(**request_)
    assert refused.value.response["Error"]["Code"] == code
    if message is not None:
        assert refused.value.response["Error"]["Message"] == message


def test_offline_nodes_run_nothing_and_catch_up_when_back(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    sim.set_scenario(_scenario(**{"until": "40m"}))
    targeted = nodes(sim)
    offline = _offline(sim, targeted)
    assert 0 < len(offline) < len(targeted)
    association_id = create_package_association(ssm, ScheduleExpression=None)

    sim.advance(20 * 60)
    assert {n.instance_id for n in targeted if n.installed.get(PACKAGE)} == {
        n.instance_id for n in targeted
    } - offline
    assert overview(ssm, association_id)["AssociationStatusAggregatedCount"] == {
        "Success": len(targeted) - len(offline),
        "Pending": len(offline),
    }
    [execution] = executions(ssm, association_id)
    waiting = [{"Key": "Status", "Value": "Pending"}]
    pending = execution_targets(ssm, association_id, execution["ExecutionId"], Filters=waiting)
    assert {t["ResourceId"] for t in pending} == offline

    sim.advance(25 * 60)  # back at 40m; each picks the association up and runs it
    assert all(n.installed.get(PACKAGE) == "1.0.0" for n in targeted)
    assert overview(ssm, association_id) == {
        "Status": "Success",
        "DetailedStatus": "Success",
        "AssociationStatusAggregatedCount": {"Success": len(targeted)},
    }
    [execution] = executions(ssm, association_id)  # the same run, caught up
    assert execution["Status"] == "Success"
    assert execution["ResourceCountByStatus"] == f"{{Success={len(targeted)}}}"


def test_an_agent_that_drops_before_picking_the_run_up_waits_for_its_return(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    sim.set_scenario(_scenario(**{"from": "5s", "for": "30m"}))  # pickups take 10 s or more
    targeted = nodes(sim)
    association_id = create_package_association(ssm, ScheduleExpression=None)

    sim.advance(60)
    offline = _offline(sim, targeted)
    assert offline
    assert all(PACKAGE not in n.installed for n in targeted if n.instance_id in offline)
    sim.advance(10 * 60)
    assert overview(ssm, association_id)["AssociationStatusAggregatedCount"]["Pending"] == len(
        offline
    )
    sim.advance(30 * 60)
    assert all(n.installed.get(PACKAGE) == "1.0.0" for n in targeted)


def test_nodes_that_installed_then_dropped_keep_the_package_through_an_uninstall(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    sim.set_scenario(_scenario(after_install="1m"))
    targeted = nodes(sim)
    association_id = create_package_association(ssm, ScheduleExpression=None)
    sim.advance(20 * 60)
    assert all(n.installed.get(PACKAGE) == "1.0.0" for n in targeted)
    dropped = _offline(sim, targeted)
    assert 0 < len(dropped) < len(targeted)
    truth = _truth(sim)
    lost = {i["InstanceId"]: i for i in _described(ssm, Filters=OFFLINE)}
    assert set(lost) >= dropped
    for instance_id in dropped:
        assert truth[instance_id]["back_at"] is None
        since = _when(truth[instance_id]["offline_since"])
        assert _same(lost[instance_id]["LastPingDateTime"], since)
        assert lost[instance_id]["AssociationStatus"] == "Success"

    ssm.update_association(
        AssociationId=association_id, Parameters=package_parameters(action="Uninstall")
    )
    sim.advance(20 * 60)
    for node in targeted:
        expected = "1.0.0" if node.instance_id in dropped else None
        assert node.installed.get(PACKAGE) == expected
    assert overview(ssm, association_id)["AssociationStatusAggregatedCount"] == {
        "Success": len(targeted) - len(dropped),
        "Pending": len(dropped),
    }


def test_switching_to_a_scenario_without_outages_brings_agents_back_to_run(
    sim: Simulator, aws: AwsClients
) -> None:
    sim.set_scenario("unmanaged-nodes")
    ssm = client(aws, "ssm", NONPROD)
    publish(aws, "1.0.0", account=NONPROD, bucket="examplepackage-nonprod")
    targeted = nodes(sim, NONPROD)
    silent = {n.instance_id for n in targeted if not n.managed}
    assert silent
    association_id = create_package_association(ssm, ScheduleExpression=None)
    sim.advance(600)
    assert overview(ssm, association_id)["AssociationStatusAggregatedCount"]["Pending"] == len(
        silent
    )

    sim.set_scenario("happy")
    sim.advance(600)
    assert all(n.installed.get(PACKAGE) == "1.0.0" for n in targeted)
    assert overview(ssm, association_id)["Status"] == "Success"


def test_a_node_back_after_max_errors_stopped_the_run_is_skipped(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    scenario = _scenario(**{"until": "30m"}).model_dump(by_alias=True)
    scenario["package_failures"] = [{"accounts": [MEMBER]}]  # every install of 1.0.0 fails
    sim.set_scenario(Scenario.model_validate(scenario))
    everyone = nodes(sim)
    offline = _offline(sim, everyone)
    assert offline
    association_id = create_package_association(
        ssm, MaxConcurrency="1", MaxErrors="0", ScheduleExpression=None
    )
    sim.advance(20 * 60)  # the first failure stops the run
    [execution] = executions(ssm, association_id)
    assert execution["Status"] == "Failed"
    counts = overview(ssm, association_id)["AssociationStatusAggregatedCount"]
    assert counts["Failed"] == 1
    assert counts["Skipped"] >= 1
    # Offline nodes whose turn came before the stop wait Pending for their agents; the ones
    # still queued at the stop were never sent the association: Skipped at once.
    assert 0 < counts["Pending"] < len(offline)

    sim.advance(20 * 60)
    targets = execution_targets(ssm, association_id, execution["ExecutionId"])
    statuses = {t["ResourceId"]: t["Status"] for t in targets}
    assert {statuses[i] for i in offline} == {"Skipped"}
    counts = overview(ssm, association_id)["AssociationStatusAggregatedCount"]
    assert "Pending" not in counts
    assert counts["Skipped"] == sum(1 for s in statuses.values() if s == "Skipped")
    assert all(PACKAGE not in n.installed for n in everyone if n.instance_id in offline)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text("name: bad\noffline_nodes:\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  - {from: 10m, after_install: 1m}\n", "either 'from'"),
        ("  - {from: 40m, until: 10m}\n", "'until' (600s) must be later than 'from' (2400s)"),
        ("  - {after_install: 1m, until: 10m}\n", "with 'after_install' use 'for'"),
        ("  - {from: 1m, until: 10m, for: 5m}\n", "either 'until' or 'for'"),
        ("  - {from: soon}\n", "offline_nodes.0.from: Value error, 'soon' is not a duration"),
        ("  - {from: -5}\n", "offline_nodes.0.from: Input should be greater than or equal to 0"),
        ("  - {for: 0s}\n", "offline_nodes.0.for: Input should be greater than 0"),
        ("  - {start: 10m}\n", "offline_nodes.0.start: Extra inputs are not permitted"),
        ("  - {fraction: 2}\n", "offline_nodes.0.fraction"),
    ],
)
def test_offline_nodes_are_validated_naming_the_field(
    tmp_path: Path, body: str, expected: str
) -> None:
    with pytest.raises(ScenarioError) as invalid:
        load_scenario(_write(tmp_path, body))
    assert "invalid scenario" in str(invalid.value)
    assert expected in str(invalid.value)


def test_offline_durations_read_as_simulated_seconds(tmp_path: Path) -> None:
    path = _write(tmp_path, "  - {from: 1h30m, until: 7200}\n  - {after_install: 90s}\n")
    window, after = load_scenario(path).offline_nodes
    assert (window.start, window.until, window.window(100.0)) == (5400.0, 7200.0, (5500, 7300))
    assert (after.after_install, after.duration) == (90.0, None)


def test_the_offline_rollback_scenario_has_both_kinds_of_offline_nodes() -> None:
    scenario = load_scenario("offline-rollback")
    assert scenario.package_failures
    assert scenario.unmanaged_nodes
    assert [rule.after_install for rule in scenario.offline_nodes] == [60.0]
    assert "rollback" in scenario.description
