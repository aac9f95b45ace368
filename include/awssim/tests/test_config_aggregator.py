"""The Config aggregator's advanced query over AWS::SSM::AssociationCompliance, through boto3."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from awssim.configservice import recorder
from awssim.configservice.query import epoch_ms_text
from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

MEMBER = "300000000001"  # sandbox-1 in the demo org
OTHER_MEMBER = "300222222223"  # nonprod-1
AGGREGATOR = "org-association-compliance"
ROLE = "arn:aws:iam::222222222222:role/aws-service-role/config.amazonaws.com/AWSConfigRole"
BASE = (
    "SELECT accountId, awsRegion, resourceId, configurationItemCaptureTime "
    "WHERE resourceType = 'AWS::SSM::AssociationCompliance'"
)
CAPTURE_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
DEFAULT_DELAY = 120.0


def _aggregator(aws: AwsClients, **source: Any) -> Any:
    config = aws.client("config")
    config.put_configuration_aggregator(
        ConfigurationAggregatorName=AGGREGATOR,
        OrganizationAggregationSource={"RoleArn": ROLE, **(source or {"AllAwsRegions": True})},
    )
    return config


def _associate(aws: AwsClients, account: str, region: str = "us-east-1") -> str:
    ssm = aws.client("ssm", account=account, region=region)
    return str(
        ssm.create_association(
            Name="AWS-RunShellScript",
            AssociationName="feed-test",
            Parameters={"commands": ["true"]},
            Targets=[{"Key": "InstanceIds", "Values": ["*"]}],
        )["AssociationDescription"]["AssociationId"]
    )


def _delivered(sim: Simulator) -> None:
    """Run every pending agent result, then wait out Config's delivery delay."""
    sim.settle(3600)
    sim.advance(DEFAULT_DELAY + 1)


