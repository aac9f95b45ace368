"""What ``snapshot`` writes: an organization and its managed nodes as an awssim org file.

The hook reads the organization and, per account and Region, each managed node's shape
(``NodeRecord``: platform, version, architecture, tags, reachability; never its id, address
or name); this module turns that into the org file of the issue 13 contract
(``include/awssim``'s ``OrgSpec``): OUs nested from the root, accounts with their status and
``inventory`` (per Region, alike nodes counted together), the management account, the
delegated administrator, the Regions and a ``source`` provenance block. Only the tag keys
given (those a plan targets nodes by, and ``--tag-key``) are kept: other tags never reach
the file.

Everything is sorted (OUs by name, accounts by id, Regions, inventory entries, tags), so
the same organization gives the same file but for ``source.taken_at``.

Accounts written with ``inventory: {}`` have no nodes in the file, and awssim simulates
them with none: suspended or closing accounts (StackSets skip them, so they are not read)
and accounts whose compliance-reader role could not be assumed (``source.unreadable``
says why). A Region the role could not read in an otherwise readable account is listed
there too and left out of that account's inventory.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.org import ACTIVE, Account, Organization

BY: Final = "distributor_rollout snapshot"
UNKNOWN: Final = "unknown"
ARCHITECTURES: Final = frozenset({"x86_64", "arm64", "i386"})
# EC2's Mac architectures run the same binaries as their base architecture.
_ARCH_ALIASES: Final = {"x86_64_mac": "x86_64", "arm64_mac": "arm64"}
# awssim's OU names (orgspec.UnitName): a file with another name would not load there.
UNIT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,127}")
ACCOUNT_NAME_MAX: Final = 50
# Organizations' newer ``State`` has values the org file does not: each maps to the
# status StackSets treat it as (a closed account is skipped like a suspended one).
_STATUS_AS_WRITTEN: Final = {
    "ACTIVE": "ACTIVE",
    "SUSPENDED": "SUSPENDED",
    "PENDING_CLOSURE": "PENDING_CLOSURE",
    "CLOSED": "SUSPENDED",
    "PENDING_ACTIVATION": "ACTIVE",
}
# SSM PlatformName (lowercase, by prefix) -> the manifest's platform key, most specific
# first (openSUSE Leap before openSUSE before SUSE). Names as DescribeInstanceInformation
# shows them: "Amazon Linux", "Ubuntu", "Red Hat Enterprise Linux Server", "SLES", ...
_LINUX_PLATFORMS: Final = (
    ("amazon linux", "amazon"),
    ("ubuntu", "ubuntu"),
    ("debian", "debian"),
    ("red hat", "redhat"),
    ("rhel", "redhat"),
    ("centos", "centos"),
    ("opensuse leap", "opensuseleap"),
    ("opensuse", "opensuse"),
    ("sles", "suse"),
    ("suse", "suse"),
    ("oracle", "oracle"),
    ("rocky", "rocky"),
    ("almalinux", "almalinux"),
)
_TYPE_PLATFORMS: Final = {"windows": "windows", "macos": "darwin"}
LINE_WIDTH: Final = 1000
HEADER: Final = """\
# An organization snapshot, written by `python -m distributor_rollout snapshot` (read-only),
# in awssim's org file format. Managed nodes are counted by platform, version, architecture
# and the tags listed in source.tag_keys; no instance ids, addresses or node names.
# `inventory: {}` means no nodes here, and awssim simulates none: suspended or closing
# accounts (not read), and accounts the compliance-reader role could not be read in
# (source.unreadable says why).
"""


def platform_key(platform_type: str, platform_name: str) -> str:
    """The manifest's platform key for an SSM PlatformType/PlatformName.

    Windows and macOS are one key each; a Linux name is matched by its beginning. A name
    no manifest key matches is kept, lowercased without spaces or punctuation, so an
    unknown platform still shows (and no package file matches it).
    """
    by_type = _TYPE_PLATFORMS.get(platform_type.strip().lower())
    if by_type is not None:
        return by_type
    name = platform_name.strip().lower()
    for prefix, key in _LINUX_PLATFORMS:
        if name.startswith(prefix):
            return key
    return re.sub(r"[^a-z0-9]", "", name) or UNKNOWN


def architecture(ec2_architecture: str | None) -> str:
    """The inventory's architecture for EC2's ``Architecture`` (None: EC2 does not know it)."""
    if ec2_architecture is None:
        return UNKNOWN
    named = _ARCH_ALIASES.get(ec2_architecture, ec2_architecture)
    return named if named in ARCHITECTURES else UNKNOWN


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One managed node as the snapshot keeps it: its shape, never its identity."""

    platform: str
    platform_version: str
    arch: str
    tags: tuple[tuple[str, str], ...] = ()
    online: bool = True

    @classmethod
    def of(
        cls,
        *,
        platform_type: str,
        platform_name: str,
        platform_version: str,
        ec2_architecture: str | None,
        tags: Mapping[str, str],
        online: bool,
    ) -> NodeRecord:
        """A record from what SSM and EC2 say about a node (tags: all of them; only the
        relevant ones are kept when summarised)."""
        return cls(
            platform=platform_key(platform_type, platform_name),
            platform_version=platform_version.strip() or UNKNOWN,
            arch=architecture(ec2_architecture),
            tags=tuple(sorted(tags.items())),
            online=online,
        )


