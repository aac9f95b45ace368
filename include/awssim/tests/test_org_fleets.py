"""Where an org file's nodes come from: per-OU fleets, offline profiles, exact inventories.

Also the statuses and files a snapshot of a real organization brings (PENDING_CLOSURE, an
org without a fleet, ``source``) and the shipped ``field`` organization, served.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from awssim.fleet import NEVER_REPORTED, Node, generate_fleet, instance_id
from awssim.orgspec import OrgSpecError, load_org, parse_org
from awssim.pytest_plugin import AwsClients
from awssim.scenario import Scenario
from awssim.simulator import Simulator

ADMIN = "222222222222"
WEB = "333333333333"  # /Apps
LEGACY = "444444444444"  # /Apps/Legacy
OLD_LEGACY = "555555555555"  # /Apps/Legacy/Old
SNAPSHOT = "666666666666"  # /Apps, with an inventory
REGION = "us-east-1"


def _profile(platform: str, **extra: object) -> dict[str, object]:
    return {"platform": platform, "platform_version": "1", **extra}


def _fleet(*profiles: dict[str, object], nodes: int = 4) -> dict[str, object]:
    return {"nodes_per_target": [nodes, nodes], "profiles": list(profiles)}


INVENTORY: dict[str, Any] = {
    "us-east-1": [
        {
            "platform": "amazon",
            "platform_version": "2023",
            "arch": "x86_64",
            "tags": {"Distributor": "enabled"},
            "count": 3,
            "offline": 1,
        },
        {"platform": "windows", "platform_version": "10.0.20348", "count": 2},
        {"platform": "amazon", "platform_version": "2", "arch": "unknown", "count": 1},
    ],
    "eu-west-1": [
        {"platform": "ubuntu", "platform_version": "22.04", "arch": "arm64", "count": 2},
    ],
}


def _data(**overrides: object) -> dict[str, Any]:
    """An org with nested OU fleets: /Apps (ubuntu), /Apps/Legacy (offline windows)
    inherited by /Apps/Legacy/Old; /Ops takes the org's fleet (amazon)."""
    data: dict[str, Any] = {
        "name": "fleets",
        "management_account": {"id": "111111111111"},
        "delegated_admin": ADMIN,
        "regions": ["us-east-1", "eu-west-1", "ap-southeast-2"],
        "units": [
            {"name": "Ops", "accounts": [{"id": ADMIN, "name": "admin"}]},
            {
                "name": "Apps",
                "fleet": _fleet(_profile("ubuntu")),
                "accounts": [
                    {"id": WEB, "name": "web"},
                    {"id": SNAPSHOT, "name": "snap", "inventory": INVENTORY},
                ],
                "units": [
                    {
                        "name": "Legacy",
                        "fleet": _fleet(_profile("windows", online=False), nodes=2),
                        "accounts": [{"id": LEGACY, "name": "legacy"}],
                        "units": [
                            {
                                "name": "Old",
                                "accounts": [{"id": OLD_LEGACY, "name": "old"}],
                            }
                        ],
                    }
                ],
            },
        ],
        "fleet": _fleet(_profile("amazon")),
    }
    data.update(overrides)
    return data


def _account(data: dict[str, Any], account_id: str) -> dict[str, Any]:
    """The account's mapping inside ``data`` (for targeted edits)."""
    stack = list(data["units"])
    while stack:
        unit = stack.pop()
        accounts: list[dict[str, Any]] = unit.get("accounts", [])
        for account in accounts:
            if account["id"] == account_id:
                return account
        stack.extend(unit.get("units", []))
    raise KeyError(account_id)


def _with_account(account_id: str, **changes: object) -> dict[str, Any]:
    data = _data()
    account = _account(data, account_id)
    for key, value in changes.items():
        if value is None:
            account.pop(key, None)
        else:
            account[key] = value
    return data


def _platforms(nodes: list[Node]) -> set[str]:
    return {node.platform for node in nodes}


# --- validation -----------------------------------------------------------------------------


