"""Read an organization file: the awssim org YAML that ``snapshot`` writes and awssim serves.

The file names OUs by their place in a tree of names, accounts with their status, and the
managed nodes of each account and Region: exactly (``inventory``, what a snapshot writes)
or as a fleet to generate (``fleet``: node counts per account and Region and weighted node
profiles, set for the whole organization or per OU, the nearest OU's winning). This module
turns the parsed YAML into the ``Organization`` wave resolution reads, with OU ids made
up from OU paths (the file has no ids; the same path always gives the same id), and a
summary of the managed nodes of each account and Region: exact counts from an inventory,
expected counts from a fleet (awssim draws fleets at random, so those are estimates).

It accepts what ``awssim.orgspec.OrgSpec`` accepts (the product does not depend on awssim:
a contract test loads every org file awssim ships with both) and reports every problem
at once, each at its field's path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from distributor_rollout.core import rules
from distributor_rollout.core.errors import Problem, ValidationError, describe, wrong
from distributor_rollout.core.fields import RULE_ERROR
from distributor_rollout.core.org import Account, Organization, OrgUnit
from distributor_rollout.core.plan_validation import model_problems
from distributor_rollout.core.targets import Target

ORG_FILE_KEYS: Final = frozenset(
    {"name", "management_account", "delegated_admin", "regions", "units", "fleet", "source"}
)
_UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,127}")
# Syntax only, as awssim checks it: a snapshot may hold a Region AWS opened after release.
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")


def _rule(check: Callable[[str], str | None]) -> AfterValidator:
    def validate(value: str) -> str:
        message = check(value)
        if message is not None:
            raise PydanticCustomError(RULE_ERROR, "{message}", {"message": message})
        return value

    return AfterValidator(validate)


def _unit_name(value: str) -> str | None:
    if _UNIT_NAME.fullmatch(value):
        return None
    expected = "1-128 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit"
    return f"not an OU name (got {describe(value)}; expected {expected})"


def _region(value: str) -> str | None:
    if _REGION.fullmatch(value):
        return None
    return f"not a Region name (got {describe(value)}; expected a name like 'eu-west-1')"


AccountIdField = Annotated[str, _rule(rules.account_id)]
UnitNameField = Annotated[str, _rule(_unit_name)]
RegionField = Annotated[str, _rule(_region)]


class _Strict(BaseModel):
    """Unknown keys are errors, as in awssim: a misspelt key must not be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeProfile(_Strict):
    """One kind of node of a fleet, drawn with probability proportional to ``weight``."""

    platform: str = Field(description="a manifest platform key such as amazon or windows")
    platform_version: str = Field(description="a platform version such as '2023', quoted")
    arch: Literal["x86_64", "arm64", "i386"] = Field("x86_64", description="the architecture")
    weight: int = Field(1, ge=1, description="a relative weight, ≥ 1")
    tags: dict[str, str] = Field(default_factory=dict, description="tags as text keys and values")
    managed: bool = Field(True, description="false: its agent never reports (true/false)")
    online: bool = Field(
        True, description="false: its agent stopped reporting before the start (true/false)"
    )


class FleetSpec(_Strict):
    """How many nodes each account and Region has, and of which kinds."""

    nodes_per_target: tuple[int, int] = Field(
        (5, 20), description="[min, max] nodes per account and Region"
    )
    profiles: list[NodeProfile] = Field(min_length=1, description="node profiles")


class InventoryEntry(_Strict):
    """Managed nodes of one account and Region that share a platform, architecture and tags."""

    platform: str = Field(description="a manifest platform key such as amazon or windows")
    platform_version: str = Field(description="a platform version such as '2023', quoted")
    arch: Literal["x86_64", "arm64", "i386", "unknown"] = Field(
        "x86_64", description="the architecture"
    )
    tags: dict[str, str] = Field(default_factory=dict, description="tags as text keys and values")
    count: int = Field(ge=1, description="how many such nodes, ≥ 1")
    offline: int = Field(0, ge=0, description="how many of them are not Online, ≥ 0")


