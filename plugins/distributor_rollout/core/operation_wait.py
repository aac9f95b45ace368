"""Waiting for StackSets operations: the one decision every waiting loop shares.

Three loops wait for StackSets operations: ``StackSetHook.wait_for_operations`` (a task
between its own calls), ``StackSetOperationSensor.poke`` and ``StackSetOperationTrigger``
(in the triggerer). They differ only in how they call AWS (boto3 or aiobotocore), sleep
and ride out throttling; what AWS's answers mean is decided here, once:

- an operation still runs while ``DescribeStackSetOperation`` says ``QUEUED``,
  ``RUNNING`` or ``STOPPING`` (``verdict.ACTIVE_OPERATION_STATUSES``, beside the
  statuses it is one of, so the judging below reads the same set); any other status is
  final (``OperationsWait.observe``);
- the failure tolerance an ended operation is judged by is the one the wait was given,
  else the operation's own ``OperationPreferences`` (``tolerance_for``);
- whether its ``ListStackSetOperationResults`` are within that tolerance, Region by
  Region (``judge``, over ``verdict.judge_operation``), and the wave's summary
  (``OperationsWait.judged``).

Why not a botocore custom waiter, as the amazon provider ships in ``waiters/*.json``: a
waiter matches JMESPath paths in the answers of one call, so it could say when an
operation's status is final, but not whether the operation was acceptable. That needs a
second, paginated call and per-Region arithmetic (a percentage tolerance rounds down per
Region), and the two questions differ: an operation ends ``FAILED`` once a Region's
failures exceed its tolerance even though most instances succeeded, and ends
``SUCCEEDED`` with failures within tolerance that the gate must still count. A waiter
would also bring its own retry loop over ours (``hooks.retries``: throttling delays a
poll, never ends it). So the waiter is this pure state: a loop asks it which operations
are ``pending``, describes them, hands each answer to ``observe``, sleeps while it is not
``done``, then reads every operation's results and asks for the ``judged`` summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.verdict import (
    ACTIVE_OPERATION_STATUSES,
    FailureTolerance,
    InstanceResult,
    OperationVerdict,
    judge_operation,
)


def tolerance_for(
    preferences: Mapping[str, Any] | None, override: FailureTolerance | None = None
) -> FailureTolerance:
    """The tolerance an operation is judged by: ``override`` when given, else the one its
    ``OperationPreferences`` (as sent or as described) declare."""
    if override is not None:
        return override
    return FailureTolerance.from_preferences(preferences)


def judge(
    status: str,
    results: Iterable[InstanceResult],
    preferences: Mapping[str, Any] | None,
    override: FailureTolerance | None = None,
) -> OperationVerdict:
    """An operation's verdict: its status and results against ``tolerance_for``."""
    return judge_operation(status, results, tolerance_for(preferences, override))


@dataclass(frozen=True, slots=True)
class EndedOperation:
    """An operation that reached a final status, and the tolerance it is judged by."""

    operation_id: str
    status: str
    tolerance: FailureTolerance


@dataclass(frozen=True, slots=True)
class OperationsWait:
    """Where a wait on some StackSets operations stands (immutable: ``observe`` returns
    the next state).

    ``operation_ids`` are waited for in order; ``tolerance`` overrides each operation's
    own. StackSets runs one operation at a time, so a loop may stop describing at the
    first one still running: those after it have not ended either.
    """

    operation_ids: tuple[str, ...]
    tolerance: FailureTolerance | None = None
    ended: tuple[EndedOperation, ...] = ()

    @classmethod
    def of(
        cls,
        operation_ids: Iterable[str],
        tolerance: FailureTolerance | Mapping[str, Any] | None = None,
    ) -> OperationsWait:
        """A wait that has seen nothing yet; each id once; ``tolerance`` may be a
        ``FailureTolerance.to_dict()`` (as a task or trigger argument carries it)."""
        if isinstance(tolerance, Mapping):
            tolerance = FailureTolerance.from_dict(tolerance)
        return cls(tuple(dict.fromkeys(operation_ids)), tolerance)

    @property
    def pending(self) -> tuple[str, ...]:
        """The operations not seen ended yet, in order."""
        seen = {operation.operation_id for operation in self.ended}
        return tuple(key for key in self.operation_ids if key not in seen)

    @property
    def done(self) -> bool:
        """True once every operation ended (at once for no operations)."""
        return not self.pending

    def observe(self, operation_id: str, described: Mapping[str, Any]) -> OperationsWait:
        """The state after ``DescribeStackSetOperation`` described ``operation_id`` (its
        ``StackSetOperation``): unchanged while it runs, with it ended otherwise."""
        if operation_id not in self.pending:
            raise ValueError(f"operation {operation_id} is not pending in this wait")
        status = str(described["Status"])
        if status in ACTIVE_OPERATION_STATUSES:
            return self
        tolerance = tolerance_for(described.get("OperationPreferences"), self.tolerance)
        return replace(self, ended=(*self.ended, EndedOperation(operation_id, status, tolerance)))

    def statuses(self) -> dict[str, str]:
        """The final status of each ended operation, in ``operation_ids`` order."""
        by_id = {operation.operation_id: operation.status for operation in self.ended}
        return {key: by_id[key] for key in self.operation_ids if key in by_id}

    def progress(self) -> str:
        """How far the wait is, for a log line."""
        return f"{len(self.ended)} of {len(self.operation_ids)} operations done"

    def verdicts(
        self, results: Mapping[str, Iterable[Mapping[str, Any]]]
    ) -> dict[str, OperationVerdict]:
        """Each operation's verdict from its ``ListStackSetOperationResults`` summaries
        (botocore shape), in ``operation_ids`` order; the wait must be ``done``."""
        if not self.done:
            raise ValueError(f"operations {', '.join(self.pending)} have not ended yet")
        by_id = {operation.operation_id: operation for operation in self.ended}
        return {
            operation_id: judge_operation(
                by_id[operation_id].status,
                [InstanceResult.from_api(entry) for entry in results.get(operation_id, ())],
                by_id[operation_id].tolerance,
            )
            for operation_id in self.operation_ids
        }

    def judged(self, results: Mapping[str, Iterable[Mapping[str, Any]]]) -> OperationsSummary:
        """The wave's summary: every operation judged against its tolerance (``verdicts``)."""
        return OperationsSummary.from_verdicts(self.verdicts(results))
