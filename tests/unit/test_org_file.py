"""Organization files (awssim org YAML, snapshot output) read into an organization and nodes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributor_rollout.core import rules
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.org_file import (
    NodeGroup,
    looks_like_org_file,
    read_org_file,
    root_id,
    unit_id,
)
from distributor_rollout.core.targets import Target

MANAGEMENT = "111111111111"
ADMIN = "222222222222"


def _inventory_org() -> dict[str, Any]:
    return {
        "name": "acme",
        "management_account": {"id": MANAGEMENT},
        "delegated_admin": ADMIN,
        "regions": ["us-east-1", "eu-west-1"],
        "source": {"taken_at": "2025-01-01T00:00:00Z", "by": "distributor_rollout snapshot"},
        "units": [
            {"name": "Security", "accounts": [{"id": ADMIN, "name": "admin", "inventory": {}}]},
            {
                "name": "Prod",
                "accounts": [
                    {
                        "id": "300000000001",
                        "name": "prod-1",
                        "inventory": {
                            "us-east-1": [
                                {
                                    "platform": "amazon",
                                    "platform_version": "2023",
                                    "arch": "x86_64",
                                    "tags": {"Distributor": "enabled"},
                                    "count": 12,
                                    "offline": 3,
                                },
                                {
                                    "platform": "windows",
                                    "platform_version": "10.0.20348",
                                    "arch": "arm64",
                                    "count": 2,
                                },
                            ]
                        },
                    },
                    {
                        "id": "300000000002",
                        "name": "closing",
                        "status": "PENDING_CLOSURE",
                        "inventory": {},
                    },
                ],
                "units": [
                    {
                        "name": "EU",
                        "accounts": [
                            {
                                "id": "300000000003",
                                "name": "eu-1",
                                "status": "SUSPENDED",
                                "inventory": {},
                            }
                        ],
                    }
                ],
            },
        ],
    }


def _fleet_org() -> dict[str, Any]:
    return {
        "name": "sim",
        "management_account": {"id": MANAGEMENT, "name": "root-account"},
        "delegated_admin": ADMIN,
        "regions": ["us-east-1", "us-west-2"],
        "units": [
            {"name": "Security", "accounts": [{"id": ADMIN, "name": "admin", "nodes": 2}]},
            {
                "name": "Legacy",
                "fleet": {
                    "nodes_per_target": [4, 4],
                    "profiles": [{"platform": "amazon", "platform_version": "2", "online": False}],
                },
                "accounts": [{"id": "400000000001", "name": "legacy-1", "regions": ["us-west-2"]}],
                "units": [{"name": "Old", "accounts": [{"id": "400000000002", "name": "old-1"}]}],
            },
        ],
        "fleet": {
            "nodes_per_target": [5, 15],
            "profiles": [
                {"platform": "amazon", "platform_version": "2023", "weight": 3},
                {"platform": "ubuntu", "platform_version": "22.04", "managed": False},
            ],
        },
    }


def _problems(data: object) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        read_org_file(data, subject="org.yaml")
    assert raised.value.subject == "org.yaml"
    return [str(problem) for problem in raised.value.problems]


def test_an_inventory_org_gives_its_tree_statuses_and_exact_nodes() -> None:
    org_file = read_org_file(_inventory_org())
    org = org_file.organization
    assert org.root_id == root_id()
    assert sorted(org.id_by_path) == ["/", "/Prod", "/Prod/EU", "/Security"]
    assert org.id_by_path["/Prod/EU"] == unit_id("/Prod/EU")
    statuses = {a.id: (a.status, org.path_of(a.parent_id)) for a in org.accounts}
    assert statuses == {
        MANAGEMENT: ("ACTIVE", "/"),
        ADMIN: ("ACTIVE", "/Security"),
        "300000000001": ("ACTIVE", "/Prod"),
        "300000000002": ("PENDING_CLOSURE", "/Prod"),
        "300000000003": ("SUSPENDED", "/Prod/EU"),
    }
    assert org.management_account_id == MANAGEMENT
    assert org_file.delegated_admin == ADMIN
    assert org_file.regions == ("us-east-1", "eu-west-1")
    assert org_file.source == {
        "taken_at": "2025-01-01T00:00:00Z",
        "by": "distributor_rollout snapshot",
    }
    # Only the Region the inventory lists has nodes; counts are exact.
    assert list(org_file.nodes) == [Target("300000000001", "us-east-1")]
    amazon, windows = org_file.nodes[Target("300000000001", "us-east-1")]
    assert amazon == NodeGroup(
        "amazon", "2023", "x86_64", (("Distributor", "enabled"),), 12.0, 3.0, estimated=False
    )
    assert (windows.arch, windows.count, windows.offline, windows.tags) == ("arm64", 2.0, 0.0, ())
    assert not org_file.estimated


def test_a_fleet_gives_expected_counts_and_the_nearest_ou_fleet_wins() -> None:
    org_file = read_org_file(_fleet_org())
    assert org_file.estimated
    nodes = org_file.nodes
    # The admin's fixed 2 nodes per Region: 3/4 of them amazon, a quarter ubuntu whose
    # agent never reports (managed: false): awssim lists them offline, as SSM would.
    amazon, ubuntu = nodes[Target(ADMIN, "us-east-1")]
    assert (amazon.platform, amazon.count, amazon.offline, amazon.estimated) == (
        "amazon",
        1.5,
        0,
        True,
    )
    assert (ubuntu.platform, ubuntu.count, ubuntu.offline) == ("ubuntu", 0.5, 0.5)
    # Legacy's own fleet: one profile and a fixed count, so exact; its agents never report.
    (legacy,) = nodes[Target("400000000001", "us-west-2")]
    assert (legacy.platform_version, legacy.count, legacy.offline) == ("2", 4.0, 4.0)
    assert not legacy.estimated
    assert Target("400000000001", "us-east-1") not in nodes
    # /Legacy/Old inherits Legacy's fleet, in every Region of the org.
    for region in ("us-east-1", "us-west-2"):
        (old,) = nodes[Target("400000000002", region)]
        assert (old.platform_version, old.offline) == ("2", 4.0)


def test_the_management_account_keeps_its_name() -> None:
    org = read_org_file(_fleet_org()).organization
    (management,) = [a for a in org.accounts if a.id == MANAGEMENT]
    assert (management.name, management.parent_id) == ("root-account", org.root_id)


def test_ids_are_stable_and_look_like_aws_ids() -> None:
    first = read_org_file(_inventory_org()).organization
    again = read_org_file(copy.deepcopy(_inventory_org())).organization
    assert first.id_by_path == again.id_by_path
    for ou_id in first.id_by_path.values():
        assert rules.ou_id(ou_id) is None


def test_a_fleet_is_needed_only_for_accounts_without_an_inventory() -> None:
    data = _inventory_org()
    data["units"][1]["accounts"].append({"id": "300000000009", "name": "bare"})
    assert _problems(data) == [
        "units[1].accounts[2]: account 300000000009 has no nodes to simulate (got no inventory "
        "and no fleet; expected an inventory, or a fleet at the top level or on one of its OUs)"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["units"][1]["accounts"][0].update(status="CLOSED"),
            "units[1].accounts[0].status: not allowed (got 'CLOSED'; expected one of "
            "'ACTIVE', 'SUSPENDED' or 'PENDING_CLOSURE')",
        ),
        (
            lambda d: d["units"][1]["accounts"][0].update(nickname="x"),
            "units[1].accounts[0].nickname: unknown key (got 'nickname'; expected one of: "
            "id, name, status, nodes, regions, inventory)",
        ),
        (
            lambda d: d["units"][1]["accounts"][0]["inventory"]["us-east-1"][0].update(offline=13),
            "units[1].accounts[0].inventory.us-east-1[0].offline: more offline nodes than nodes "
            "(got 13; expected at most count (12))",
        ),
        (
            lambda d: d["units"][1]["accounts"][0]["inventory"]["us-east-1"][0].update(count=0),
            "units[1].accounts[0].inventory.us-east-1[0].count: out of range (got 0; expected "
            "a value greater than or equal to 1)",
        ),
        (
            lambda d: d["units"][1]["accounts"][0]["inventory"]["us-east-1"][1].update(arch="x64"),
            "units[1].accounts[0].inventory.us-east-1[1].arch: not allowed (got 'x64'; expected "
            "one of 'x86_64', 'arm64', 'i386' or 'unknown')",
        ),
        (
            lambda d: d["units"][1]["accounts"][0].update(nodes=3),
            "units[1].accounts[0].nodes: given with an inventory (got 3; expected no nodes or "
            "regions: the inventory lists every node)",
        ),
        (
            lambda d: d["units"][1]["accounts"][0]["inventory"].update({"ap-south-1": []}),
            "units[1].accounts[0].inventory: not a Region of the organization (got 'ap-south-1'; "
            "expected one of the organization's regions: eu-west-1, us-east-1)",
        ),
        (
            lambda d: d["units"][1]["accounts"][1].update(id=ADMIN),
            "units[1].accounts[1].id: account given twice (got '222222222222'; expected once "
            "(also units[0].accounts[0].id))",
        ),
        (
            lambda d: d.update(delegated_admin=MANAGEMENT),
            "delegated_admin: not a member account of the organization (got '111111111111'; "
            "expected the id of an account in units (not the management account))",
        ),
        (
            lambda d: d["units"][1].update(name="Prod/EU"),
            "units[1].name: not an OU name (got 'Prod/EU'; expected 1-128 letters, digits, "
            "spaces, '_', '.' or '-', starting with a letter or digit)",
        ),
        (
            lambda d: d["units"][0].update(name="Prod"),
            "units[1].name: OU path given twice (got '/Prod'; expected sibling OUs with "
            "different names (units[0] has it))",
        ),
        (
            lambda d: d.update(regions=["us-east-1", "Europe"]),
            "regions[1]: not a Region name (got 'Europe'; expected a name like 'eu-west-1')",
        ),
        (
            lambda d: d.update(
                fleet={
                    "nodes_per_target": [5, 2],
                    "profiles": [{"platform": "amazon", "platform_version": "2"}],
                }
            ),
            "fleet.nodes_per_target: not a node count range (got [5, 2]; expected [min, max] "
            "with 0 <= min <= max)",
        ),
        (
            lambda d: d.update(
                fleet={
                    "profiles": [
                        {
                            "platform": "amazon",
                            "platform_version": "2",
                            "managed": False,
                            "online": False,
                        }
                    ]
                }
            ),
            "fleet.profiles[0].online: given for a node that is not managed (got False; "
            "expected no online key with managed: false (such an agent never reports anyway))",
        ),
        (
            lambda d: d["units"][1]["accounts"][0].update(id="30000000001"),
            "units[1].accounts[0].id: not an AWS account id (got '30000000001'; expected 12 "
            "digits, quoted in YAML)",
        ),
    ],
    ids=[
        "status",
        "unknown-key",
        "offline-over-count",
        "count-zero",
        "arch",
        "nodes-with-inventory",
        "inventory-region",
        "account-twice",
        "delegated-admin",
        "unit-name",
        "ou-path-twice",
        "region-syntax",
        "nodes-range",
        "online-unmanaged",
        "account-id",
    ],
)
def test_each_problem_names_its_field(change: Any, expected: str) -> None:
    data = _inventory_org()
    change(data)
    assert expected in _problems(data)


def test_not_a_mapping_is_refused() -> None:
    assert _problems(["name"]) == [
        "not an organization file (got ['name']; expected a mapping with name, "
        "management_account, delegated_admin, regions, units)"
    ]


def test_an_org_file_is_told_from_a_json_snapshot() -> None:
    assert looks_like_org_file(_inventory_org())
    assert not looks_like_org_file({"root_id": "r-ab12", "accounts": []})
    assert not looks_like_org_file({"something": "else"})
    assert not looks_like_org_file([1])


# --- random organization files ---------------------------------------------------------


@st.composite
def org_files(draw: st.DrawFn) -> dict[str, Any]:
    """A valid org file: a random OU tree, accounts with an inventory or the org's fleet."""
    regions = draw(
        st.lists(
            st.sampled_from(["us-east-1", "eu-west-1", "ap-south-1"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    next_id = iter(range(300000000000, 300000001000))
    entry = st.fixed_dictionaries(
        {
            "platform": st.sampled_from(["amazon", "ubuntu", "windows"]),
            "platform_version": st.sampled_from(["2023", "22.04"]),
            "arch": st.sampled_from(["x86_64", "arm64", "unknown"]),
            "count": st.integers(min_value=1, max_value=50),
        }
    )

    def account() -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(next(next_id)),
            "name": "a",
            "status": draw(st.sampled_from(["ACTIVE", "SUSPENDED", "PENDING_CLOSURE"])),
        }
        if draw(st.booleans()):
            data["inventory"] = {
                region: draw(st.lists(entry, max_size=3))
                for region in draw(st.lists(st.sampled_from(regions), unique=True))
            }
        return data

    def unit(depth: int, index: int) -> dict[str, Any]:
        children = draw(st.integers(min_value=0, max_value=2 if depth < 3 else 0))
        return {
            "name": f"U{depth}x{index}",
            "accounts": [account() for _ in range(draw(st.integers(min_value=0, max_value=3)))],
            "units": [unit(depth + 1, i) for i in range(children)],
        }

    units = [unit(1, i) for i in range(draw(st.integers(min_value=0, max_value=3)))]
    units.append({"name": "Security", "accounts": [{"id": ADMIN, "name": "admin"}]})
    return {
        "name": "random",
        "management_account": {"id": MANAGEMENT},
        "delegated_admin": ADMIN,
        "regions": regions,
        "units": units,
        "fleet": {
            "nodes_per_target": [0, draw(st.integers(min_value=0, max_value=9))],
            "profiles": [{"platform": "amazon", "platform_version": "2023"}],
        },
    }


def _walk(units: list[dict[str, Any]], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    placed = []
    for unit in units:
        path = f"{prefix}/{unit['name']}"
        placed.extend((path, account) for account in unit["accounts"])
        placed.extend(_walk(unit.get("units", []), path))
    return placed


@settings(max_examples=100, deadline=None)
@given(data=org_files())
def test_every_account_lands_in_its_ou_with_its_nodes(data: dict[str, Any]) -> None:
    org_file = read_org_file(data)
    org = org_file.organization
    placed = _walk(data["units"])
    accounts = {a.id: a for a in org.accounts}
    assert len(accounts) == len(org.accounts) == len(placed) + 1
    for path, account in placed:
        assert org.path_of(accounts[account["id"]].parent_id) == path
        assert accounts[account["id"]].status == account.get("status", "ACTIVE")
        inventory = account.get("inventory")
        for region in data["regions"]:
            groups = org_file.nodes.get(Target(account["id"], region), ())
            if inventory is not None:
                entries = inventory.get(region, [])
                assert sum(g.count for g in groups) == sum(e["count"] for e in entries)
                assert not any(g.estimated for g in groups)
            else:
                low, high = data["fleet"]["nodes_per_target"]
                assert sum(g.count for g in groups) == pytest.approx((low + high) / 2)
    ids = list(org.id_by_path.values())
    assert len(ids) == len(set(ids))
    assert all(rules.ou_id(ou_id) is None for ou_id in ids)
    assert all(org.id_by_path[path] == unit_id(path) for path in org.id_by_path if path != "/")
