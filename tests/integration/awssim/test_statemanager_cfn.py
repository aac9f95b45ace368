"""The Distributor template's SSM resources in a plain stack: create, new version, rollback."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from statemanager_support import (
    BUCKET,
    FOLDER,
    PACKAGE,
    TEMPLATE,
    built,
    client,
    executions,
    installed_versions,
    nodes,
    overview,
    source_url,
    upload,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

STACK = "examplepackage"


def _parameters(version: str, **overrides: str) -> list[dict[str, str]]:
    values = {
        "PackageName": PACKAGE,
        "S3PackageBucket": BUCKET,
        "S3PackageBucketFolder": FOLDER,
        "Version": version,
        "AssociationName": "ExamplePackage-Distributor",
        "TargetResourceTagKey": "Distributor",
        "TargetResourceTagValue": "enabled",
        "MaxConcurrency": "50%",
        "MaxErrors": "10%",
        "ComplianceSeverity": "HIGH",
        "ManifestContent": built(version).manifest,
        **overrides,
    }
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


@pytest.fixture
def cfn(aws: AwsClients) -> Any:
    """CloudFormation as the member account."""
    return client(aws, "cloudformation")


@pytest.fixture
def ssm(aws: AwsClients) -> Any:
    """SSM as the member account."""
    return client(aws, "ssm")


def _deploy(cfn: Any, version: str, *, create: bool = False, **overrides: str) -> dict[str, str]:
    call = cfn.create_stack if create else cfn.update_stack
    call(
        StackName=STACK,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=_parameters(version, **overrides),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    [stack] = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def test_the_stack_publishes_installs_updates_and_rolls_back(
    sim: Simulator, aws: AwsClients, cfn: Any, ssm: Any
) -> None:
    upload(aws, "1.0.0")
    outputs = _deploy(cfn, "1.0.0", create=True)
    association_id = outputs["PackageAssociationId"]
    described = ssm.describe_association(AssociationId=association_id)["AssociationDescription"]
    assert described["Name"] == "AWS-ConfigureAWSPackage"
    assert described["Parameters"]["version"] == ["1.0.0"]
    assert described["Targets"] == [{"Key": "tag:Distributor", "Values": ["enabled"]}]
    assert (described["MaxConcurrency"], described["MaxErrors"]) == ("50%", "10%")
    assert described["ComplianceSeverity"] == "HIGH"
    assert described["SyncCompliance"] == "AUTO"
    assert described["ApplyOnlyAtCronInterval"] is False
    assert described["ScheduleExpression"] == "rate(30 minutes)"
    assert "OutputLocation" not in described
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.0"}

    upload(aws, "1.0.1")
    outputs = _deploy(cfn, "1.0.1")
    document = ssm.describe_document(Name=PACKAGE)["Document"]
    assert (document["DefaultVersion"], document["LatestVersion"]) == ("2", "2")
    assert document["VersionName"] == "1.0.1"
    old = ssm.describe_document(Name=PACKAGE, VersionName="1.0.0")["Document"]
    assert old["DocumentVersion"] == "1", "the previous version stays installable"
    assert outputs["PackageAssociationId"] == association_id, "updated in place"
    assert overview(ssm, association_id)["Status"] == "Pending"
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.1"}

    outputs = _deploy(cfn, "1.0.1", AssociationVersion="1.0.0")
    assert outputs["InstalledVersionName"] == "1.0.0"
    assert ssm.describe_document(Name=PACKAGE)["Document"]["LatestVersion"] == "2", "untouched"
    sim.advance(600)
    assert installed_versions(nodes(sim)) == {"1.0.0"}
    versions = ssm.list_association_versions(AssociationId=association_id)["AssociationVersions"]
    assert [v["Parameters"]["version"] for v in versions] == [["1.0.0"], ["1.0.1"], ["1.0.0"]]
    assert overview(ssm, association_id)["Status"] == "Success"


def test_a_version_name_the_document_has_is_refused(aws: AwsClients, cfn: Any, ssm: Any) -> None:
    upload(aws, "1.0.0")
    upload(aws, "1.0.1")
    _deploy(cfn, "1.0.0", create=True)
    _deploy(cfn, "1.0.1")

    with pytest.raises(ClientError) as refused:
        _deploy(cfn, "1.0.0")

    assert refused.value.response["Error"]["Code"] == "DuplicateDocumentVersionName"
    assert ssm.describe_document(Name=PACKAGE)["Document"]["DefaultVersion"] == "2"


def test_deleting_the_stack_deletes_the_association_and_uninstalls_nothing(
    sim: Simulator, aws: AwsClients, cfn: Any, ssm: Any
) -> None:
    upload(aws, "1.0.0")
    association_id = _deploy(cfn, "1.0.0", create=True)["PackageAssociationId"]
    sim.advance(600)

    cfn.delete_stack(StackName=STACK)
    sim.advance(3600)

    assert ssm.list_associations()["Associations"] == []
    with pytest.raises(ClientError):
        ssm.describe_association(AssociationId=association_id)
    assert installed_versions(nodes(sim)) == {"1.0.0"}


def _small_template(version: str, update_method: str | None, schedule: str) -> str:
    document: dict[str, Any] = {
        "Type": "AWS::SSM::Document",
        "Properties": {
            "Name": PACKAGE,
            "DocumentType": "Package",
            "DocumentFormat": "JSON",
            "VersionName": version,
            "Content": built(version).manifest,
            "Attachments": [{"Key": "SourceUrl", "Values": [source_url(version)]}],
        },
    }
    if update_method:
        document["Properties"]["UpdateMethod"] = update_method
    association = {
        "Type": "AWS::SSM::Association",
        "DependsOn": "Package",
        "Properties": {
            "Name": "AWS-ConfigureAWSPackage",
            "Parameters": {"action": ["Install"], "name": [PACKAGE], "version": [version]},
            "Targets": [{"Key": "InstanceIds", "Values": ["*"]}],
            "ScheduleExpression": schedule,
            "ApplyOnlyAtCronInterval": "false",
        },
    }
    return yaml.safe_dump(
        {
            "Resources": {"Package": document, "Install": association},
            "Outputs": {"Id": {"Value": {"Fn::GetAtt": ["Install", "AssociationId"]}}},
        }
    )


def test_getatt_association_id_and_replace_without_new_version(
    sim: Simulator, aws: AwsClients, cfn: Any, ssm: Any
) -> None:
    upload(aws, "1.0.0")
    upload(aws, "1.0.1")
    cfn.create_stack(StackName="small", TemplateBody=_small_template("1.0.0", None, "rate(1 day)"))
    [stack] = cfn.describe_stacks(StackName="small")["Stacks"]
    [output] = stack["Outputs"]
    assert executions(ssm, output["OutputValue"])[0]["AssociationVersion"] == "1"

    cfn.update_stack(
        StackName="small", TemplateBody=_small_template("1.0.1", "Replace", "rate(2 days)")
    )

    document = ssm.describe_document(Name=PACKAGE)["Document"]
    assert (document["LatestVersion"], document["VersionName"]) == ("1", "1.0.1"), "replaced"
    described = ssm.describe_association(AssociationId=output["OutputValue"])[
        "AssociationDescription"
    ]
    assert described["ScheduleExpression"] == "rate(2 days)"
    assert described["AssociationVersion"] == "2"


def test_an_invalid_association_fails_the_stack_call(aws: AwsClients, cfn: Any) -> None:
    upload(aws, "1.0.0")

    with pytest.raises(ClientError) as refused:
        cfn.create_stack(
            StackName="broken", TemplateBody=_small_template("1.0.0", None, "rate(5 minutes)")
        )

    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "InvalidSchedule" in error["Message"]
