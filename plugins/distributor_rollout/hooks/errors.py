"""AWS failures that mean something to a rollout, raised by hooks instead of ClientError.

Operators and sensors catch these by meaning ("another operation is running", "this role
cannot be assumed") rather than by parsing botocore error codes in many places.
"""

from __future__ import annotations

from distributor_rollout.core.errors import RolloutError


class AwsRolloutError(RolloutError):
    """An AWS call failed in a way the rollout reports; the message says what and where."""


class StackSetNotFound(AwsRolloutError):
    """The stack set does not exist (for the caller and ``CallAs``)."""


class OperationInProgress(AwsRolloutError):
    """Another operation is running on the stack set; wait for it, then try again."""

    def __init__(self, stack_set_name: str, message: str = "") -> None:
        self.stack_set_name = stack_set_name
        super().__init__(message or f"another operation is running on stack set {stack_set_name}")


class OperationIdExists(AwsRolloutError):
    """An operation with this id already exists: adopt it instead of starting another."""

    def __init__(self, stack_set_name: str, operation_id: str) -> None:
        self.stack_set_name = stack_set_name
        self.operation_id = operation_id
        super().__init__(f"operation {operation_id} already exists on stack set {stack_set_name}")


class MemberAccessDenied(AwsRolloutError):
    """A member account's role cannot be assumed; names the account and the role."""

    def __init__(self, account_id: str, role_arn: str, reason: str) -> None:
        self.account_id = account_id
        self.role_arn = role_arn
        super().__init__(
            f"cannot assume {role_arn} in account {account_id}: {reason}. Check that the "
            "stack set created the role there (compliance_reader.create) or that it exists "
            "and trusts this account"
        )


class ConfigurationError(AwsRolloutError):
    """AWS does not hold what the plan expects (missing bucket, unknown stack set, Region);
    raised before any mutation."""
