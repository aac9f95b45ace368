"""The shape of a simulated organization: OUs, accounts, Regions and the managed fleet.

An org file is YAML (see ``orgs/demo.yaml`` and ``orgs/field.yaml``); Distributor Rollout's
``snapshot`` command writes the same format from a real organization. An account's nodes
come either from fleet profiles (the nearest OU with a ``fleet``, else the org's), drawn
from the seed, or from its ``inventory``: the exact nodes per Region, as a snapshot records
them. ``load_org`` also accepts a shipped name (``demo``, ``field``) or
``synthetic:ACCOUNTS[:OUS[:DEPTH]]``, which generates a large organization for benchmarks
without a file (``awssim.synthetic`` says its shapes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from awssim.synthetic import synthetic_data

ORGS_DIR = Path(__file__).resolve().parent / "orgs"

AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
UnitName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,127}$")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
# Organizations' account statuses (SUSPENDED: closed; PENDING_CLOSURE: being closed).
AccountStatus = Literal["ACTIVE", "SUSPENDED", "PENDING_CLOSURE"]
_SYNTHETIC = re.compile(r"^synthetic:(?P<accounts>\d+)(?::(?P<units>\d+)(?::(?P<depth>\d+))?)?$")


class OrgSpecError(ValueError):
    """An org file or reference that cannot be loaded; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeProfile(_Strict):
    """One kind of node in the fleet, drawn with probability proportional to ``weight``."""

    platform: str = Field(description="Manifest platform key, e.g. amazon, ubuntu, windows.")
    platform_version: str
    arch: Literal["x86_64", "arm64", "i386"] = "x86_64"
    weight: int = Field(default=1, ge=1)
    tags: dict[str, str] = Field(default_factory=dict)
    managed: bool = Field(
        default=True,
        description="False: the agent never reports (listed by DescribeInstanceInformation "
        "as ConnectionLost, as a scenario's unmanaged_nodes).",
    )
    online: bool = Field(
        default=True,
        description="False: a registered managed node whose agent has been unreachable "
        "since before the simulation started (PingStatus ConnectionLost).",
    )

    @model_validator(mode="after")
    def _online_needs_managed(self) -> NodeProfile:
        if not self.managed and not self.online:
            msg = "online: false describes a managed node; with managed: false leave it out"
            raise ValueError(msg)
        return self


class InventoryEntry(_Strict):
    """``count`` alike managed nodes of one account and Region, ``offline`` of them unreachable.

    What a snapshot records: shapes and counts, never instance ids or addresses.
    """

    platform: str = Field(description="Manifest platform key, e.g. amazon, ubuntu, windows.")
    platform_version: str
    arch: Literal["x86_64", "arm64", "i386", "unknown"] = Field(
        default="x86_64",
        description="unknown: a hybrid node (mi-*) EC2 knows no architecture for; awssim "
        "simulates it as x86_64.",
    )
    tags: dict[str, str] = Field(default_factory=dict)
    count: int = Field(ge=1)
    offline: int = Field(default=0, ge=0, description="How many have PingStatus other than Online.")

    @model_validator(mode="after")
    def _offline_within_count(self) -> InventoryEntry:
        if self.offline > self.count:
            msg = f"offline ({self.offline}) must not exceed count ({self.count})"
            raise ValueError(msg)
        return self


class FleetSpec(_Strict):
    """How many nodes each account/Region has, and of which kinds."""

    nodes_per_target: tuple[int, int] = (5, 20)
    profiles: list[NodeProfile] = Field(min_length=1)

    @model_validator(mode="after")
    def _range(self) -> FleetSpec:
        low, high = self.nodes_per_target
        if not 0 <= low <= high:
            msg = f"nodes_per_target must be [min, max] with 0 <= min <= max (got {[low, high]})"
            raise ValueError(msg)
        return self


class AccountSpec(_Strict):
    """A member account."""

    id: AccountId
    name: str = Field(min_length=1, max_length=50)
    status: AccountStatus = "ACTIVE"
    nodes: int | None = Field(default=None, ge=0, description="Fixed node count per Region.")
    regions: list[Region] | None = Field(
        default=None, description="Regions with nodes; default: every Region of the org."
    )
    inventory: dict[Region, list[InventoryEntry]] | None = Field(
        default=None,
        description="The account's exact nodes per Region (Regions not listed have none); "
        "replaces fleet generation for the account.",
    )

    @model_validator(mode="after")
    def _inventory_alone(self) -> AccountSpec:
        if self.inventory is not None:
            given = [name for name in ("nodes", "regions") if getattr(self, name) is not None]
            if given:
                msg = (
                    f"{' and '.join(given)} must be absent when inventory is given "
                    "(the inventory lists the nodes of every Region that has any)"
                )
                raise ValueError(msg)
        return self


class UnitSpec(_Strict):
    """An organizational unit with its accounts and child units."""

    name: UnitName
    accounts: list[AccountSpec] = Field(default_factory=list)
    units: list[UnitSpec] = Field(default_factory=list)
    fleet: FleetSpec | None = Field(
        default=None,
        description="Node profiles for the accounts of this OU and its child OUs (the "
        "nearest OU with a fleet wins; the org's fleet otherwise).",
    )


class ManagementAccount(_Strict):
    """The organization's management account (never a stack set target)."""

    id: AccountId
    name: str = "management"