class AccountSpec(_Strict):
    """A member account: status, and its nodes (fixed count, Regions, or an inventory)."""

    id: AccountIdField = Field(description="12 digits, quoted")
    name: str = Field(min_length=1, max_length=50, description="the account name")
    status: Literal["ACTIVE", "SUSPENDED", "PENDING_CLOSURE"] = Field(
        "ACTIVE", description="the account status"
    )
    nodes: int | None = Field(None, ge=0, description="a fixed node count per Region, ≥ 0")
    regions: list[RegionField] | None = Field(None, description="the Regions with nodes")
    # Region keys are checked against the org's regions (which are checked for syntax).
    inventory: dict[str, list[InventoryEntry]] | None = Field(
        None, description="the managed nodes per Region"
    )


class UnitSpec(_Strict):
    """An organizational unit with its accounts, child OUs and optionally its own fleet."""

    name: UnitNameField = Field(description="the OU name")
    accounts: list[AccountSpec] = Field(default_factory=list, description="member accounts")
    units: list[UnitSpec] = Field(default_factory=list, description="child OUs")
    fleet: FleetSpec | None = Field(None, description="node profiles for the OUs below")


class ManagementAccount(_Strict):
    """The management account: at the root, never a stack set target."""

    id: AccountIdField = Field(description="12 digits, quoted")
    name: str = Field("management", description="the account name")


class OrgFileSpec(_Strict):
    """A whole organization file."""

    name: str = Field(min_length=1, description="the organization's name")
    management_account: ManagementAccount
    delegated_admin: AccountIdField = Field(description="a member account id, quoted")
    regions: list[RegionField] = Field(min_length=1, description="the Regions with nodes")
    units: list[UnitSpec] = Field(default_factory=list, description="the OUs under the root")
    fleet: FleetSpec | None = Field(None, description="node profiles for accounts without one")
    source: dict[str, Any] | None = Field(None, description="where the file comes from")


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """Managed nodes of one account and Region with the same platform, architecture and tags.

    ``count`` and ``offline`` are exact for an inventory and expected values for a fleet
    (``estimated``): awssim draws each node's profile and each target's count at random.
    """

    platform: str
    platform_version: str
    arch: str
    tags: tuple[tuple[str, str], ...]
    count: float
    offline: float = 0.0
    estimated: bool = False

    def has_tag(self, key: str, value: str) -> bool:
        """Whether these nodes carry tag ``key`` with ``value``."""
        return (key, value) in self.tags


@dataclass(frozen=True)
class OrgFile:
    """An organization file read: the organization and its managed nodes per target."""

    name: str
    organization: Organization
    regions: tuple[str, ...]
    delegated_admin: str
    nodes: Mapping[Target, tuple[NodeGroup, ...]] = field(default_factory=dict)
    source: Mapping[str, Any] | None = None

    @property
    def estimated(self) -> bool:
        """Whether any node count is an estimate (some account's nodes come from a fleet)."""
        return any(group.estimated for groups in self.nodes.values() for group in groups)


def looks_like_org_file(data: object) -> bool:
    """Whether parsed data is meant as an org file rather than a JSON org snapshot.

    A snapshot (``Organization.to_dict``) has ``root_id``; an org file never does.
    """
    return isinstance(data, Mapping) and "root_id" not in data and bool(ORG_FILE_KEYS & set(data))


def root_id() -> str:
    """The made-up root id of every org file's organization."""
    return "r-" + _digest("/")[:4]


def unit_id(path: str) -> str:
    """The made-up id of the OU at ``path`` (``/Prod/EU``): the same path, the same id."""
    return f"ou-{_digest('/')[:4]}-{_digest(path)[:16]}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_org_file(data: object, *, subject: str = "organization file") -> OrgFile:
    """Read and check parsed org-file data; ``ValidationError`` lists every problem."""
    if not isinstance(data, Mapping):
        expected = "a mapping with name, management_account, delegated_admin, regions, units"
        raise ValidationError(subject, [wrong("", "not an organization file", data, expected)])
    problems = model_problems(OrgFileSpec, data)
    if problems:
        raise ValidationError(subject, problems)
    spec = OrgFileSpec.model_validate(data)
    problems = list(_consistency_problems(spec))
    if problems:
        raise ValidationError(subject, problems)
    return OrgFile(
        name=spec.name,
        organization=_organization(spec),
        regions=tuple(spec.regions),
        delegated_admin=spec.delegated_admin,
        nodes=_nodes(spec),
        source=spec.source,
    )


