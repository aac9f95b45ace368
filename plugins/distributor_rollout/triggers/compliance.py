"""Wait on a wave's association compliance in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.compliance_poll import elapsed_since, evaluate_poll
from distributor_rollout.core.errors import RolloutError
from distributor_rollout.core.gate import GateDecision, GateSettings, next_poll_in
from distributor_rollout.core.gate_progress import waiting_poll
from distributor_rollout.core.plan import ChangeFeed
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks.association_status import AssociationStatusHook, StatusPoll
from distributor_rollout.hooks.compliance_feed import GatePoller, gate_poller, needs_full_read
from distributor_rollout.hooks.errors import MemberAccessDenied
from distributor_rollout.triggers.deferral import hold_until
from distributor_rollout.triggers.poll_record import PollRecorder

MISSING_LIMIT = 10
"""How many targets without the association an event names (it stays small)."""


class AssociationComplianceTrigger(BaseTrigger):
    """Poll the association's node counts in every target until the gate decides.

    Each poll reads all targets concurrently (at most ``concurrency`` at once) through the
    member role, whose credentials stay cached across polls, or, with the plan's change
    feed, only those the Config aggregator says changed, every target being read again
    before the gate acts on a decision or bakes (``hooks.compliance_feed``); ``core`` decides PASS,
    WAIT or FAIL, and WAIT sleeps until ``core.gate.next_poll_in``. The event is ``{"status":
    "success", "decision": GateDecision.to_dict(), "decided_at": ISO-8601 UTC, ...}`` once
    the gate passed or failed (the task judges; see ``decided_event``), or ``{"status":
    "error", "message": ...}`` when AWS refuses for good; a role that cannot be assumed
    adds ``account_id``, ``role_arn`` and ``reason``. Throttling never ends the wait: a
    target still throttled after every retry makes the poll incomplete, and the gate
    waits (see ``core.compliance_poll.evaluate_poll``).

    Each poll that leaves the gate waiting is recorded for the Rollout tab in the task's
    XCom (``compliance_poll``, as the sensor records its own; ``triggers.poll_record``),
    best effort: a failed write is logged and the gate polls on.

    :param targets: the wave's targets, as ``"account/region"``.
    :param association_name: the association's ``AssociationName``.
    :param role_name: the role to assume in each member account.
    :param gate: ``GateSettings.to_dict()``, in real seconds (the sensor applies the
        deployment's time scale before it hands the gate over).
    :param opened_at: when the gate opened (epoch seconds), so its timeout and bake count
        from there across deferrals and triggerer restarts.
    :param passing_since: the gate's ``passing_since`` when the trigger starts (a restarted
        triggerer rebuilds the trigger with its original kwargs: the bake then starts over,
        which only errs on the side of waiting).
    :param first_poll_at: epoch seconds of the first poll (the sensor looked once before
        deferring, so the next look is an interval later); None polls at once.
    :param not_before: epoch seconds before which no event is sent (``deferral.
        fire_not_before()`` when the sensor deferred; None: no floor).
    :param change_feed: the plan's ``compliance_reader.change_feed`` (``ChangeFeed.
        model_dump()``), or None: every poll reads every target.
    :param time_scale: the deployment's time scale, which divides the feed's fleet minutes.
    """

    def __init__(
        self,
        *,
        targets: Sequence[str],
        association_name: str,
        role_name: str,
        gate: Mapping[str, Any],
        opened_at: float,
        passing_since: float | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        concurrency: int = 16,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        failed_targets: Sequence[str] = (),
        first_poll_at: float | None = None,
        not_before: float | None = None,
        change_feed: Mapping[str, Any] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.change_feed = dict(change_feed) if change_feed else None
        self.time_scale = time_scale
        self.first_poll_at = first_poll_at
        self.not_before = not_before
        self.targets = [str(target) for target in targets]
        self.failed_targets = [str(target) for target in failed_targets]
        self.association_name = association_name
        self.role_name = role_name
        self.gate = dict(gate)
        self.opened_at = opened_at
        self.passing_since = passing_since
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.concurrency = concurrency
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and plain keyword arguments (never a client)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "targets": list(self.targets),
                "association_name": self.association_name,
                "role_name": self.role_name,
                "gate": dict(self.gate),
                "opened_at": self.opened_at,
                "passing_since": self.passing_since,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "concurrency": self.concurrency,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "failed_targets": list(self.failed_targets),
                "first_poll_at": self.first_poll_at,
                "not_before": self.not_before,
                "change_feed": self.change_feed,
                "time_scale": self.time_scale,
            },
        )

    def poll_recorder(self) -> PollRecorder:
        """Where the waiting polls go: the task's XCom, through the triggerer."""
        return PollRecorder(self.log)

    def hook(self) -> AssociationStatusHook:
        """The hook the trigger polls with (it caches member credentials for the run)."""
        return AssociationStatusHook(
            role_name=self.role_name,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def poller(self, targets: Sequence[Target], feed: ChangeFeed | None) -> GatePoller:
        """What the trigger polls with: every target each poll, or through the feed."""
        return gate_poller(
            self.hook(),
            feed,
            targets,
            association_name=self.association_name,
            concurrency=self.concurrency,
            aws_conn_id=self.aws_conn_id,
            verify=self.verify,
            botocore_config=self.botocore_config,
            time_scale=self.time_scale,
            log=self.log,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the gate passes or fails; one event, never before ``not_before``."""
        payload = await self._outcome()
        await hold_until(self.not_before, self.log)
        yield _event(payload)

    async def _outcome(self) -> dict[str, Any]:
        """The event's payload: the decided gate, or an error."""
        try:
            settings = GateSettings.from_dict(self.gate)
            targets = [Target.parse(target) for target in self.targets]
            failed = frozenset(Target.parse(target) for target in self.failed_targets)
            feed = ChangeFeed.model_validate(self.change_feed) if self.change_feed else None
        except (RolloutError, ValueError) as error:
            return {"status": "error", "message": str(error)}
        poller = self.poller(targets, feed)
        recorder = self.poll_recorder()
        passing_since = self.passing_since
        polls = 0
        if self.first_poll_at is not None:
            await asyncio.sleep(max(0.0, self.first_poll_at - time.time()))
        while True:
            try:
                # A baking gate reads every target (see sensors.compliance).
                began, poll, decision = await self._judged(
                    poller, settings, passing_since, failed, full=passing_since is not None
                )
                if needs_full_read(decision, poller):
                    self.log.info("%s; confirming with a poll of every target", decision.reason)
                    began, poll, decision = await self._judged(
                        poller, settings, passing_since, failed, full=True
                    )
            except MemberAccessDenied as error:
                return {
                    "status": "error",
                    "message": str(error),
                    "account_id": error.account_id,
                    "role_arn": error.role_arn,
                    "reason": _reason(error),
                }
            except (RolloutError, ClientError, BotoCoreError) as error:
                return {"status": "error", "message": str(error)}
            polls += 1
            elapsed = elapsed_since(self.opened_at, began)
            if decision.state != "WAIT":
                self.log.info("Gate %s after %d polls: %s", decision.state, polls, decision.reason)
                return decided_event(decision, poll, len(targets), elapsed, polls)
            passing_since = decision.passing_since
            latest = waiting_poll(decision, began)
            if latest is not None:
                await recorder.record(self.task_instance, latest)
            # The write's time counts as the poll's: the next poll keeps its schedule.
            pause = next_poll_in(decision, settings, elapsed, polling_took=time.time() - began)
            self.log.info("Poll %d: %s; next poll in %.0fs", polls, decision.reason, pause)
            await asyncio.sleep(pause)

    async def _judged(
        self,
        poller: GatePoller,
        settings: GateSettings,
        passing_since: float | None,
        failed: frozenset[Target],
        *,
        full: bool,
    ) -> tuple[float, StatusPoll, GateDecision]:
        """One poll, judged as of when it began (reads slowed by throttling backoff must not
        push a fleet that was still within its timeout past it): (began, poll, decision)."""
        began = time.time()
        poll = await poller.poll_async(full=full)
        decision = evaluate_poll(
            poll.compliances,
            poll.unread,
            settings,
            elapsed_since(self.opened_at, began),
            passing_since,
            failed_targets=failed,
        )
        return began, poll, decision


def decided_event(
    decision: GateDecision, poll: StatusPoll, targets: int, elapsed: float, polls: int
) -> dict[str, Any]:
    """The payload of a decided gate: the decision (totals and the worst targets, never raw
    API answers), when it was made (``decided_at``, ISO-8601 UTC), the targets without the
    association, and one association for a link."""
    missing = sorted(poll.missing)
    return {
        "status": "success",
        "decision": decision.to_dict(),
        "decided_at": datetime.now(UTC).isoformat(),
        "targets": targets,
        "missing_associations": [str(target) for target in missing[:MISSING_LIMIT]],
        "missing_count": len(missing),
        "association": link_target(decision, poll),
        "elapsed": elapsed,
        "polls": polls,
    }


def link_target(decision: GateDecision, poll: StatusPoll) -> dict[str, str] | None:
    """One association worth a console link: the least compliant target's, else the first."""
    by_target = {status.target: status.association_id for status in poll.statuses}
    candidates = [item.target for item in decision.worst] + sorted(by_target)
    for target in candidates:
        association_id = by_target.get(target)
        if association_id:
            return {"target": str(target), "association_id": association_id}
    return None


def _reason(error: MemberAccessDenied) -> str:
    """What AWS said, from the ClientError behind the domain error."""
    cause = error.__cause__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Message", "")) or str(cause)
    return str(error)


def _event(payload: dict[str, Any]) -> TriggerEvent:
    """A trigger event (Airflow's constructor is untyped)."""
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]
