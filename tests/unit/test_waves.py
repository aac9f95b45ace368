"""Wave resolution against organization snapshots, fixed and random."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributor_rollout.core.org import Account, Organization, OrgUnit
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan, validate_plan
from distributor_rollout.core.targets import Target
from distributor_rollout.core.waves import (
    FILTERED_OUT,
    SKIP_MANAGEMENT,
    ResolvedWave,
    SkippedAccount,
    organization_scope,
    render_waves,
    resolve_waves,
)

ROOT = "r-test"
MANAGEMENT = "100000000000"


def _plan(waves: list[dict[str, Any]]) -> Plan:
    return validate_plan(
        {
            "name": "waves",
            "package": {
                "name": "WavePackage",
                "version": "1",
                "source": ".",
                "bucket": "b-{region}",
                "folder": "f",
            },
            "stack_set": {
                "name": "s",
                "region": "us-east-1",
                "artifacts_bucket": "artifacts",
                "compliance_reader": {"create": False},
            },
            "association": {"name": "assoc"},
            "waves": waves,
        }
    )


@pytest.fixture
def example_org(example_org_path: Path) -> Organization:
    return Organization.from_dict(json.loads(example_org_path.read_text()))


def test_example_plan_resolves(example_org: Organization, example_plan_path: Path) -> None:
    resolution = resolve_waves(load_plan(example_plan_path), example_org)
    assert resolution.problems == ()
    canary, nonprod, prod = resolution.waves
    assert canary.regions == ("us-east-1",)
    assert len(canary.targets) == 2
    assert [s.reason for s in nonprod.skipped] == [
        "account is SUSPENDED: StackSets skip it (SKIPPED_SUSPENDED_ACCOUNT)"
    ]
    assert len(nonprod.accounts) == 4
    # /Prod includes its child /Prod/EU.
    eu = example_org.id_by_path["/Prod/EU"]
    eu_accounts = {a.id for a in example_org.accounts_by_parent[eu]}
    assert eu_accounts <= set(prod.accounts)
    assert len(prod.targets) == 7 * 3
    assert prod.targets[0].region == "us-east-1"  # Region-major, in Region order
    table = render_waves(resolution, example_org)
    assert "prod     /Prod     us-east-1, us-west-2, eu-west-1  7         21" in table


def test_management_account_and_filters(example_org: Organization) -> None:
    sandbox = example_org.id_by_path["/Sandbox"]
    first, second = sorted(a.id for a in example_org.accounts_under(sandbox))
    plan = _plan(
        [
            {
                "name": "root",
                "ous": ["/"],
                "regions": ["us-east-1"],
                "accounts": {"ids": [MANAGEMENT, "111111111111"], "filter": "INTERSECTION"},
            },
            {
                "name": "only",
                "ous": [sandbox],
                "regions": ["eu-west-1"],
                "accounts": {"ids": [first, "999999999999"], "filter": "INTERSECTION"},
            },
            {
                "name": "rest",
                "ous": ["/Sandbox"],
                "regions": ["us-west-2"],
                "accounts": {"ids": [first], "filter": "DIFFERENCE"},
            },
        ]
    )
    resolution = resolve_waves(plan, example_org)
    root, only, rest = resolution.waves
    assert root.accounts == ()
    assert [(s.account_id, s.reason) for s in root.skipped] == [("111111111111", SKIP_MANAGEMENT)]
    assert only.accounts == (first,)
    assert only.deployment_targets() == {
        "OrganizationalUnitIds": [sandbox],
        "AccountFilterType": "INTERSECTION",
        "Accounts": [first, "999999999999"],
    }
    assert rest.accounts == (second,)
    assert any("999999999999" in w and "not under the wave's OUs" in w for w in resolution.warnings)
    assert any("wave root: no account to deploy to" in w for w in resolution.warnings)


def test_overlap_between_waves_is_an_error(example_org: Organization) -> None:
    plan = _plan(
        [
            {"name": "eu", "ous": ["/Prod/EU"], "regions": ["eu-west-1"]},
            {"name": "prod", "ous": ["/Prod"], "regions": ["eu-west-1", "us-east-1"]},
        ]
    )
    resolution = resolve_waves(plan, example_org)
    (problem,) = resolution.problems
    assert problem.path == "waves[1]"
    assert "reaches targets wave 'eu' already deploys" in problem.message
    eu = example_org.id_by_path["/Prod/EU"]
    for account in example_org.accounts_by_parent[eu]:
        assert f"{account.id}/eu-west-1" in problem.message
    assert "/us-east-1" not in problem.message


def test_unknown_ou_is_an_error(example_org: Organization) -> None:
    plan = _plan([{"name": "w", "ous": ["/Nope", "ou-zz99-zzzzzzzz"], "regions": ["us-east-1"]}])
    problems = resolve_waves(plan, example_org).problems
    assert [p.path for p in problems] == ["waves[0].ous[0]", "waves[0].ous[1]"]
    assert all("not in the organization" in p.message for p in problems)


def test_resolved_wave_round_trips(example_org: Organization) -> None:
    plan = _plan([{"name": "w", "ous": ["/NonProd"], "regions": ["us-east-1"]}])
    (wave,) = resolve_waves(plan, example_org).waves
    assert ResolvedWave.from_dict(json.loads(json.dumps(wave.to_dict()))) == wave


# --- random organizations ------------------------------------------------------------


@st.composite
def organizations(draw: st.DrawFn) -> Organization:
    unit_count = draw(st.integers(min_value=1, max_value=12))
    units: list[OrgUnit] = []
    for index in range(unit_count):
        parent = draw(st.sampled_from([ROOT, *(u.id for u in units)]))
        units.append(OrgUnit(f"ou-test-{index:08d}", f"unit{index}", parent))
    parents = [ROOT, *(u.id for u in units)]
    account_count = draw(st.integers(min_value=0, max_value=30))
    accounts = [
        Account(
            f"{200000000000 + index}",
            f"account{index}",
            draw(st.sampled_from(parents)),
            draw(st.sampled_from(["ACTIVE", "ACTIVE", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE"])),
        )
        for index in range(account_count)
    ]
    management_parent = draw(st.sampled_from(parents))
    accounts.append(Account(MANAGEMENT, "management", management_parent))
    return Organization(ROOT, MANAGEMENT, tuple(units), tuple(accounts))


def _eligible(org: Organization, ou: str) -> set[str]:
    return {a.id for a in org.accounts_under(ou) if a.status == "ACTIVE" and a.id != MANAGEMENT}


def _is_ancestor(org: Organization, ancestor: str, unit: str) -> bool:
    return unit in set(org.subtree(ancestor))


@settings(max_examples=150, deadline=None)
@given(org=organizations(), data=st.data())
def test_every_eligible_account_is_in_exactly_one_wave(
    org: Organization, data: st.DataObject
) -> None:
    # Pick OUs none of which contains another, and deal them into waves.
    candidates = [u.id for u in org.units]
    chosen: list[str] = []
    for unit in data.draw(st.permutations(candidates)):
        if not any(_is_ancestor(org, c, unit) or _is_ancestor(org, unit, c) for c in chosen):
            chosen.append(unit)
    chosen = chosen[: data.draw(st.integers(min_value=1, max_value=len(chosen)))]
    wave_count = data.draw(st.integers(min_value=1, max_value=len(chosen)))
    dealt = [chosen[i::wave_count] for i in range(wave_count)]
    plan = _plan(
        [{"name": f"w{i}", "ous": ous, "regions": ["us-east-1"]} for i, ous in enumerate(dealt)]
    )

    resolution = resolve_waves(plan, org)

    assert resolution.problems == ()
    seen: list[str] = []
    for wave, ous in zip(resolution.waves, dealt, strict=True):
        expected = set().union(*(_eligible(org, ou) for ou in ous))
        assert set(wave.accounts) == expected
        assert wave.targets == tuple(Target(a, "us-east-1") for a in wave.accounts)
        skipped = {s.account_id for s in wave.skipped}
        assert MANAGEMENT not in wave.accounts
        assert skipped.isdisjoint(wave.accounts)
        seen.extend(wave.accounts)
    assert len(seen) == len(set(seen))
    targeted = set().union(*(set(org.subtree(ou)) for ou in chosen))
    outside = {a.id for a in org.accounts if a.parent_id not in targeted}
    assert outside.isdisjoint(seen)


@settings(max_examples=100, deadline=None)
@given(org=organizations(), data=st.data())
def test_nested_ous_in_two_waves_overlap(org: Organization, data: st.DataObject) -> None:
    unit = data.draw(st.sampled_from(org.units))
    plan = _plan(
        [
            {"name": "child", "ous": [unit.id], "regions": ["us-east-1"]},
            {"name": "parent", "ous": [unit.parent_id], "regions": ["us-east-1"]},
        ]
    )
    resolution = resolve_waves(plan, org)
    assert bool(resolution.problems) == bool(_eligible(org, unit.id))


def test_accounts_the_filter_leaves_out_are_kept_with_why(example_org: Organization) -> None:
    sandbox = sorted(a.id for a in example_org.accounts_under(example_org.id_by_path["/Sandbox"]))
    plan = _plan(
        [
            {
                "name": "first",
                "ous": ["/Sandbox"],
                "regions": ["us-east-1"],
                "accounts": {"ids": [sandbox[0]], "filter": "INTERSECTION"},
            },
            {
                "name": "rest",
                "ous": ["/Sandbox"],
                "regions": ["us-west-2"],
                "accounts": {"ids": [sandbox[0]], "filter": "DIFFERENCE"},
            },
        ]
    )
    first, rest = resolve_waves(plan, example_org).waves
    assert first.filtered == (SkippedAccount(sandbox[1], FILTERED_OUT["INTERSECTION"]),)
    assert rest.filtered == (SkippedAccount(sandbox[0], FILTERED_OUT["DIFFERENCE"]),)
    assert ResolvedWave.from_dict(json.loads(json.dumps(rest.to_dict()))) == rest


def test_a_record_without_filtered_reads_as_none_filtered(example_org: Organization) -> None:
    plan = _plan([{"name": "w", "ous": ["/NonProd"], "regions": ["us-east-1"]}])
    (wave,) = resolve_waves(plan, example_org).waves
    stored = wave.to_dict()
    del stored["filtered"]  # as written before filtered existed
    assert ResolvedWave.from_dict(stored) == wave


def test_render_lists_each_waves_accounts_and_exclusions(example_org: Organization) -> None:
    plan = _plan(
        [
            {"name": "eu", "ous": ["/Prod/EU"], "regions": ["eu-west-1"]},
            {
                "name": "prod",
                "ous": ["/Prod"],
                "regions": ["eu-west-1"],
                "accounts": {"ids": ["301222222222"], "filter": "DIFFERENCE"},
            },
            {"name": "nonprod", "ous": ["/NonProd"], "regions": ["us-east-1"]},
        ]
    )
    resolution = resolve_waves(plan, example_org)
    text = render_waves(
        resolution, example_org, {"eu": ["3 nodes"]}, ["a warning from elsewhere"]
    ).splitlines()
    eu = text.index("wave eu: /Prod/EU; Regions in order: eu-west-1")
    assert text[eu + 1 : eu + 3] == [
        "  reaches 3 accounts: 301222222222 prod-eu-1, 301333333333 prod-eu-2, 301444444444 "
        "prod-eu-3",
        "  3 nodes",
    ]
    assert (
        "  excludes 301222222222 prod-eu-1: in the wave's account filter (DIFFERENCE); "
        "wave eu deploys it"
    ) in text
    assert "  reaches again 301333333333 prod-eu-2: wave eu already deploys it" in text
    assert (
        "  excludes 300666666667 nonprod-old: account is SUSPENDED: StackSets skip it "
        "(SKIPPED_SUSPENDED_ACCOUNT)"
    ) in text
    assert "warning: a warning from elsewhere" in text
    assert text[-1].startswith("error: waves[1]: reaches targets wave 'eu' already deploys")


def test_long_account_lists_wrap_between_accounts() -> None:
    accounts = tuple(Account(f"{200000000000 + i}", f"name-{i}", ROOT) for i in range(30))
    org = Organization(ROOT, MANAGEMENT, (), (*accounts, Account(MANAGEMENT, "m", ROOT)))
    plan = _plan([{"name": "all", "ous": ["/"], "regions": ["us-east-1"]}])
    lines = render_waves(resolve_waves(plan, org), org).splitlines()
    start = lines.index("wave all: /; Regions in order: us-east-1") + 1
    listed = [line for line in lines[start:] if line.startswith(("  reaches", "    "))]
    assert all(len(line) <= 100 for line in listed)
    joined = " ".join(line.strip() for line in listed).removeprefix("reaches 30 accounts: ")
    assert joined.split(", ") == [f"{a.id} {a.name}" for a in accounts]


@settings(max_examples=100, deadline=None)
@given(org=organizations(), data=st.data())
def test_every_account_under_a_wave_is_reached_skipped_or_filtered(
    org: Organization, data: st.DataObject
) -> None:
    unit = data.draw(st.sampled_from([ROOT, *(u.id for u in org.units)]))
    under = {a.id for a in org.accounts_under(unit)}
    ids = data.draw(st.lists(st.sampled_from(sorted(under | {"999999999999"})), min_size=1))
    kind = data.draw(st.sampled_from(["INTERSECTION", "DIFFERENCE"]))
    plan = _plan(
        [
            {
                "name": "w",
                "ous": [unit],
                "regions": ["us-east-1"],
                "accounts": {"ids": ids, "filter": kind},
            }
        ]
    )
    (wave,) = resolve_waves(plan, org).waves
    skipped = {s.account_id for s in wave.skipped}
    filtered = {f.account_id for f in wave.filtered}
    assert set(wave.accounts) | skipped | filtered == under
    assert len(wave.accounts) + len(skipped) + len(filtered) == len(under)
    assert filtered == (under - set(ids) if kind == "INTERSECTION" else under & set(ids))


def test_the_organization_scope_is_every_ou_the_waves_name_once(
    example_org: Organization,
) -> None:
    plan = _plan(
        [
            {"name": "canary", "ous": ["/Sandbox"], "regions": ["us-east-1"]},
            {"name": "rest", "ous": ["/NonProd", "/Prod/"], "regions": ["us-east-1"]},
        ]
    )
    assert organization_scope(plan) == ("/Sandbox", "/NonProd", "/Prod/")
    # Resolving against a snapshot holding only those subtrees gives the same waves.
    scoped_units = [
        unit
        for unit in example_org.units
        if any(
            example_org.path_of(unit.id) == path
            or example_org.path_of(unit.id).startswith(path + "/")
            for path in ("/Sandbox", "/NonProd", "/Prod")
        )
    ]
    kept = {unit.id for unit in scoped_units}
    scoped = Organization(
        example_org.root_id,
        example_org.management_account_id,
        tuple(scoped_units),
        tuple(a for a in example_org.accounts if a.parent_id in kept),
    )
    assert resolve_waves(plan, scoped).waves == resolve_waves(plan, example_org).waves
