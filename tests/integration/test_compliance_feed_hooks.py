"""The compliance gate's change feed against awssim: the Config aggregator hook, and the
poller re-reading only the targets whose association compliance changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from compliance_support import (
    AGGREGATOR,
    ASSOCIATION,
    NONPROD,
    READER,
    SANDBOX,
    client,
    count_calls,
    install,
    organization_aggregator,
    prepare,
    reader_role,
    tagged_nodes,
    targets,
)

from awssim.pytest_plugin import AwsClients
from awssim.scenario import Scenario, Throttling
from awssim.simulator import Simulator
from distributor_rollout.core.compliance_feed import changes_expression
from distributor_rollout.core.plan import ChangeFeed
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks import config_aggregator
from distributor_rollout.hooks.association_status import AssociationStatusHook, StatusPoll
from distributor_rollout.hooks.compliance_feed import FeedPoller
from distributor_rollout.hooks.config_aggregator import ConfigAggregatorHook
from distributor_rollout.hooks.errors import AwsRolloutError, ConfigurationError

WAVE = targets(SANDBOX, ["us-east-1", "us-west-2"])
OUTSIDE = Target(NONPROD[0], "us-east-1")
DELIVERED = 180.0
"""Simulated seconds after which Config has delivered every item (its delay is 120)."""
SELECT = "config.SelectAggregateResourceConfig"


@pytest.fixture
def aggregator(fast_sim: Simulator, aws: AwsClients) -> str:
    """An organization-wide aggregator in the delegated administrator's account."""
    return organization_aggregator(aws)


def aggregator_hook(conn: str, **kw: Any) -> ConfigAggregatorHook:
    return ConfigAggregatorHook(aws_conn_id=conn, region_name="us-east-1", **kw)


def settled(sim: Simulator) -> None:
    """Every association run finished, and Config delivered what it recorded."""
    sim.settle(horizon=600)
    sim.clock.advance(DELIVERED)


def fleet_clock(sim: Simulator) -> Callable[[], float]:
    """awssim's simulated wall clock, in epoch seconds: the clock its capture times are on."""
    return lambda: sim.clock.now().timestamp()


def feed_poller(conn: str, sim: Simulator, wave: list[Target], **kw: Any) -> FeedPoller:
    """A poller on the fleet's clock (``time_scale`` 1: the feed's minutes are fleet ones)."""
    feed = ChangeFeed(aggregator=AGGREGATOR, region="us-east-1", **kw.pop("feed", {}))
    options: dict[str, Any] = {"clock": fleet_clock(sim), **kw}
    return FeedPoller(
        AssociationStatusHook(role_name=READER, aws_conn_id=conn),
        aggregator_hook(conn),
        feed,
        wave,
        association_name=ASSOCIATION,
        concurrency=4,
        **options,
    )


def rerun(aws: AwsClients, target: Target) -> None:
    """Run the target's association again now: its nodes report anew."""
    ssm = client(aws, "ssm", target.account_id, target.region)
    found = ssm.list_associations(
        AssociationFilterList=[{"key": "AssociationName", "value": ASSOCIATION}]
    )["Associations"]
    ssm.start_associations_once(AssociationIds=[found[0]["AssociationId"]])


def by_target(poll: StatusPoll) -> dict[Target, Any]:
    return {status.target: status for status in poll.statuses}


# --- the hook --------------------------------------------------------------------------


