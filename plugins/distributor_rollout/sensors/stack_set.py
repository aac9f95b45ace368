"""Wait for a wave's StackSet operations and record how they ended (the waiting and the
judging against the failure tolerance are ``core.operation_wait``'s, shared with the
trigger and the hook); fail the wave when one failed beyond its tolerance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.operation_wait import OperationsWait
from distributor_rollout.core.steps import VERDICTS_XCOM_KEY
from distributor_rollout.hooks.errors import AwsRolloutError
from distributor_rollout.hooks.retries import is_transient
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.links.console import StackSetOperationLink
from distributor_rollout.templated import rendered_list
from distributor_rollout.triggers.deferral import fire_not_before
from distributor_rollout.triggers.stack_set import StackSetOperationTrigger


class StackSetOperationFailed(AwsRolloutError, AirflowFailException):
    """A wave's StackSet operation failed beyond its tolerance: retrying the wait cannot
    change that, so the task fails without retries (and the DAG rolls back)."""


class StackSetOperationSensor(AwsBaseSensor[StackSetHook]):
    """Wait until a wave's StackSet operations ended; fail if one failed beyond tolerance.

    Deferrable by default (``StackSetOperationTrigger``, no worker slot held), after one
    look that finishes at once when the operations already ended; with
    ``deferrable=False`` it pokes in ``poke`` or ``reschedule`` mode. Throttled polls are
    repeated, never fatal. Returns an ``OperationsSummary.to_dict()`` (per operation: its
    status, outcome, per-Region counts and failed targets, the cancelled ones only
    counted, to keep XCom small) and records it under the XCom key ``verdicts``, failed
    or not, for the report.

    :param stack_set_name: the stack set (templated).
    :param operation_ids: the operations to wait for, e.g. the deploy task's
        ``output["operations"]`` (templated); an empty list succeeds at once.
    :param call_as: ``DELEGATED_ADMIN`` or ``SELF`` (templated).
    :param tolerance: a ``FailureTolerance.to_dict()`` to judge by; by default each
        operation's own ``OperationPreferences``.
    :param poll_interval: seconds between polls in the triggerer.
    :param region_name: the stack set's Region (the plan's ``stack_set.region``; the
        release's ``region``): StackSets lives in one Region, which need not be the
        connection's.
    """

    aws_hook_class = StackSetHook
    template_fields: Sequence[str] = aws_template_fields(
        "stack_set_name", "operation_ids", "call_as"
    )
    operator_extra_links = (StackSetOperationLink(),)

    def __init__(
        self,
        *,
        stack_set_name: str,
        operation_ids: Sequence[str] | str,
        call_as: str = "DELEGATED_ADMIN",
        tolerance: Mapping[str, Any] | None = None,
        deferrable: bool = True,
        poll_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.stack_set_name = stack_set_name
        self.operation_ids = operation_ids
        self.call_as = call_as
        self.tolerance = tolerance
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> Any:
        """Defer on the trigger (default), or poke."""
        operation_ids = self._operation_ids()
        if not operation_ids:
            self.log.info("No operation to wait for (the wave had nothing to do)")
            return OperationsSummary().to_dict()
        StackSetOperationLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            stack_set_name=self.stack_set_name,
            operation_id=operation_ids[-1],
        )
        if not self.deferrable:
            return super().execute(context)
        # Look once before deferring: an operation that already ended (the deploy task
        # waited for it) is judged now, and no trigger fires right after a deferral.
        looked = self.poke(context)
        if isinstance(looked, PokeReturnValue) and looked.is_done:
            return looked.xcom_value
        self.defer(
            trigger=StackSetOperationTrigger(
                stack_set_name=self.stack_set_name,
                operation_ids=operation_ids,
                call_as=self.call_as,
                region_name=self.hook.conn_region_name,
                aws_conn_id=self.aws_conn_id,
                tolerance=self.tolerance,
                poll_interval=self.poll_interval,
                timeout=self.timeout,
                verify=self.verify,
                botocore_config=self.botocore_config,
                not_before=fire_not_before(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """Read the trigger's summary; raise naming the operations that failed."""
        if not event or "status" not in event:
            raise AirflowException(f"StackSet operation trigger sent no usable event: {event!r}")
        if event["status"] != "success":
            raise AirflowException(
                f"waiting for StackSet operations failed ({event['status']}): {event['message']}"
            )
        return self._judged(context, OperationsSummary.from_dict(event))

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """One look at every operation (``core.operation_wait``): not done yet, or judged."""
        wait = OperationsWait.of(self._operation_ids(), self.tolerance)
        try:
            wait = self.hook.poll_operations(self.stack_set_name, wait, call_as=self.call_as)
            if not wait.done:
                self.log.info("%s on %s", wait.progress(), self.stack_set_name)
                return False
            results = self.hook.operation_results(
                self.stack_set_name, wait.operation_ids, call_as=self.call_as
            )
        except (ClientError, BotoCoreError) as error:
            if not is_transient(error):
                raise
            self.log.info("Transient error, poking again later: %s", error)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._judged(context, wait.judged(results)))

    def _operation_ids(self) -> list[str]:
        ids = self.operation_ids
        if isinstance(ids, str) and not ids.strip().startswith("["):
            return [ids.strip()] if ids.strip() else []
        parsed = rendered_list(ids) if isinstance(ids, str) else list(ids or [])
        if parsed is None or not all(isinstance(item, str) for item in parsed):
            msg = f"operation_ids must be a list of operation ids (got {ids!r})"
            raise TypeError(msg)
        return parsed

    def _judged(self, context: Any, summary: OperationsSummary) -> dict[str, Any]:
        for operation_id, operation in summary.operations.items():
            self.log.info("%s: %s", operation_id, operation.summary)
        # Recorded before the task fails, so a failed wave's report still shows its results.
        record = summary.to_dict()
        context["ti"].xcom_push(key=VERDICTS_XCOM_KEY, value=record)
        if failures := summary.failures():
            raise StackSetOperationFailed(
                f"StackSet operations on {self.stack_set_name} failed: " + " | ".join(failures)
            )
        return record
