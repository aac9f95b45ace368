"""State Manager association status in member accounts: one ListAssociations per target,
and the targeted nodes whose agent is offline where some nodes have not finished.

``ListAssociations`` filtered by ``AssociationName`` returns the association with its
``Overview.AssociationStatusAggregatedCount`` (nodes by status): one call per
account/Region and poll, against 2 for DescribeAssociation by id (its id differs per
account). The counts cannot tell a node still installing from one whose agent is offline
(both stay Pending), so where some nodes have not finished, ``DescribeInstanceInformation``
filtered to offline agents lists those of the account/Region (one call where none is
offline, the common case). SSM refuses a tag filter beside any other filter, so only where
some agent is offline are the association's tag-targeted nodes listed too, to keep the
offline ones it targets. A target whose every node finished costs no second call.

Throttling is retried twice over: botocore's standard retries on every client, then a
bounded retry here; a target still throttled after both is reported unread, for the gate
to wait on rather than fail.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
)

from distributor_rollout.core.compliance_poll import compliance_from_counts
from distributor_rollout.core.gate import TargetCompliance
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks.errors import MemberAccessDenied
from distributor_rollout.hooks.member_access import MemberAccessHook, access_denied
from distributor_rollout.hooks.retries import backoff_pause, is_throttling, is_transient

THROTTLE_RETRIES = 4
"""Our own retries after botocore's, on throttling only."""
THROTTLE_PAUSE_SECONDS = 1.0
"""The first pause of our own retries; each next one doubles (with full jitter)."""
PAGE_SIZE = 50
"""ListAssociations' largest page: the filtered answer fits in one."""
INSTANCE_PAGE_SIZE = 50
"""DescribeInstanceInformation's largest page when filtered."""
OFFLINE_PING_STATUSES = ("ConnectionLost", "Inactive")
FINISHED_STATUSES = frozenset({"Success", "Failed"})

_Result = TypeVar("_Result")


@dataclass(frozen=True, slots=True)
class OfflineNode:
    """A targeted node whose agent is offline, and when it last answered (epoch seconds;
    None when AWS gives no time)."""

    instance_id: str
    last_ping: float | None


@dataclass(frozen=True, slots=True)
class AssociationStatus:
    """One target's association: its id (None where it does not exist), node counts, and
    the targeted nodes whose agent is offline (read only where some nodes had not finished)."""

    compliance: TargetCompliance
    association_id: str | None
    offline_nodes: tuple[OfflineNode, ...] = ()

    @property
    def target(self) -> Target:
        """Where it was read."""
        return self.compliance.target


@dataclass(frozen=True, slots=True)
class StatusPoll:
    """One read of every target: statuses read, and targets AWS kept refusing for now."""

    statuses: tuple[AssociationStatus, ...]
    unread: tuple[Target, ...] = ()

    @property
    def compliances(self) -> list[TargetCompliance]:
        """The node counts of the targets read."""
        return [status.compliance for status in self.statuses]

    @property
    def missing(self) -> list[Target]:
        """Targets read that have no association by that name."""
        return [status.target for status in self.statuses if status.association_id is None]


def status_from_page(
    target: Target,
    associations: Sequence[dict[str, Any]],
    offline_nodes: Sequence[OfflineNode] = (),
) -> AssociationStatus:
    """The status from the associations ListAssociations found by name (normally one; with
    several, every one must comply, so their counts add up), with the offline nodes."""
    if not associations:
        return AssociationStatus(compliance_from_counts(target, None), None)
    counts = aggregated_counts(associations)
    return AssociationStatus(
        compliance_from_counts(target, dict(counts), len(offline_nodes)),
        associations[0]["AssociationId"],
        tuple(offline_nodes),
    )


def aggregated_counts(associations: Sequence[dict[str, Any]]) -> Counter[str]:
    """Nodes by status, summed over the associations."""
    counts: Counter[str] = Counter()
    for association in associations:
        overview = association.get("Overview") or {}
        counts.update(overview.get("AssociationStatusAggregatedCount") or {})
    return counts


