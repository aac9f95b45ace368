"""CloudFormation StackSets: a thin hook over boto3 (and aiobotocore for triggers).

Every method is one API call (plus pagination), passes ``CallAs`` and turns the service
errors a rollout reacts to into the domain errors of ``hooks.errors``; the operation waits
(``poll_operations``, ``wait_for_operations``) only fetch for ``core.operation_wait``,
which decides what the answers mean for the sensor and the trigger too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from distributor_rollout.core.operation_wait import OperationsWait
from distributor_rollout.core.verdict import ACTIVE_OPERATION_STATUSES
from distributor_rollout.hooks.errors import (
    AwsRolloutError,
    ConfigurationError,
    OperationIdExists,
    OperationInProgress,
    StackSetNotFound,
)
from distributor_rollout.hooks.retries import RetryingAwsHook, error_code, is_transient

DeleteStackSetResult = Literal["deleted", "absent", "not_empty"]
"""What ``StackSetHook.delete_stack_set`` found: deleted now, already gone, or still
holding stack instances."""


class OperationWaitTimeout(AwsRolloutError):
    """StackSet operations did not end within the time allowed."""


@contextmanager
def translated(stack_set_name: str, operation_id: str | None = None) -> Iterator[None]:
    """Raise the domain error for the StackSets errors a rollout reacts to."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        if code == "StackSetNotFoundException":
            raise StackSetNotFound(
                f"stack set {stack_set_name} does not exist for this caller "
                "(check stack_set.name and stack_set.call_as)"
            ) from error
        if code == "OperationInProgressException":
            raise OperationInProgress(stack_set_name, str(error)) from error
        if code == "OperationIdAlreadyExistsException" and operation_id:
            raise OperationIdExists(stack_set_name, operation_id) from error
        raise


