"""A stack instance's stack: a real moto stack in the member account and Region.

The stack is registered in the member's CloudFormation backend under the name AWS gives it
(``StackSet-<stack set name>-<uuid>``), so DescribeStacks there shows it and its resources
(SSM parameters, SNS topics, IAM roles...) exist in the member account.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from moto.cloudformation.models import CloudFormationBackend, cloudformation_backends

from awssim.stacksets.templates import effective_parameters

if TYPE_CHECKING:
    from awssim.stacksets.model import Change, StackInstance


def new_stack_name(stack_set_name: str) -> str:
    """The name of a stack instance's stack."""
    return f"StackSet-{stack_set_name}-{uuid.uuid4()}"


def deploy(instance: StackInstance, change: Change, tags: dict[str, str]) -> dict[str, str]:
    """Create the instance's stack, or update it to ``change``; the parameter values the
    stack now runs with. Raises when a resource fails (the stack keeps what it ran)."""
    parameters = effective_parameters(change.template, change.parameters, instance.overrides)
    backend = _backend(instance)
    stack = instance.stack
    if stack is None or stack.stack_id not in backend.stacks:
        instance.stack = None
        try:
            instance.stack = backend.create_stack(
                name=instance.stack_name,
                template=change.body,
                parameters=parameters,
                tags=dict(tags),
            )
        except Exception:
            # A failed create rolls back: the next attempt starts from a fresh stack.
            _discard(backend, instance.stack_name)
            raise
        return parameters
    try:
        stack.update(change.body, parameters=parameters, tags=dict(tags))
    except Exception:
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
        raise
    return parameters


def delete(instance: StackInstance) -> None:
    """Delete the instance's stack and its resources (nothing to do without a stack)."""
    stack = instance.stack
    if stack is None:
        return
    backend = _backend(instance)
    if stack.stack_id in backend.stacks:
        backend.delete_stack(stack.stack_id)
    instance.stack = None


def failure_reason(error: BaseException) -> str:
    """A StatusReason for a stack that failed with ``error``."""
    message = str(error) or type(error).__name__
    return f'Resource handler returned message: "{message}"'


def _backend(instance: StackInstance) -> CloudFormationBackend:
    return cloudformation_backends[instance.account][instance.region]


def _discard(backend: CloudFormationBackend, name: str) -> None:
    for stack_id, stack in list(backend.stacks.items()):
        if stack.name != name:
            continue
        try:
            backend.delete_stack(stack_id)
        except Exception:  # noqa: BLE001 - a half-created stack may not delete cleanly
            backend.stacks.pop(stack_id, None)
            stack.status = "ROLLBACK_FAILED"