def has_unfinished(associations: Sequence[dict[str, Any]]) -> bool:
    """Whether some targeted node has neither succeeded nor failed (only then can an
    offline agent matter to the counts)."""
    counts = aggregated_counts(associations)
    return any(count for status, count in counts.items() if status not in FINISHED_STATUSES)


def offline_filters() -> list[dict[str, Any]]:
    """DescribeInstanceInformation filters for offline agents (PingStatus)."""
    return [{"Key": "PingStatus", "Values": list(OFFLINE_PING_STATUSES)}]


def targeted_filters(associations: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """DescribeInstanceInformation filters for the nodes the association targets by tag, or
    None when it does not target by tag (all instances, resource groups): its offline nodes
    are then those of the whole account/Region, capped at the unfinished nodes by
    ``compliance_from_counts``. SSM takes one tag filter alone, so a second tag target
    (ANDed by State Manager) is left out: the listing is then a superset."""
    targets = (associations[0].get("Targets") or []) if associations else []
    for item in targets:
        key = str(item.get("Key", ""))
        if key.startswith("tag:") and item.get("Values"):
            return [{"Key": key, "Values": list(item["Values"])}]
    return None


def targeted_offline(
    offline: Sequence[OfflineNode], targeted_ids: set[str] | None
) -> list[OfflineNode]:
    """The offline nodes the association targets (all of them when ``targeted_ids`` is None)."""
    if targeted_ids is None:
        return list(offline)
    return [node for node in offline if node.instance_id in targeted_ids]


def offline_from_page(rows: Sequence[dict[str, Any]]) -> list[OfflineNode]:
    """OfflineNode entries from DescribeInstanceInformation rows."""
    nodes = []
    for row in rows:
        ping = row.get("LastPingDateTime")
        nodes.append(OfflineNode(row["InstanceId"], ping.timestamp() if ping else None))
    return nodes


def _request(association_name: str) -> dict[str, Any]:
    return {
        "AssociationFilterList": [{"key": "AssociationName", "value": association_name}],
        "MaxResults": PAGE_SIZE,
    }


class AssociationStatusHook(MemberAccessHook):
    """Read a State Manager association's node counts in member accounts.

    Each target is read through the member role (see ``MemberAccessHook``): one
    ``ListAssociations`` call per target once credentials are cached. ``poll`` reads many
    targets with a thread pool, ``poll_async`` with a semaphore in the event loop; both
    read at most ``concurrency`` targets at once.
    """

    def read(self, target: Target, association_name: str) -> AssociationStatus:
        """One target's association status (throttling retried, see the module)."""
        ssm = self.member_client("ssm", target.account_id, target.region)
        found: list[dict[str, Any]] = []
        request = _request(association_name)
        while True:
            page = self._retrying(target, lambda: ssm.list_associations(**request))
            found.extend(page.get("Associations", []))
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        if not has_unfinished(found):
            return status_from_page(target, found)

        def instances(filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            described: dict[str, Any] = {"Filters": filters, "MaxResults": INSTANCE_PAGE_SIZE}
            while True:
                page = self._retrying(
                    target, lambda: ssm.describe_instance_information(**described)
                )
                rows.extend(page.get("InstanceInformationList", []))
                if not page.get("NextToken"):
                    return rows
                described["NextToken"] = page["NextToken"]

        offline = offline_from_page(instances(offline_filters()))
        by_tag = targeted_filters(found)
        if offline and by_tag is not None:
            targeted = {row["InstanceId"] for row in instances(by_tag)}
            offline = targeted_offline(offline, targeted)
        return status_from_page(target, found, offline)

    async def read_async(self, target: Target, association_name: str) -> AssociationStatus:
        """``read`` for the event loop."""
        async with self.member_client_async("ssm", target.account_id, target.region) as ssm:
            found: list[dict[str, Any]] = []
            request = _request(association_name)
            while True:
                page = await self._retrying_async(target, lambda: ssm.list_associations(**request))
                found.extend(page.get("Associations", []))
                if not page.get("NextToken"):
                    break
                request["NextToken"] = page["NextToken"]
            if not has_unfinished(found):
                return status_from_page(target, found)

            async def instances(filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
                rows: list[dict[str, Any]] = []
                described: dict[str, Any] = {"Filters": filters, "MaxResults": INSTANCE_PAGE_SIZE}
                while True:
                    page = await self._retrying_async(
                        target, lambda: ssm.describe_instance_information(**described)
                    )
                    rows.extend(page.get("InstanceInformationList", []))
                    if not page.get("NextToken"):
                        return rows
                    described["NextToken"] = page["NextToken"]

            offline = offline_from_page(await instances(offline_filters()))
            by_tag = targeted_filters(found)
            if offline and by_tag is not None:
                targeted = {row["InstanceId"] for row in await instances(by_tag)}
                offline = targeted_offline(offline, targeted)
            return status_from_page(target, found, offline)

    def poll(
        self, targets: Sequence[Target], association_name: str, concurrency: int = 16
    ) -> StatusPoll:
        """Read every target, ``concurrency`` at a time, on worker threads."""

        def one(target: Target) -> AssociationStatus | Target | Exception:
            try:
                return self.read(target, association_name)
            except (ClientError, BotoCoreError, MemberAccessDenied) as error:
                return _outcome(target, error)

        workers = max(1, min(concurrency, len(targets)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compliance") as pool:
            return _collect(list(pool.map(one, targets)))

    async def poll_async(
        self, targets: Sequence[Target], association_name: str, concurrency: int = 16
    ) -> StatusPoll:
        """Read every target, ``concurrency`` at a time, in the event loop."""
        slots = asyncio.Semaphore(max(1, concurrency))
        await self.aio_session()

        async def one(target: Target) -> AssociationStatus | Target | Exception:
            async with slots:
                try:
                    return await self.read_async(target, association_name)
                except (ClientError, BotoCoreError, MemberAccessDenied) as error:
                    return _outcome(target, error)

        # One client per Region for the whole poll, each read signed as its account.
        async with self.shared_clients():
            outcomes = await asyncio.gather(*(one(target) for target in targets))
        return _collect(outcomes)

    def _retrying(self, target: Target, call: Callable[[], _Result]) -> _Result:
        attempt = 0
        while True:
            try:
                return call()
            except ClientError as error:
                self._translate(target, error)
                if not is_throttling(error) or attempt >= THROTTLE_RETRIES:
                    raise
            time.sleep(backoff_pause(attempt, THROTTLE_PAUSE_SECONDS))
            attempt += 1

    async def _retrying_async(
        self, target: Target, call: Callable[[], Awaitable[_Result]]
    ) -> _Result:
        attempt = 0
        while True:
            try:
                return await call()
            except ClientError as error:
                self._translate(target, error)
                if not is_throttling(error) or attempt >= THROTTLE_RETRIES:
                    raise
            await asyncio.sleep(backoff_pause(attempt, THROTTLE_PAUSE_SECONDS))
            attempt += 1

    def _translate(self, target: Target, error: ClientError) -> None:
        """Raise ``MemberAccessDenied`` when the role may not read associations there."""
        role_arn = self.member_role_arn(target.account_id, target.region)
        denied = access_denied(error, target.account_id, role_arn)
        if denied is not None:
            raise denied from error


def _outcome(target: Target, error: Exception) -> Target | Exception:
    """A failed read: the target when the failure is transient (unread), else the error."""
    return target if is_transient(error) else error


def _collect(outcomes: Sequence[AssociationStatus | Target | Exception]) -> StatusPoll:
    """A poll from each target's outcome; the first error (in target order) is raised."""
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    statuses = tuple(item for item in outcomes if isinstance(item, AssociationStatus))
    unread = tuple(item for item in outcomes if isinstance(item, Target))
    return StatusPoll(statuses, unread)