def _entry(**changes: object) -> dict[str, Any]:
    return {**INVENTORY["us-east-1"][0], **changes}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _with_account(SNAPSHOT, inventory={"us-east-1": [_entry(count=2, offline=3)]}),
            r"units\.1\.accounts\.1\.inventory\.us-east-1\.0: Value error, offline \(3\) "
            r"must not exceed count \(2\)",
        ),
        (
            _with_account(SNAPSHOT, inventory={"us-east-1": [_entry(count=0, offline=0)]}),
            r"inventory\.us-east-1\.0\.count: Input should be greater than or equal to 1",
        ),
        (
            _with_account(SNAPSHOT, inventory={"us-east-1": [_entry(offline=-1)]}),
            r"inventory\.us-east-1\.0\.offline: Input should be greater than or equal to 0",
        ),
        (
            _with_account(SNAPSHOT, inventory={"us-east-1": [_entry(arch="sparc")]}),
            r"inventory\.us-east-1\.0\.arch: Input should be 'x86_64', 'arm64', 'i386' "
            r"or 'unknown'",
        ),
        (
            _with_account(SNAPSHOT, inventory={"us-east-1": [_entry(serial="x")]}),
            r"inventory\.us-east-1\.0\.serial: Extra inputs are not permitted",
        ),
        (
            _with_account(SNAPSHOT, inventory={"mars": []}),
            r"inventory\.mars\.\[key\]: String should match pattern",
        ),
        (
            _with_account(SNAPSHOT, inventory={"us-west-2": []}),
            r"account 666666666666 \(snap\) in /Apps: inventory regions \['us-west-2'\] "
            r"are not among the org's regions",
        ),
        (
            _with_account(SNAPSHOT, nodes=3),
            r"units\.1\.accounts\.1: Value error, nodes must be absent when inventory is given",
        ),
        (
            _with_account(SNAPSHOT, nodes=3, regions=["us-east-1"]),
            r"nodes and regions must be absent when inventory is given",
        ),
        (
            _with_account(WEB, status="CLOSED"),
            r"units\.1\.accounts\.0\.status: Input should be 'ACTIVE', 'SUSPENDED' or "
            r"'PENDING_CLOSURE'",
        ),
        (
            _data(fleet=None),
            r"account 222222222222 \(admin\) in /Ops has no nodes to simulate: give it an "
            r"inventory, or a fleet to its OU, a parent OU or the org",
        ),
        (
            _data(fleet=_fleet(_profile("amazon", managed=False, online=False))),
            r"fleet\.profiles\.0: Value error, online: false describes a managed node",
        ),
        (
            _data(fleet=_fleet(_profile("amazon", online="sometimes"))),
            r"fleet\.profiles\.0\.online: Input should be a valid boolean",
        ),
        (
            _data(units=[{"name": "Ops", "fleet": {"profiles": []}, "accounts": []}]),
            r"units\.0\.fleet\.profiles: List should have at least 1 item",
        ),
    ],
)
def test_bad_org_files_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(OrgSpecError, match=message):
        parse_org(data)


def test_pending_closure_accounts_and_snapshot_provenance_are_accepted() -> None:
    source = {
        "taken_at": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "by": "distributor_rollout snapshot",
        "anonymized": False,
    }
    org = parse_org(_with_account(WEB, status="PENDING_CLOSURE") | {"source": source})
    assert {a.id: a.status for _p, a in org.accounts()}[WEB] == "PENDING_CLOSURE"
    assert org.source == source


def test_the_org_fleet_is_optional_when_every_account_has_nodes_another_way() -> None:
    data = _data(fleet=None)
    _account(data, ADMIN)["inventory"] = {}  # a snapshot of an account with no nodes
    org = parse_org(data)
    fleet = generate_fleet(org, seed=0)
    assert fleet.nodes(ADMIN, REGION) == []
    assert _platforms(fleet.nodes(WEB, REGION)) == {"ubuntu"}


# --- generation -----------------------------------------------------------------------------


def test_the_nearest_ou_with_a_fleet_gives_an_account_its_nodes() -> None:
    org = parse_org(_data())
    fleet = generate_fleet(org, seed=0)
    for region in org.regions:
        assert _platforms(fleet.nodes(ADMIN, region)) == {"amazon"}  # the org's
        assert _platforms(fleet.nodes(WEB, region)) == {"ubuntu"}  # /Apps
        assert _platforms(fleet.nodes(LEGACY, region)) == {"windows"}  # /Apps/Legacy
        assert _platforms(fleet.nodes(OLD_LEGACY, region)) == {"windows"}  # inherited
        assert len(fleet.nodes(WEB, region)) == 4
        assert len(fleet.nodes(OLD_LEGACY, region)) == 2
    paths = {path: fleet_spec for path, _account, fleet_spec in org.accounts_with_fleets()}
    assert paths["/Apps/Legacy/Old"] is paths["/Apps/Legacy"] is not paths["/Apps"]


