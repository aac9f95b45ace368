"""Contract: every org file awssim ships reads the same in awssim and in the product.

awssim (``awssim.orgspec`` and ``awssim.fleet``) and ``plan --org`` (``core.org_file``)
read one YAML format without sharing code: the product does not depend on awssim. Both
must see the same OU paths, accounts, statuses, management account, delegated
administrator and Regions; the same nodes where an account lists an inventory; and where
nodes are drawn from fleet profiles, the product's expected counts must be what awssim
draws on average.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from awssim.fleet import Node, generate_fleet
from awssim.orgspec import ORGS_DIR, OrgSpec, load_org
from distributor_rollout.core.org_file import OrgFile, read_org_file
from distributor_rollout.core.safe_yaml import load_yaml
from distributor_rollout.core.targets import Target

ORG_FILES = sorted(ORGS_DIR.glob("*.yaml"))
SEEDS = range(16)
START = 0.0  # simulated seconds: when the simulation starts

Shape = tuple[str, str, str, tuple[tuple[str, str], ...], bool]


def _read_both(path: Path) -> tuple[OrgSpec, OrgFile]:
    return load_org(path), read_org_file(load_yaml(path, str(path)), subject=str(path))


def _shape(node: Node) -> Shape:
    tags = tuple(sorted((k, v) for k, v in node.tags.items() if k != "Name"))
    return (node.platform, node.platform_version, node.arch, tags, node.online_at(START))


def test_awssim_ships_org_files() -> None:
    assert {path.stem for path in ORG_FILES} >= {"demo"}


@pytest.mark.parametrize("path", ORG_FILES, ids=[path.stem for path in ORG_FILES])
def test_the_same_organization(path: Path) -> None:
    spec, org_file = _read_both(path)
    org = org_file.organization
    assert set(org.id_by_path) == {"/"} | {ou_path for ou_path, _ in spec.units_with_paths()}
    members = [
        (a.id, a.name, org.path_of(a.parent_id), a.status)
        for a in org.accounts
        if a.id != org.management_account_id
    ]
    assert members == [(a.id, a.name, ou_path, a.status) for ou_path, a in spec.accounts()]
    (management,) = [a for a in org.accounts if a.id == org.management_account_id]
    assert (management.id, management.name, management.parent_id) == (
        spec.management_account.id,
        spec.management_account.name,
        org.root_id,
    )
    assert org_file.delegated_admin == spec.delegated_admin
    assert list(org_file.regions) == spec.regions


@pytest.mark.parametrize("path", ORG_FILES, ids=[path.stem for path in ORG_FILES])
def test_inventoried_nodes_are_the_same(path: Path) -> None:
    spec, org_file = _read_both(path)
    fleet = generate_fleet(spec, seed=0)
    for _, account in spec.accounts():
        if account.inventory is None:
            continue
        for region in spec.regions:
            target = Target(account.id, region)
            groups = org_file.nodes.get(target, ())
            assert not any(group.estimated for group in groups)
            theirs = Counter(_shape(node) for node in fleet.nodes(account.id, region))
            ours: Counter[Shape] = Counter()
            for group in groups:
                # awssim simulates a node of unknown architecture as x86_64.
                arch = "x86_64" if group.arch == "unknown" else group.arch
                shape = (group.platform, group.platform_version, arch, group.tags)
                ours[(*shape, True)] += round(group.count - group.offline)
                ours[(*shape, False)] += round(group.offline)
            assert +ours == theirs, target


@pytest.mark.parametrize("path", ORG_FILES, ids=[path.stem for path in ORG_FILES])
def test_fleet_estimates_are_what_awssim_draws_on_average(path: Path) -> None:
    spec, org_file = _read_both(path)
    drawn_from_fleets = {a.id for _, a in spec.accounts() if a.inventory is None}
    drawn: Counter[Shape] = Counter()
    targets_with_nodes = set()
    for seed in SEEDS:
        for node in generate_fleet(spec, seed):
            if node.account_id in drawn_from_fleets:
                drawn[_shape(node)] += 1
                targets_with_nodes.add(Target(node.account_id, node.region))
    expected: Counter[Shape] = Counter()
    for target, groups in org_file.nodes.items():
        if target.account_id not in drawn_from_fleets:
            continue
        for group in groups:
            shape = (group.platform, group.platform_version, group.arch, group.tags)
            expected[(*shape, True)] += (group.count - group.offline) * len(SEEDS)
            expected[(*shape, False)] += group.offline * len(SEEDS)
    assert targets_with_nodes <= set(org_file.nodes)
    assert set(drawn) <= {shape for shape, count in expected.items() if count}
    for shape, mean in expected.items():
        # Counts are sums of many independent draws: well within five standard deviations
        # of a Poisson-like spread, plus a little for small expectations.
        assert abs(drawn[shape] - mean) <= 5 * math.sqrt(mean) + 3, shape
