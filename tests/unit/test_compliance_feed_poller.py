"""FeedPoller's sequencing with stand-in readers: what each poll reads, keeps and logs.

The hooks' AWS behaviour is tested against awssim (tests/integration/test_compliance_feed_hooks.py);
here the reads and the aggregator's answers are scripted, so every poll's choice is exact.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from distributor_rollout.core.compliance_feed import capture_time_text
from distributor_rollout.core.compliance_poll import compliance_from_counts
from distributor_rollout.core.plan import ChangeFeed
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks.association_status import AssociationStatus, StatusPoll
from distributor_rollout.hooks.compliance_feed import FeedPoller
from distributor_rollout.hooks.errors import AwsRolloutError, MemberAccessDenied

pytestmark = pytest.mark.unit

A = Target("111122223333", "us-east-1")
B = Target("111122223333", "eu-west-1")
C = Target("444455556666", "us-east-1")
OUTSIDE = Target("777788889999", "us-east-1")
WAVE = [A, B, C]
FEED = ChangeFeed(aggregator="org", region="us-east-1", full_read_minutes=30, lookback_minutes=15)
START = 1_800_000_000.0


class Reads:
    """Stands in for AssociationStatusHook: each target's success count is how often it was
    read, so a kept status and a fresh one differ."""

    def __init__(self) -> None:
        self.calls: list[tuple[Target, ...]] = []
        self.counts: dict[Target, int] = {}
        self.refuse: set[Target] = set()
        self.fail: Exception | None = None

    def poll(self, targets: Sequence[Target], name: str, concurrency: int) -> StatusPoll:
        self.calls.append(tuple(targets))
        if self.fail is not None:
            raise self.fail
        statuses = []
        for target in targets:
            if target in self.refuse:
                continue
            self.counts[target] = self.counts.get(target, 0) + 1
            counts = {"Success": self.counts[target]}
            statuses.append(AssociationStatus(compliance_from_counts(target, counts), "id"))
        unread = tuple(target for target in targets if target in self.refuse)
        return StatusPoll(tuple(statuses), unread)

    async def poll_async(
        self, targets: Sequence[Target], name: str, concurrency: int
    ) -> StatusPoll:
        return self.poll(targets, name, concurrency)


class Feed:
    """Stands in for ConfigAggregatorHook: answers the scripted rows, or raises."""

    def __init__(self) -> None:
        self.expressions: list[str] = []
        self.rows: list[Any] = []
        self.error: Exception | None = None

    def select(self, aggregator: str, expression: str) -> list[Any]:
        assert aggregator == "org"
        self.expressions.append(expression)
        if self.error is not None:
            raise self.error
        return list(self.rows)

    async def select_async(self, aggregator: str, expression: str) -> list[Any]:
        return self.select(aggregator, expression)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def row(target: Target, resource: str = "i-1", at: float = START) -> dict[str, str]:
    return {
        "accountId": target.account_id,
        "awsRegion": target.region,
        "resourceId": resource,
        "configurationItemCaptureTime": capture_time_text(at),
    }


def poller(**kw: Any) -> tuple[FeedPoller, Reads, Feed, Clock]:
    reads, feed, clock = Reads(), Feed(), Clock()
    made = FeedPoller(
        reads,  # type: ignore[arg-type]
        feed,  # type: ignore[arg-type]
        FEED,
        WAVE,
        association_name="assoc",
        concurrency=4,
        clock=clock,
        **kw,
    )
    return made, reads, feed, clock


def successes(poll: StatusPoll) -> dict[Target, int]:
    return {item.target: item.success for item in poll.compliances}


def test_first_poll_is_full_then_only_changed_wave_targets_are_read() -> None:
    feed_poller, reads, feed, clock = poller()

    first = feed_poller.poll()
    assert (feed_poller.last_full, feed_poller.last_reads) == (True, 3)
    assert feed.expressions == []  # the first poll asks the feed nothing

    clock.now += 60
    feed.rows = [row(B), json.dumps(row(OUTSIDE)), "not a row"]
    second = feed_poller.poll()

    assert reads.calls == [tuple(WAVE), (B,)]
    assert feed.expressions[-1].endswith(f">= '{capture_time_text(START - 900)}'")
    assert (feed_poller.last_full, feed_poller.last_reads, feed_poller.last_changes) == (
        False,
        1,
        2,
    )
    assert successes(first) == {A: 1, B: 1, C: 1}
    assert successes(second) == {A: 1, B: 2, C: 1}  # every target, B fresh


def test_a_row_seen_before_is_not_read_again() -> None:
    feed_poller, reads, feed, clock = poller()
    feed_poller.poll()
    feed.rows = [row(A)]
    for _ in range(3):
        clock.now += 60
        feed_poller.poll()

    assert reads.calls == [tuple(WAVE), (A,)]  # nothing changed: nothing read
    assert feed_poller.last_reads == 0
    assert feed.expressions[-1].endswith(f">= '{capture_time_text(START + 120 - 900)}'")


def test_unread_targets_are_read_at_the_next_poll() -> None:
    feed_poller, reads, _, clock = poller()
    reads.refuse = {C}
    first = feed_poller.poll()
    assert first.unread == (C,)

    reads.refuse = set()
    clock.now += 60
    second = feed_poller.poll()

    assert reads.calls[-1] == (C,)
    assert second.unread == ()
    assert set(successes(second)) == set(WAVE)


def test_a_changed_target_refused_now_is_unread_not_stale() -> None:
    feed_poller, reads, feed, clock = poller()
    feed_poller.poll()
    feed.rows = [row(A)]
    reads.refuse = {A}
    clock.now += 60

    poll = feed_poller.poll()

    assert poll.unread == (A,)
    assert set(successes(poll)) == {B, C}


@pytest.mark.parametrize(
    "error",
    [
        AwsRolloutError("Config aggregator org in us-east-1: ThrottlingException: slow down"),
        ClientError({"Error": {"Code": "AccessDeniedException"}}, "SelectAggregateResourceConfig"),
        EndpointConnectionError(endpoint_url="https://config.us-east-1.amazonaws.com"),
    ],
)
def test_a_failed_query_reads_every_target(error: Exception, caplog: Any) -> None:
    feed_poller, reads, feed, clock = poller()
    feed_poller.poll()
    feed.error = error
    clock.now += 60

    with caplog.at_level("INFO"):
        feed_poller.poll()

    assert reads.calls[-1] == tuple(WAVE)
    assert feed_poller.last_full
    assert "Change feed org failed" in caplog.text
    assert "Full poll (feed failed): read 3 targets" in caplog.text


def test_a_full_poll_comes_every_interval_in_real_seconds_and_when_asked() -> None:
    feed_poller, _, feed, clock = poller(time_scale=60)  # 30 fleet minutes: 30 s
    feed_poller.poll()
    clock.now += 29
    feed_poller.poll()
    assert not feed_poller.last_full
    clock.now += 1
    feed_poller.poll()
    assert feed_poller.last_full
    assert feed.expressions[-1].endswith(f">= '{capture_time_text(START - 15)}'")

    clock.now += 1
    feed_poller.poll(full=True)
    assert feed_poller.last_full
    assert len(feed.expressions) == 1  # full polls ask the feed nothing


def test_a_poll_whose_reads_raise_leaves_the_changes_for_the_next() -> None:
    feed_poller, reads, feed, clock = poller()
    feed_poller.poll()
    feed.rows = [row(B)]
    reads.fail = MemberAccessDenied("111122223333", "arn:aws:iam::111122223333:role/r", "no")
    clock.now += 60
    with pytest.raises(MemberAccessDenied):
        feed_poller.poll()

    reads.fail = None
    clock.now += 60
    feed_poller.poll()

    assert reads.calls[-1] == (B,)


def test_the_async_poll_decides_alike() -> None:
    feed_poller, reads, feed, clock = poller()

    async def polls() -> StatusPoll:
        await feed_poller.poll_async()
        clock.now += 60
        feed.rows = [row(C)]
        return await feed_poller.poll_async()

    second = asyncio.run(polls())

    assert reads.calls == [tuple(WAVE), (C,)]
    assert successes(second) == {A: 1, B: 1, C: 2}