class OrgSpec(_Strict):
    """A whole simulated organization."""

    name: str = Field(min_length=1)
    management_account: ManagementAccount
    delegated_admin: AccountId = Field(
        description="Registered CloudFormation StackSets delegated administrator; callers "
        "with unknown credentials act as this account."
    )
    regions: list[Region] = Field(min_length=1)
    units: list[UnitSpec] = Field(default_factory=list)
    fleet: FleetSpec | None = Field(
        default=None,
        description="Node profiles for accounts without an inventory and without an OU "
        "fleet above them; optional when every account has one or the other.",
    )
    source: dict[str, Any] | None = Field(
        default=None,
        description="Free-form provenance written by a snapshot (taken_at, by, anonymized); "
        "awssim ignores it.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> OrgSpec:
        seen: dict[str, str] = {self.management_account.id: "management_account"}
        for path, account, fleet in self.accounts_with_fleets():
            if account.id in seen:
                msg = f"account {account.id} appears twice ({seen[account.id]} and {path})"
                raise ValueError(msg)
            seen[account.id] = path
            unknown = sorted(set(account.regions or []) - set(self.regions))
            if unknown:
                msg = f"{path}.regions: {unknown} are not among the org's regions {self.regions}"
                raise ValueError(msg)
            unknown = sorted(set(account.inventory or {}) - set(self.regions))
            if unknown:
                msg = (
                    f"account {account.id} ({account.name}) in {path}: inventory regions "
                    f"{unknown} are not among the org's regions {self.regions}"
                )
                raise ValueError(msg)
            if account.inventory is None and fleet is None:
                msg = (
                    f"account {account.id} ({account.name}) in {path} has no nodes to "
                    "simulate: give it an inventory, or a fleet to its OU, a parent OU or "
                    "the org"
                )
                raise ValueError(msg)
        if self.delegated_admin not in seen or self.delegated_admin == self.management_account.id:
            msg = (
                f"delegated_admin {self.delegated_admin} must be a member account of the org "
                "(not the management account)"
            )
            raise ValueError(msg)
        return self

    def accounts(self) -> Iterator[tuple[str, AccountSpec]]:
        """Every member account with the OU path that holds it, depth first."""
        for path, account, _fleet in self.accounts_with_fleets():
            yield path, account

    def accounts_with_fleets(self) -> Iterator[tuple[str, AccountSpec, FleetSpec | None]]:
        """Every member account with its OU path and the fleet its nodes are drawn from
        (the nearest OU's with a ``fleet``, else the org's; None only when nothing gives
        one, which validation allows for accounts with an inventory)."""
        for unit in self.units:
            yield from _walk(unit, f"/{unit.name}", self.fleet)

    def units_with_paths(self) -> Iterator[tuple[str, UnitSpec]]:
        """Every OU with its path (``/Prod/EU``), parents before children."""
        stack = [(f"/{unit.name}", unit) for unit in reversed(self.units)]
        while stack:
            path, unit = stack.pop()
            yield path, unit
            stack.extend((f"{path}/{child.name}", child) for child in reversed(unit.units))


def _walk(
    unit: UnitSpec, path: str, inherited: FleetSpec | None
) -> Iterator[tuple[str, AccountSpec, FleetSpec | None]]:
    fleet = unit.fleet if unit.fleet is not None else inherited
    for account in unit.accounts:
        yield path, account, fleet
    for child in unit.units:
        yield from _walk(child, f"{path}/{child.name}", fleet)


def load_org(ref: str | Path) -> OrgSpec:
    """Load an org by shipped name (``demo``), file path or
    ``synthetic:ACCOUNTS[:OUS[:DEPTH]]``."""
    text_ref = str(ref)
    match = _SYNTHETIC.match(text_ref)
    if match:
        units = int(match["units"] or max(1, int(match["accounts"]) // 50))
        depth = int(match["depth"]) if match["depth"] else None
        return synthetic_org(int(match["accounts"]), units, depth=depth)
    path = Path(text_ref)
    if not path.suffix:
        path = ORGS_DIR / f"{text_ref}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in ORGS_DIR.glob("*.yaml"))
        msg = (
            f"org {text_ref!r}: no such file; expected a YAML path, one of {shipped} "
            "or synthetic:ACCOUNTS[:OUS[:DEPTH]]"
        )
        raise OrgSpecError(msg)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_org(data, subject=str(path))


def parse_org(data: object, subject: str = "org") -> OrgSpec:
    """Validate org data, turning pydantic's report into one readable error."""
    try:
        return OrgSpec.model_validate(data)
    except ValidationError as error:
        raise OrgSpecError(validation_report(error, subject, "org")) from None


def validation_report(error: ValidationError, subject: str, what: str) -> str:
    """Pydantic's errors as ``subject: invalid what`` and one ``  field: problem`` per line."""
    lines = [
        f"  {'.'.join(str(p) for p in problem['loc']) or '(top)'}: {problem['msg']}"
        for problem in error.errors()
    ]
    return f"{subject}: invalid {what}\n" + "\n".join(lines)


def synthetic_org(accounts: int, units: int, regions: int = 3, depth: int | None = None) -> OrgSpec:
    """A large org for benchmarks (``awssim.synthetic``): without ``depth``, ``units``
    leaf OUs under three top-level OUs; with it, ``units`` OUs in all, ``depth`` levels."""
    try:
        data = synthetic_data(accounts, units, regions, depth)
    except ValueError as error:
        raise OrgSpecError(str(error)) from None
    shape = f"{accounts}:{units}" + (f":{depth}" if depth is not None else "")
    return parse_org(data, subject=f"synthetic:{shape}")