def test_an_ou_fleet_does_not_move_the_nodes_of_other_accounts() -> None:
    """Generation per account depends only on the seed, the account and its fleet."""
    with_ou_fleets = generate_fleet(parse_org(_data()), seed=3)
    data = _data()
    data["units"][1]["units"] = []
    without_legacy = generate_fleet(parse_org(data), seed=3)
    for account in (ADMIN, WEB):
        assert [n.to_dict() for n in with_ou_fleets.nodes(account, REGION)] == [
            n.to_dict() for n in without_legacy.nodes(account, REGION)
        ]


def test_offline_profiles_give_managed_nodes_unreachable_since_before_the_start() -> None:
    fleet = generate_fleet(parse_org(_data()), seed=0)
    legacy = fleet.nodes(LEGACY, REGION)
    assert legacy
    for node in legacy:
        assert node.managed
        assert not node.profile_online
        assert not node.online_at(0.0)
        assert not node.online_at(10 * 86400.0)
        assert node.ping_status(0.0) == "ConnectionLost"
        assert node.last_ping(600.0) == NEVER_REPORTED
        truth = node.to_dict(600.0, lambda seconds: dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        assert truth["managed"] is True
        assert truth["online"] is False
        assert truth["back_at"] is None
        outages = truth["outages"]
        assert isinstance(outages, list)
        assert len(outages) == 1
    assert all(node.online_at(0.0) for node in fleet.nodes(WEB, REGION))


def test_an_inventory_gives_exactly_its_nodes() -> None:
    org = parse_org(_data())
    fleet = generate_fleet(org, seed=5)
    east = fleet.nodes(SNAPSHOT, "us-east-1")
    shapes = Counter(
        (node.platform, node.platform_version, node.arch, node.tags.get("Distributor"))
        for node in east
    )
    assert shapes == {
        ("amazon", "2023", "x86_64", "enabled"): 3,
        ("windows", "10.0.20348", "x86_64", None): 2,
        ("amazon", "2", "x86_64", None): 1,  # arch unknown: simulated as x86_64
    }
    assert [node.instance_id for node in east] == [
        instance_id(5, SNAPSHOT, "us-east-1", index) for index in range(6)
    ]
    # Of the entry with offline: 1, one registered node is unreachable; the rest report.
    assert [node.online_at(0.0) for node in east] == [True, True, False, True, True, True]
    assert all(node.managed for node in east)
    west = fleet.nodes(SNAPSHOT, "eu-west-1")
    assert [(n.platform, n.arch) for n in west] == [("ubuntu", "arm64")] * 2
    assert fleet.nodes(SNAPSHOT, "ap-southeast-2") == []  # not in the inventory: no nodes
    assert [n.to_dict() for n in generate_fleet(org, seed=5)] == [n.to_dict() for n in fleet]
    assert {n.instance_id for n in generate_fleet(org, seed=6).nodes(SNAPSHOT, "eu-west-1")} != {
        n.instance_id for n in west
    }


def test_the_demo_fleet_is_unchanged() -> None:
    """The demo's ids and counts are what the end-to-end tests were written against."""
    fleet = generate_fleet(load_org("demo"), seed=0)
    assert len(fleet) == 535
    assert all(node.profile_online and node.managed for node in fleet)
    first = next(iter(fleet))
    assert first.instance_id == instance_id(0, "300000000001", "us-east-1", 0)


# --- served ---------------------------------------------------------------------------------


def _described(aws: AwsClients, account: str, region: str, **kwargs: Any) -> list[dict[str, Any]]:
    ssm = aws.client("ssm", account=account, region=region)
    pages = ssm.get_paginator("describe_instance_information").paginate(**kwargs)
    return [row for page in pages for row in page["InstanceInformationList"]]


def test_offline_nodes_show_connection_lost_through_describe_instance_information(
    sim: Simulator, aws: AwsClients
) -> None:
    sim.load(parse_org(_data()), None, speed=1.0, seed=0)
    sim.advance(1800)
    started = sim.clock.at(0.0)
    legacy = {row["InstanceId"]: row for row in _described(aws, LEGACY, REGION)}
    assert set(legacy) == {node.instance_id for node in sim.fleet.nodes(LEGACY, REGION)}
    for row in legacy.values():
        assert row["PingStatus"] == "ConnectionLost"
        assert row["LastPingDateTime"] < started
    snapshot = _described(aws, SNAPSHOT, REGION)
    assert Counter(row["PingStatus"] for row in snapshot) == {"Online": 5, "ConnectionLost": 1}
    lost = _described(
        aws, SNAPSHOT, REGION, Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}]
    )
    assert [row["InstanceId"] for row in lost] == [instance_id(0, SNAPSHOT, REGION, 2)]
    # A scenario switch resets the scenario's outages, not the org file's.
    sim.set_scenario(Scenario(name="calm"))
    assert {row["PingStatus"] for row in _described(aws, LEGACY, REGION)} == {"ConnectionLost"}