Shape = tuple[str, str, str, tuple[tuple[str, str], ...]]
"""What alike nodes share: platform, platform version, architecture, relevant tags."""


def summarise(nodes: Iterable[NodeRecord], tag_keys: Collection[str]) -> list[dict[str, Any]]:
    """Inventory entries: alike nodes (same platform, version, architecture and relevant
    tags) counted together, with how many of them are offline; sorted."""
    counts: Counter[Shape] = Counter()
    offline: Counter[Shape] = Counter()
    for node in nodes:
        kept = tuple((key, value) for key, value in node.tags if key in tag_keys)
        shape = (node.platform, node.platform_version, node.arch, kept)
        counts[shape] += 1
        if not node.online:
            offline[shape] += 1
    entries = []
    for shape in sorted(counts):
        platform, version, arch, tags = shape
        entries.append(
            {
                "platform": platform,
                "platform_version": version,
                "arch": arch,
                "tags": dict(tags),
                "count": counts[shape],
                "offline": offline[shape],
            }
        )
    return entries


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An account (every Region, ``region`` None) or one of its Regions that was not read."""

    account_id: str
    reason: str
    region: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The ``source.unreadable`` item."""
        item = {"account": self.account_id}
        if self.region is not None:
            item["region"] = self.region
        item["reason"] = self.reason
        return item


@dataclass(frozen=True)
class Readings:
    """What was read in the member accounts: nodes per (account, Region), what was not read,
    and what was read only in part (e.g. no architectures where EC2 refused)."""

    nodes: Mapping[tuple[str, str], Sequence[NodeRecord]] = field(default_factory=dict)
    unreadable: Sequence[Unreadable] = ()
    incomplete: Sequence[Unreadable] = ()


@dataclass(frozen=True)
class Provenance:
    """The ``source`` block's settings: when, how the Regions were chosen, as which role."""

    taken_at: str
    regions_from: str
    role_name: str
    tag_keys: tuple[str, ...] = ()
    anonymized: bool = False


def delegated_admin(
    caller: str, management_id: str, registered: Sequence[str] | None
) -> tuple[str, list[str]]:
    """The account the file names as StackSets delegated administrator, with warnings.

    The caller, normally (the snapshot runs where the rollouts run). From the management
    account, the registered administrator (awssim needs a member account). ``registered``
    is None when the registrations could not be read.
    """
    if caller == management_id:
        if not registered:
            raise ValidationError(
                "snapshot",
                [
                    wrong(
                        "delegated_admin",
                        "no StackSets delegated administrator is registered",
                        caller,
                        "run the snapshot from the registered delegated administrator account",
                    )
                ],
            )
        chosen = sorted(registered)[0]
        return chosen, [
            f"running as the management account: the file names {chosen}, the registered "
            "StackSets delegated administrator, as delegated_admin"
        ]
    if registered is None:
        return caller, [
            f"could not read the StackSets delegated administrators: the file names the "
            f"caller's account {caller} as delegated_admin"
        ]
    if caller not in registered:
        listed = ", ".join(sorted(registered)) or "none"
        return caller, [
            f"account {caller} is not registered as StackSets delegated administrator "
            f"(registered: {listed}); the file names it as delegated_admin anyway"
        ]
    return caller, []


def member_accounts(org: Organization) -> list[Account]:
    """The accounts the file holds: members in an OU, by id (not the management account;
    not accounts directly in the root, which the org file cannot place)."""
    return sorted(
        (
            account
            for account in org.accounts
            if account.id != org.management_account_id and account.parent_id != org.root_id
        ),
        key=lambda account: account.id,
    )


def root_accounts(org: Organization) -> list[str]:
    """Member accounts directly in the root: the org file has no place for them."""
    return sorted(
        account.id
        for account in org.accounts
        if account.parent_id == org.root_id and account.id != org.management_account_id
    )


def written_status(status: str) -> str:
    """The org file's status for an Organizations status or state."""
    return _STATUS_AS_WRITTEN.get(status, status)


def is_readable(account: Account) -> bool:
    """Whether the snapshot reads the account's nodes: StackSets skip the others."""
    return written_status(account.status) == ACTIVE