def _pages(config: Any, expression: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = config.select_aggregate_resource_config(
            Expression=expression,
            ConfigurationAggregatorName=AGGREGATOR,
            **kwargs,
            **({"NextToken": token} if token else {}),
        )
        yield page
        token = page.get("NextToken")
        if not token:
            return


def _rows(config: Any, expression: str = BASE, **kwargs: Any) -> list[dict[str, Any]]:
    return [
        json.loads(result)
        for page in _pages(config, expression, Limit=100, **kwargs)
        for result in page["Results"]
    ]


def _reported(sim: Simulator, account: str) -> set[str]:
    """Ground truth: the member's nodes with a Success or Failed result."""
    return set(_result_times(sim, account))


def _error(call: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def test_one_row_per_reporting_node_of_every_account_and_region(
    aws: AwsClients, sim: Simulator
) -> None:
    config = _aggregator(aws)
    _associate(aws, MEMBER, "us-east-1")
    _associate(aws, OTHER_MEMBER, "eu-west-1")
    _delivered(sim)

    page = config.select_aggregate_resource_config(
        Expression=BASE, ConfigurationAggregatorName=AGGREGATOR, Limit=100
    )
    rows = [json.loads(result) for result in page["Results"]]
    assert page["QueryInfo"]["SelectFields"] == [
        {"Name": "accountId"},
        {"Name": "awsRegion"},
        {"Name": "resourceId"},
        {"Name": "configurationItemCaptureTime"},
    ]
    assert {(row["accountId"], row["awsRegion"]) for row in rows} == {
        (MEMBER, "us-east-1"),
        (OTHER_MEMBER, "eu-west-1"),
    }
    assert {row["resourceId"] for row in rows if row["accountId"] == MEMBER} == _reported(
        sim, MEMBER
    )
    assert len({row["resourceId"] for row in rows}) == len(rows)
    assert all(CAPTURE_FORMAT.match(row["configurationItemCaptureTime"]) for row in rows)
    assert all(list(row) == [f["Name"] for f in page["QueryInfo"]["SelectFields"]] for row in rows)


def test_configuration_and_account_filter(aws: AwsClients, sim: Simulator) -> None:
    config = _aggregator(aws)
    association_id = _associate(aws, MEMBER)
    _associate(aws, OTHER_MEMBER)
    _delivered(sim)

    rows = _rows(
        config,
        "select resourceId, resourceType, configuration where resourceType = "
        f"'AWS::SSM::AssociationCompliance' and accountId = '{MEMBER}'",
    )
    assert {row["resourceId"] for row in rows} == _reported(sim, MEMBER)
    row = rows[0]
    assert row["resourceType"] == "AWS::SSM::AssociationCompliance"
    [item] = row["configuration"]["ComplianceItems"]
    assert item["Id"] == association_id
    assert item["Status"] == row["configuration"]["Status"] == "COMPLIANT"
    # Another resource type: valid, and nothing of it is simulated.
    assert _rows(config, BASE.replace("SSM::AssociationCompliance", "EC2::Instance")) == []


def test_the_aggregator_collects_only_from_its_source_regions(
    aws: AwsClients, sim: Simulator
) -> None:
    config = _aggregator(aws, AwsRegions=["eu-west-1"])
    _associate(aws, MEMBER, "us-east-1")
    _associate(aws, MEMBER, "eu-west-1")
    _delivered(sim)

    assert {row["awsRegion"] for row in _rows(config)} == {"eu-west-1"}


def test_pages_are_one_stable_snapshot(aws: AwsClients, sim: Simulator) -> None:
    config = _aggregator(aws)
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        _associate(aws, MEMBER, region)
    _delivered(sim)
    everything = _rows(config)
    assert len(everything) > 25

    unlimited = config.select_aggregate_resource_config(
        Expression=BASE, ConfigurationAggregatorName=AGGREGATOR
    )
    assert len(unlimited["Results"]) == 25  # AWS's default page without aggregation

    first = config.select_aggregate_resource_config(
        Expression=BASE, ConfigurationAggregatorName=AGGREGATOR, Limit=7
    )
    # The organization changes between pages: a re-run records new items for every node.
    ssm = aws.client("ssm", account=MEMBER)
    ids = [a["AssociationId"] for a in ssm.list_associations()["Associations"]]
    ssm.start_associations_once(AssociationIds=ids)
    _delivered(sim)
    paged = [json.loads(result) for result in first["Results"]]
    token = first["NextToken"]
    while token:
        page = config.select_aggregate_resource_config(
            Expression=BASE, ConfigurationAggregatorName=AGGREGATOR, Limit=7, NextToken=token
        )
        assert len(page["Results"]) <= 7
        paged += [json.loads(result) for result in page["Results"]]
        token = page.get("NextToken")
    assert paged == everything
    assert _rows(config) != everything  # a new query sees the re-run's items


def test_limit_and_token_errors(aws: AwsClients, sim: Simulator) -> None:
    config = _aggregator(aws)
    for region in ("us-east-1", "us-west-2"):
        _associate(aws, MEMBER, region)
    _delivered(sim)

    def select(**kwargs: Any) -> Any:
        return config.select_aggregate_resource_config(
            ConfigurationAggregatorName=AGGREGATOR, **{"Expression": BASE, **kwargs}
        )

    assert _error(lambda: select(Limit=101)).response["Error"]["Code"] == "InvalidLimitException"
    for token in ("not-a-token", "WyJ4IiwgMSwgMl0="):
        error = _error(lambda token=token: select(NextToken=token))
        assert error.response["Error"]["Code"] == "InvalidNextTokenException"
    token = select(Limit=5)["NextToken"]
    other_query = BASE + f" AND accountId = '{MEMBER}'"
    error = _error(lambda: select(Expression=other_query, NextToken=token))
    assert error.response["Error"]["Code"] == "InvalidNextTokenException"

    missing = config.select_aggregate_resource_config
    error = _error(lambda: missing(Expression=BASE, ConfigurationAggregatorName="nope"))
    assert error.response["Error"]["Code"] == "NoSuchConfigurationAggregatorException"
    elsewhere = aws.client("config", region="us-west-2").select_aggregate_resource_config
    error = _error(lambda: elsewhere(Expression=BASE, ConfigurationAggregatorName=AGGREGATOR))
    assert error.response["Error"]["Code"] == "NoSuchConfigurationAggregatorException"


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("SELECT * WHERE resourceType = 'AWS::SSM::AssociationCompliance'", "*"),
        ("SELECT tags WHERE resourceType = 'AWS::SSM::AssociationCompliance'", "tags"),
        ("SELECT resourceId", "ends early"),
        ("SELECT resourceId WHERE accountId = '300000000001'", "resourceType"),
        (BASE + " OR accountId = '300000000001'", "OR"),
        (BASE + " ORDER BY resourceId", "ORDER"),
        (BASE + " AND awsRegion = 'us-east-1'", "awsRegion"),
        (BASE + " AND configurationItemCaptureTime = '2026-01-01T00:00:00Z'", "="),
        (BASE + " AND configurationItemCaptureTime >= 'yesterday'", "yesterday"),
        (BASE + " AND accountId LIKE '3%'", "LIKE"),
    ],
)
def test_expressions_outside_the_subset_are_invalid(
    aws: AwsClients, sim: Simulator, expression: str, named: str
) -> None:
    config = _aggregator(aws)
    error = _error(
        lambda: config.select_aggregate_resource_config(
            Expression=expression, ConfigurationAggregatorName=AGGREGATOR
        )
    )
    assert error.response["Error"]["Code"] == "InvalidExpressionException"
    assert named in error.response["Error"]["Message"]


