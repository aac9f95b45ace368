"""The StackSets API's output structures (botocore shape names), built from awssim's model.

moto serializes these dicts by the operation's output shape. DescribeStackSet's
``Parameters`` and ``Tags`` are dicts because moto's CloudFormationResponse transforms those
two paths from dicts into Key/Value lists.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from awssim.stacksets.model import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    Operation,
    StackInstance,
    StackSet,
    Target,
)

Clock = Callable[[float], datetime]
_RAN = frozenset({RUNNING, SUCCEEDED, FAILED})


def stack_set(item: StackSet) -> dict[str, Any]:
    """StackSet (DescribeStackSet)."""
    ous = sorted({i.ou_id for i in item.instances.values() if i.ou_id})
    return _drop_none(
        {
            "StackSetName": item.name,
            "StackSetId": item.stack_set_id,
            "Description": item.description,
            "Status": item.status,
            "TemplateBody": item.change.body,
            "Parameters": dict(item.change.parameters),
            "Capabilities": list(item.capabilities),
            "Tags": dict(item.tags),
            "StackSetARN": item.arn,
            "AdministrationRoleARN": item.administration_role_arn,
            "ExecutionRoleName": item.execution_role_name,
            "AutoDeployment": item.auto_deployment,
            "PermissionModel": item.permission_model,
            "OrganizationalUnitIds": ous or None,
            "ManagedExecution": {"Active": item.managed_execution},
            "Regions": sorted({i.region for i in item.instances.values()}) or None,
        }
    )


def stack_set_summary(item: StackSet) -> dict[str, Any]:
    """StackSetSummary (ListStackSets)."""
    return _drop_none(
        {
            "StackSetName": item.name,
            "StackSetId": item.stack_set_id,
            "Description": item.description,
            "Status": item.status,
            "AutoDeployment": item.auto_deployment,
            "PermissionModel": item.permission_model,
            "DriftStatus": "NOT_CHECKED",
            "ManagedExecution": {"Active": item.managed_execution},
        }
    )


def stack_instance(owner: StackSet, item: StackInstance) -> dict[str, Any]:
    """StackInstance (DescribeStackInstance)."""
    described = stack_instance_summary(owner, item)
    described["ParameterOverrides"] = [
        {"ParameterKey": key, "ParameterValue": value} for key, value in item.overrides.items()
    ]
    return described


def stack_instance_summary(owner: StackSet, item: StackInstance) -> dict[str, Any]:
    """StackInstanceSummary (ListStackInstances)."""
    return _drop_none(
        {
            "StackSetId": owner.stack_set_id,
            "Region": item.region,
            "Account": item.account,
            "StackId": item.stack_id,
            "Status": item.status,
            "StatusReason": item.reason,
            "StackInstanceStatus": {"DetailedStatus": item.detailed_status},
            "OrganizationalUnitId": item.ou_id or None,
            "DriftStatus": "NOT_CHECKED",
            "LastOperationId": item.last_operation_id or None,
        }
    )


def operation(owner: StackSet, item: Operation, at: Clock) -> dict[str, Any]:
    """StackSetOperation (DescribeStackSetOperation)."""
    return _drop_none(
        {
            "OperationId": item.operation_id,
            "StackSetId": owner.stack_set_id,
            "Action": item.action,
            "Status": item.status,
            "OperationPreferences": item.preferences.to_dict(),
            "RetainStacks": item.retain_stacks,
            "AdministrationRoleARN": owner.administration_role_arn,
            "ExecutionRoleName": owner.execution_role_name,
            "CreationTimestamp": at(item.created),
            "EndTimestamp": None if item.ended is None else at(item.ended),
            "DeploymentTargets": item.deployment_targets,
            "StatusReason": item.status_reason,
            "StatusDetails": {"FailedStackInstancesCount": item.failed_count()},
        }
    )


def operation_summary(item: Operation, at: Clock) -> dict[str, Any]:
    """StackSetOperationSummary (ListStackSetOperations)."""
    return _drop_none(
        {
            "OperationId": item.operation_id,
            "Action": item.action,
            "Status": item.status,
            "CreationTimestamp": at(item.created),
            "EndTimestamp": None if item.ended is None else at(item.ended),
            "StatusReason": item.status_reason,
            "StatusDetails": {"FailedStackInstancesCount": item.failed_count()},
            "OperationPreferences": item.preferences.to_dict(),
        }
    )


def operation_result(item: Target) -> dict[str, Any]:
    """StackSetOperationResultSummary (ListStackSetOperationResults)."""
    described: dict[str, Any] = {
        "Account": item.account,
        "Region": item.region,
        "Status": item.status,
        "StatusReason": item.reason,
        "OrganizationalUnitId": item.ou_id or None,
    }
    if item.status in _RAN:
        # Without an AWSCloudFormationStackSetAccountGate function the gate is skipped.
        described["AccountGateResult"] = {
            "Status": "SKIPPED",
            "StatusReason": f"Function not found: arn:aws:lambda:{item.region}:{item.account}"
            ":function:AWSCloudFormationStackSetAccountGate",
        }
    return _drop_none(described)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
