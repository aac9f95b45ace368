"""OrganizationsHook: the organization snapshot, at a cost proportional to OUs."""

from __future__ import annotations

import math
from typing import Any

from awssim.simulator import Simulator
from distributor_rollout.core.org import Organization
from distributor_rollout.hooks.organizations import PAGE_SIZE, OrganizationsHook


def counted_snapshot(conn: str, scope: list[str] | None = None) -> tuple[Organization, list[str]]:
    """A snapshot (scoped to ``scope`` when given), and every Organizations request it made."""
    hook = OrganizationsHook(aws_conn_id=conn)
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    hook.conn.meta.events.register("before-call.organizations", count)
    return hook.snapshot(scope), calls


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


def test_a_scoped_snapshot_reads_the_named_subtrees_and_the_way_to_them(
    sim: Simulator, aws_conn: str
) -> None:
    sim.load("synthetic:600:30:4", None, speed=1.0, seed=0)
    whole, whole_calls = counted_snapshot(aws_conn)
    deep = max((p for p in whole.id_by_path if p.count("/") == 3), key=len)
    top = "/" + deep.strip("/").split("/")[0]
    sibling = next(p for p in whole.id_by_path if p.count("/") == 1 and p not in {top, "/"})

    org, calls = counted_snapshot(aws_conn, [deep, sibling + "/"])

    for path in (deep, sibling):
        # The same subtree, OUs and accounts, as the whole organization has.
        ou_id = whole.id_by_path[path]
        assert org.id_by_path[path] == ou_id
        assert {a.id for a in org.accounts_under(ou_id)} == {
            a.id for a in whole.accounts_under(ou_id)
        }
        assert {org.path_of(u) for u in org.subtree(ou_id)} == {
            whole.path_of(u) for u in whole.subtree(ou_id)
        }
    # The way down to the deep OU is there (its OUs, none of their own accounts); nothing
    # else is.
    ancestors = {"/" + "/".join(deep.strip("/").split("/")[:n]) for n in (1, 2)}
    wanted = {whole.path_of(u) for p in (deep, sibling) for u in whole.subtree(whole.id_by_path[p])}
    assert set(org.id_by_path) == {"/"} | ancestors | wanted
    assert not any(org.accounts_by_parent.get(org.id_by_path[p]) for p in ancestors)

    # Per OU on the way, its child OU list; per wanted OU, its child OUs and its accounts.
    def pages(items: int) -> int:
        return max(1, math.ceil(items / PAGE_SIZE))

    def children(path: str) -> int:
        return sum(1 for u in whole.units if u.parent_id == whole.id_by_path[path])

    def held(path: str) -> int:
        return len(whole.accounts_by_parent.get(whole.id_by_path[path], []))

    fewest = 2 + sum(pages(children(p)) for p in {"/"} | ancestors)
    fewest += sum(pages(children(p)) + pages(held(p)) for p in wanted)
    assert len(calls) == fewest < len(whole_calls)


def test_a_scope_naming_the_root_or_an_ou_id_reads_everything(
    sim: Simulator, aws_conn: str
) -> None:
    whole, whole_calls = counted_snapshot(aws_conn)
    prod = whole.id_by_path["/Prod"]
    for scope in (["/"], ["/Prod", prod]):
        org, calls = counted_snapshot(aws_conn, scope)
        assert org == whole
        assert len(calls) == len(whole_calls)


def test_a_scoped_path_that_names_no_ou_is_missing_from_the_snapshot(
    sim: Simulator, aws_conn: str
) -> None:
    org, _ = counted_snapshot(aws_conn, ["/Prod/Nowhere", "/Nowhere"])
    assert "/Prod/Nowhere" not in org.id_by_path
    assert "/Nowhere" not in org.id_by_path
    assert "/Prod" in org.id_by_path
    assert not org.accounts
