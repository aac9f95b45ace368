"""Wait for a wave's StackSet operations and judge them against their failure tolerance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.deployment import ACTIVE_OPERATION_STATUSES
from distributor_rollout.core.steps import VERDICTS_XCOM_KEY
from distributor_rollout.core.verdict import (
    FailureTolerance,
    InstanceResult,
    OperationVerdict,
    judge_operation,
)
from distributor_rollout.hooks.errors import AwsRolloutError, ConfigurationError
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
    repeated, never fatal. Returns, per operation, its status, outcome, per-Region counts
    and failed targets (the cancelled ones only counted, to keep XCom small).

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
            return _summary({})
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
        """Judge the trigger's verdicts; raise a summary naming the failed targets."""
        if not event or "status" not in event:
            raise AirflowException(f"StackSet operation trigger sent no usable event: {event!r}")
        if event["status"] != "success":
            raise AirflowException(
                f"waiting for StackSet operations failed ({event['status']}): {event['message']}"
            )
        return self._judged(
            context,
            {
                operation_id: OperationVerdict.from_dict(verdict)
                for operation_id, verdict in event["operations"].items()
            },
        )

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """One look at every operation: not done yet, or judged."""
        verdicts = {}
        try:
            for operation_id in self._operation_ids():
                operation = self.hook.describe_operation(
                    self.stack_set_name, operation_id, call_as=self.call_as
                )
                if operation is None:
                    raise ConfigurationError(
                        f"operation {operation_id} not found on stack set {self.stack_set_name}"
                    )
                if operation["Status"] in ACTIVE_OPERATION_STATUSES:
                    self.log.info("Operation %s is %s", operation_id, operation["Status"])
                    return False
                results = self.hook.list_operation_results(
                    self.stack_set_name, operation_id, call_as=self.call_as
                )
                tolerance = (
                    FailureTolerance.from_dict(self.tolerance)
                    if self.tolerance is not None
                    else FailureTolerance.from_preferences(operation.get("OperationPreferences"))
                )
                verdicts[operation_id] = judge_operation(
                    operation["Status"], [InstanceResult.from_api(r) for r in results], tolerance
                )
        except (ClientError, BotoCoreError) as error:
            if not is_transient(error):
                raise
            self.log.info("Transient error, poking again later: %s", error)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._judged(context, verdicts))

    def _operation_ids(self) -> list[str]:
        ids = self.operation_ids
        if isinstance(ids, str) and not ids.strip().startswith("["):
            return [ids.strip()] if ids.strip() else []
        parsed = rendered_list(ids) if isinstance(ids, str) else list(ids or [])
        if parsed is None or not all(isinstance(item, str) for item in parsed):
            msg = f"operation_ids must be a list of operation ids (got {ids!r})"
            raise TypeError(msg)
        return parsed

    def _judged(self, context: Any, verdicts: Mapping[str, OperationVerdict]) -> dict[str, Any]:
        for operation_id, verdict in verdicts.items():
            self.log.info("%s: %s", operation_id, verdict.summary)
        # Recorded before judging, so a failed wave's report still shows its results.
        summary = _summary(verdicts)
        context["ti"].xcom_push(key=VERDICTS_XCOM_KEY, value=summary)
        failed = [
            f"{operation_id}: {v.summary}"
            for operation_id, v in verdicts.items()
            if v.outcome == "failed"
        ]
        if failed:
            raise StackSetOperationFailed(
                f"StackSet operations on {self.stack_set_name} failed: " + " | ".join(failed)
            )
        return summary


def _summary(verdicts: Mapping[str, OperationVerdict]) -> dict[str, Any]:
    """The sensor's small XCom: per operation, counts and failed targets."""
    failed = any(verdict.outcome == "failed" for verdict in verdicts.values())
    return {
        "outcome": "failed" if failed else "succeeded",
        "operations": {
            operation_id: {
                "status": verdict.status,
                "outcome": verdict.outcome,
                "regions": {region: counts.to_dict() for region, counts in verdict.regions.items()},
                "failed": [item.to_dict() for item in verdict.failed],
                "cancelled": len(verdict.cancelled),
                "summary": verdict.summary,
            }
            for operation_id, verdict in verdicts.items()
        },
    }
