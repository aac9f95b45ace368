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


class ArtifactDigestMismatch(AwsRolloutError):
    """A stored artifact (template, release record) is not what the run recorded: someone
    changed it, or the run recorded nothing to check it against. Raised before any
    StackSets call that would use it."""

    def __init__(self, bucket: str, key: str, expected: str | None, actual: str) -> None:
        self.bucket = bucket
        self.key = key
        self.expected = expected
        self.actual = actual
        wanted = f"sha256 {expected}" if expected else "a digest this run recorded (none was)"
        super().__init__(
            f"s3://{bucket}/{key} has sha256 {actual}, expected {wanted}: the stored "
            "artifact was changed since the run wrote it (or was not written by this run); "
            "the run stops before using it. Find who wrote it (the bucket's versions and "
            "CloudTrail), then start a new run"
        )
