"""Shared templates and helpers for the awssim StackSets tests (not a test module)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator

MANAGEMENT = "111111111111"
ADMIN = "222222222222"
AS_ADMIN = {"CallAs": "DELEGATED_ADMIN"}
SANDBOX = ["300000000001", "300111111112"]
NONPROD_ACTIVE = ["300222222223", "300333333334", "300444444445", "300555555556"]
NONPROD_SUSPENDED = "300666666667"
PROD_EU = ["301222222222", "301333333333", "301444444444"]
PROD_DIRECT = ["300777777778", "300888888889", "301000000000", "301111111111"]
FINISHED = {"SUCCEEDED", "FAILED", "STOPPED"}
# UpdateStackSet keeps a value only when asked to, as UpdateStack does.
KEEP = [{"ParameterKey": "Value", "UsePreviousValue": True}]


def parameter_template(name: str = "/rollout/stackset/value") -> str:
    """One SSM parameter whose value is the stack set parameter ``Value`` (and ``Tier``)."""
    return json.dumps(
        {
            "Parameters": {
                "Value": {"Type": "String"},
                "Tier": {"Type": "String", "Default": "standard"},
            },
            "Resources": {
                "Setting": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {
                        "Name": name,
                        "Type": "String",
                        "Value": {"Fn::Join": [":", [{"Ref": "Value"}, {"Ref": "Tier"}]]},
                    },
                }
            },
        }
    )


TOPIC_TEMPLATE = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "awssim"}}}}
)
NAMED_ROLE_TEMPLATE = json.dumps(
    {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "AwssimStackSetRole",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "ec2.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                },
            }
        }
    }
)


def admin_cfn(aws: AwsClients, region: str = "us-east-1") -> Any:
    """CloudFormation as the delegated administrator."""
    return aws.client("cloudformation", region=region)


def create_service_managed(cfn: Any, name: str, value: str = "v1", **extra: Any) -> str:
    """A service-managed stack set of ``parameter_template`` as the delegated admin."""
    request: dict[str, Any] = {
        "StackSetName": name,
        "TemplateBody": parameter_template(),
        "Parameters": [{"ParameterKey": "Value", "ParameterValue": value}],
        "PermissionModel": "SERVICE_MANAGED",
        "AutoDeployment": {"Enabled": False},
        **AS_ADMIN,
        **extra,
    }
    return str(cfn.create_stack_set(**request)["StackSetId"])


def operation(cfn: Any, name: str, operation_id: str) -> dict[str, Any]:
    """DescribeStackSetOperation's StackSetOperation."""
    return dict(
        cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id, **AS_ADMIN)[
            "StackSetOperation"
        ]
    )


def results(cfn: Any, name: str, operation_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """ListStackSetOperationResults keyed by (account, Region)."""
    summaries = cfn.list_stack_set_operation_results(
        StackSetName=name, OperationId=operation_id, **AS_ADMIN
    )["Summaries"]
    return {(s["Account"], s["Region"]): s for s in summaries}


def instances(cfn: Any, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """ListStackInstances keyed by (account, Region)."""
    summaries = cfn.list_stack_instances(StackSetName=name, **AS_ADMIN)["Summaries"]
    return {(s["Account"], s["Region"]): s for s in summaries}


@dataclass
class Timeline:
    """When each target of an operation was first seen running and finished (sim seconds)."""

    started: dict[tuple[str, str], float] = field(default_factory=dict)
    finished: dict[tuple[str, str], float] = field(default_factory=dict)
    final: dict[tuple[str, str], str] = field(default_factory=dict)
    status: str = ""
    max_running: int = 0


def watch(
    sim: Simulator, cfn: Any, name: str, operation_id: str, *, step: float = 5.0, limit: int = 400
) -> Timeline:
    """Advance time in ``step``s until the operation ends, recording every target's progress."""
    timeline = Timeline()
    for _ in range(limit):
        now = sim.now()
        seen = results(cfn, name, operation_id)
        timeline.max_running = max(
            timeline.max_running, sum(1 for r in seen.values() if r["Status"] == "RUNNING")
        )
        for key, result in seen.items():
            if result["Status"] == "RUNNING":
                timeline.started.setdefault(key, now)
            elif result["Status"] in {"SUCCEEDED", "FAILED"} and key not in timeline.finished:
                timeline.finished[key] = now
            timeline.final[key] = result["Status"]
        status = operation(cfn, name, operation_id)["Status"]
        if status in FINISHED:
            timeline.status = status
            return timeline
        sim.advance(step)
    raise AssertionError(f"operation {operation_id} did not finish")
