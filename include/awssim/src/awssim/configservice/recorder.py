"""AWS Config's configuration items of ``AWS::SSM::AssociationCompliance``, and what an
aggregator's advanced query sees of them.

Config is on in every account and Region of the organization. It records a configuration
item (CI) for a managed node's association compliance whenever that compliance changes: an
item's status, execution id or time, an association added or removed. State Manager tells
the recorder when it may have changed a node's compliance (a node reported a result, a new
association version reset its targets, an association was deleted: ``changed``); the
recorder compares the node's items with its last CI and records a new CI, captured at the
simulated time of the change, only when they differ. So the work is per change as it
happens, never a recomputation of the organization per query.

Delivery: a CI reaches the aggregator ``delivery_delay`` simulated seconds after its capture
(the scenario's ``aws_config.delivery_delay``). A query answered at simulated time ``now``
sees, per node, its latest CI captured at or before ``now - delay`` (the query's *as-of*
time). Advanced queries show the current state of existing resources: a node whose latest
visible CI has no item (every association deleted, or a new version not reported yet) is a
deleted resource and is not in the results.

The CIs are kept in one log in capture order. A query with a lower bound on
``configurationItemCaptureTime`` reads only the log's window [bound, as-of] (bisection),
newest first, keeping each node's first CI; without a bound it reads the whole log, which
compaction keeps near one CI per node (CIs superseded by a later one captured more than
``TOKEN_LIFETIME`` before the as-of time are dropped). A query's rows as of a time are cached,
so the pages of one query cost one window read, and a NextToken holds the as-of time: the
pages of one query are one consistent snapshot however the organization changes meanwhile.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from awssim.configservice.query import Query, epoch_micros
from awssim.statemanager.compliance import ItemState, node_state

if TYPE_CHECKING:
    from awssim.simulator import Simulator

RESOURCE_TYPE = "AWS::SSM::AssociationCompliance"
# How long (simulated) a query's snapshot stays readable for its NextTokens.
TOKEN_LIFETIME = 3600.0
_CACHED_QUERIES = 16
_COMPACT_SLACK = 10_000


@dataclass(frozen=True, slots=True)
class ConfigItem:
    """One recorded configuration item of a node's association compliance."""

    capture_ms: int  # epoch milliseconds: the precision Config prints
    seq: int
    account: str
    region: str
    resource_id: str
    items: tuple[ItemState, ...]  # empty: the resource is deleted (no compliance item left)


@dataclass(frozen=True, slots=True)
class Scope:
    """The accounts and Regions an aggregator collects from (None: all of the organization's)."""

    accounts: frozenset[str] | None
    regions: frozenset[str] | None

    def covers(self, account: str, region: str) -> bool:
        """Whether a CI of ``account``/``region`` reaches the aggregator."""
        return (self.accounts is None or account in self.accounts) and (
            self.regions is None or region in self.regions
        )


def _capture_key(item: ConfigItem) -> int:
    return item.capture_ms


class ConfigRecorder:
    """Every account/Region's association compliance CIs, as Config records and delivers them."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.reset()

    def reset(self) -> None:
        """Forget every CI (the simulator starts over)."""
        self._log: list[ConfigItem] = []
        self._latest: dict[str, ConfigItem] = {}
        self._seq = 0
        self._results: OrderedDict[tuple[object, ...], list[ConfigItem]] = OrderedDict()
        self.compacted_before = -math.inf  # epoch ms: snapshots older than this are gone
        self._compact_at = _COMPACT_SLACK

    # --- recording ---------------------------------------------------------------------
    def changed(
        self, account: str, region: str, instance_ids: Iterable[str], moment: float
    ) -> None:
        """State Manager may have changed these nodes' compliance at ``moment`` (simulated
        seconds): record a CI for each whose compliance items differ from its last CI."""
        associations = self.sim.statemanager.associations(account, region)
        capture_ms: int | None = None
        for instance_id in instance_ids:
            items = node_state(associations, instance_id)
            last = self._latest.get(instance_id)
            if (last.items if last is not None else ()) == items:
                continue
            if capture_ms is None:
                capture_ms = self.epoch_ms(moment)
            self._seq += 1
            item = ConfigItem(capture_ms, self._seq, account, region, instance_id, items)
            self._latest[instance_id] = item
            if self._log and self._log[-1].capture_ms > capture_ms:
                bisect.insort(self._log, item, key=lambda ci: (ci.capture_ms, ci.seq))
            else:
                self._log.append(item)
        if len(self._log) > self._compact_at:
            self._compact()

    def __len__(self) -> int:
        """How many CIs are kept (history within ``TOKEN_LIFETIME``, and each node's last)."""
        return len(self._log)

    def epoch_ms(self, moment: float) -> int:
        """Epoch milliseconds of a simulated-seconds moment."""
        return epoch_micros(self.sim.clock.at(moment)) // 1000

    def delivery_delay(self) -> float:
        """Simulated seconds between a CI's capture and its delivery to aggregators."""
        return self.sim.scenario.aws_config.delivery_delay

    def as_of_now(self) -> int:
        """Epoch ms: CIs captured at or before this have been delivered."""
        return self.epoch_ms(self.sim.now() - self.delivery_delay())

    def _compact(self) -> None:
        cutoff = self.as_of_now() - int(TOKEN_LIFETIME * 1000)
        kept: list[ConfigItem] = []
        settled: set[str] = set()
        for item in reversed(self._log):
            if item.capture_ms > cutoff:
                kept.append(item)
            elif item.resource_id not in settled:
                settled.add(item.resource_id)
                if item.items:  # a deleted resource's last CI hides nothing left older
                    kept.append(item)
        kept.reverse()
        self._log = kept
        # Compact again once the log has doubled: amortized, a CI costs O(1) to compact.
        self._compact_at = 2 * len(kept) + _COMPACT_SLACK
        self._results.clear()
        self.compacted_before = max(self.compacted_before, cutoff)

    # --- the aggregator's view -----------------------------------------------------------
    def select(self, aggregator: str, scope: Scope, query: Query, as_of: int) -> list[ConfigItem]:
        """The rows of ``query`` over ``scope`` as delivered at ``as_of`` (epoch ms), in
        capture order: per node its latest CI captured by then, when the node's compliance
        resource exists and the CI passes the filters. ``aggregator`` identifies the scope
        (for the cache of results)."""
        if query.resource_type != RESOURCE_TYPE:
            return []  # a resource type the simulation records nothing of
        key = (aggregator, query.key(), as_of)
        cached = self._results.get(key)
        if cached is not None:
            self._results.move_to_end(key)
            return cached
        low = query.captured_from if query.captured_from is not None else -math.inf
        start = bisect.bisect_left(self._log, low, key=_capture_key)
        end = bisect.bisect_right(self._log, as_of, key=_capture_key)
        high = query.captured_to if query.captured_to is not None else math.inf
        seen: set[str] = set()
        rows = []
        for index in range(end - 1, start - 1, -1):
            item = self._log[index]
            if item.resource_id in seen:
                continue
            seen.add(item.resource_id)
            if (
                item.items
                and item.capture_ms <= high
                and (query.account_id is None or item.account == query.account_id)
                and scope.covers(item.account, item.region)
            ):
                rows.append(item)
        rows.reverse()
        self._results[key] = rows
        if len(self._results) > _CACHED_QUERIES:
            self._results.popitem(last=False)
        return rows
