"""A small stack set, its releases and a plan for the StackSets task tests (not a test module).

The template is one SSM parameter whose value is the ``Version`` parameter, so which version
an instance runs is visible in ``sim.stacksets.state()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.artifacts import template_key
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.release import Release
from distributor_rollout.core.targets import Target

REPO = Path(__file__).resolve().parents[2]
STACK_SET = "rollout-test"
CALL_AS = "DELEGATED_ADMIN"
REGION = "us-east-1"
BUCKET = "rollout-test-artifacts"
SANDBOX = ["300000000001", "300111111112"]
NONPROD = ["300222222223", "300333333334", "300444444445", "300555555556"]
# ``Action`` stands for the real template's association action: a rollback of a first
# install overrides it with ``Uninstall``.
TEMPLATE = json.dumps(
    {
        "Parameters": {
            "Version": {"Type": "String"},
            "Action": {"Type": "String", "Default": "Install"},
        },
        "Resources": {
            "Setting": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": "/rollout/test/version",
                    "Type": "String",
                    "Value": {"Ref": "Version"},
                },
            },
            "ActionSetting": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": "/rollout/test/action",
                    "Type": "String",
                    "Value": {"Ref": "Action"},
                },
            },
        },
    }
)


def template_ref(aws: AwsClients, version: str) -> TemplateRef:
    """Store the template for ``version`` in S3 (as the prepare step would: under its
    content address) and refer to it."""
    s3 = aws.client("s3", region=REGION)
    if BUCKET not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    key = template_key(STACK_SET, TEMPLATE)
    s3.put_object(Bucket=BUCKET, Key=key, Body=TEMPLATE.encode())
    return TemplateRef(f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{key}", {"Version": version})


def create_stack_set(aws: AwsClients, template: TemplateRef) -> None:
    """The service-managed stack set, holding ``template``, with no instances."""
    cfn(aws).create_stack_set(
        StackSetName=STACK_SET,
        TemplateURL=template.template_url,
        Parameters=parameters(template),
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": False},
        CallAs=CALL_AS,
    )


def release(
    aws: AwsClients, version: str, previous: str | None, *, create: bool = False
) -> dict[str, Any]:
    """A ``Release.to_dict()`` deploying ``version`` over ``previous``; with ``create``,
    the stack set is created holding ``previous`` (or ``version`` if none)."""
    template = template_ref(aws, version)
    before = template_ref(aws, previous) if previous else None
    if create:
        create_stack_set(aws, before or template)
    return Release(STACK_SET, CALL_AS, REGION, template, before, created=before is None).to_dict()


def parameters(template: TemplateRef) -> list[dict[str, str]]:
    """A TemplateRef's parameters as the API takes them."""
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in template.parameters.items()]


def cfn(aws: AwsClients) -> Any:
    """CloudFormation in the administration Region, as the delegated administrator."""
    return aws.client("cloudformation", region=REGION)


def write_plan(tmp_path: Path, **changes: Any) -> str:
    """The example plan with this test's stack set; ``changes`` replace top-level blocks."""
    plan = yaml.safe_load((REPO / "include" / "rollouts" / "examplepackage.yaml").read_text())
    plan["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    plan["stack_set"]["name"] = STACK_SET
    plan["waves"] = [
        {"name": "canary", "ous": ["/Sandbox"], "regions": ["us-east-1"]},
        {"name": "nonprod", "ous": ["/NonProd"], "regions": ["us-east-1", "us-west-2"]},
        {"name": "prod", "ous": ["/Prod"], "regions": ["us-east-1", "eu-west-1"]},
    ]
    # Waves here vary their Regions: each wave's own order is enough.
    plan["defaults"]["operation"].pop("region_order", None)
    plan.update(changes)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return str(path)


def instance_targets(sim: Simulator) -> set[Target]:
    """Ground truth: where the stack set has an instance."""
    return {
        Target(instance["account"], instance["region"])
        for stack_set in sim.stacksets.state().values()
        if stack_set["name"] == STACK_SET and stack_set["status"] == "ACTIVE"
        for instance in stack_set["instances"]
    }


def versions(
    aws: AwsClients, targets: list[Target] | set[Target], parameter: str = "version"
) -> dict[Target, str | None]:
    """Ground truth: the version (or ``action``) each target's stack actually set (None: no
    stack there)."""
    found: dict[Target, str | None] = {}
    for target in sorted(targets):
        ssm = aws.client("ssm", account=target.account_id, region=target.region)
        try:
            value = ssm.get_parameter(Name=f"/rollout/test/{parameter}")["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            value = None
        found[target] = value
    return found


def operation_calls(sim: Simulator) -> list[str]:
    """The accepted StackSets calls that start operations, in order."""
    starting = {
        "UpdateStackSet",
        "CreateStackInstances",
        "UpdateStackInstances",
        "DeleteStackInstances",
    }
    return [
        call.operation
        for call in sim.ledger.calls(service="cloudformation", ok=True)
        if call.operation in starting
    ]
