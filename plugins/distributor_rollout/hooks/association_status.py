"""State Manager association status in member accounts: one ListAssociations per target.

``ListAssociations`` filtered by ``AssociationName`` returns the association with its
``Overview.AssociationStatusAggregatedCount`` (nodes by status), which is all a gate needs:
one call per account/Region and poll, against 2 for DescribeAssociation by id (its id
differs per account). Throttling is retried twice over: botocore's standard retries on
every client, then a bounded retry here; a target still throttled after both is reported
unread, for the gate to wait on rather than fail.
"""

from __future__ import annotations

import asyncio
import random
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
from distributor_rollout.hooks.retries import is_throttling, is_transient

THROTTLE_RETRIES = 4
"""Our own retries after botocore's, on throttling only."""
THROTTLE_PAUSE_SECONDS = 1.0
"""The first pause of our own retries; each next one doubles (with full jitter)."""
PAGE_SIZE = 50
"""ListAssociations' largest page: the filtered answer fits in one."""

_Result = TypeVar("_Result")


def _pause(attempt: int) -> float:
    return random.uniform(0, THROTTLE_PAUSE_SECONDS * 2**attempt)  # noqa: S311 - jitter


@dataclass(frozen=True, slots=True)
class AssociationStatus:
    """One target's association: its id (None where it does not exist) and node counts."""

    compliance: TargetCompliance
    association_id: str | None

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


def status_from_page(target: Target, associations: Sequence[dict[str, Any]]) -> AssociationStatus:
    """The status from the associations ListAssociations found by name (normally one; with
    several, every one must comply, so their counts add up)."""
    if not associations:
        return AssociationStatus(compliance_from_counts(target, None), None)
    counts: Counter[str] = Counter()
    for association in associations:
        overview = association.get("Overview") or {}
        counts.update(overview.get("AssociationStatusAggregatedCount") or {})
    return AssociationStatus(
        compliance_from_counts(target, dict(counts)), associations[0]["AssociationId"]
    )


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
                return status_from_page(target, found)
            request["NextToken"] = page["NextToken"]

    async def read_async(self, target: Target, association_name: str) -> AssociationStatus:
        """``read`` for the event loop."""
        async with self.member_client_async("ssm", target.account_id, target.region) as ssm:
            found: list[dict[str, Any]] = []
            request = _request(association_name)
            while True:
                page = await self._retrying_async(target, lambda: ssm.list_associations(**request))
                found.extend(page.get("Associations", []))
                if not page.get("NextToken"):
                    return status_from_page(target, found)
                request["NextToken"] = page["NextToken"]

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
            time.sleep(_pause(attempt))
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
            await asyncio.sleep(_pause(attempt))
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
