"""Wait for StackSet operations in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.errors import RolloutError
from distributor_rollout.core.operation_wait import OperationsWait
from distributor_rollout.hooks.retries import is_transient
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.triggers.deferral import hold_until

#: The longest pause between polls while AWS keeps throttling, as a multiple of the interval.
MAX_BACKOFF_FACTOR = 8
_AWS_ERRORS = (ClientError, BotoCoreError)


class StackSetOperationTrigger(BaseTrigger):
    """Poll ``DescribeStackSetOperation`` until every operation ended, then judge each
    (``core.operation_wait``: the same decision as the sensor's poke and the hook's wait).

    The event is ``{"status": "success", **OperationsSummary.to_dict()}`` once all are
    done (whatever their outcome: failing the task is the task's), ``{"status":
    "timeout", ...}`` after ``timeout`` seconds, or ``{"status": "error", "message": ...}``
    when AWS refuses a call for good. Throttling and 5xx answers never end the wait: the
    trigger backs off (up to ``MAX_BACKOFF_FACTOR`` × ``poll_interval``) and asks again.

    :param tolerance: a ``FailureTolerance.to_dict()``; without it each operation is
        judged against the tolerance its own ``OperationPreferences`` declare.
    :param not_before: epoch seconds before which no event is sent (``deferral.
        fire_not_before()`` when the task deferred; None: no floor).
    """

    def __init__(
        self,
        *,
        stack_set_name: str,
        operation_ids: Sequence[str],
        call_as: str,
        region_name: str | None = None,
        aws_conn_id: str | None = "aws_default",
        tolerance: Mapping[str, Any] | None = None,
        poll_interval: float = 30.0,
        timeout: float | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.not_before = not_before
        self.stack_set_name = stack_set_name
        self.operation_ids = list(operation_ids)
        self.call_as = call_as
        self.region_name = region_name
        self.aws_conn_id = aws_conn_id
        self.tolerance = dict(tolerance) if tolerance is not None else None
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and plain keyword arguments (never a client)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "stack_set_name": self.stack_set_name,
                "operation_ids": list(self.operation_ids),
                "call_as": self.call_as,
                "region_name": self.region_name,
                "aws_conn_id": self.aws_conn_id,
                "tolerance": self.tolerance,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "not_before": self.not_before,
            },
        )

    def hook(self) -> StackSetHook:
        """The hook whose async client the trigger polls with."""
        return StackSetHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until every operation ended; one event, never before ``not_before``."""
        payload = await self._outcome()
        await hold_until(self.not_before, self.log)
        yield _event(payload)

    async def _outcome(self) -> dict[str, Any]:
        """The event's payload: the operations' summary, a timeout or an error."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        hook = self.hook()
        try:
            async with await hook.get_async_conn() as client:  # type: ignore[no-untyped-call]
                wait = await self._wait(
                    client, OperationsWait.of(self.operation_ids, self.tolerance), deadline
                )
                if wait is None:
                    return {
                        "status": "timeout",
                        "message": f"operations {', '.join(self.operation_ids)} on stack "
                        f"set {self.stack_set_name} still running after {self.timeout}s",
                        "operation_ids": self.operation_ids,
                    }
                results = {
                    operation_id: await self._retrying(
                        hook.list_operation_results_async,
                        client,
                        self.stack_set_name,
                        operation_id,
                        call_as=self.call_as,
                    )
                    for operation_id in wait.operation_ids
                }
                summary = wait.judged(results)
        except (RolloutError, *_AWS_ERRORS) as error:
            return {"status": "error", "message": str(error)}
        return {"status": "success", **summary.to_dict()}

    async def _wait(
        self, client: Any, wait: OperationsWait, deadline: float | None
    ) -> OperationsWait | None:
        """The wait once every operation ended, or None at the deadline."""
        while True:
            for operation_id in wait.pending:
                operation = await self._retrying(
                    StackSetHook.describe_operation_async,
                    client,
                    self.stack_set_name,
                    operation_id,
                    call_as=self.call_as,
                    deadline=deadline,
                )
                if operation is None:
                    return None
                wait = wait.observe(operation_id, operation)
                if operation_id in wait.pending:
                    break  # the operations after it wait their turn
            if wait.done:
                return wait
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self.log.info(
                "%s on %s; next poll in %ss",
                wait.progress(),
                self.stack_set_name,
                self.poll_interval,
            )
            await asyncio.sleep(self.poll_interval)

    async def _retrying(
        self, call: Any, *args: Any, deadline: float | None = None, **kwargs: Any
    ) -> Any:
        """``await call(...)``, repeated with backoff while AWS answers with a transient
        error; None if the deadline passes first."""
        pause = self.poll_interval
        while True:
            try:
                return await call(*args, **kwargs)
            except _AWS_ERRORS as error:
                if not is_transient(error):
                    raise
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                self.log.info("Transient error, retrying in %.1fs: %s", pause, error)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.poll_interval * MAX_BACKOFF_FACTOR)


def _event(payload: dict[str, Any]) -> TriggerEvent:
    """A trigger event (Airflow's constructor is untyped)."""
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]
