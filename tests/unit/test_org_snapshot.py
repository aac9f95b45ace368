"""The org file a snapshot writes, from plain records: counts, relevant tags only, sorted
and deterministic output, anonymized names, the delegated administrator chosen."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.org import Account, Organization, OrgUnit
from distributor_rollout.core.org_snapshot import (
    UNKNOWN,
    NodeRecord,
    Provenance,
    Readings,
    Unreadable,
    architecture,
    delegated_admin,
    layout_problems,
    org_file,
    platform_key,
    render,
    summarise,
)

ROOT = "r-ab12"
MANAGEMENT = "111111111111"
ADMIN = "222222222222"
PROVENANCE = Provenance(
    taken_at="2025-01-01T00:00:00+00:00", regions_from="--regions", role_name="R"
)

tag_keys = st.sampled_from(["Distributor", "Env", "Owner", "Secret"])
records = st.builds(
    NodeRecord,
    platform=st.sampled_from(["amazon", "ubuntu", "windows"]),
    platform_version=st.sampled_from(["2023", "22.04", "10.0.20348"]),
    arch=st.sampled_from(["x86_64", "arm64", UNKNOWN]),
    tags=st.dictionaries(tag_keys, st.sampled_from(["a", "b"]), max_size=3).map(
        lambda tags: tuple(sorted(tags.items()))
    ),
    online=st.booleans(),
)


def _org(*accounts: Account, units: tuple[OrgUnit, ...] | None = None) -> Organization:
    default_units = (
        OrgUnit("ou-ab12-aaaaaaaa", "Prod", ROOT),
        OrgUnit("ou-ab12-bbbbbbbb", "EU", "ou-ab12-aaaaaaaa"),
        OrgUnit("ou-ab12-cccccccc", "Security", ROOT),
    )
    return Organization(
        root_id=ROOT,
        management_account_id=MANAGEMENT,
        units=default_units if units is None else units,
        accounts=(
            Account(MANAGEMENT, "the-management", ROOT),
            Account(ADMIN, "the-admin", "ou-ab12-cccccccc"),
            *accounts,
        ),
    )


# --- mapping what SSM and EC2 say ------------------------------------------------------


@pytest.mark.parametrize(
    ("platform_type", "platform_name", "key"),
    [
        ("Linux", "Amazon Linux", "amazon"),
        ("Linux", "Amazon Linux AMI", "amazon"),
        ("Linux", "Ubuntu", "ubuntu"),
        ("Linux", "Red Hat Enterprise Linux Server", "redhat"),
        ("Linux", "CentOS Linux", "centos"),
        ("Linux", "SLES", "suse"),
        ("Linux", "SUSE Linux Enterprise Server", "suse"),
        ("Linux", "openSUSE Leap", "opensuseleap"),
        ("Linux", "Oracle Linux Server", "oracle"),
        ("Linux", "Rocky Linux", "rocky"),
        ("Linux", "AlmaLinux", "almalinux"),
        ("Linux", "Debian GNU/Linux", "debian"),
        ("Windows", "Microsoft Windows Server 2022 Datacenter", "windows"),
        ("MacOS", "macOS", "darwin"),
        ("Linux", "Free BSD!", "freebsd"),
        ("Linux", "", UNKNOWN),
    ],
)
def test_platform_names_map_to_manifest_keys(
    platform_type: str, platform_name: str, key: str
) -> None:
    assert platform_key(platform_type, platform_name) == key


@pytest.mark.parametrize(
    ("ec2", "arch"),
    [
        ("x86_64", "x86_64"),
        ("arm64", "arm64"),
        ("i386", "i386"),
        ("arm64_mac", "arm64"),
        ("x86_64_mac", "x86_64"),
        (None, UNKNOWN),
        ("sparc", UNKNOWN),
    ],
)
def test_architectures(ec2: str | None, arch: str) -> None:
    assert architecture(ec2) == arch


def test_a_record_keeps_shape_not_identity() -> None:
    record = NodeRecord.of(
        platform_type="Linux",
        platform_name="Ubuntu",
        platform_version=" ",
        ec2_architecture=None,
        tags={"Owner": "x", "Distributor": "enabled"},
        online=False,
    )
    assert record == NodeRecord(
        "ubuntu", UNKNOWN, UNKNOWN, (("Distributor", "enabled"), ("Owner", "x")), online=False
    )


# --- summarising ------------------------------------------------------------------------


@given(st.lists(records, max_size=60), st.sets(tag_keys))
def test_summary_counts_every_node_once_and_keeps_only_relevant_tags(
    nodes: list[NodeRecord], keys: set[str]
) -> None:
    entries = summarise(nodes, keys)

    assert sum(entry["count"] for entry in entries) == len(nodes)
    assert sum(entry["offline"] for entry in entries) == sum(not node.online for node in nodes)
    assert all(0 <= entry["offline"] <= entry["count"] and entry["count"] >= 1 for entry in entries)
    assert all(set(entry["tags"]) <= keys for entry in entries)
    shapes = [
        (e["platform"], e["platform_version"], e["arch"], tuple(sorted(e["tags"].items())))
        for e in entries
    ]
    assert shapes == sorted(set(shapes))  # one entry per shape, sorted
    expected = Counter(
        (n.platform, n.platform_version, n.arch, tuple((k, v) for k, v in n.tags if k in keys))
        for n in nodes
    )
    assert dict(zip(shapes, (e["count"] for e in entries), strict=True)) == dict(expected)


@given(st.lists(records, max_size=40), st.sets(tag_keys), st.randoms())
def test_summary_does_not_depend_on_node_order(
    nodes: list[NodeRecord], keys: set[str], shuffler: random.Random
) -> None:
    shuffled = list(nodes)
    shuffler.shuffle(shuffled)
    assert summarise(shuffled, keys) == summarise(nodes, keys)


# --- the org file -----------------------------------------------------------------------


names = st.text(alphabet="qwxz", min_size=6, max_size=12)


@st.composite
def organizations(draw: st.DrawFn) -> tuple[Organization, Readings]:
    count = draw(st.integers(min_value=0, max_value=8))
    ids = draw(
        st.lists(
            st.integers(min_value=300000000000, max_value=399999999999),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    parents = ["ou-ab12-aaaaaaaa", "ou-ab12-bbbbbbbb", "ou-ab12-cccccccc"]
    accounts = [
        Account(
            str(number),
            f"n{draw(names)}{index}",
            draw(st.sampled_from(parents)),
            draw(st.sampled_from(["ACTIVE", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE"])),
        )
        for index, number in enumerate(ids)
    ]
    org = _org(*accounts)
    nodes = {
        (account.id, region): draw(st.lists(records, max_size=6))
        for account in (*accounts, Account(ADMIN, "the-admin", parents[2]))
        if account.status == "ACTIVE"
        for region in ("us-east-1", "eu-west-1")
    }
    return org, Readings(nodes=nodes)


def _accounts(units: list[dict[str, object]]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for unit in units:
        found.extend(unit["accounts"])  # type: ignore[arg-type]
        found.extend(_accounts(unit["units"]))  # type: ignore[arg-type]
    return found


@given(organizations(), st.randoms())
def test_the_file_is_the_same_whatever_order_things_were_read_in(
    drawn: tuple[Organization, Readings], shuffler: random.Random
) -> None:
    org, readings = drawn
    accounts, units, node_items = list(org.accounts), list(org.units), list(readings.nodes.items())
    for items in (accounts, units, node_items):
        shuffler.shuffle(items)
    reordered = Organization(org.root_id, org.management_account_id, tuple(units), tuple(accounts))

    def text(organization: Organization, read: Readings) -> str:
        data = org_file(
            organization,
            name="t",
            admin=ADMIN,
            regions=["us-east-1", "eu-west-1"],
            readings=read,
            provenance=PROVENANCE,
        )
        return render(data)

    assert text(reordered, Readings(nodes=dict(node_items))) == text(org, readings)


@given(organizations(), st.booleans())
def test_the_file_holds_every_member_in_its_ou_with_its_node_counts(
    drawn: tuple[Organization, Readings], anonymize: bool
) -> None:
    org, readings = drawn
    provenance = Provenance(**{**PROVENANCE.__dict__, "anonymized": anonymize})
    data = org_file(
        org,
        name="t",
        admin=ADMIN,
        regions=["us-east-1", "eu-west-1"],
        readings=readings,
        provenance=provenance,
    )

    assert yaml.safe_load(render(data)) == data
    written = {str(a["id"]): a for a in _accounts(data["units"])}
    assert set(written) == {a.id for a in org.accounts} - {MANAGEMENT}
    assert data["management_account"]["id"] == MANAGEMENT
    for account in org.accounts:
        if account.id == MANAGEMENT:
            continue
        item = written[account.id]
        assert item["status"] == account.status
        inventory = item["inventory"]
        assert isinstance(inventory, dict)
        for region in ("us-east-1", "eu-west-1"):
            nodes = readings.nodes.get((account.id, region), [])
            assert sum(e["count"] for e in inventory.get(region, [])) == len(nodes)
            assert (region in inventory) == bool(nodes)
    text = render(data)
    if anonymize:
        assert not any(a.name in text for a in org.accounts)
        members = sorted(a.id for a in org.accounts if a.id != MANAGEMENT)
        assert [written[i]["name"] for i in members] == [
            f"account-{n}" for n in range(1, len(members) + 1)
        ]
    else:
        assert all(written[a.id]["name"] == a.name for a in org.accounts if a.id != MANAGEMENT)


def test_nesting_statuses_and_source() -> None:
    org = _org(
        Account("300000000002", "eu-one", "ou-ab12-bbbbbbbb"),
        Account("300000000001", "prod-one", "ou-ab12-aaaaaaaa", "CLOSED"),
        Account("300000000003", "loose", ROOT),
    )
    readings = Readings(
        nodes={
            ("300000000002", "eu-west-1"): [
                NodeRecord("amazon", "2023", "arm64", (("Distributor", "on"), ("Owner", "me")))
            ]
        },
        unreadable=[Unreadable(ADMIN, "cannot assume")],
        incomplete=[Unreadable("300000000002", "EC2 refused", "eu-west-1")],
    )
    provenance = Provenance(
        taken_at="2025-01-01T00:00:00+00:00",
        regions_from="plan 'x'",
        role_name="Reader",
        tag_keys=("Distributor",),
    )

    data = org_file(
        org,
        name="mine",
        admin=ADMIN,
        regions=["us-east-1", "eu-west-1"],
        readings=readings,
        provenance=provenance,
    )

    assert data["name"] == "mine"
    assert data["regions"] == ["eu-west-1", "us-east-1"]
    assert data["management_account"] == {"id": MANAGEMENT, "name": "the-management"}
    assert [unit["name"] for unit in data["units"]] == ["Prod", "Security"]
    prod = data["units"][0]
    assert prod["accounts"] == [
        {"id": "300000000001", "name": "prod-one", "status": "SUSPENDED", "inventory": {}}
    ]
    (eu,) = prod["units"]
    assert eu["accounts"][0]["inventory"] == {
        "eu-west-1": [
            {
                "platform": "amazon",
                "platform_version": "2023",
                "arch": "arm64",
                "tags": {"Distributor": "on"},
                "count": 1,
                "offline": 0,
            }
        ]
    }
    assert data["source"] == {
        "by": "distributor_rollout snapshot",
        "taken_at": "2025-01-01T00:00:00+00:00",
        "anonymized": False,
        "regions_from": "plan 'x'",
        "role_name": "Reader",
        "tag_keys": ["Distributor"],
        "unreadable": [{"account": ADMIN, "reason": "cannot assume"}],
        "incomplete": [{"account": "300000000002", "region": "eu-west-1", "reason": "EC2 refused"}],
        "accounts_in_root": ["300000000003"],
    }
    text = render(data)
    assert text.startswith("# An organization snapshot")
    assert "Owner" not in text  # a tag key the snapshot was not asked for


def test_the_management_account_in_an_ou_is_written_once() -> None:
    org = Organization(
        ROOT,
        MANAGEMENT,
        (OrgUnit("ou-ab12-cccccccc", "Security", ROOT),),
        (Account(MANAGEMENT, "m", "ou-ab12-cccccccc"), Account(ADMIN, "a", "ou-ab12-cccccccc")),
    )
    data = org_file(
        org,
        name="t",
        admin=ADMIN,
        regions=["us-east-1"],
        readings=Readings(),
        provenance=PROVENANCE,
    )
    assert [a["id"] for a in data["units"][0]["accounts"]] == [ADMIN]


# --- what is checked before reading -----------------------------------------------------


def test_layout_problems_name_what_awssim_could_not_load() -> None:
    org = _org(
        Account("300000000001", "x" * 51, "ou-ab12-aaaaaaaa"),
        units=(
            OrgUnit("ou-ab12-aaaaaaaa", "Prod (EU)", ROOT),
            OrgUnit("ou-ab12-cccccccc", "Security", ROOT),
        ),
    )
    problems = layout_problems(org, "300000000009")
    assert [p.path for p in problems] == [
        "/Prod (EU)",
        "accounts[300000000001].name",
        "delegated_admin",
    ]
    assert [p.path for p in layout_problems(org, ADMIN, anonymize=True)] == ["/Prod (EU)"]
    assert layout_problems(_org(), ADMIN) == []


def test_delegated_admin_is_the_registered_caller() -> None:
    assert delegated_admin(ADMIN, MANAGEMENT, [ADMIN, "333333333333"]) == (ADMIN, [])


def test_an_unregistered_or_unknown_caller_is_named_with_a_warning() -> None:
    chosen, warnings = delegated_admin(ADMIN, MANAGEMENT, ["333333333333"])
    assert chosen == ADMIN
    assert "not registered" in warnings[0]
    assert "333333333333" in warnings[0]
    chosen, warnings = delegated_admin(ADMIN, MANAGEMENT, None)
    assert chosen == ADMIN
    assert "could not read" in warnings[0]


def test_from_the_management_account_the_registered_admin_is_named() -> None:
    chosen, warnings = delegated_admin(MANAGEMENT, MANAGEMENT, ["444444444444", ADMIN])
    assert chosen == ADMIN
    assert "management account" in warnings[0]
    with pytest.raises(ValidationError, match="no StackSets delegated administrator"):
        delegated_admin(MANAGEMENT, MANAGEMENT, [])
