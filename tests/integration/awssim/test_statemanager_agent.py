"""The simulated agent: AWS-ConfigureAWSPackage installs, pins, rolls back and fails like AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from statemanager_support import (
    BUCKET,
    NONPROD,
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
    reasons,
    register,
    source_url,
    upload,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.resources import iam_policy

ADMIN = "222222222222"
EVERY_NODE = [{"Key": "InstanceIds", "Values": ["*"]}]


@pytest.fixture
def ssm(aws: AwsClients) -> Any:
    """SSM as the member account."""
    return client(aws, "ssm")


def test_pinned_version_installs_and_rolls_back_by_changing_the_version(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    association_id = create_package_association(ssm, version="1.0.0")
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.0"}
    assert installed_versions(nodes(sim, tagged=False)) == {None}

    publish(aws, "1.0.1")  # the document's default version is now 1.0.1
    ssm.start_associations_once(AssociationIds=[association_id])
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.0"}, "a pinned version ignores the default"

    ssm.update_association(AssociationId=association_id, Parameters=package_parameters("1.0.1"))
    assert overview(ssm, association_id)["Status"] == "Pending"
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.1"}

    ssm.update_association(AssociationId=association_id, Parameters=package_parameters("1.0.0"))
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.0"}
    assert overview(ssm, association_id)["AssociationStatusAggregatedCount"] == {"Success": 13}
    assert [e["AssociationVersion"] for e in executions(ssm, association_id)] == [
        "3",
        "2",
        "1",
        "1",
    ]


def test_without_a_version_the_default_version_installs(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    publish(aws, "1.0.1")

    create_package_association(ssm, version="")
    sim.advance(600)

    assert installed_versions(nodes(sim)) == {"1.0.1"}


def test_uninstall_removes_the_package_and_succeeds_where_it_is_absent(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    association_id = create_package_association(ssm)
    sim.advance(600)

    ssm.update_association(
        AssociationId=association_id,
        Parameters=package_parameters("1.0.0", "Uninstall"),
        Targets=EVERY_NODE,
    )
    sim.advance(600)

    assert installed_versions(nodes(sim, tagged=None)) == {None}
    assert overview(ssm, association_id) == {
        "Status": "Success",
        "DetailedStatus": "Success",
        "AssociationStatusAggregatedCount": {"Success": 16},
    }


def _fails_everywhere(sim: Simulator, ssm: Any, association_id: str, expected: str) -> None:
    sim.advance(600)
    why = reasons(sim, association_id)
    assert set(why) == {n.instance_id for n in nodes(sim)}
    assert all(expected in (reason or "") for reason in why.values()), why
    assert installed_versions(nodes(sim)) == {None}
    assert overview(ssm, association_id) == {
        "Status": "Failed",
        "DetailedStatus": "Failed",
        "AssociationStatusAggregatedCount": {"Failed": 13},
    }
    [execution] = executions(ssm, association_id)
    assert (execution["Status"], execution["ResourceCountByStatus"]) == ("Failed", "{Failed=13}")


def test_an_unknown_package_fails(sim: Simulator, aws: AwsClients, ssm: Any) -> None:
    publish(aws, "1.0.0")
    association_id = create_package_association(
        ssm, Parameters=package_parameters("1.0.0", name="NoSuchPackage")
    )
    _fails_everywhere(
        sim,
        ssm,
        association_id,
        "failed to download manifest - failed to retrieve package document: InvalidDocument: "
        "The specified document does not exist.",
    )


def test_an_unknown_version_fails(sim: Simulator, aws: AwsClients, ssm: Any) -> None:
    publish(aws, "1.0.0")
    association_id = create_package_association(ssm, version="9.9.9")
    _fails_everywhere(sim, ssm, association_id, "InvalidDocumentVersion")


def test_a_missing_attachment_fails(sim: Simulator, aws: AwsClients, ssm: Any) -> None:
    register(aws, "1.0.0")  # the document exists, its files were never uploaded
    client(aws, "s3").create_bucket(Bucket=BUCKET)
    association_id = create_package_association(ssm)
    _fails_everywhere(
        sim,
        ssm,
        association_id,
        f"failed to download installation package reliably, {source_url('1.0.0')}/",
    )
    assert all("statuscode:404" in (r or "") for r in reasons(sim, association_id).values())


def test_a_checksum_mismatch_fails(sim: Simulator, aws: AwsClients, ssm: Any) -> None:
    upload(aws, "1.0.0", corrupt=True)
    register(aws, "1.0.0")
    association_id = create_package_association(ssm)
    _fails_everywhere(sim, ssm, association_id, "failed to verify hash")


def test_a_platform_without_a_file_fails_and_the_others_install(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    association_id = create_package_association(ssm, Targets=EVERY_NODE)
    sim.advance(600)

    why = reasons(sim, association_id)
    assert {why[n.instance_id] for n in nodes(sim, tagged=False)} == {
        f"failed to find platform: no manifest found for platform: {n.platform}, "
        f"version {n.platform_version}, architecture arm64"
        for n in nodes(sim, tagged=False)
    }
    assert installed_versions(nodes(sim, tagged=False)) == {None}
    assert installed_versions(nodes(sim)) == {"1.0.0"}
    assert overview(ssm, association_id) == {
        "Status": "Failed",
        "DetailedStatus": "Failed",
        "AssociationStatusAggregatedCount": {"Success": 13, "Failed": 3},
    }
    [execution] = executions(ssm, association_id)
    assert execution["ResourceCountByStatus"] == "{Success=13, Failed=3}"
    failed = execution_targets(
        ssm,
        association_id,
        execution["ExecutionId"],
        Filters=[{"Key": "Status", "Value": "Failed"}],
    )
    assert {t["ResourceId"] for t in failed} == {n.instance_id for n in nodes(sim, tagged=False)}


def _org_read_policy(bucket: str, org_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OrgRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject"],
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}},
                }
            ],
        }
    )


def test_a_bucket_in_another_account_needs_a_policy_for_the_organization(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    shared = "examplepackage-shared"
    upload(aws, "1.0.0", account=ADMIN, bucket=shared)
    register(aws, "1.0.0", bucket=shared)
    admin_s3 = client(aws, "s3", ADMIN)
    association_id = create_package_association(ssm)
    _fails_everywhere(sim, ssm, association_id, "status:403 Forbidden statuscode:403")

    admin_s3.put_bucket_policy(Bucket=shared, Policy=_org_read_policy(shared, "o-someoneelse"))
    ssm.start_associations_once(AssociationIds=[association_id])
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {None}

    # The project's own policy: read for the organization, and no plain HTTP (the agent uses TLS).
    policy = iam_policy("package-bucket-policy.json").read_text()
    policy = policy.replace("${BucketName}", shared).replace("${OrganizationId}", sim.org.org_id)
    admin_s3.put_bucket_policy(Bucket=shared, Policy=policy)
    ssm.start_associations_once(AssociationIds=[association_id])
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.0"}
    assert overview(ssm, association_id)["Status"] == "Success"


def test_new_versions_fail_on_canaries_and_the_rollback_works(
    sim: Simulator, aws: AwsClients, ssm: Any
) -> None:
    publish(aws, "1.0.0")
    association_id = create_package_association(ssm)
    sim.advance(600)
    sim.set_scenario("canary-failure")  # 1.0.0 is installed, so it is not "new"
    publish(aws, "1.0.1")

    ssm.update_association(AssociationId=association_id, Parameters=package_parameters("1.0.1"))
    sim.advance(600)

    why = reasons(sim, association_id)
    failed = {instance_id for instance_id, reason in why.items() if reason}
    assert 0 < len(failed) < len(why)
    assert {why[i] for i in failed} == {sim.scenario.package_failures[0].reason}
    for node in nodes(sim):
        assert node.installed[PACKAGE] == ("1.0.0" if node.instance_id in failed else "1.0.1")
    assert overview(ssm, association_id)["AssociationStatusAggregatedCount"] == {
        "Success": len(why) - len(failed),
        "Failed": len(failed),
    }

    ssm.update_association(AssociationId=association_id, Parameters=package_parameters("1.0.0"))
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.0"}
    assert overview(ssm, association_id)["Status"] == "Success"


def test_nodes_whose_agent_does_not_report_stay_pending(sim: Simulator, aws: AwsClients) -> None:
    sim.set_scenario("unmanaged-nodes")
    ssm = client(aws, "ssm", NONPROD)
    publish(aws, "1.0.0", account=NONPROD, bucket="examplepackage-nonprod")
    targeted = nodes(sim, NONPROD)
    silent = {n.instance_id for n in targeted if not n.managed}
    assert 0 < len(silent) < len(targeted)

    association_id = create_package_association(ssm)
    sim.advance(3 * 3600)

    assert overview(ssm, association_id) == {
        "Status": "Pending",
        "DetailedStatus": "Pending",
        "AssociationStatusAggregatedCount": {
            "Success": len(targeted) - len(silent),
            "Pending": len(silent),
        },
    }
    first = executions(ssm, association_id)[-1]
    assert first["Status"] == "Success"
    assert first["ResourceCountByStatus"] == (
        f"{{Success={len(targeted) - len(silent)}, Pending={len(silent)}}}"
    )
    pending = execution_targets(
        ssm, association_id, first["ExecutionId"], Filters=[{"Key": "Status", "Value": "Pending"}]
    )
    assert {t["ResourceId"] for t in pending} == silent
    assert all("OutputSource" not in t for t in pending)
    for node in targeted:
        assert node.installed.get(PACKAGE) == (None if node.instance_id in silent else "1.0.0")
    lost = ssm.describe_instance_information(
        Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}], MaxResults=50
    )["InstanceInformationList"]
    assert {i["InstanceId"] for i in lost} >= silent
    assert {i["AssociationStatus"] for i in lost if i["InstanceId"] in silent} == {"Pending"}
