"""Ground truth about stack sets for tests and the control API (JSON-safe, not AWS shapes)."""

from __future__ import annotations

from typing import Any

from awssim.stacksets.model import Operation, StackInstance, StackSet


def ground_truth(stack_sets: list[StackSet]) -> dict[str, Any]:
    """Per stack set id: the stack set, its instances and its operations."""
    return {stack_set.stack_set_id: _stack_set(stack_set) for stack_set in stack_sets}


def _stack_set(stack_set: StackSet) -> dict[str, Any]:
    return {
        "name": stack_set.name,
        "id": stack_set.stack_set_id,
        "arn": stack_set.arn,
        "account": stack_set.account,
        "region": stack_set.region,
        "call_as": stack_set.call_as,
        "permission_model": stack_set.permission_model,
        "status": stack_set.status,
        "version": stack_set.change.version,
        "parameters": dict(stack_set.change.parameters),
        "managed_execution": stack_set.managed_execution,
        "auto_deployment": stack_set.auto_deployment,
        "instances": [_instance(instance) for instance in stack_set.instances.values()],
        "operations": [_operation(op) for op in stack_set.operations],
    }


def _instance(instance: StackInstance) -> dict[str, Any]:
    return {
        "account": instance.account,
        "region": instance.region,
        "ou_id": instance.ou_id,
        "status": instance.status,
        "detailed_status": instance.detailed_status,
        "reason": instance.reason,
        "overrides": dict(instance.overrides),
        # What the stack runs, not what the stack set holds: they differ while OUTDATED.
        "parameters": dict(instance.deployed_parameters),
        "version": instance.version,
        "last_operation_id": instance.last_operation_id,
        "stack_name": instance.stack_name,
        "stack_id": instance.stack_id,
        "stack_status": None if instance.stack is None else str(instance.stack.status),
    }


def _operation(op: Operation) -> dict[str, Any]:
    return {
        "id": op.operation_id,
        "action": op.action,
        "status": op.status,
        "status_reason": op.status_reason,
        "created": op.created,
        "ended": op.ended,
        "preferences": op.preferences.to_dict(),
        "retain_stacks": op.retain_stacks,
        "results": [
            {
                "account": target.account,
                "region": target.region,
                "ou_id": target.ou_id,
                "status": target.status,
                "reason": target.reason,
            }
            for target in op.targets
        ],
    }
