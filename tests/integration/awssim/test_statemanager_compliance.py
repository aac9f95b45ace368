"""Association compliance in awssim agrees with the association statuses."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from statemanager_support import (
    NONPROD,
    client,
    create_package_association,
    nodes,
    overview,
    package_parameters,
    publish,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

EVERY_NODE = [{"Key": "InstanceIds", "Values": ["*"]}]
ZERO_SEVERITIES = {
    "CriticalCount": 0,
    "HighCount": 0,
    "MediumCount": 0,
    "LowCount": 0,
    "InformationalCount": 0,
    "UnspecifiedCount": 0,
}


@pytest.fixture
def ssm(aws: AwsClients) -> Any:
    """SSM as the member account, with version 1.0.0 published."""
    publish(aws, "1.0.0")
    return client(aws, "ssm")


def _items(ssm: Any, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = ssm.get_paginator("list_compliance_items")
    return [item for page in paginator.paginate(**kwargs) for item in page["ComplianceItems"]]


def _resources(ssm: Any, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = ssm.get_paginator("list_resource_compliance_summaries")
    return [
        item
        for page in paginator.paginate(**kwargs)
        for item in page["ResourceComplianceSummaryItems"]
    ]


def test_items_follow_the_targets_results(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(
        ssm, Targets=EVERY_NODE, ComplianceSeverity="HIGH", ScheduleExpression=None
    )
    assert _items(ssm) == [], "nothing has reported yet"
    sim.advance(600)

    items = _items(ssm)
    arm = {n.instance_id for n in nodes(sim, tagged=False)}
    assert {i["ResourceId"] for i in items} == {n.instance_id for n in nodes(sim, tagged=None)}
    assert {i["ResourceId"] for i in items if i["Status"] == "NON_COMPLIANT"} == arm
    first = items[0]
    assert first["ComplianceType"] == "Association"
    assert first["ResourceType"] == "ManagedInstance"
    assert first["Id"] == association_id
    assert first["Title"] == "ExamplePackage-Distributor"
    assert first["Severity"] == "HIGH"
    assert first["ExecutionSummary"]["ExecutionType"] == "Command"
    assert first["Details"] == {"DocumentName": "AWS-ConfigureAWSPackage", "DocumentVersion": "1"}
    counts = overview(ssm, association_id)["AssociationStatusAggregatedCount"]
    assert counts == {"Success": len(items) - len(arm), "Failed": len(arm)}

    summaries = ssm.list_compliance_summaries()["ComplianceSummaryItems"]
    assert summaries == [
        {
            "ComplianceType": "Association",
            "CompliantSummary": {
                "CompliantCount": 13,
                "SeveritySummary": {**ZERO_SEVERITIES, "HighCount": 13},
            },
            "NonCompliantSummary": {
                "NonCompliantCount": 3,
                "SeveritySummary": {**ZERO_SEVERITIES, "HighCount": 3},
            },
        }
    ]
    resources = _resources(ssm, Filters=[{"Key": "Status", "Values": ["NON_COMPLIANT"]}])
    assert {r["ResourceId"] for r in resources} == arm
    assert {r["OverallSeverity"] for r in resources} == {"HIGH"}
    assert resources[0]["NonCompliantSummary"]["NonCompliantCount"] == 1
    assert resources[0]["CompliantSummary"]["CompliantCount"] == 0


def test_a_new_version_clears_items_until_nodes_report_again(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(ssm, ScheduleExpression=None)
    sim.advance(600)
    assert len(_items(ssm)) == 13

    ssm.update_association(AssociationId=association_id, ComplianceSeverity="CRITICAL")
    assert _items(ssm) == []
    sim.advance(600)

    assert {(i["Status"], i["Severity"]) for i in _items(ssm)} == {("COMPLIANT", "CRITICAL")}


def test_several_associations_on_a_node(sim: Simulator, ssm: Any) -> None:
    create_package_association(ssm, ComplianceSeverity="LOW")
    create_package_association(
        ssm,
        AssociationName="missing-package",
        Parameters=package_parameters("1.0.0", name="NoSuchPackage"),
        ComplianceSeverity="MEDIUM",
    )
    sim.advance(600)
    node = nodes(sim)[0].instance_id

    items = _items(ssm, ResourceIds=[node], ResourceTypes=["ManagedInstance"])
    [resource] = _resources(ssm, Filters=[{"Key": "ResourceId", "Values": [node]}])

    assert {(i["Title"], i["Status"]) for i in items} == {
        ("ExamplePackage-Distributor", "COMPLIANT"),
        ("missing-package", "NON_COMPLIANT"),
    }
    assert resource["Status"] == "NON_COMPLIANT"
    assert resource["OverallSeverity"] == "MEDIUM"
    assert resource["CompliantSummary"]["CompliantCount"] == 1
    assert resource["NonCompliantSummary"]["NonCompliantCount"] == 1
    medium = _items(ssm, Filters=[{"Key": "Severity", "Values": ["MEDIUM"], "Type": "EQUAL"}])
    assert len(medium) == 13
    not_low = _items(ssm, Filters=[{"Key": "Severity", "Values": ["LOW"], "Type": "NOT_EQUAL"}])
    assert not_low == medium
    titled = _items(ssm, Filters=[{"Key": "Title", "Values": ["missing"], "Type": "BEGIN_WITH"}])
    assert titled == medium
    assert _items(ssm, ResourceTypes=["Document"]) == []


def test_deleting_the_association_removes_its_items(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(ssm)
    sim.advance(600)
    assert len(_items(ssm)) == 13

    ssm.delete_association(AssociationId=association_id)

    assert _items(ssm) == []
    assert _resources(ssm) == []
    assert ssm.list_compliance_summaries()["ComplianceSummaryItems"] == []


def test_manual_sync_reports_nothing(sim: Simulator, ssm: Any) -> None:
    create_package_association(ssm, SyncCompliance="MANUAL")
    sim.advance(600)

    assert _items(ssm) == []


def test_nodes_that_never_report_have_no_items(sim: Simulator, aws: AwsClients) -> None:
    sim.set_scenario("unmanaged-nodes")
    publish(aws, "1.0.0", account=NONPROD, bucket="examplepackage-nonprod")
    ssm = client(aws, "ssm", NONPROD)
    create_package_association(ssm)
    sim.advance(600)

    reported = {i["ResourceId"] for i in _items(ssm)}

    assert reported == {n.instance_id for n in nodes(sim, NONPROD) if n.managed}
    [summary] = ssm.list_compliance_summaries()["ComplianceSummaryItems"]
    assert summary["CompliantSummary"]["CompliantCount"] == len(reported)


def test_paging_and_filter_errors(sim: Simulator, ssm: Any) -> None:
    create_package_association(ssm)
    sim.advance(600)

    first = ssm.list_compliance_items(MaxResults=5)
    pages = list(
        ssm.get_paginator("list_compliance_items").paginate(PaginationConfig={"PageSize": 5})
    )
    resource_pages = list(
        ssm.get_paginator("list_resource_compliance_summaries").paginate(
            PaginationConfig={"PageSize": 6}
        )
    )

    assert len(first["ComplianceItems"]) == 5
    assert "NextToken" in first
    assert [len(p["ComplianceItems"]) for p in pages] == [5, 5, 3]
    assert [len(p["ResourceComplianceSummaryItems"]) for p in resource_pages] == [6, 6, 1]
    for call in (ssm.list_compliance_items, ssm.list_compliance_summaries):
        with pytest.raises(ClientError) as refused:
            call(Filters=[{"Key": "Colour", "Values": ["blue"]}])
        assert refused.value.response["Error"]["Code"] == "InvalidFilter"
    with pytest.raises(ClientError) as bad_token:
        ssm.list_resource_compliance_summaries(NextToken=first["NextToken"])
    assert bad_token.value.response["Error"]["Code"] == "InvalidNextToken"
