"""The errors StackSets answers with, as error shapes of CloudFormation's botocore model.

Each ``code`` is a shape name in ``cloudformation/2010-05-15/service-2.json``, so moto
serializes it with the model's HTTP status and botocore raises it as
``client.exceptions.<code>``. Plain request validation failures use moto's
``ValidationError`` (CloudFormation's ``ValidationError``, HTTP 400).
"""

from __future__ import annotations

from moto.cloudformation.exceptions import CloudFormationError, ValidationError

__all__ = [
    "InsufficientCapabilities",
    "InvalidOperation",
    "NameAlreadyExists",
    "OperationIdAlreadyExists",
    "OperationInProgress",
    "OperationNotFound",
    "StackInstanceNotFound",
    "StackSetNotEmpty",
    "StackSetNotFound",
    "ValidationError",
]


class StackSetNotFound(CloudFormationError):
    """No stack set by that name or id for this caller (HTTP 404)."""

    code = "StackSetNotFoundException"

    def __init__(self, name: str) -> None:
        super().__init__(f"StackSet {name} not found")


class StackInstanceNotFound(CloudFormationError):
    """A named account/Region has no instance of the stack set (HTTP 404)."""

    code = "StackInstanceNotFoundException"

    def __init__(self, stack_set: str, account: str, region: str) -> None:
        super().__init__(
            f"Stack instance in account {account} and Region {region} "
            f"not found for StackSet {stack_set}"
        )


class OperationInProgress(CloudFormationError):
    """Another operation is running on the stack set (HTTP 409)."""

    code = "OperationInProgressException"

    def __init__(self, arn: str) -> None:
        super().__init__(f"Another Operation on StackSet {arn} is in progress")


class OperationIdAlreadyExists(CloudFormationError):
    """The request's OperationId was used before on this stack set (HTTP 409)."""

    code = "OperationIdAlreadyExistsException"

    def __init__(self, operation_id: str) -> None:
        super().__init__(f"The operation ID {operation_id} already exists.")


class OperationNotFound(CloudFormationError):
    """No operation by that id on the stack set (HTTP 404)."""

    code = "OperationNotFoundException"

    def __init__(self, operation_id: str) -> None:
        super().__init__(f"The specified operation ID {operation_id} doesn't exist.")


class InvalidOperation(CloudFormationError):
    """The request is not valid in the stack set's or operation's current state (HTTP 400)."""

    code = "InvalidOperationException"


class StackSetNotEmpty(CloudFormationError):
    """DeleteStackSet while the stack set still has instances (HTTP 409)."""

    code = "StackSetNotEmptyException"

    def __init__(self, name: str) -> None:
        super().__init__(f"StackSet {name} is not empty; delete its stack instances first")


class NameAlreadyExists(CloudFormationError):
    """CreateStackSet with the name of an existing stack set (HTTP 409)."""

    code = "NameAlreadyExistsException"

    def __init__(self, name: str) -> None:
        super().__init__(f"StackSet {name} already exists")


class InsufficientCapabilities(CloudFormationError):
    """The template needs a capability the request did not acknowledge (HTTP 400)."""

    code = "InsufficientCapabilitiesException"

    def __init__(self, capability: str) -> None:
        super().__init__(f"Requires capabilities : [{capability}]")