@dataclass(frozen=True)
class _Placed:
    """An account with where it is: its field path, OU path and the fleet that applies."""

    account: AccountSpec
    field_path: str
    ou_path: str
    fleet: FleetSpec | None


def _units(spec: OrgFileSpec) -> Iterator[tuple[str, str, UnitSpec]]:
    """Every OU as (field path, OU path, unit), parents before children."""
    stack = [(f"units[{i}]", f"/{u.name}", u) for i, u in reversed(list(enumerate(spec.units)))]
    while stack:
        field_path, ou_path, unit = stack.pop()
        yield field_path, ou_path, unit
        stack.extend(
            (f"{field_path}.units[{i}]", f"{ou_path}/{child.name}", child)
            for i, child in reversed(list(enumerate(unit.units)))
        )


def _placed(spec: OrgFileSpec) -> Iterator[_Placed]:
    """Every member account, depth first, with the fleet of its nearest OU (or the org's)."""
    for index, unit in enumerate(spec.units):
        yield from _placed_in(unit, f"units[{index}]", f"/{unit.name}", spec.fleet)


def _placed_in(
    unit: UnitSpec, field_path: str, ou_path: str, inherited: FleetSpec | None
) -> Iterator[_Placed]:
    fleet = unit.fleet or inherited
    for index, account in enumerate(unit.accounts):
        yield _Placed(account, f"{field_path}.accounts[{index}]", ou_path, fleet)
    for index, child in enumerate(unit.units):
        yield from _placed_in(
            child, f"{field_path}.units[{index}]", f"{ou_path}/{child.name}", fleet
        )


def _fleet_problems(fleet: FleetSpec | None, path: str) -> Iterator[Problem]:
    if fleet is None:
        return
    low, high = fleet.nodes_per_target
    if not 0 <= low <= high:
        yield wrong(
            f"{path}.nodes_per_target",
            "not a node count range",
            [low, high],
            "[min, max] with 0 <= min <= max",
        )
    for index, profile in enumerate(fleet.profiles):
        if not profile.managed and not profile.online:
            yield wrong(
                f"{path}.profiles[{index}].online",
                "given for a node that is not managed",
                profile.online,
                "no online key with managed: false (such an agent never reports anyway)",
            )


def _consistency_problems(spec: OrgFileSpec) -> Iterator[Problem]:
    first_at: dict[str, str] = {spec.management_account.id: "management_account.id"}
    known_regions = set(spec.regions)
    ou_paths: dict[str, str] = {}
    yield from _fleet_problems(spec.fleet, "fleet")
    for field_path, ou_path, unit in _units(spec):
        yield from _fleet_problems(unit.fleet, f"{field_path}.fleet")
        if ou_path in ou_paths:
            yield wrong(
                f"{field_path}.name",
                "OU path given twice",
                ou_path,
                f"sibling OUs with different names ({ou_paths[ou_path]} has it)",
            )
        ou_paths.setdefault(ou_path, field_path)
    for placed in _placed(spec):
        account, path = placed.account, placed.field_path
        if account.id in first_at:
            yield wrong(
                f"{path}.id",
                "account given twice",
                account.id,
                f"once (also {first_at[account.id]})",
            )
        first_at.setdefault(account.id, f"{path}.id")
        yield from _region_problems(account, path, known_regions)
        yield from _node_problems(placed)
    if spec.delegated_admin not in first_at or spec.delegated_admin == spec.management_account.id:
        yield wrong(
            "delegated_admin",
            "not a member account of the organization",
            spec.delegated_admin,
            "the id of an account in units (not the management account)",
        )


