"""A compliance gate's polls through a Config aggregator change feed: re-read what changed.

``FeedPoller`` lives as long as one gate's polling (a trigger run, a poke-mode sensor). Its
first poll reads every target through ``AssociationStatusHook``; each later one asks the
plan's Config aggregator which managed nodes' association compliance changed since the
previous poll (less the lookback), re-reads the wave targets those nodes are in and the
targets left unread before, and keeps every other target's last status. Every
``full_read_minutes`` of fleet time, when the caller asks (before the gate acts on a
decision, and while it bakes: ``needs_full_read``), and whenever the aggregator query
fails, a poll reads every target: a broken
feed costs per-target reads, never a stale gate. The decisions are ``core.compliance_feed``;
the returned ``StatusPoll`` covers every target, so ``evaluate_poll`` judges it unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.compliance_feed import (
    READ_MARGIN_SECONDS,
    FeedCadence,
    FeedState,
    changed_after_read,
    changes_expression,
    merge_poll,
    parse_rows,
    targets_to_read,
)
from distributor_rollout.core.gate import GateDecision
from distributor_rollout.core.plan import ChangeFeed
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks.association_status import (
    AssociationStatus,
    AssociationStatusHook,
    StatusPoll,
)
from distributor_rollout.hooks.config_aggregator import ConfigAggregatorHook
from distributor_rollout.hooks.errors import AwsRolloutError

FEED_ERRORS = (ClientError, BotoCoreError, AwsRolloutError)
"""A failed aggregator query: the poll then reads every target."""


class Log(Protocol):
    """What the poller logs with: a stdlib logger, or an Airflow task's or trigger's."""

    def info(self, msg: str, /, *args: Any) -> Any:
        """Log at INFO."""

    def warning(self, msg: str, /, *args: Any) -> Any:
        """Log at WARNING."""


_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Partial:
    """A partial poll's plan: the targets it reads, the feed's state after it, and how many
    new change rows it acts on."""

    reads: tuple[Target, ...]
    state: FeedState
    changes: int


class FeedPoller:
    """Poll one gate's targets, re-reading between full polls only what the feed says changed.

    :param status: reads targets (its member credentials stay cached across polls).
    :param aggregator: queries the plan's aggregator (its ``region_name`` the feed's).
    :param feed: the plan's ``stack_set.compliance_reader.change_feed``.
    :param targets: the wave's targets: every poll returns a status or unread for each.
    :param association_name: the association's ``AssociationName``.
    :param concurrency: targets read at once.
    :param time_scale: the deployment's time scale: the feed's fleet minutes are divided
        by it into real seconds, as the gate's durations are.
    :param clock: epoch seconds now; its reading at a poll's start is what the next query
        looks back from.
    :param log: where each poll's line goes (the module's logger by default).

    After each poll, ``last_full`` says whether it read every target, ``last_reads`` how
    many targets it read and ``last_changes`` how many new change rows it acted on.
    """

    def __init__(
        self,
        status: AssociationStatusHook,
        aggregator: ConfigAggregatorHook,
        feed: ChangeFeed,
        targets: Sequence[Target],
        *,
        association_name: str,
        concurrency: int,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
        log: Log | None = None,
    ) -> None:
        self.status = status
        self.aggregator = aggregator
        self.feed = feed
        self.targets = tuple(dict.fromkeys(targets))
        self.association_name = association_name
        self.concurrency = concurrency
        self.cadence = FeedCadence.of(feed.full_read_minutes, feed.lookback_minutes, time_scale)
        self.clock = clock
        self.log: Log = log or _log
        self.last_full = False
        self.last_reads = 0
        self.last_changes = 0
        self._state = FeedState()
        self._known: Mapping[Target, AssociationStatus] = {}
        self._read_at: dict[Target, float] = {}

    def poll(self, *, full: bool = False) -> StatusPoll:
        """One poll, reading on worker threads (``AssociationStatusHook.poll``)."""
        began = self.clock()
        partial: _Partial | None = None
        reason = self._full_reason(full, began)
        if reason is None:
            since = self._state.since(self.cadence)
            try:
                rows = self.aggregator.select(self.feed.aggregator, changes_expression(since))
            except FEED_ERRORS as error:
                reason = self._feed_failed(error)
            else:
                partial = self._partial(began, since, rows)
        to_read = self.targets if partial is None else partial.reads
        fresh = (
            self.status.poll(to_read, self.association_name, self.concurrency)
            if to_read
            else StatusPoll(())
        )
        return self._merged(began, partial, to_read, fresh, reason)

    async def poll_async(self, *, full: bool = False) -> StatusPoll:
        """One poll in the event loop (``AssociationStatusHook.poll_async``)."""
        began = self.clock()
        partial: _Partial | None = None
        reason = self._full_reason(full, began)
        if reason is None:
            since = self._state.since(self.cadence)
            try:
                rows = await self.aggregator.select_async(
                    self.feed.aggregator, changes_expression(since)
                )
            except FEED_ERRORS as error:
                reason = self._feed_failed(error)
            else:
                partial = self._partial(began, since, rows)
        to_read = self.targets if partial is None else partial.reads
        fresh = (
            await self.status.poll_async(to_read, self.association_name, self.concurrency)
            if to_read
            else StatusPoll(())
        )
        return self._merged(began, partial, to_read, fresh, reason)

    def _full_reason(self, asked: bool, now: float) -> str | None:
        """Why the poll starting ``now`` reads every target, or None when it need not."""
        if asked:
            return "asked"
        if not self._state.full_due(now, self.cadence):
            return None
        return "first poll" if self._state.last_full_at is None else "full-read interval"

    def _feed_failed(self, error: Exception) -> str:
        self.log.warning(
            "Change feed %s failed (%s): this poll reads every target", self.feed.aggregator, error
        )
        return "feed failed"

    def _partial(self, began: float, since: float | None, rows: Sequence[object]) -> _Partial:
        """What a partial poll reads, from the query's answer, and the feed's next state."""
        parsed = parse_rows(rows)
        state, fresh = self._state.after_query(began, since, parsed.rows)
        if parsed.skipped:
            self.log.warning(
                "Change feed %s: %d of %d rows were not association compliance items (skipped)",
                self.feed.aggregator,
                parsed.skipped,
                len(rows),
            )
        changed = changed_after_read(fresh, self._read_at, READ_MARGIN_SECONDS)
        reads = targets_to_read(self.targets, changed, self._known)
        return _Partial(reads, state, len(fresh))

    def _merged(
        self,
        began: float,
        partial: _Partial | None,
        read: Sequence[Target],
        fresh: StatusPoll,
        reason: str | None,
    ) -> StatusPoll:
        """The poll over every target; the feed's state moves on only once the reads are
        done (a poll that raised leaves the next one to act on the same changes)."""
        self._state = self._state.after_full(began) if partial is None else partial.state
        self.last_changes = 0 if partial is None else partial.changes
        merged = merge_poll(
            self.targets,
            self._known,
            {status.target: status for status in fresh.statuses},
            frozenset(fresh.unread),
        )
        self._known = merged.known
        for status in fresh.statuses:
            self._read_at[status.target] = began
        for target in merged.unread:
            self._read_at.pop(target, None)
        self.last_full = partial is None
        self.last_reads = len(read)
        if partial is None:
            self.log.info(
                "Full poll (%s): read %d targets, %d unread",
                reason,
                len(read),
                len(merged.unread),
            )
        else:
            self.log.info(
                "Change feed %s: %d changed rows; re-read %d of %d targets, %d unread",
                self.feed.aggregator,
                self.last_changes,
                len(read),
                len(self.targets),
                len(merged.unread),
            )
        return StatusPoll(merged.statuses, merged.unread)


class EveryTargetPoller:
    """``FeedPoller``'s interface without a feed: every poll reads every target."""

    last_full = True

    def __init__(
        self,
        status: AssociationStatusHook,
        targets: Sequence[Target],
        *,
        association_name: str,
        concurrency: int,
    ) -> None:
        self.status = status
        self.targets = tuple(dict.fromkeys(targets))
        self.association_name = association_name
        self.concurrency = concurrency
        self.last_reads = 0

    def poll(self, *, full: bool = False) -> StatusPoll:
        """Read every target on worker threads."""
        self.last_reads = len(self.targets)
        return self.status.poll(self.targets, self.association_name, self.concurrency)

    async def poll_async(self, *, full: bool = False) -> StatusPoll:
        """Read every target in the event loop."""
        self.last_reads = len(self.targets)
        return await self.status.poll_async(self.targets, self.association_name, self.concurrency)


