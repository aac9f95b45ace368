"""EC2 DescribeInstances over HTTP: the fleet's nodes of the caller's account and Region as
running instances, with EC2's filters, paging and request checks."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

MEMBER = "300000000001"
REGION = "us-west-2"


def _instances(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for r in page["Reservations"] for item in r["Instances"]]


def _error(call: Any, **request: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**request)
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def test_every_node_of_the_account_and_region_is_a_running_instance(
    aws: AwsClients, sim: Simulator
) -> None:
    ec2 = aws.client("ec2", account=MEMBER, region=REGION)
    nodes = sim.fleet.nodes(MEMBER, REGION)

    pages = list(ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5}))

    instances = _instances(pages)
    assert [item["InstanceId"] for item in instances] == [node.instance_id for node in nodes]
    assert len(pages) == -(-len(nodes) // 5)
    by_id = {node.instance_id: node for node in nodes}
    for item in instances:
        node = by_id[item["InstanceId"]]
        assert item["State"] == {"Code": 16, "Name": "running"}
        assert item["Architecture"] == node.arch
        assert {tag["Key"]: tag["Value"] for tag in item["Tags"]} == node.tags
        assert item.get("Platform") == ("windows" if node.platform == "windows" else None)
    assert {r["OwnerId"] for page in pages for r in page["Reservations"]} == {MEMBER}


def test_other_accounts_and_regions_see_only_their_own(aws: AwsClients, sim: Simulator) -> None:
    mine = {node.instance_id for node in sim.fleet.nodes(MEMBER, REGION)}
    other = aws.client("ec2", account="300111111112", region=REGION)
    elsewhere = aws.client("ec2", account=MEMBER, region="eu-west-1")

    assert mine.isdisjoint(item["InstanceId"] for item in _instances([other.describe_instances()]))
    assert mine.isdisjoint(
        item["InstanceId"] for item in _instances([elsewhere.describe_instances()])
    )


def test_filters_must_all_pass_and_their_values_are_alternatives(
    aws: AwsClients, sim: Simulator
) -> None:
    ec2 = aws.client("ec2", account=MEMBER, region=REGION)
    nodes = sim.fleet.nodes(MEMBER, REGION)
    some = [node.instance_id for node in nodes[:6]]

    answer = ec2.describe_instances(
        Filters=[
            {"Name": "instance-id", "Values": some},
            {"Name": "tag:Distributor", "Values": ["enabled", "disabled"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )
    keyed = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["Distributor"]}])
    arm = ec2.describe_instances(Filters=[{"Name": "architecture", "Values": ["arm64"]}])

    assert [item["InstanceId"] for item in _instances([answer])] == [
        node.instance_id for node in nodes[:6] if "Distributor" in node.tags
    ]
    assert [item["InstanceId"] for item in _instances([keyed])] == [
        node.instance_id for node in nodes if "Distributor" in node.tags
    ]
    assert [item["InstanceId"] for item in _instances([arm])] == [
        node.instance_id for node in nodes if node.arch == "arm64"
    ]
    stopped = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}]
    )
    assert _instances([stopped]) == []


def test_instance_ids_select_and_unknown_ones_are_not_found(
    aws: AwsClients, sim: Simulator
) -> None:
    ec2 = aws.client("ec2", account=MEMBER, region=REGION)
    first = sim.fleet.nodes(MEMBER, REGION)[0].instance_id

    answer = ec2.describe_instances(InstanceIds=[first])

    assert [item["InstanceId"] for item in _instances([answer])] == [first]
    code, message = _error(ec2.describe_instances, InstanceIds=[first, "i-0123456789abcdef0"])
    assert code == "InvalidInstanceID.NotFound"
    assert "i-0123456789abcdef0" in message


@pytest.mark.parametrize(
    ("request_args", "code"),
    [
        (
            {"Filters": [{"Name": "instance-id", "Values": [f"i-{n:017x}" for n in range(201)]}]},
            "FilterLimitExceeded",
        ),
        ({"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]}, "InvalidParameterValue"),
        ({"MaxResults": 4}, "InvalidParameterValue"),
        ({"MaxResults": 1001}, "InvalidParameterValue"),
        ({"NextToken": "not-a-token"}, "InvalidNextToken"),
    ],
    ids=["201 filter values", "unknown filter", "page under 5", "page over 1000", "bad token"],
)
def test_requests_ec2_refuses(aws: AwsClients, request_args: dict[str, Any], code: str) -> None:
    ec2 = aws.client("ec2", account=MEMBER, region=REGION)

    assert _error(ec2.describe_instances, **request_args)[0] == code


def test_instance_ids_and_max_results_do_not_mix(aws: AwsClients, sim: Simulator) -> None:
    ec2 = aws.client("ec2", account=MEMBER, region=REGION)
    first = sim.fleet.nodes(MEMBER, REGION)[0].instance_id

    code, _ = _error(ec2.describe_instances, InstanceIds=[first], MaxResults=5)

    assert code == "InvalidParameterCombination"


def test_two_hundred_filter_values_are_allowed_and_reading_logs_no_call(
    aws: AwsClients, sim: Simulator
) -> None:
    ec2 = aws.client("ec2", account=MEMBER, region=REGION)
    ids = [node.instance_id for node in sim.fleet.nodes(MEMBER, REGION)]
    padding = [f"i-{n:017x}" for n in range(200 - len(ids))]

    answer = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": ids + padding}])

    assert len(_instances([answer])) == len(ids)
    assert sim.ledger.calls() == []
