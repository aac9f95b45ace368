"""What waves reach in an org file's fleet: counts, manifest coverage, warnings."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributor_rollout.core.manifest import PlatformTarget
from distributor_rollout.core.org import Account, Organization, OrgUnit
from distributor_rollout.core.org_file import NodeGroup
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import validate_plan
from distributor_rollout.core.reach import (
    NodeCount,
    has_file,
    plan_reach,
    reach_warnings,
    render_reach,
    snapshot_warnings,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.waves import resolve_waves

ROOT = "r-test"
MANAGEMENT = "100000000000"
PROD, LEGACY, EMPTY = "ou-test-00000001", "ou-test-00000002", "ou-test-00000003"
TAGGED = (("Distributor", "enabled"),)
EXAMPLE_PACKAGE = frozenset(
    {
        PlatformTarget("amazon", "_any", "x86_64"),
        PlatformTarget("ubuntu", "_any", "x86_64"),
        PlatformTarget("windows", "_any", "_any"),
    }
)


def _org() -> Organization:
    return Organization(
        ROOT,
        MANAGEMENT,
        (
            OrgUnit(PROD, "Prod", ROOT),
            OrgUnit(LEGACY, "Legacy", ROOT),
            OrgUnit(EMPTY, "Empty", ROOT),
        ),
        (
            Account(MANAGEMENT, "management", ROOT),
            Account("200000000001", "prod-1", PROD),
            Account("200000000002", "prod-2", PROD),
            Account("200000000003", "legacy-1", LEGACY),
            Account("200000000004", "empty-1", EMPTY),
        ),
    )


def _plan(waves: list[dict[str, Any]], tag: bool = True, **gate: Any) -> Plan:
    association: dict[str, Any] = {"name": "assoc"}
    if tag:
        association |= {"target_tag_key": "Distributor", "target_tag_value": "enabled"}
    return validate_plan(
        {
            "name": "reach",
            "package": {
                "name": "ReachPackage",
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
            "association": association,
            "defaults": {"gate": {"min_nodes": 3, **gate}},
            "waves": waves,
        }
    )


def _group(
    platform: str = "amazon",
    arch: str = "x86_64",
    *,
    count: float = 10,
    offline: float = 0,
    tags: tuple[tuple[str, str], ...] = TAGGED,
    estimated: bool = False,
    version: str = "2023",
) -> NodeGroup:
    return NodeGroup(platform, version, arch, tags, count, offline, estimated)


NODES = {
    Target("200000000001", "us-east-1"): (
        _group(count=100, offline=2),
        _group("ubuntu", "arm64", count=14, version="24.04"),
        _group("windows", "arm64", count=5),
        _group(count=7, tags=()),
    ),
    Target("200000000002", "eu-west-1"): (_group(count=20),),
    Target("200000000003", "us-east-1"): (_group(count=4, offline=4),),
    Target("200000000004", "us-east-1"): (_group(count=3, tags=(("Distributor", "no"),)),),
}
WAVES = [
    {"name": "prod", "ous": ["/Prod"], "regions": ["us-east-1", "eu-west-1"]},
    {"name": "legacy", "ous": ["/Legacy"], "regions": ["us-east-1"]},
    {"name": "empty", "ous": ["/Empty"], "regions": ["us-east-1"]},
]


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (PlatformTarget("amazon", "2023", "x86_64"), True),
        (PlatformTarget("amazon", "2023", "arm64"), False),
        (PlatformTarget("windows", "10.0.20348", "arm64"), True),
        (PlatformTarget("ubuntu", "24.04", "unknown"), True),  # read as x86_64, as awssim
        (PlatformTarget("redhat", "9", "x86_64"), False),
    ],
)
def test_a_node_gets_a_file_as_distributor_picks_one(node: PlatformTarget, expected: bool) -> None:
    assert has_file(EXAMPLE_PACKAGE, node) is expected


def test_an_exact_version_is_kept_even_without_its_arch() -> None:
    # Distributor (and awssim) pick the version level first and never step back to _any.
    packages = {PlatformTarget("amazon", "2023", "arm64"), PlatformTarget("amazon", "_any", "_any")}
    assert not has_file(packages, PlatformTarget("amazon", "2023", "x86_64"))
    assert has_file(packages, PlatformTarget("amazon", "2", "x86_64"))


def test_wave_reach_counts_targeted_nodes_by_platform_and_offline_apart() -> None:
    plan = _plan(WAVES)
    resolution = resolve_waves(plan, _org())
    prod, legacy, empty = plan_reach(plan, resolution, NODES, EXAMPLE_PACKAGE)
    assert prod.total == NodeCount(139, 2)
    assert prod.untargeted == NodeCount(7, 0)
    assert prod.by_platform() == {
        ("amazon", "x86_64"): NodeCount(120, 2),
        ("ubuntu", "arm64"): NodeCount(14),
        ("windows", "arm64"): NodeCount(5),
    }
    assert prod.no_file == {PlatformTarget("ubuntu", "24.04", "arm64"): NodeCount(14)}
    assert legacy.total == NodeCount(4, 4)
    assert empty.total == NodeCount()
    assert empty.untargeted == NodeCount(3)


def test_without_a_tag_the_association_targets_every_managed_node() -> None:
    plan = _plan(WAVES[:1], tag=False)
    (prod,) = plan_reach(plan, resolve_waves(plan, _org()), NODES)
    assert prod.total == NodeCount(146, 2)
    assert prod.untargeted == NodeCount()
    assert prod.no_file is None  # no manifest given: nothing checked


def test_warnings_say_what_would_make_a_wave_fail() -> None:
    plan = _plan(WAVES)
    resolution = resolve_waves(plan, _org())
    reaches = plan_reach(plan, resolution, NODES, EXAMPLE_PACKAGE)
    assert reach_warnings(plan, resolution, reaches, EXAMPLE_PACKAGE) == [
        "wave prod: 14 ubuntu 24.04 arm64 nodes the association targets have no file in the "
        "package's manifest (it has ubuntu/_any/x86_64): their association will fail",
        "wave prod: with 14 of 139 targeted nodes failing for want of a file, at most 89.9% "
        "can comply: the gate's threshold 95% is unreachable",
        "wave legacy: the gate needs 3 nodes to report (min_nodes) but the wave reaches 0 "
        "online nodes the association targets: the gate cannot pass",
        "wave legacy: 4 of 4 targeted nodes (100%) are offline, above the gate's "
        "max_offline_percent 20%: it does not pass until enough of them report again",
        "wave empty reaches no managed node the association targets (tag "
        "Distributor=enabled): its gate cannot pass",
    ]


def test_estimates_say_may() -> None:
    plan = _plan(WAVES[1:2], min_nodes=5, max_offline_percent=100)
    nodes = {Target("200000000003", "us-east-1"): (_group(count=2.5, estimated=True),)}
    resolution = resolve_waves(plan, _org())
    reaches = plan_reach(plan, resolution, nodes)
    assert reach_warnings(plan, resolution, reaches) == [
        "wave legacy: the gate needs 5 nodes to report (min_nodes) but the wave reaches "
        "expected ≈2 online nodes the association targets: the gate may not pass"
    ]


def test_a_wave_without_accounts_warns_about_its_accounts_only() -> None:
    plan = _plan(
        [
            {
                "name": "nobody",
                "ous": ["/Empty"],
                "regions": ["us-east-1"],
                "accounts": {"ids": ["200000000001"], "filter": "INTERSECTION"},
            }
        ]
    )
    resolution = resolve_waves(plan, _org())
    assert reach_warnings(plan, resolution, plan_reach(plan, resolution, NODES)) == []
    assert any("no account to deploy to" in warning for warning in resolution.warnings)


def test_render_reach() -> None:
    plan = _plan(WAVES[:1])
    (prod,) = plan_reach(plan, resolve_waves(plan, _org()), NODES)
    assert render_reach(prod, plan.association) == [
        "nodes targeted (tag Distributor=enabled): 139 (137 online, 2 offline)",
        "  by platform: amazon x86_64 120 (2 offline), ubuntu arm64 14, windows arm64 5",
        "  not targeted: 7 other managed nodes",
    ]


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (NodeCount(12), "12"),
        (NodeCount(12.4, estimated=True), "≈12"),
        (NodeCount(0.4, estimated=True), "≈0.4"),
        (NodeCount(0, estimated=True), "0"),
    ],
)
def test_counts_mark_estimates(count: NodeCount, shown: str) -> None:
    assert count.shown() == shown


# --- random fleets ----------------------------------------------------------------------

PLATFORMS = ["amazon", "ubuntu", "windows", "redhat"]
ARCHES = ["x86_64", "arm64", "i386", "unknown"]
groups = st.builds(
    NodeGroup,
    platform=st.sampled_from(PLATFORMS),
    platform_version=st.sampled_from(["2023", "22.04", "9"]),
    arch=st.sampled_from(ARCHES),
    tags=st.sampled_from([(), TAGGED, (("Distributor", "disabled"),)]),
    count=st.integers(min_value=1, max_value=40).map(float),
    offline=st.just(0.0),
    estimated=st.booleans(),
)
manifests = st.frozensets(
    st.builds(
        PlatformTarget,
        st.sampled_from(PLATFORMS),
        st.sampled_from(["_any", "2023", "22.04"]),
        st.sampled_from(["_any", "x86_64", "arm64"]),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    nodes=st.dictionaries(
        st.builds(
            Target,
            st.sampled_from(["200000000001", "200000000002", "200000000003", "200000000004"]),
            st.sampled_from(["us-east-1", "eu-west-1"]),
        ),
        st.lists(groups, max_size=4).map(tuple),
    ),
    packages=manifests,
    tag=st.booleans(),
)
def test_every_node_of_a_wave_is_counted_once(
    nodes: dict[Target, tuple[NodeGroup, ...]], packages: frozenset[PlatformTarget], tag: bool
) -> None:
    plan = _plan(WAVES, tag=tag)
    resolution = resolve_waves(plan, _org())
    for wave, reach in zip(
        resolution.waves, plan_reach(plan, resolution, nodes, packages), strict=True
    ):
        in_wave = [group for target in wave.targets for group in nodes.get(target, ())]
        assert reach.total.count + reach.untargeted.count == sum(g.count for g in in_wave)
        assert reach.total.estimated == any(
            g.estimated for g in in_wave if not tag or g.has_tag("Distributor", "enabled")
        )
        assert reach.no_file is not None
        for key, count in reach.no_file.items():
            assert reach.targeted[key] == count
            assert not has_file(packages, key)
        assert sum(c.count for c in reach.by_platform().values()) == reach.total.count


@settings(max_examples=100, deadline=None)
@given(
    node=st.builds(
        PlatformTarget,
        st.sampled_from(PLATFORMS),
        st.text("0123456789.", min_size=1, max_size=5),
        st.sampled_from(ARCHES),
    ),
    packages=manifests,
)
def test_an_any_entry_for_the_platform_covers_every_node_of_it(
    node: PlatformTarget, packages: frozenset[PlatformTarget]
) -> None:
    exact_version = {
        e
        for e in packages
        if e.platform == node.platform and e.platform_version == node.platform_version
    }
    covered = packages | {PlatformTarget(node.platform, "_any", "_any")}
    # An entry for the node's exact version takes precedence over _any, so the catch-all
    # only helps when there is none.
    assert has_file(covered, node) or bool(exact_version)
    assert not has_file(frozenset(), node)


def test_a_snapshots_source_says_what_the_counts_leave_out() -> None:
    association = _plan(WAVES).association
    source = {
        "by": "distributor_rollout snapshot",
        "tag_keys": ["Env"],
        "unreadable": [
            {"account": "200000000002", "reason": "AccessDenied"},
            {"account": "200000000003", "region": "eu-west-1", "reason": "opt-in Region"},
        ],
        "accounts_in_root": ["200000000009"],
    }
    assert snapshot_warnings(source, association) == [
        "the snapshot kept only the tags Env, not Distributor, which the association targets: "
        "no node counts as targeted (take it again with --tag-key Distributor)",
        "the snapshot could not read 2 account(s) or Region(s) (source.unreadable): their "
        "nodes are not counted, e.g. 200000000002: AccessDenied",
        "1 member account(s) directly in the root are not in the file "
        "(source.accounts_in_root: 200000000009): a wave on / reaches them too",
    ]
    kept = {"tag_keys": ["Distributor"], "unreadable": [], "accounts_in_root": []}
    assert snapshot_warnings(kept, association) == []
    assert snapshot_warnings(None, association) == []
    # Free-form: what is not shaped as snapshot writes it says nothing.
    assert snapshot_warnings({"tag_keys": "Env", "unreadable": "x"}, association) == []
    assert snapshot_warnings(source, _plan(WAVES, tag=False).association)[0].startswith(
        "the snapshot could not read"
    )