GatePoller = FeedPoller | EveryTargetPoller
"""What a gate polls with: ``gate_poller`` picks by the plan."""


def needs_full_read(decision: GateDecision, poller: GatePoller) -> bool:
    """Whether the gate must read every target before acting on ``decision``: it came from
    a poll that did not, and it passes, fails or starts a bake. The feed only says which
    targets changed, and some changes make no Config item (an agent going offline, a node
    newly targeted): the gate never decides or bakes on what it did not read."""
    settled = decision.state != "WAIT" or decision.passing_since is not None
    return settled and not poller.last_full


def gate_poller(
    status: AssociationStatusHook,
    feed: ChangeFeed | None,
    targets: Sequence[Target],
    *,
    association_name: str,
    concurrency: int,
    aws_conn_id: str | None,
    verify: bool | str | None = None,
    botocore_config: dict[str, Any] | None = None,
    time_scale: float = 1.0,
    log: Log | None = None,
) -> GatePoller:
    """A ``FeedPoller`` when the plan names a change feed (its aggregator called through
    the connection ``aws_conn_id``, in the feed's Region), else an ``EveryTargetPoller``.
    Nothing is resolved here (no connection lookup): a trigger builds it in the event loop."""
    if feed is None:
        return EveryTargetPoller(
            status, targets, association_name=association_name, concurrency=concurrency
        )
    aggregator = ConfigAggregatorHook(
        aws_conn_id=aws_conn_id, region_name=feed.region, verify=verify, config=botocore_config
    )
    return FeedPoller(
        status,
        aggregator,
        feed,
        targets,
        association_name=association_name,
        concurrency=concurrency,
        time_scale=time_scale,
        log=log,
    )
