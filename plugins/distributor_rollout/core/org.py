"""An organization snapshot: OUs with parents, accounts with their OU and status.

Plain data, read from the Organizations API by the hook (or from a JSON file by the CLI
and the tests), so wave resolution can run without AWS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

from distributor_rollout.core import rules
from distributor_rollout.core.errors import Problem, ValidationError, wrong

ACTIVE = "ACTIVE"
ACCOUNT_STATUSES = frozenset({"ACTIVE", "SUSPENDED", "PENDING_CLOSURE"})


@dataclass(frozen=True, slots=True)
class OrgUnit:
    """An organizational unit (the root is not one: it is ``Organization.root_id``)."""

    id: str
    name: str
    parent_id: str


@dataclass(frozen=True, slots=True)
class Account:
    """A member account and the OU (or root) it sits in directly."""

    id: str
    name: str
    parent_id: str
    status: str = ACTIVE


@dataclass(frozen=True)
class Organization:
    """A whole organization at one moment."""

    root_id: str
    management_account_id: str
    units: tuple[OrgUnit, ...] = ()
    accounts: tuple[Account, ...] = ()
    _children: dict[str, list[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for unit in self.units:
            self._children.setdefault(unit.parent_id, []).append(unit.id)

    @cached_property
    def unit_by_id(self) -> dict[str, OrgUnit]:
        """OUs by id."""
        return {unit.id: unit for unit in self.units}

    @cached_property
    def accounts_by_parent(self) -> dict[str, list[Account]]:
        """Accounts by the id of the OU (or root) directly above them."""
        index: dict[str, list[Account]] = {}
        for account in self.accounts:
            index.setdefault(account.parent_id, []).append(account)
        return index

    def contains(self, parent_id: str) -> bool:
        """Whether an id is the root or one of the OUs."""
        return parent_id == self.root_id or parent_id in self.unit_by_id

    def subtree(self, parent_id: str) -> Iterator[str]:
        """The id and every OU below it (StackSets include child OUs' accounts)."""
        stack = [parent_id]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(self._children.get(current, ()))

    def accounts_under(self, parent_id: str) -> list[Account]:
        """Every account in the OU or root and the OUs below it."""
        return [
            a for unit in self.subtree(parent_id) for a in self.accounts_by_parent.get(unit, ())
        ]

    def path_of(self, parent_id: str) -> str:
        """``/Prod/EU`` for an OU, ``/`` for the root."""
        names: list[str] = []
        current = parent_id
        while current != self.root_id:
            unit = self.unit_by_id[current]
            names.append(unit.name)
            current = unit.parent_id
        return "/" + "/".join(reversed(names))

    @cached_property
    def id_by_path(self) -> dict[str, str]:
        """OU and root ids by their path."""
        paths = {"/": self.root_id}
        paths.update({self.path_of(unit.id): unit.id for unit in self.units})
        return paths

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape ``from_dict`` reads."""
        return {
            "root_id": self.root_id,
            "management_account_id": self.management_account_id,
            "organizational_units": [asdict(unit) for unit in self.units],
            "accounts": [asdict(account) for account in self.accounts],
        }

    @classmethod
    def from_dict(cls, data: object, *, subject: str = "organization") -> Organization:
        """Read and check a snapshot: every problem is reported together."""
        problems = list(_snapshot_problems(data))
        if problems:
            raise ValidationError(subject, problems)
        assert isinstance(data, Mapping)  # _snapshot_problems reports anything else
        return cls(
            root_id=data["root_id"],
            management_account_id=data["management_account_id"],
            units=tuple(OrgUnit(**unit) for unit in data.get("organizational_units", [])),
            accounts=tuple(
                Account(**{"status": ACTIVE, **account}) for account in data.get("accounts", [])
            ),
        )


def _snapshot_problems(data: object) -> Iterator[Problem]:
    if not isinstance(data, Mapping):
        yield wrong("", "not an organization", data, "a mapping with root_id, accounts, ...")
        return
    root = data.get("root_id")
    if not isinstance(root, str) or not root.startswith("r-") or rules.ou_id(root):
        yield wrong("root_id", "not a root id", root, "an id like 'r-ab12'")
    management = data.get("management_account_id")
    if not isinstance(management, str) or rules.account_id(management):
        yield wrong("management_account_id", "not an account id", management, "12 digits")
    units = data.get("organizational_units", [])
    unit_ids: set[str] = set()
    parents: dict[str, str] = {}
    for index, unit in enumerate(units if isinstance(units, list) else []):
        path = f"organizational_units[{index}]"
        if not isinstance(unit, Mapping) or set(unit) != {"id", "name", "parent_id"}:
            yield wrong(path, "not an OU", unit, "a mapping with exactly id, name, parent_id")
            continue
        if (
            not isinstance(unit["id"], str)
            or rules.ou_id(unit["id"])
            or unit["id"].startswith("r-")
        ):
            yield wrong(f"{path}.id", "not an OU id", unit["id"], "an id like 'ou-ab12-cdef3456'")
        unit_ids.add(unit["id"])
        parents[unit["id"]] = unit["parent_id"]
    known = unit_ids | {root}
    for unit_id, parent in parents.items():
        if parent not in known:
            yield wrong(
                f"organizational_units[{unit_id}]", "unknown parent", parent, "the root or an OU"
            )
    yield from _cycle_problems(parents, root)
    yield from _account_problems(data.get("accounts", []), known)


def _account_problems(accounts: object, known: set[object]) -> Iterator[Problem]:
    for index, account in enumerate(accounts if isinstance(accounts, list) else []):
        path = f"accounts[{index}]"
        keys = set(account) if isinstance(account, Mapping) else set()
        if not {"id", "name", "parent_id"} <= keys <= {"id", "name", "parent_id", "status"}:
            yield wrong(
                path, "not an account", account, "a mapping with id, name, parent_id, status"
            )
            continue
        assert isinstance(account, Mapping)
        if not isinstance(account["id"], str) or rules.account_id(account["id"]):
            yield wrong(f"{path}.id", "not an account id", account["id"], "12 digits")
        if account["parent_id"] not in known:
            yield wrong(
                f"{path}.parent_id", "unknown parent", account["parent_id"], "the root or an OU"
            )
        if account.get("status", ACTIVE) not in ACCOUNT_STATUSES:
            yield wrong(
                f"{path}.status",
                "unknown status",
                account.get("status"),
                ", ".join(sorted(ACCOUNT_STATUSES)),
            )


def _cycle_problems(parents: dict[str, str], root: object) -> Iterator[Problem]:
    for start in parents:
        seen = {start}
        current = parents.get(start)
        while current in parents and current != root:
            if current in seen:
                yield Problem(f"organizational_units[{start}]", "is part of a parent cycle")
                break
            seen.add(current)
            current = parents[current]