def test_associations_wait_on_offline_nodes_as_on_any_offline_agent(
    sim: Simulator, aws: AwsClients
) -> None:
    sim.load(parse_org(_data()), None, speed=1.0, seed=0)
    ssm = aws.client("ssm", account=SNAPSHOT, region=REGION)
    association = ssm.create_association(
        Name="AWS-RunShellScript",
        Targets=[{"Key": "tag:Distributor", "Values": ["enabled"]}],
        Parameters={"commands": ["true"]},
    )["AssociationDescription"]["AssociationId"]
    sim.settle()
    statuses = {
        row["InstanceId"]: row.get("AssociationStatus") for row in _described(aws, SNAPSHOT, REGION)
    }
    tagged = [instance_id(0, SNAPSHOT, REGION, index) for index in range(3)]
    assert [statuses[node] for node in tagged] == ["Success", "Success", "Pending"]
    items = ssm.list_compliance_items(
        ResourceTypes=["ManagedInstance"],
        Filters=[{"Key": "ComplianceType", "Values": ["Association"]}],
    )["ComplianceItems"]
    assert {item["ResourceId"] for item in items if item["Id"] == association} == set(tagged[:2])


def test_the_field_org_loads_and_serves(sim: Simulator, aws: AwsClients) -> None:
    org = load_org("field")
    accounts = {account.id: (path, account) for path, account in org.accounts()}
    assert len(accounts) + 1 == 40  # members and the management account
    assert not set(accounts) & {account.id for _p, account in load_org("demo").accounts()}
    assert org.regions == ["us-east-1", "eu-west-1", "ap-southeast-2"]
    paths = {path for path, _unit in org.units_with_paths()}
    assert {"/Workloads/Dev", "/Workloads/Test", "/Workloads/Prod", "/Legacy"} <= paths
    statuses = Counter(account.status for _path, account in accounts.values())
    assert statuses == {"ACTIVE": 36, "SUSPENDED": 2, "PENDING_CLOSURE": 1}
    assert any(account.inventory for _path, account in accounts.values())

    sim.load("field", None, speed=1.0, seed=0)
    assert sim.state()["org"]["name"] == "field"
    organizations = aws.client("organizations")  # as the delegated administrator
    listed = {
        account["Id"]: account["Status"]
        for page in organizations.get_paginator("list_accounts").paginate()
        for account in page["Accounts"]
    }
    assert len(listed) == 40
    closing = next(i for i, (_p, a) in accounts.items() if a.status == "PENDING_CLOSURE")
    assert listed[closing] == "PENDING_CLOSURE"
    assert organizations.describe_account(AccountId=closing)["Account"]["State"] == (
        "PENDING_CLOSURE"
    )
    assert sim.org.closed_or_closing(closing)
    assert not sim.org.closed_or_closing(org.delegated_admin)

    # /Legacy: registered nodes, some of them unreachable since before the start.
    legacy_accounts = [i for i, (path, _a) in accounts.items() if path == "/Legacy"]
    rows = [
        row
        for account in legacy_accounts
        for region in org.regions
        for row in _described(aws, account, region)
    ]
    pings = Counter(row["PingStatus"] for row in rows)
    assert pings["ConnectionLost"] > 0
    assert pings["Online"] > pings["ConnectionLost"]
    # Windows nodes are x86_64 only; ubuntu has arm64 nodes.
    archs = {(node.platform, node.arch) for node in sim.fleet}
    assert ("windows", "arm64") not in archs
    assert ("ubuntu", "arm64") in archs
