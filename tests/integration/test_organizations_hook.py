"""OrganizationsHook: the organization snapshot, at a cost proportional to OUs."""

from __future__ import annotations

import math
from typing import Any

from awssim.simulator import Simulator
from distributor_rollout.core.org import Organization
from distributor_rollout.hooks.organizations import PAGE_SIZE, OrganizationsHook


def counted_snapshot(conn: str) -> tuple[Organization, list[str]]:
    """A snapshot, and every Organizations request it made."""
    hook = OrganizationsHook(aws_conn_id=conn)
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    hook.conn.meta.events.register("before-call.organizations", count)
    return hook.snapshot(), calls


def test_the_demo_snapshot_matches_the_simulated_organization(
    sim: Simulator, aws_conn: str
) -> None:
    org, _ = counted_snapshot(aws_conn)

    assert org.root_id == sim.org.root_id
    assert org.management_account_id == "111111111111"
    assert org.id_by_path == {"/": sim.org.root_id, **sim.org.ou_ids_by_path}
    assert {a.id for a in org.accounts} == sim.org.account_ids()
    suspended = {a.id for a in org.accounts if a.status != "ACTIVE"}
    assert suspended == {"300666666667"}
    nonprod = sim.org.ou_ids_by_path["/NonProd"]
    assert {a.parent_id for a in org.accounts if a.id == "300222222223"} == {nonprod}
    # Nested OUs: /Prod reaches /Prod/EU's accounts.
    assert "301222222222" in {a.id for a in org.accounts_under(sim.org.ou_ids_by_path["/Prod"])}


def test_calls_grow_with_ous_not_accounts(sim: Simulator, aws_conn: str) -> None:
    sim.load("synthetic:600:12", None, speed=1.0, seed=0)

    org, calls = counted_snapshot(aws_conn)

    accounts, parents = len(org.accounts), len(org.units) + 1
    assert accounts == len(sim.org.account_ids()) > 600
    assert len(org.units) == 16  # 12 leaves under 3 top-level OUs, and Security
    # Two lists per parent, plus the extra pages of 20 accounts, plus two for the root.
    bound = 2 + 2 * parents + math.ceil(accounts / PAGE_SIZE)
    assert len(calls) <= bound < accounts / 5
    assert calls.count("ListOrganizationalUnitsForParent") == parents
    assert calls[:2] == ["DescribeOrganization", "ListRoots"]


def test_a_deep_organization_is_read_whole_in_the_fewest_calls(
    sim: Simulator, aws_conn: str
) -> None:
    # 4 levels, leaves at several depths, accounts in inner OUs too, some OUs over a page.
    sim.load("synthetic:600:30:4", None, speed=1.0, seed=0)

    org, calls = counted_snapshot(aws_conn)

    assert org.id_by_path == {"/": sim.org.root_id, **sim.org.ou_ids_by_path}
    assert max(path.count("/") for path in org.id_by_path) == 4
    for path, unit in sim.org_spec.units_with_paths():
        held = org.accounts_by_parent[org.id_by_path[path]]
        assert {a.id for a in held} == {a.id for a in unit.accounts}
    parents = [org.root_id, *(unit.id for unit in org.units)]
    assert any(len(org.accounts_by_parent.get(p, [])) > PAGE_SIZE for p in parents)
    # Each parent: its child OUs and its accounts, in pages of 20 (an empty list is one
    # call); no describe call per OU or account.
    children = {p: sum(1 for u in org.units if u.parent_id == p) for p in parents}
    fewest = 2 + sum(
        max(1, math.ceil(children[p] / PAGE_SIZE))
        + max(1, math.ceil(len(org.accounts_by_parent.get(p, [])) / PAGE_SIZE))
        for p in parents
    )
    assert len(calls) == fewest
    assert set(calls) == {
        "DescribeOrganization",
        "ListRoots",
        "ListOrganizationalUnitsForParent",
        "ListAccountsForParent",
    }