def test_capture_time_bounds(aws: AwsClients, sim: Simulator) -> None:
    config = _aggregator(aws)
    _associate(aws, MEMBER)
    _delivered(sim)
    rows = _rows(config)
    times = sorted({row["configurationItemCaptureTime"] for row in rows})
    assert len(times) > 2
    middle = times[len(times) // 2]

    def ids(operator: str) -> set[str]:
        bounded = BASE + f" AND configurationItemCaptureTime {operator} '{middle}'"
        return {row["resourceId"] for row in _rows(config, bounded)}

    def expected(keep: Any) -> set[str]:
        return {row["resourceId"] for row in rows if keep(row["configurationItemCaptureTime"])}

    assert ids(">=") == expected(lambda t: t >= middle)
    assert ids(">") == expected(lambda t: t > middle)
    assert ids("<=") == expected(lambda t: t <= middle)
    assert ids("<") == expected(lambda t: t < middle)
    both = BASE + (
        f" AND configurationItemCaptureTime >= '{times[0]}'"
        f" AND configurationItemCaptureTime < '{middle}'"
    )
    assert {row["resourceId"] for row in _rows(config, both)} == expected(lambda t: t < middle)


def test_items_reach_the_aggregator_after_the_delivery_delay(
    aws: AwsClients, sim: Simulator, tmp_path: Path
) -> None:
    scenario = tmp_path / "slow-config.yaml"
    scenario.write_text("name: slow-config\naws_config: {delivery_delay: 10m}\n", encoding="utf-8")
    sim.set_scenario(scenario)
    config = _aggregator(aws)
    _associate(aws, MEMBER)
    sim.settle(3600)
    results = _result_times(sim, MEMBER)
    assert len(results) > 2
    assert _rows(config) == []

    # As of the middle result's time plus the delay, exactly the results until then are in.
    middle = sorted(results.values())[len(results) // 2]
    sim.advance(middle + 600.001 - sim.now())
    assert {row["resourceId"] for row in _rows(config)} == {
        node for node, moment in results.items() if moment <= middle
    }
    sim.advance(max(results.values()) + 600.001 - sim.now())
    assert {row["resourceId"] for row in _rows(config)} == results.keys()


def _result_times(sim: Simulator, account: str) -> dict[str, float]:
    """Ground truth: per node of the member with a result, its simulated time."""
    start = sim.clock.at(0)
    return {
        instance_id: (datetime.fromisoformat(target["date"]) - start).total_seconds()
        for association in sim.state()["associations"].values()
        if association["account"] == account
        for instance_id, target in association["target_status"].items()
        if target["status"] in ("Success", "Failed")
    }


def test_a_change_records_a_new_item_and_no_change_none(aws: AwsClients, sim: Simulator) -> None:
    config = _aggregator(aws)
    association_id = _associate(aws, MEMBER)
    _delivered(sim)
    before = {row["resourceId"]: row["configurationItemCaptureTime"] for row in _rows(config)}
    since = max(before.values())

    sim.advance(600)  # time passes, nothing changes: no new item
    assert {row["resourceId"]: row["configurationItemCaptureTime"] for row in _rows(config)} == (
        before
    )
    changed_since = BASE + f" AND configurationItemCaptureTime > '{since}'"
    assert _rows(config, changed_since) == []

    aws.client("ssm", account=MEMBER).start_associations_once(AssociationIds=[association_id])
    _delivered(sim)
    after = {row["resourceId"]: row["configurationItemCaptureTime"] for row in _rows(config)}
    assert after.keys() == before.keys()
    assert all(after[node] > before[node] for node in before)
    assert {row["resourceId"] for row in _rows(config, changed_since)} == before.keys()


def test_a_new_version_or_a_deletion_removes_the_nodes_until_they_report(
    aws: AwsClients, sim: Simulator
) -> None:
    config = _aggregator(aws)
    association_id = _associate(aws, MEMBER)
    _delivered(sim)
    nodes = {row["resourceId"] for row in _rows(config)}
    ssm = aws.client("ssm", account=MEMBER)

    ssm.update_association(AssociationId=association_id, Parameters={"commands": ["false"]})
    sim.advance(DEFAULT_DELAY + 1)  # the reset is delivered; the new results are not yet
    visible = {row["resourceId"] for row in _rows(config)}
    assert visible < nodes
    _delivered(sim)
    assert {row["resourceId"] for row in _rows(config)} == nodes

    ssm.delete_association(AssociationId=association_id)
    _delivered(sim)
    assert _rows(config) == []


def test_the_counter_and_faults_apply(aws: AwsClients, sim: Simulator, tmp_path: Path) -> None:
    config = aws.client("config", config=NO_RETRIES)
    config.put_configuration_aggregator(
        ConfigurationAggregatorName=AGGREGATOR,
        OrganizationAggregationSource={"RoleArn": ROLE, "AllAwsRegions": True},
    )
    for _ in range(3):
        config.select_aggregate_resource_config(
            Expression=BASE, ConfigurationAggregatorName=AGGREGATOR
        )
    assert sim.ledger.counts()["config.SelectAggregateResourceConfig"] == 3

    scenario = tmp_path / "throttled-config.yaml"
    scenario.write_text(
        "name: throttled-config\nthrottling:\n"
        "  - {services: [config], operations: ['Select*'], rate: 1.0}\n",
        encoding="utf-8",
    )
    sim.set_scenario(scenario)
    error = _error(
        lambda: config.select_aggregate_resource_config(
            Expression=BASE, ConfigurationAggregatorName=AGGREGATOR
        )
    )
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert sim.ledger.counts()["config.SelectAggregateResourceConfig"] == 4


def test_compaction_keeps_the_answers_and_expires_old_tokens(
    aws: AwsClients, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder, "_COMPACT_SLACK", 20)
    sim.config.reset()  # compacts from 20 CIs on
    config = _aggregator(aws)
    association_id = _associate(aws, MEMBER)
    _delivered(sim)
    old_token = config.select_aggregate_resource_config(
        Expression=BASE, ConfigurationAggregatorName=AGGREGATOR, Limit=2
    )["NextToken"]
    ssm = aws.client("ssm", account=MEMBER)
    runs = 7
    for _ in range(runs - 1):  # every run records a CI per node; older ones become history
        sim.advance(recorder.TOKEN_LIFETIME)
        ssm.start_associations_once(AssociationIds=[association_id])
        _delivered(sim)

    nodes = _result_times(sim, MEMBER)
    assert len(sim.config) < runs * len(nodes)
    rows = _rows(config)
    assert {row["resourceId"]: row["configurationItemCaptureTime"] for row in rows} == {
        node: epoch_ms_text(sim.config.epoch_ms(moment)) for node, moment in nodes.items()
    }
    error = _error(
        lambda: config.select_aggregate_resource_config(
            Expression=BASE, ConfigurationAggregatorName=AGGREGATOR, Limit=2, NextToken=old_token
        )
    )
    assert error.response["Error"]["Code"] == "InvalidNextTokenException"
