"""State Manager's association API in awssim, through boto3 (and once through aiobotocore)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import aiobotocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from statemanager_support import (
    MEMBER,
    REGION,
    TAG_TARGETS,
    client,
    create_package_association,
    execution_targets,
    executions,
    installed_versions,
    nodes,
    overview,
    package_parameters,
    publish,
    step_until,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    """The AWS error code of a caught ClientError."""
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
def ssm(aws: AwsClients) -> Any:
    """SSM as the member account."""
    return client(aws, "ssm")


@pytest.fixture
def published(aws: AwsClients) -> None:
    """Version 1.0.0 of the example package, published in the member account."""
    publish(aws, "1.0.0")


@pytest.mark.usefixtures("published")
def test_create_answers_the_full_description_and_describe_matches(ssm: Any) -> None:
    created = ssm.create_association(
        Name="AWS-ConfigureAWSPackage",
        AssociationName="ExamplePackage-Distributor",
        Parameters=package_parameters("1.0.0"),
        Targets=TAG_TARGETS,
        ScheduleExpression="rate(30 minutes)",
        MaxConcurrency="50%",
        MaxErrors="10%",
        ComplianceSeverity="HIGH",
        SyncCompliance="AUTO",
        OutputLocation={
            "S3Location": {"OutputS3BucketName": "logs-bucket", "OutputS3KeyPrefix": "ssm"}
        },
    )["AssociationDescription"]

    assert created["AssociationVersion"] == "1"
    assert created["DocumentVersion"] == "$DEFAULT"
    assert created["Parameters"] == package_parameters("1.0.0")
    assert created["Targets"] == TAG_TARGETS
    assert created["ApplyOnlyAtCronInterval"] is False
    assert created["Overview"] == {
        "Status": "Pending",
        "DetailedStatus": "Creating",
        "AssociationStatusAggregatedCount": {"Pending": 13},
    }
    assert isinstance(created["Date"], datetime)
    assert "LastExecutionDate" not in created
    described = ssm.describe_association(AssociationId=created["AssociationId"])
    assert described["AssociationDescription"] == created


@pytest.mark.usefixtures("published")
def test_update_makes_a_new_version_and_keeps_what_it_does_not_name(ssm: Any) -> None:
    association_id = create_package_association(ssm, MaxConcurrency="1")

    updated = ssm.update_association(AssociationId=association_id, MaxConcurrency="100%")
    first = ssm.describe_association(AssociationId=association_id, AssociationVersion="1")
    versions = ssm.list_association_versions(AssociationId=association_id)["AssociationVersions"]

    description = updated["AssociationDescription"]
    assert description["AssociationVersion"] == "2"
    assert description["MaxConcurrency"] == "100%"
    assert description["Parameters"] == package_parameters("1.0.0")
    assert description["ScheduleExpression"] == "rate(30 minutes)"
    assert first["AssociationDescription"]["MaxConcurrency"] == "1"
    assert [(v["AssociationVersion"], v["MaxConcurrency"]) for v in versions] == [
        ("1", "1"),
        ("2", "100%"),
    ]
    assert all(isinstance(v["CreatedDate"], datetime) for v in versions)
    with pytest.raises(ClientError) as stale:
        ssm.update_association(AssociationId=association_id, AssociationVersion="1", MaxErrors="1")
    assert error_code(stale) == "InvalidAssociationVersion"
    with pytest.raises(ClientError) as missing:
        ssm.describe_association(AssociationId=association_id, AssociationVersion="9")
    assert error_code(missing) == "InvalidAssociationVersion"


@pytest.mark.usefixtures("published")
def test_an_execution_goes_pending_in_progress_success(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(ssm)
    [execution] = executions(ssm, association_id)
    assert execution["Status"] == "Pending"
    assert execution["AssociationVersion"] == "1"
    seen = {execution["Status"]}

    def finished() -> bool:
        status = executions(ssm, association_id)[0]["Status"]
        seen.add(status)
        return status not in {"Pending", "InProgress"}

    step_until(sim, finished, step=5.0)

    [done] = executions(ssm, association_id)
    assert seen == {"Pending", "InProgress", "Success"}
    assert done["ResourceCountByStatus"] == "{Success=13}"
    assert done["LastExecutionDate"] >= done["CreatedTime"]
    targets = execution_targets(ssm, association_id, done["ExecutionId"])
    assert {t["ResourceId"] for t in targets} == {n.instance_id for n in nodes(sim)}
    assert {(t["Status"], t["DetailedStatus"], t["ResourceType"]) for t in targets} == {
        ("Success", "Success", "ManagedInstance")
    }
    assert all(t["OutputSource"]["OutputSourceType"] == "RunCommand" for t in targets)
    assert all(len(t["OutputSource"]["OutputSourceId"]) == 36 for t in targets)
    described = ssm.describe_association(AssociationId=association_id)["AssociationDescription"]
    assert described["Overview"]["Status"] == "Success"
    assert described["LastExecutionDate"] == described["LastSuccessfulExecutionDate"]


@pytest.mark.usefixtures("published")
def test_execution_and_target_filters(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(ssm)
    sim.advance(600)
    ssm.start_associations_once(AssociationIds=[association_id])
    sim.advance(600)
    newest, oldest = executions(ssm, association_id)
    instance_id = nodes(sim)[0].instance_id

    def filtered(*filters: dict[str, str]) -> list[str]:
        found = ssm.describe_association_executions(
            AssociationId=association_id, Filters=list(filters)
        )
        return [e["ExecutionId"] for e in found["AssociationExecutions"]]

    between = (oldest["CreatedTime"] + timedelta(seconds=1)).isoformat()
    assert filtered({"Key": "ExecutionId", "Value": oldest["ExecutionId"], "Type": "EQUAL"}) == [
        oldest["ExecutionId"]
    ]
    assert filtered({"Key": "Status", "Value": "Success", "Type": "EQUAL"}) == [
        newest["ExecutionId"],
        oldest["ExecutionId"],
    ]
    assert filtered({"Key": "CreatedTime", "Value": between, "Type": "GREATER_THAN"}) == [
        newest["ExecutionId"]
    ]
    assert filtered({"Key": "CreatedTime", "Value": between, "Type": "LESS_THAN"}) == [
        oldest["ExecutionId"]
    ]
    by_resource = execution_targets(
        ssm,
        association_id,
        newest["ExecutionId"],
        Filters=[{"Key": "ResourceId", "Value": instance_id}],
    )
    assert [t["ResourceId"] for t in by_resource] == [instance_id]
    failed = execution_targets(
        ssm, association_id, newest["ExecutionId"], Filters=[{"Key": "Status", "Value": "Failed"}]
    )
    assert failed == []
    with pytest.raises(ClientError) as unknown:
        ssm.describe_association_execution_targets(
            AssociationId=association_id, ExecutionId="00000000-0000-4000-8000-000000000000"
        )
    assert error_code(unknown) == "AssociationExecutionDoesNotExist"


@pytest.mark.usefixtures("published")
def test_start_associations_once_runs_again_and_rejects_unknown_ids(
    sim: Simulator, ssm: Any
) -> None:
    association_id = create_package_association(ssm)
    sim.advance(600)

    ssm.start_associations_once(AssociationIds=[association_id])

    newest = executions(ssm, association_id)[0]
    assert len(executions(ssm, association_id)) == 2
    assert newest["Status"] == "Pending"
    assert newest["AssociationVersion"] == "1"
    # Same version: nodes keep their result while they run it again.
    assert overview(ssm, association_id)["Status"] == "Success"
    with pytest.raises(ClientError) as unknown:
        ssm.start_associations_once(AssociationIds=["00000000-0000-4000-8000-000000000000"])
    assert error_code(unknown) == "AssociationDoesNotExist"


@pytest.mark.usefixtures("published")
def test_delete_stops_the_association_and_leaves_packages_installed(
    sim: Simulator, ssm: Any
) -> None:
    association_id = create_package_association(ssm)
    sim.advance(600)
    ssm.update_association(
        AssociationId=association_id, Parameters=package_parameters("1.0.0", "Uninstall")
    )
    sim.advance(45)  # some nodes have uninstalled, others are still at it

    ssm.delete_association(AssociationId=association_id)
    before = {n.instance_id: dict(n.installed) for n in nodes(sim)}
    sim.advance(3600)

    assert installed_versions(nodes(sim)) == {"1.0.0", None}
    assert {n.instance_id: dict(n.installed) for n in nodes(sim)} == before
    assert ssm.list_associations()["Associations"] == []
    with pytest.raises(ClientError) as gone:
        ssm.describe_association(AssociationId=association_id)
    assert error_code(gone) == "AssociationDoesNotExist"
    with pytest.raises(ClientError) as again:
        ssm.delete_association(AssociationId=association_id)
    assert error_code(again) == "AssociationDoesNotExist"


@pytest.mark.usefixtures("published")
def test_list_associations_filters_and_pages(sim: Simulator, ssm: Any) -> None:
    windows = next(n for n in nodes(sim) if n.platform == "windows")
    ids = [create_package_association(ssm, AssociationName=f"assoc-{i}") for i in range(4)]
    single = create_package_association(
        ssm,
        AssociationName="single",
        Targets=[{"Key": "InstanceIds", "Values": [windows.instance_id]}],
    )
    other = ssm.create_association(
        Name="AWS-RunShellScript",
        AssociationName="shell",
        Targets=[{"Key": "tag-key", "Values": ["Env"]}],
        Parameters={"commands": ["true"]},
    )["AssociationDescription"]["AssociationId"]
    sim.advance(600)
    later = ssm.create_association(
        Name="AWS-RunShellScript",
        AssociationName="late",
        Targets=[{"Key": "InstanceIds", "Values": ["*"]}],
        Parameters={"commands": ["true"]},
        ApplyOnlyAtCronInterval=True,
        ScheduleExpression="cron(0 3 ? * SUN *)",
    )["AssociationDescription"]["AssociationId"]

    def listed(*filters: tuple[str, str]) -> list[str]:
        wanted = [{"key": k, "value": v} for k, v in filters]
        found = ssm.list_associations(**({"AssociationFilterList": wanted} if wanted else {}))
        return [a["AssociationId"] for a in found["Associations"]]

    everything = [*ids, single, other, later]
    assert listed() == everything
    assert listed(("Name", "AWS-RunShellScript")) == [other, later]
    assert listed(("AssociationName", "single")) == [single]
    assert listed(("AssociationId", ids[2])) == [ids[2]]
    assert listed(("InstanceId", windows.instance_id)) == everything
    assert listed(("InstanceId", nodes(sim, tagged=False)[0].instance_id)) == [other, later]
    assert listed(("AssociationStatusName", "Pending")) == [later]
    assert listed(
        ("LastExecutedAfter", "2000-01-01T00:00:00Z"), ("Name", "AWS-RunShellScript")
    ) == [other]
    assert listed(("LastExecutedBefore", "2000-01-01T00:00:00Z")) == []
    assert listed(("ResourceGroupName", "none")) == []
    pages = list(ssm.get_paginator("list_associations").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Associations"]) for p in pages] == [3, 3, 1]
    assert [a["AssociationId"] for p in pages for a in p["Associations"]] == everything
    with pytest.raises(ClientError) as bad_token:
        ssm.list_associations(NextToken="not-a-token")
    assert error_code(bad_token) == "InvalidNextToken"
    with pytest.raises(ClientError) as too_many:
        ssm.list_associations(MaxResults=51)
    assert error_code(too_many) == "ValidationException"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"ScheduleExpression": "rate(5 minutes)"}, "InvalidSchedule"),
        ({"ScheduleExpression": "cron(0 0 * 1 ?)"}, "InvalidSchedule"),
        ({"ApplyOnlyAtCronInterval": True}, "InvalidSchedule"),
        ({"Targets": [{"Key": "color", "Values": ["blue"]}]}, "InvalidTarget"),
        ({"Targets": [{"Key": "InstanceIds", "Values": ["host-1"]}]}, "InvalidTarget"),
        ({"Name": "NoSuchDocument"}, "InvalidDocument"),
        ({"DocumentVersion": "$PREVIOUS"}, "InvalidDocumentVersion"),
        (
            {"Parameters": {"action": ["Reinstall"], "name": ["ExamplePackage"]}},
            "InvalidParameters",
        ),
        ({"Parameters": {"action": ["Install"]}}, "InvalidParameters"),
        (
            {"Parameters": {"action": ["Install"], "name": ["x"], "color": ["red"]}},
            "InvalidParameters",
        ),
        ({"MaxConcurrency": "0"}, "ValidationException"),
        ({"MaxErrors": "101%"}, "ValidationException"),
        ({"AssociationName": "x"}, "ValidationException"),
        ({"OutputLocation": {"S3Location": {"OutputS3KeyPrefix": "p"}}}, "InvalidOutputLocation"),
    ],
)
def test_create_refuses_what_state_manager_refuses(
    ssm: Any, overrides: dict[str, Any], code: str
) -> None:
    with pytest.raises(ClientError) as refused:
        create_package_association(ssm, **overrides)
    assert error_code(refused) == code


@pytest.mark.usefixtures("published")
def test_association_names_are_unique_per_account_and_region(aws: AwsClients, ssm: Any) -> None:
    create_package_association(ssm)
    with pytest.raises(ClientError) as duplicate:
        create_package_association(ssm)
    assert error_code(duplicate) == "AssociationAlreadyExists"

    publish(aws, "1.0.0", account="300111111112", bucket="examplepackage-300111111112")
    create_package_association(client(aws, "ssm", "300111111112"))
    assert client(aws, "ssm", MEMBER, "us-west-2").list_associations()["Associations"] == []


@pytest.mark.usefixtures("published")
def test_associations_are_per_account_and_region(sim: Simulator, aws: AwsClients, ssm: Any) -> None:
    association_id = create_package_association(
        ssm, Targets=[{"Key": "InstanceIds", "Values": ["*"]}]
    )
    sim.advance(600)

    [execution] = executions(ssm, association_id)
    targets = execution_targets(ssm, association_id, execution["ExecutionId"])
    assert {t["ResourceId"] for t in targets} == {n.instance_id for n in nodes(sim, tagged=None)}
    elsewhere = client(aws, "ssm", MEMBER, "eu-west-1")
    with pytest.raises(ClientError) as other_region:
        elsewhere.describe_association(AssociationId=association_id)
    assert error_code(other_region) == "AssociationDoesNotExist"
    assert all(not n.installed for n in nodes(sim, region="eu-west-1", tagged=None))


def test_describe_instance_information_filters_and_pages(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    everyone = nodes(sim, tagged=None)
    windows = [n.instance_id for n in everyone if n.platform == "windows"]
    untagged = [n.instance_id for n in everyone if "Distributor" not in n.tags]
    create_package_association(ssm)
    sim.advance(600)

    def described(**kwargs: Any) -> list[dict[str, Any]]:
        paginator = ssm.get_paginator("describe_instance_information")
        return [i for p in paginator.paginate(**kwargs) for i in p["InstanceInformationList"]]

    every = described()
    assert [i["InstanceId"] for i in every] == [n.instance_id for n in everyone]
    first = every[0]
    assert first["PingStatus"] == "Online"
    assert first["ResourceType"] == "EC2Instance"
    assert first["PlatformType"] in {"Linux", "Windows"}
    tagged_ids = {n.instance_id for n in nodes(sim)}
    assert {i["InstanceId"] for i in every if i.get("AssociationStatus") == "Success"} == tagged_ids
    platform = [{"key": "PlatformTypes", "valueSet": ["Windows"]}]
    assert [i["InstanceId"] for i in described(InstanceInformationFilterList=platform)] == windows
    assert [
        i["InstanceId"]
        for i in described(Filters=[{"Key": "PlatformTypes", "Values": ["Windows"]}])
    ] == windows
    assert {
        i["InstanceId"]
        for i in described(Filters=[{"Key": "tag:Distributor", "Values": ["enabled"]}])
    } == tagged_ids
    assert [
        i["InstanceId"] for i in described(Filters=[{"Key": "tag-key", "Values": ["Distributor"]}])
    ] == [n.instance_id for n in everyone if "Distributor" in n.tags]
    by_id = described(InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": untagged}])
    assert [i["InstanceId"] for i in by_id] == untagged
    assert "AssociationStatus" not in by_id[0]
    online = described(Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}])
    assert online == []
    pages = list(
        ssm.get_paginator("describe_instance_information").paginate(
            PaginationConfig={"PageSize": 5}
        )
    )
    assert [len(p["InstanceInformationList"]) for p in pages] == [5, 5, 5, 1]
    unchecked = aws.client("ssm", account=MEMBER, config=Config(parameter_validation=False))
    for bad, code in [
        ({"Filters": [{"Key": "Colour", "Values": ["x"]}]}, "InvalidFilterKey"),
        (
            {"InstanceInformationFilterList": [{"key": "PingStatus", "valueSet": [""]}]},
            "InvalidInstanceInformationFilterValue",
        ),
        ({"MaxResults": 4}, "ValidationException"),
    ]:
        with pytest.raises(ClientError) as refused:
            unchecked.describe_instance_information(**bad)
        assert error_code(refused) == code


@pytest.mark.usefixtures("published")
def test_an_aiobotocore_client_reads_associations(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    association_id = create_package_association(ssm)
    sim.advance(600)

    async def describe() -> dict[str, Any]:
        session = aiobotocore.session.get_session()
        async with session.create_client(
            "ssm",
            endpoint_url=aws.endpoint_url,
            region_name=REGION,
            aws_access_key_id=MEMBER,
            aws_secret_access_key="awssim",
        ) as client:
            answer = await client.describe_association(AssociationId=association_id)
            return dict(answer["AssociationDescription"])

    description = asyncio.run(describe())

    assert description["AssociationId"] == association_id
    assert description["Overview"] == {
        "Status": "Success",
        "DetailedStatus": "Success",
        "AssociationStatusAggregatedCount": {"Success": 13},
    }


@pytest.mark.usefixtures("published")
def test_ground_truth_lists_every_association_json_safe(sim: Simulator, ssm: Any) -> None:
    association_id = create_package_association(ssm)
    sim.advance(600)

    truth = json.loads(json.dumps(sim.state()))["associations"][association_id]

    assert truth["account"] == MEMBER
    assert truth["region"] == REGION
    assert truth["document"] == "AWS-ConfigureAWSPackage"
    assert truth["name"] == "ExamplePackage-Distributor"
    assert truth["version"] == "1"
    assert truth["parameters"] == package_parameters("1.0.0")
    assert truth["targets"] == TAG_TARGETS
    assert truth["overview"] == {
        "status": "Success",
        "detailed_status": "Success",
        "counts": {"Success": 13},
    }
    assert set(truth["target_status"]) == {n.instance_id for n in nodes(sim)}
    assert {s["status"] for s in truth["target_status"].values()} == {"Success"}