class StackSetHook(RetryingAwsHook):
    """Interact with CloudFormation StackSets (``boto3.client("cloudformation")``).

    Extra arguments (``aws_conn_id``, ``region_name``...) go to ``AwsBaseHook``. The
    ``*_async`` methods take an aiobotocore client from ``await hook.get_async_conn()``,
    so a trigger opens one client for its whole wait.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "cloudformation"
        super().__init__(*args, **kwargs)

    # Stack sets -------------------------------------------------------------------------

    def describe_stack_set(self, stack_set_name: str, *, call_as: str) -> dict[str, Any] | None:
        """``DescribeStackSet``: the stack set, or None when it does not exist."""
        try:
            response = self.conn.describe_stack_set(StackSetName=stack_set_name, CallAs=call_as)
        except ClientError as error:
            if error_code(error) == "StackSetNotFoundException":
                return None
            raise
        stack_set: dict[str, Any] = response["StackSet"]
        return stack_set

    def create_stack_set(self, stack_set_name: str, *, call_as: str, **request: Any) -> str:
        """``CreateStackSet`` with the given request fields; returns the StackSetId."""
        response = self.conn.create_stack_set(
            StackSetName=stack_set_name, CallAs=call_as, **request
        )
        return str(response["StackSetId"])

    def update_stack_set(
        self, stack_set_name: str, *, call_as: str, operation_id: str, **request: Any
    ) -> str:
        """``UpdateStackSet`` (template, parameters, targets, preferences); the operation id."""
        with translated(stack_set_name, operation_id):
            response = self.conn.update_stack_set(
                StackSetName=stack_set_name, CallAs=call_as, OperationId=operation_id, **request
            )
        return str(response["OperationId"])

    def delete_stack_set(self, stack_set_name: str, *, call_as: str) -> DeleteStackSetResult:
        """``DeleteStackSet``: ``deleted``, ``absent`` (no such stack set: already deleted)
        or ``not_empty`` (it still has stack instances); ``OperationInProgress`` while an
        operation runs on it.

        Absent and not empty are answers, not errors: a retire that deletes a stack set
        twice has done its job, and one that finds instances left reports them.
        """
        try:
            with translated(stack_set_name):
                self.conn.delete_stack_set(StackSetName=stack_set_name, CallAs=call_as)
        except StackSetNotFound:
            return "absent"
        except ClientError as error:
            if error_code(error) == "StackSetNotEmptyException":
                return "not_empty"
            raise
        return "deleted"

    # Stack instances --------------------------------------------------------------------

    def create_stack_instances(
        self, stack_set_name: str, *, call_as: str, operation_id: str, **request: Any
    ) -> str:
        """``CreateStackInstances`` (DeploymentTargets, Regions, preferences); the operation id."""
        with translated(stack_set_name, operation_id):
            response = self.conn.create_stack_instances(
                StackSetName=stack_set_name, CallAs=call_as, OperationId=operation_id, **request
            )
        return str(response["OperationId"])

    def update_stack_instances(
        self, stack_set_name: str, *, call_as: str, operation_id: str, **request: Any
    ) -> str:
        """``UpdateStackInstances`` (parameter overrides of instances); the operation id."""
        with translated(stack_set_name, operation_id):
            response = self.conn.update_stack_instances(
                StackSetName=stack_set_name, CallAs=call_as, OperationId=operation_id, **request
            )
        return str(response["OperationId"])

    def delete_stack_instances(
        self, stack_set_name: str, *, call_as: str, operation_id: str, **request: Any
    ) -> str:
        """``DeleteStackInstances`` (DeploymentTargets, Regions, preferences; ``RetainStacks``
        defaults to False); the operation id."""
        request.setdefault("RetainStacks", False)
        with translated(stack_set_name, operation_id):
            response = self.conn.delete_stack_instances(
                StackSetName=stack_set_name, CallAs=call_as, OperationId=operation_id, **request
            )
        return str(response["OperationId"])

    def start_operation(
        self,
        api_call: str,
        stack_set_name: str,
        *,
        call_as: str,
        operation_id: str,
        request: dict[str, Any],
    ) -> str:
        """Start the operation ``api_call`` names (``UpdateStackSet``, ``CreateStackInstances``,
        ``UpdateStackInstances`` or ``DeleteStackInstances``); the operation id."""
        starters = {
            "UpdateStackSet": self.update_stack_set,
            "CreateStackInstances": self.create_stack_instances,
            "UpdateStackInstances": self.update_stack_instances,
            "DeleteStackInstances": self.delete_stack_instances,
        }
        if api_call not in starters:
            raise ValueError(f"not a StackSets operation: {api_call}")
        return starters[api_call](
            stack_set_name, call_as=call_as, operation_id=operation_id, **request
        )

    def list_stack_instances(self, stack_set_name: str, *, call_as: str) -> list[dict[str, Any]]:
        """``ListStackInstances``, every page: summaries with Account, Region, Status..."""
        paginator = self.conn.get_paginator("list_stack_instances")
        with translated(stack_set_name):
            return [
                summary
                for page in paginator.paginate(StackSetName=stack_set_name, CallAs=call_as)
                for summary in page.get("Summaries", [])
            ]

    # Operations -------------------------------------------------------------------------

    def describe_operation(
        self, stack_set_name: str, operation_id: str, *, call_as: str
    ) -> dict[str, Any] | None:
        """``DescribeStackSetOperation``: the operation, or None when no such id exists."""
        try:
            with translated(stack_set_name):
                response = self.conn.describe_stack_set_operation(
                    StackSetName=stack_set_name, OperationId=operation_id, CallAs=call_as
                )
        except ClientError as error:
            if error_code(error) == "OperationNotFoundException":
                return None
            raise
        operation: dict[str, Any] = response["StackSetOperation"]
        return operation

    def list_operations(self, stack_set_name: str, *, call_as: str) -> list[dict[str, Any]]:
        """``ListStackSetOperations``, every page: summaries with OperationId, Action, Status."""
        paginator = self.conn.get_paginator("list_stack_set_operations")
        with translated(stack_set_name):
            return [
                summary
                for page in paginator.paginate(StackSetName=stack_set_name, CallAs=call_as)
                for summary in page.get("Summaries", [])
            ]

    def active_operations(self, stack_set_name: str, *, call_as: str) -> list[dict[str, Any]]:
        """The stack set's queued, running or stopping operations (summaries)."""
        return [
            summary
            for summary in self.list_operations(stack_set_name, call_as=call_as)
            if summary.get("Status") in ACTIVE_OPERATION_STATUSES
        ]

    def poll_operations(
        self, stack_set_name: str, wait: OperationsWait, *, call_as: str
    ) -> OperationsWait:
        """One look at the wait's pending operations (``core.operation_wait``): each is
        described in turn up to the first still running, since the ones after it wait
        their turn. ``ConfigurationError`` names an operation id the stack set lacks."""
        for operation_id in wait.pending:
            operation = self.describe_operation(stack_set_name, operation_id, call_as=call_as)
            if operation is None:
                raise ConfigurationError(
                    f"operation {operation_id} not found on stack set {stack_set_name}"
                )
            wait = wait.observe(operation_id, operation)
            if operation_id in wait.pending:
                break
        return wait

    def wait_for_operations(
        self,
        stack_set_name: str,
        operation_ids: Sequence[str],
        *,
        call_as: str,
        poll_interval: float,
        timeout: float,
    ) -> dict[str, str]:
        """Poll (``poll_operations``) until every operation ended; their final statuses.
        How they ended is the caller's to judge (``core.operation_wait.judge``).

        Throttling and other transient errors only delay the next poll. Raises
        ``OperationWaitTimeout`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        wait = OperationsWait.of(operation_ids)
        while True:
            try:
                wait = self.poll_operations(stack_set_name, wait, call_as=call_as)
            except (ClientError, BotoConnectionError, HTTPClientError) as error:
                if not is_transient(error):
                    raise
                self.log.info("Transient error, polling again later: %s", error)
            if wait.done:
                return wait.statuses()
            if time.monotonic() >= deadline:
                raise OperationWaitTimeout(
                    f"operations {', '.join(wait.pending)} on stack set {stack_set_name} still "
                    f"running after {timeout:.0f}s"
                )
            time.sleep(poll_interval)

    def operation_results(
        self, stack_set_name: str, operation_ids: Sequence[str], *, call_as: str
    ) -> dict[str, list[dict[str, Any]]]:
        """``list_operation_results`` of each operation, by id: what
        ``OperationsWait.judged`` reads."""
        return {
            operation_id: self.list_operation_results(stack_set_name, operation_id, call_as=call_as)
            for operation_id in operation_ids
        }

    def list_operation_results(
        self, stack_set_name: str, operation_id: str, *, call_as: str
    ) -> list[dict[str, Any]]:
        """``ListStackSetOperationResults``, every page: one summary per account/Region."""
        paginator = self.conn.get_paginator("list_stack_set_operation_results")
        with translated(stack_set_name):
            return [
                summary
                for page in paginator.paginate(
                    StackSetName=stack_set_name, OperationId=operation_id, CallAs=call_as
                )
                for summary in page.get("Summaries", [])
            ]

    # Async (triggers) -------------------------------------------------------------------

    @staticmethod
    async def describe_operation_async(
        client: Any, stack_set_name: str, operation_id: str, *, call_as: str
    ) -> dict[str, Any]:
        """``DescribeStackSetOperation`` through an aiobotocore client."""
        with translated(stack_set_name):
            response = await client.describe_stack_set_operation(
                StackSetName=stack_set_name, OperationId=operation_id, CallAs=call_as
            )
        operation: dict[str, Any] = response["StackSetOperation"]
        return operation

    @staticmethod
    async def list_operation_results_async(
        client: Any, stack_set_name: str, operation_id: str, *, call_as: str
    ) -> list[dict[str, Any]]:
        """``ListStackSetOperationResults``, every page, through an aiobotocore client."""
        paginator = client.get_paginator("list_stack_set_operation_results")
        summaries: list[dict[str, Any]] = []
        with translated(stack_set_name):
            async for page in paginator.paginate(
                StackSetName=stack_set_name, OperationId=operation_id, CallAs=call_as
            ):
                summaries.extend(page.get("Summaries", []))
        return summaries