def layout_problems(org: Organization, admin: str, *, anonymize: bool = False) -> list[Problem]:
    """What would make the file invalid for awssim, found before any node is read (account
    names only when they are written: ``anonymize`` replaces them)."""
    problems = [
        wrong(org.path_of(unit.id), "OU name awssim cannot hold", unit.name, UNIT_NAME.pattern)
        for unit in org.units
        if not UNIT_NAME.fullmatch(unit.name)
    ]
    problems += [
        wrong(
            f"accounts[{account.id}].name",
            "account name too long",
            account.name,
            f"at most {ACCOUNT_NAME_MAX} characters",
        )
        for account in member_accounts(org)
        if not anonymize and not 0 < len(account.name) <= ACCOUNT_NAME_MAX
    ]
    if admin not in {account.id for account in member_accounts(org)}:
        problems.append(
            wrong(
                "delegated_admin",
                "not a member account in an OU",
                admin,
                "the StackSets delegated administrator, in an OU of the organization",
            )
        )
    return problems


def account_names(org: Organization, *, anonymize: bool) -> dict[str, str]:
    """The name written for each account: its own, or ``account-<n>`` by account id order
    (the management account: ``management``)."""
    management = next(
        (a.name for a in org.accounts if a.id == org.management_account_id), "management"
    )
    members = member_accounts(org)
    if not anonymize:
        return {org.management_account_id: management, **{a.id: a.name for a in members}}
    return {
        org.management_account_id: "management",
        **{account.id: f"account-{n}" for n, account in enumerate(members, start=1)},
    }


def org_file(
    org: Organization,
    *,
    name: str,
    admin: str,
    regions: Sequence[str],
    readings: Readings,
    provenance: Provenance,
) -> dict[str, Any]:
    """The org file (a YAML-ready dict) of ``org`` and what was read in its accounts."""
    names = account_names(org, anonymize=provenance.anonymized)
    region_order = sorted(set(regions))
    tag_keys = set(provenance.tag_keys)

    def account_item(account: Account) -> dict[str, Any]:
        inventory = {
            region: summarise(readings.nodes.get((account.id, region), ()), tag_keys)
            for region in region_order
            if readings.nodes.get((account.id, region))
        }
        return {
            "id": account.id,
            "name": names[account.id],
            "status": written_status(account.status),
            "inventory": inventory,
        }

    def units_under(parent_id: str) -> list[dict[str, Any]]:
        children = sorted(
            (unit for unit in org.units if unit.parent_id == parent_id),
            key=lambda unit: (unit.name, unit.id),
        )
        return [
            {
                "name": unit.name,
                "accounts": [
                    account_item(account)
                    for account in sorted(
                        org.accounts_by_parent.get(unit.id, ()), key=lambda a: a.id
                    )
                    # The management account may sit in an OU; the file holds it apart.
                    if account.id != org.management_account_id
                ],
                "units": units_under(unit.id),
            }
            for unit in children
        ]

    return {
        "name": name,
        "management_account": {
            "id": org.management_account_id,
            "name": names[org.management_account_id],
        },
        "delegated_admin": admin,
        "regions": region_order,
        "units": units_under(org.root_id),
        "source": _source(org, provenance, readings),
    }


def _source(org: Organization, provenance: Provenance, readings: Readings) -> dict[str, Any]:
    def items(found: Iterable[Unreadable]) -> list[dict[str, str]]:
        ordered = sorted(found, key=lambda u: (u.account_id, u.region or "", u.reason))
        return [item.to_dict() for item in ordered]

    return {
        "by": BY,
        "taken_at": provenance.taken_at,
        "anonymized": provenance.anonymized,
        "regions_from": provenance.regions_from,
        "role_name": provenance.role_name,
        "tag_keys": sorted(set(provenance.tag_keys)),
        "unreadable": items(readings.unreadable),
        "incomplete": items(readings.incomplete),
        "accounts_in_root": root_accounts(org),
    }


class _Dumper(yaml.SafeDumper):
    """Block style, but an inventory entry (or its tags) on one line: one line per shape."""

    def represent_mapping(self, tag: str, mapping: Any, flow_style: bool | None = None) -> Any:
        if isinstance(mapping, Mapping) and {"platform", "count"} <= set(mapping):
            flow_style = True
        return super().represent_mapping(tag, mapping, flow_style)


def render(data: Mapping[str, Any]) -> str:
    """The org file's text: a header saying what it is, then the YAML (keys in the order
    given, which ``org_file`` fixes)."""
    body = yaml.dump(
        dict(data),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        # Wide enough that an inventory entry never wraps: one line per node shape.
        width=LINE_WIDTH,
    )
    return HEADER + body
