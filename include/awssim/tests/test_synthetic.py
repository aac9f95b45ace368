"""Synthetic organizations: the two-level shape stays as it was, and a depth can be asked for."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awssim.orgspec import OrgSpec, OrgSpecError, load_org
from awssim.synthetic import DELEGATED_ADMIN, level_sizes

PAGE = 20  # ListAccountsForParent's largest page


def _depths(org: OrgSpec) -> Counter[int]:
    return Counter(path.count("/") for path, _unit in org.units_with_paths())


def test_without_a_depth_the_shape_is_two_levels_as_before() -> None:
    org = load_org("synthetic:600:12")
    units = dict(org.units_with_paths())
    assert _depths(org) == {1: 4, 2: 12}
    assert {path for path in units if path.count("/") == 1} == {
        "/Sandbox",
        "/NonProd",
        "/Prod",
        "/Security",
    }
    # Every member sits in a leaf, 50 in each of the 12.
    assert {len(unit.accounts) for path, unit in units.items() if path != "/Security"} == {0, 50}
    assert units["/Sandbox/Unit0000"].accounts[0].id == "400000000000"


def test_the_issue_org_has_250_ous_four_levels_deep_and_5000_members() -> None:
    org = load_org("synthetic:5000:250:4")
    units = dict(org.units_with_paths())

    assert len(units) == 250
    assert sorted(_depths(org)) == [1, 2, 3, 4]
    members = [account.id for _path, account in org.accounts()]
    assert len(members) == len(set(members)) == 5001  # and the delegated admin
    assert org.delegated_admin == DELEGATED_ADMIN
    assert [a.id for a in units["/Security"].accounts] == [DELEGATED_ADMIN]
    leaves = [unit for path, unit in units.items() if not unit.units and path != "/Security"]
    inner = [unit for unit in units.values() if unit.units]
    # Accounts in leaves and in the OUs above them; leaves hold more, some over a page.
    assert all(unit.accounts for unit in leaves + inner)
    assert min(len(u.accounts) for u in leaves) > max(len(u.accounts) for u in inner)
    assert any(len(unit.accounts) > PAGE for unit in leaves)
    # Leaves at more than one depth: the tree is not a full one.
    assert len({path.count("/") for path, unit in units.items() if not unit.units}) > 1


def test_a_synthetic_org_is_the_same_every_time() -> None:
    assert load_org("synthetic:300:20:3") == load_org("synthetic:300:20:3")


@settings(max_examples=40, deadline=None)
@given(
    accounts=st.integers(min_value=1, max_value=300),
    depth=st.integers(min_value=1, max_value=6),
    extra_units=st.integers(min_value=0, max_value=60),
)
def test_any_size_and_depth_gives_exactly_that_shape(
    accounts: int, depth: int, extra_units: int
) -> None:
    units = depth + 1 + extra_units
    org = load_org(f"synthetic:{accounts}:{units}:{depth}")

    paths = [path for path, _unit in org.units_with_paths()]
    assert len(paths) == units
    assert max(_depths(org)) == depth
    assert sum(1 for _ in org.accounts()) == accounts + 1
    siblings = Counter(paths)
    assert max(siblings.values()) == 1  # OU names are unique under each parent


@pytest.mark.parametrize(("total", "depth"), [(249, 4), (19, 3), (4, 4), (10, 1), (2, 2)])
def test_every_level_has_an_ou_and_the_levels_add_up(total: int, depth: int) -> None:
    sizes = level_sizes(total, depth)
    assert len(sizes) == depth
    assert sum(sizes) == total
    assert min(sizes) >= 1


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("synthetic:10:3:4", "depth 4 needs depth >= 1 and at least depth \\+ 1 OUs"),
        ("synthetic:10:3:0", "depth 0 needs depth >= 1"),
        ("synthetic:0:3:2", "accounts >= 1"),
    ],
)
def test_impossible_shapes_say_what_is_needed(ref: str, message: str) -> None:
    with pytest.raises(OrgSpecError, match=message):
        load_org(ref)
