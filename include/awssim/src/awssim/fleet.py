"""The managed fleet: nodes per account and Region, and what each has installed.

Nodes are generated deterministically from the seed, so the same org and seed give the
same instance ids, platforms and tags on every run: drawn from the fleet profiles that
apply to the account (its nearest OU's, else the org's), or exactly as the account's
``inventory`` lists them. What a node has installed is ground truth: only the simulated
agent changes it. Whether its agent is reachable is a function of simulated time:
``managed`` False means never (the org's profile or a scenario's ``unmanaged_nodes``);
``profile_online`` False (the org file's ``online: false`` or an inventory's ``offline``)
is one outage that began before the simulation and never ends; ``outages`` are the windows
a scenario's ``offline_nodes`` take it offline for.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from awssim.orgspec import AccountSpec, FleetSpec, InventoryEntry, NodeProfile, OrgSpec

# Manifest platform key -> (PlatformType, PlatformName) as DescribeInstanceInformation shows it.
PLATFORM_NAMES: dict[str, tuple[str, str]] = {
    "amazon": ("Linux", "Amazon Linux"),
    "ubuntu": ("Linux", "Ubuntu"),
    "debian": ("Linux", "Debian GNU/Linux"),
    "redhat": ("Linux", "Red Hat Enterprise Linux"),
    "centos": ("Linux", "CentOS Linux"),
    "suse": ("Linux", "SLES"),
    "oracle": ("Linux", "Oracle Linux Server"),
    "rocky": ("Linux", "Rocky Linux"),
    "almalinux": ("Linux", "AlmaLinux"),
    "windows": ("Windows", "Microsoft Windows Server 2022 Datacenter"),
    "darwin": ("MacOS", "macOS"),
}


# Simulated seconds of the last report of an agent that never reports (before the start).
NEVER_REPORTED = -3600.0

# The architecture awssim gives a node whose architecture is unknown (a hybrid node).
UNKNOWN_ARCH_SIMULATED_AS = "x86_64"


@dataclass(frozen=True)
class Outage:
    """A stretch of simulated seconds during which a node's agent does not report."""

    start: float
    end: float | None = None  # None: it never comes back

    def covers(self, moment: float) -> bool:
        """Whether the agent is offline at ``moment``."""
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclass
class Node:
    """One EC2 instance with (or without) a working SSM Agent."""

    instance_id: str
    account_id: str
    region: str
    platform: str
    platform_version: str
    arch: str
    tags: dict[str, str]
    managed: bool
    installed: dict[str, str] = field(default_factory=dict)
    # What the org file says; a scenario may take a node's agent offline (managed=False).
    profile_managed: bool = True
    outages: list[Outage] = field(default_factory=list)
    # The org file's ``online: false``: registered, but its agent has been unreachable since
    # before the simulation started. Scenarios do not change it (they reset ``outages``).
    profile_online: bool = True

    @property
    def platform_type(self) -> str:
        """Linux, Windows or MacOS."""
        return PLATFORM_NAMES.get(self.platform, ("Linux", self.platform))[0]

    @property
    def platform_name(self) -> str:
        """The operating system's display name."""
        return PLATFORM_NAMES.get(self.platform, ("Linux", self.platform))[1]

    def all_outages(self) -> list[Outage]:
        """The org file's outage (``online: false``: since before the start, for good), then
        the scenario's."""
        if self.profile_online:
            return self.outages
        return [Outage(NEVER_REPORTED), *self.outages]

    def online_at(self, moment: float) -> bool:
        """Whether the node's agent reports at ``moment`` (simulated seconds)."""
        return self.managed and not any(outage.covers(moment) for outage in self.all_outages())

    def outage_at(self, moment: float) -> Outage | None:
        """The outage the agent is in at ``moment`` (None: online, or never managed)."""
        return next((outage for outage in self.all_outages() if outage.covers(moment)), None)

    def last_ping(self, moment: float) -> float:
        """When the agent last reported, as of ``moment``: then, while online; when its outage
        began, while offline; an hour before the simulation for an agent that never reports."""
        if not self.managed:
            return NEVER_REPORTED
        outage = self.outage_at(moment)
        return moment if outage is None else outage.start

    def ping_status(self, moment: float) -> str:
        """Online, or ConnectionLost while the agent does not report."""
        return "Online" if self.online_at(moment) else "ConnectionLost"

    def to_dict(
        self, moment: float | None = None, at: Callable[[float], datetime] | None = None
    ) -> dict[str, object]:
        """JSON-safe ground truth for the state endpoint; reachability when given the time."""
        reachability: dict[str, object] = {}
        if moment is not None and at is not None:
            online, outage = self.online_at(moment), self.outage_at(moment)
            reachability = {
                "online": online,
                # When the agent went offline (its LastPingDateTime); None while online.
                "offline_since": None if online else at(self.last_ping(moment)).isoformat(),
                "back_at": (
                    None if outage is None or outage.end is None else at(outage.end).isoformat()
                ),
                "outages": [
                    {
                        "from": at(o.start).isoformat(),
                        "until": None if o.end is None else at(o.end).isoformat(),
                    }
                    for o in self.all_outages()
                ],
            }
        return {
            "instance_id": self.instance_id,
            "account_id": self.account_id,
            "region": self.region,
            "platform": self.platform,
            "platform_version": self.platform_version,
            "arch": self.arch,
            "tags": dict(self.tags),
            "managed": self.managed,
            **reachability,
            "installed": dict(self.installed),
        }