def _region_problems(account: AccountSpec, path: str, known: set[str]) -> Iterator[Problem]:
    expected = "one of the organization's regions: " + ", ".join(sorted(known))
    for index, region in enumerate(account.regions or []):
        if region not in known:
            yield wrong(
                f"{path}.regions[{index}]", "not a Region of the organization", region, expected
            )
    for region in account.inventory or {}:
        if region not in known:
            yield wrong(f"{path}.inventory", "not a Region of the organization", region, expected)


def _node_problems(placed: _Placed) -> Iterator[Problem]:
    account, path = placed.account, placed.field_path
    if account.inventory is None:
        if placed.fleet is None:
            yield Problem(
                path,
                f"account {account.id} has no nodes to simulate (got no inventory and no fleet; "
                "expected an inventory, or a fleet at the top level or on one of its OUs)",
            )
        return
    for key in ("nodes", "regions"):
        if getattr(account, key) is not None:
            yield wrong(
                f"{path}.{key}",
                "given with an inventory",
                getattr(account, key),
                "no nodes or regions: the inventory lists every node",
            )
    for region, entries in account.inventory.items():
        for index, entry in enumerate(entries):
            if entry.offline > entry.count:
                yield wrong(
                    f"{path}.inventory.{region}[{index}].offline",
                    "more offline nodes than nodes",
                    entry.offline,
                    f"at most count ({entry.count})",
                )


def _organization(spec: OrgFileSpec) -> Organization:
    root = root_id()

    def parent_of(ou_path: str) -> str:
        parent_path = ou_path.rsplit("/", 1)[0]
        return unit_id(parent_path) if parent_path else root

    units = tuple(
        OrgUnit(unit_id(ou_path), unit.name, parent_of(ou_path))
        for _, ou_path, unit in _units(spec)
    )
    management = Account(spec.management_account.id, spec.management_account.name, root)
    members = tuple(
        Account(p.account.id, p.account.name, unit_id(p.ou_path), p.account.status)
        for p in _placed(spec)
    )
    return Organization(root, spec.management_account.id, units, (management, *members))


def _nodes(spec: OrgFileSpec) -> dict[Target, tuple[NodeGroup, ...]]:
    nodes: dict[Target, tuple[NodeGroup, ...]] = {}
    for placed in _placed(spec):
        account = placed.account
        if account.inventory is not None:
            for region, entries in account.inventory.items():
                nodes[Target(account.id, region)] = tuple(_inventoried(e) for e in entries)
            continue
        assert placed.fleet is not None  # _node_problems reports an account without nodes
        # As awssim generates them: an empty Region list means every Region, like no list.
        for region in account.regions or spec.regions:
            groups = _expected(placed.fleet, account.nodes)
            if groups:
                nodes[Target(account.id, region)] = groups
    return nodes


def _inventoried(entry: InventoryEntry) -> NodeGroup:
    return NodeGroup(
        entry.platform,
        entry.platform_version,
        entry.arch,
        tuple(sorted(entry.tags.items())),
        float(entry.count),
        float(entry.offline),
    )


def _expected(fleet: FleetSpec, fixed: int | None) -> tuple[NodeGroup, ...]:
    """The expected managed nodes of one account and Region of a fleet.

    awssim draws the count uniformly from ``nodes_per_target`` (unless the account fixes
    it) and each node's profile by weight. It lists the nodes of a ``managed: false``
    profile as SSM does a node whose agent never reported (ConnectionLost), and the
    association targets them like any other: to a gate they are offline nodes, as those of
    an ``online: false`` profile are.
    """
    low, high = fleet.nodes_per_target
    count = float(fixed) if fixed is not None else (low + high) / 2
    certain = (fixed is not None or low == high) and len(fleet.profiles) == 1
    total_weight = sum(profile.weight for profile in fleet.profiles)
    groups = []
    for profile in fleet.profiles:
        expected = count * profile.weight / total_weight
        if expected == 0:
            continue
        groups.append(
            NodeGroup(
                profile.platform,
                profile.platform_version,
                profile.arch,
                tuple(sorted(profile.tags.items())),
                expected,
                expected if not (profile.managed and profile.online) else 0.0,
                estimated=not certain,
            )
        )
    return tuple(groups)