def test_select_reads_every_page_and_decodes_each_row(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    aggregator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(aws, WAVE)
    settled(fast_sim)
    hook = aggregator_hook(aws_conn)
    rows = hook.select(aggregator, changes_expression(None))
    assert rows
    assert {Target(row["accountId"], row["awsRegion"]) for row in rows} == set(WAVE)
    assert set(rows[0]) == {"accountId", "awsRegion", "resourceId", "configurationItemCaptureTime"}

    monkeypatch.setattr(config_aggregator, "PAGE_LIMIT", 2)
    calls = count_calls(fast_sim, monkeypatch)
    paged = hook.select(aggregator, changes_expression(None))

    assert paged == rows
    assert calls[SELECT] == (len(rows) + 1) // 2


def test_the_async_select_answers_alike(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, aggregator: str
) -> None:
    prepare(aws, WAVE)
    settled(fast_sim)
    hook = aggregator_hook(aws_conn)

    rows = asyncio.run(hook.select_async(aggregator, changes_expression(None)))

    assert rows == hook.select(aggregator, changes_expression(None))


def test_an_unknown_aggregator_is_a_configuration_error_naming_it(
    fast_sim: Simulator, aws_conn: str
) -> None:
    hook = aggregator_hook(aws_conn)

    with pytest.raises(ConfigurationError, match="Config aggregator missing-one in us-east-1"):
        hook.select("missing-one", changes_expression(None))
    with pytest.raises(ConfigurationError, match="change_feed"):
        asyncio.run(hook.select_async("missing-one", changes_expression(None)))


def test_a_query_awssim_does_not_answer_is_an_error_naming_the_aggregator(
    fast_sim: Simulator, aws_conn: str, aggregator: str
) -> None:
    with pytest.raises(AwsRolloutError, match=f"{aggregator} in us-east-1: InvalidExpression"):
        aggregator_hook(aws_conn).select(aggregator, "SELECT * WHERE 1 = 1")


def test_throttling_is_retried_then_raised_naming_the_aggregator(
    fast_sim: Simulator, aws_conn: str, aggregator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storm = Throttling(services=["config"], operations=["SelectAggregateResourceConfig"], rate=1.0)
    fast_sim.set_scenario(Scenario(name="storm", throttling=[storm]))
    monkeypatch.setattr(config_aggregator, "THROTTLE_RETRIES", 1)
    monkeypatch.setattr(config_aggregator, "THROTTLE_PAUSE_SECONDS", 0.01)
    calls = count_calls(fast_sim, monkeypatch)
    hook = aggregator_hook(aws_conn, config={"retries": {"total_max_attempts": 2}})

    with pytest.raises(AwsRolloutError, match=f"{aggregator} in us-east-1: Throttling"):
        hook.select(aggregator, changes_expression(None))
    # botocore's 2 attempts, twice (our one retry).
    assert calls[SELECT] == 4


# --- the poller ------------------------------------------------------------------------


def test_after_the_first_poll_only_changed_targets_are_read(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    aggregator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(aws, WAVE)
    reader_role(aws, OUTSIDE.account_id)
    install(aws, OUTSIDE)  # compliance changes outside the wave: in the feed, never read
    settled(fast_sim)
    # No lookback: the install's items, captured before the first poll, are not asked for.
    poller = feed_poller(aws_conn, fast_sim, WAVE, feed={"lookback_minutes": 0})
    calls = count_calls(fast_sim, monkeypatch)

    first = poller.poll()
    assert (poller.last_full, poller.last_reads) == (True, len(WAVE))
    assert SELECT not in calls

    calls.clear()
    settled(fast_sim)
    quiet = poller.poll()
    assert (poller.last_full, poller.last_reads) == (False, 0)
    assert calls == {SELECT: 1}
    assert quiet == first

    changed = WAVE[2]
    rerun(aws, changed)
    rerun(aws, OUTSIDE)
    settled(fast_sim)
    calls.clear()
    partial = poller.poll()

    assert (poller.last_full, poller.last_reads) == (False, 1)
    assert calls == {SELECT: 1, "ssm.ListAssociations": 1}
    # Every target has a status: the re-read one as a full read sees it, the rest kept.
    full = AssociationStatusHook(role_name=READER, aws_conn_id=aws_conn).poll(WAVE, ASSOCIATION)
    assert by_target(partial) == by_target(full)
    assert partial.unread == ()


def test_the_async_poller_reads_the_same_targets(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    aggregator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(aws, WAVE)
    settled(fast_sim)
    poller = feed_poller(aws_conn, fast_sim, WAVE, feed={"lookback_minutes": 0})

    async def polls() -> list[tuple[bool, int]]:
        seen = []
        await poller.poll_async()
        seen.append((poller.last_full, poller.last_reads))
        rerun(aws, WAVE[0])
        settled(fast_sim)
        await poller.poll_async()
        seen.append((poller.last_full, poller.last_reads))
        await poller.poll_async()
        seen.append((poller.last_full, poller.last_reads))
        return seen

    assert asyncio.run(polls()) == [(True, len(WAVE)), (False, 1), (False, 0)]


def test_items_delivered_late_are_found_by_looking_back(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, aggregator: str
) -> None:
    prepare(aws, WAVE)
    settled(fast_sim)
    poller = feed_poller(aws_conn, fast_sim, WAVE)  # 15 minutes' lookback
    poller.poll()
    poller.poll()
    # The install's items are within the second query's lookback, but were captured well
    # before the first (full) poll read their targets: that read saw them, none is re-read.
    assert (poller.last_full, poller.last_reads) == (False, 0)
    assert poller.last_changes > 0
    poller.poll()
    assert (poller.last_reads, poller.last_changes) == (0, 0)

    rerun(aws, WAVE[3])
    fast_sim.settle(horizon=600)  # the nodes reported; Config has not delivered yet
    poller.poll()
    assert (poller.last_reads, poller.last_changes) == (0, 0)
    fast_sim.clock.advance(DELIVERED)
    poller.poll()

    assert (poller.last_full, poller.last_reads) == (False, 1)
    assert poller.last_changes > 0


def test_a_failing_feed_falls_back_to_reading_every_target(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    prepare(aws, WAVE)
    settled(fast_sim)
    poller = feed_poller(aws_conn, fast_sim, WAVE)  # no aggregator was created
    poller.poll()

    with caplog.at_level(logging.INFO):
        poll = poller.poll()

    assert (poller.last_full, poller.last_reads) == (True, len(WAVE))
    assert f"Change feed {AGGREGATOR} failed" in caplog.text
    assert "does not exist" in caplog.text
    assert sorted(by_target(poll)) == sorted(WAVE)


def test_a_full_poll_comes_after_full_read_minutes_of_fleet_time(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, aggregator: str
) -> None:
    prepare(aws, WAVE)
    settled(fast_sim)
    poller = feed_poller(aws_conn, fast_sim, WAVE, feed={"full_read_minutes": 10})
    poller.poll()
    poller.poll()
    assert not poller.last_full

    fast_sim.clock.advance(600)
    poller.poll()

    assert (poller.last_full, poller.last_reads) == (True, len(WAVE))


def test_on_the_real_clock_a_scaled_fleet_is_still_read_where_it_changed(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, aggregator: str
) -> None:
    """As the sensor and trigger run it: the real clock, the deployment's time scale.
    awssim's clock runs ahead of the real one, so queries look back further than needed
    (more rows, each acted on once) and never miss a change."""
    prepare(aws, WAVE)
    settled(fast_sim)
    poller = FeedPoller(
        AssociationStatusHook(role_name=READER, aws_conn_id=aws_conn),
        aggregator_hook(aws_conn),
        ChangeFeed(aggregator=AGGREGATOR, region="us-east-1", full_read_minutes=1440),
        WAVE,
        association_name=ASSOCIATION,
        concurrency=4,
        time_scale=600.0,
    )
    poller.poll()
    poller.poll()  # every row of the install is new to the feed: re-read once
    poller.poll()
    assert (poller.last_full, poller.last_reads) == (False, 0)

    rerun(aws, WAVE[1])
    settled(fast_sim)
    poller.poll()

    # One new item per node the association runs on there.
    nodes = len(tagged_nodes(fast_sim, [WAVE[1]]))
    assert (poller.last_full, poller.last_reads, poller.last_changes) == (False, 1, nodes)