class Fleet:
    """Every node of the organization, by account/Region and by instance id."""

    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self._by_target: dict[tuple[str, str], list[Node]] = {}
        self._by_id: dict[str, Node] = {}
        for node in nodes:
            self.add(node)

    def add(self, node: Node) -> None:
        """Add a node (instance ids are unique)."""
        if node.instance_id in self._by_id:
            msg = f"duplicate instance id {node.instance_id}"
            raise ValueError(msg)
        self._by_target.setdefault((node.account_id, node.region), []).append(node)
        self._by_id[node.instance_id] = node

    def nodes(self, account_id: str, region: str) -> list[Node]:
        """The nodes of one account and Region, in a stable order."""
        return list(self._by_target.get((account_id, region), []))

    def get(self, instance_id: str) -> Node | None:
        """One node by instance id."""
        return self._by_id.get(instance_id)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def to_dict(
        self, moment: float | None = None, at: Callable[[float], datetime] | None = None
    ) -> list[dict[str, object]]:
        """Every node as ground truth (with reachability at ``moment`` when given)."""
        return [node.to_dict(moment, at) for node in self]


def instance_id(seed: int, account_id: str, region: str, index: int) -> str:
    """A stable EC2-style instance id (``i-`` and 17 hex digits)."""
    digest = hashlib.sha256(f"{seed}:{account_id}:{region}:{index}".encode()).hexdigest()
    return f"i-{digest[:17]}"


def generate_fleet(org: OrgSpec, seed: int) -> Fleet:
    """Nodes for every member account (ACTIVE or not) in each of its Regions."""
    fleet = Fleet()
    for _path, account, fleet_spec in org.accounts_with_fleets():
        if account.inventory is not None:
            nodes = _inventory_nodes(account, account.inventory, seed)
        else:
            # Validation guarantees a fleet for every account without an inventory.
            assert fleet_spec is not None
            nodes = _drawn_nodes(account, org.regions, fleet_spec, seed)
        for node in nodes:
            fleet.add(node)
    return fleet


def _drawn_nodes(
    account: AccountSpec, org_regions: list[str], spec: FleetSpec, seed: int
) -> Iterator[Node]:
    """Nodes drawn from fleet profiles: per Region a count and, per node, a profile."""
    profiles = spec.profiles
    weights = [profile.weight for profile in profiles]
    low, high = spec.nodes_per_target
    for region in account.regions or org_regions:
        rng = random.Random(f"{seed}:{account.id}:{region}")
        count = account.nodes if account.nodes is not None else rng.randint(low, high)
        for index in range(count):
            profile: NodeProfile = rng.choices(profiles, weights=weights)[0]
            yield Node(
                instance_id=instance_id(seed, account.id, region, index),
                account_id=account.id,
                region=region,
                platform=profile.platform,
                platform_version=profile.platform_version,
                arch=profile.arch,
                tags={"Name": f"{account.name}-{index:03d}", **profile.tags},
                managed=profile.managed,
                profile_managed=profile.managed,
                profile_online=profile.online,
            )


def _inventory_nodes(
    account: AccountSpec, inventory: dict[str, list[InventoryEntry]], seed: int
) -> Iterator[Node]:
    """Exactly the inventory's nodes: per entry ``count`` alike nodes, the last ``offline``
    of them unreachable since before the start; indexes run on across a Region's entries."""
    for region, entries in inventory.items():
        index = 0
        for entry in entries:
            arch = UNKNOWN_ARCH_SIMULATED_AS if entry.arch == "unknown" else entry.arch
            for position in range(entry.count):
                yield Node(
                    instance_id=instance_id(seed, account.id, region, index),
                    account_id=account.id,
                    region=region,
                    platform=entry.platform,
                    platform_version=entry.platform_version,
                    arch=arch,
                    tags={"Name": f"{account.name}-{index:03d}", **entry.tags},
                    managed=True,
                    profile_online=position < entry.count - entry.offline,
                )
                index += 1
