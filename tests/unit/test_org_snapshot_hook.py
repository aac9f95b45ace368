"""Reading one account and Region's nodes for the snapshot (hooks.org_snapshot.read_region),
against botocore's Stubber: pages followed, EC2 asked 200 instance ids at a time, hybrid
nodes' tags read one by one only when tags are wanted, refused EC2 or tag reads leaving a
gap instead of failing, and nothing of a node's identity in the records."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from distributor_rollout.core.org_snapshot import UNKNOWN, NodeRecord
from distributor_rollout.hooks import org_snapshot
from distributor_rollout.hooks.org_snapshot import read_region


def _client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )


def _row(node_id: str, *, online: bool = True, hybrid: bool = False) -> dict[str, Any]:
    return {
        "InstanceId": node_id,
        "PingStatus": "Online" if online else "ConnectionLost",
        "PlatformType": "Linux",
        "PlatformName": "Ubuntu" if hybrid else "Amazon Linux",
        "PlatformVersion": "22.04" if hybrid else "2023",
        "ResourceType": "ManagedInstance" if hybrid else "EC2Instance",
        "IPAddress": "10.0.0.1",
        "ComputerName": "ip-10-0-0-1.ec2.internal",
    }


def _ec2_ids(count: int) -> list[str]:
    return [f"i-{n:017x}" for n in range(count)]


def _reservations(ids: list[str], arch: str = "arm64") -> dict[str, Any]:
    return {
        "Reservations": [
            {
                "ReservationId": f"r-{n:017x}",
                "Instances": [
                    {
                        "InstanceId": node_id,
                        "Architecture": arch,
                        "Tags": [
                            {"Key": "Distributor", "Value": "enabled"},
                            {"Key": "Name", "Value": "web-1"},
                        ],
                    }
                ],
            }
            for n, node_id in enumerate(ids)
        ]
    }


def _instance_pages(stub: Stubber, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 50):
        response: dict[str, Any] = {"InstanceInformationList": rows[start : start + 50]}
        expected: dict[str, Any] = {"MaxResults": 50}
        if start + 50 < len(rows):
            response["NextToken"] = f"page-{start + 50}"
        if start:
            expected["NextToken"] = f"page-{start}"
        stub.add_response("describe_instance_information", response, expected)


def test_pages_are_followed_and_ec2_is_asked_200_ids_at_a_time() -> None:
    ssm, ec2 = _client("ssm"), _client("ec2")
    ids = _ec2_ids(230)
    rows = [_row(node_id, online=n % 10 != 0) for n, node_id in enumerate(ids)]
    with Stubber(ssm) as ssm_stub, Stubber(ec2) as ec2_stub:
        _instance_pages(ssm_stub, rows)
        for batch in (ids[:200], ids[200:]):
            ec2_stub.add_response(
                "describe_instances",
                _reservations(batch),
                {"Filters": [{"Name": "instance-id", "Values": batch}], "MaxResults": 1000},
            )

        read = read_region(ssm, ec2, want_tags=True)

        ssm_stub.assert_no_pending_responses()
        ec2_stub.assert_no_pending_responses()
    assert read.gaps == []
    assert len(read.nodes) == 230
    assert sum(not node.online for node in read.nodes) == 23
    assert set(read.nodes) == {
        NodeRecord("amazon", "2023", "arm64", (("Distributor", "enabled"), ("Name", "web-1")), on)
        for on in (True, False)
    }


def test_hybrid_nodes_get_tags_one_call_each_and_an_unknown_architecture() -> None:
    ssm, ec2 = _client("ssm"), _client("ec2")
    rows = [_row("mi-0123456789abcdef0", hybrid=True), _row("mi-0123456789abcdef1", hybrid=True)]
    with Stubber(ssm) as ssm_stub, Stubber(ec2):
        _instance_pages(ssm_stub, rows)
        for row in rows:
            ssm_stub.add_response(
                "list_tags_for_resource",
                {"TagList": [{"Key": "Distributor", "Value": "enabled"}]},
                {"ResourceType": "ManagedInstance", "ResourceId": row["InstanceId"]},
            )

        read = read_region(ssm, ec2, want_tags=True)

        ssm_stub.assert_no_pending_responses()
    assert read.nodes == [NodeRecord("ubuntu", "22.04", UNKNOWN, (("Distributor", "enabled"),))] * 2


def test_without_wanted_tags_hybrid_nodes_cost_no_call() -> None:
    ssm, ec2 = _client("ssm"), _client("ec2")
    with Stubber(ssm) as ssm_stub, Stubber(ec2):
        _instance_pages(ssm_stub, [_row("mi-0123456789abcdef0", hybrid=True)])

        read = read_region(ssm, ec2, want_tags=False)

        ssm_stub.assert_no_pending_responses()
    assert read.nodes == [NodeRecord("ubuntu", "22.04", UNKNOWN)]


def test_refused_ec2_and_tag_reads_leave_gaps_not_failures() -> None:
    ssm, ec2 = _client("ssm"), _client("ec2")
    rows = [_row("i-00000000000000001"), _row("mi-0123456789abcdef0", hybrid=True)]
    with Stubber(ssm) as ssm_stub, Stubber(ec2) as ec2_stub:
        _instance_pages(ssm_stub, rows)
        ec2_stub.add_client_error(
            "describe_instances", "UnauthorizedOperation", http_status_code=403
        )
        ssm_stub.add_client_error(
            "list_tags_for_resource", "AccessDeniedException", http_status_code=400
        )

        read = read_region(ssm, ec2, want_tags=True)

    assert [node.arch for node in read.nodes] == [UNKNOWN, UNKNOWN]
    assert [node.tags for node in read.nodes] == [(), ()]
    assert len(read.gaps) == 2
    assert "ec2:DescribeInstances" in read.gaps[0]
    assert "ssm:ListTagsForResource" in read.gaps[1]


def test_other_failures_make_the_region_unreadable() -> None:
    ssm, ec2 = _client("ssm"), _client("ec2")
    with Stubber(ssm) as ssm_stub, Stubber(ec2) as ec2_stub:
        _instance_pages(ssm_stub, [_row("i-00000000000000001")])
        ec2_stub.add_client_error("describe_instances", "InternalError", http_status_code=500)

        with pytest.raises(ClientError, match="InternalError"):
            read_region(ssm, ec2, want_tags=True)


def test_throttling_is_retried_here_after_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(org_snapshot, "THROTTLE_PAUSE_SECONDS", 0.0)
    ssm, ec2 = _client("ssm"), _client("ec2")
    with Stubber(ssm) as ssm_stub, Stubber(ec2) as ec2_stub:
        ssm_stub.add_client_error("describe_instance_information", "ThrottlingException")
        _instance_pages(ssm_stub, [_row("i-00000000000000001", online=False)])
        ec2_stub.add_response("describe_instances", {"Reservations": []})

        read = read_region(ssm, ec2, want_tags=False)

        ssm_stub.assert_no_pending_responses()
    assert read.nodes == [NodeRecord("amazon", "2023", UNKNOWN, online=False)]
