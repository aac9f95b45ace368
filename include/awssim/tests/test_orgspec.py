"""Org files, the demo org, synthetic orgs, fleets and scenario files."""

from __future__ import annotations

from pathlib import Path

import pytest

from awssim.fleet import generate_fleet
from awssim.orgspec import OrgSpecError, load_org, parse_org
from awssim.scenario import ScenarioError, load_scenario, shipped_scenarios

REQUIRED_SCENARIOS = {
    "happy",
    "canary-failure",
    "stackset-failure",
    "throttling",
    "unmanaged-nodes",
    "trusted-access-off",
    "not-delegated-admin",
}


def _minimal(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "tiny",
        "management_account": {"id": "111111111111"},
        "delegated_admin": "222222222222",
        "regions": ["us-east-1"],
        "units": [{"name": "Ops", "accounts": [{"id": "222222222222", "name": "admin"}]}],
        "fleet": {"profiles": [{"platform": "amazon", "platform_version": "2023"}]},
    }
    data.update(overrides)
    return data


def test_demo_org_matches_the_issue() -> None:
    org = load_org("demo")
    paths = dict(org.units_with_paths())
    assert {"/Sandbox", "/NonProd", "/Prod", "/Prod/EU", "/Security"} <= set(paths)
    accounts = list(org.accounts())
    assert 14 <= len(accounts) <= 20
    assert sum(1 for _path, account in accounts if account.status == "SUSPENDED") == 1
    assert org.regions == ["us-east-1", "us-west-2", "eu-west-1"]
    assert org.delegated_admin in {account.id for _path, account in accounts}


def test_demo_fleet_is_mixed_deterministic_and_tag_targeting_matters() -> None:
    org = load_org("demo")
    fleet = generate_fleet(org, seed=0)
    again = generate_fleet(org, seed=0)
    assert [n.to_dict() for n in fleet] == [n.to_dict() for n in again]
    assert [n.instance_id for n in generate_fleet(org, seed=1)] != [n.instance_id for n in fleet]
    counts = {
        len(fleet.nodes(account.id, region))
        for _path, account in org.accounts()
        if account.nodes is None
        for region in org.regions
    }
    assert min(counts) >= 5
    assert max(counts) <= 20
    assert {node.arch for node in fleet} == {"x86_64", "arm64"}
    assert {node.platform for node in fleet} >= {"amazon", "ubuntu", "windows"}
    tagged = [node for node in fleet if node.tags.get("Distributor") == "enabled"]
    assert 0 < len(tagged) < len(fleet)
    assert all(node.arch == "x86_64" for node in tagged)


def test_synthetic_org_scales_without_a_file() -> None:
    org = load_org("synthetic:3000:60")
    assert sum(1 for _ in org.accounts()) == 3001  # members plus the delegated admin
    assert sum(1 for _ in org.units_with_paths()) == 64  # 3 tops + 60 leaves + Security


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"delegated_admin": "999999999999"}, "delegated_admin 999999999999 must be a member"),
        ({"regions": []}, "regions: List should have at least 1 item"),
        ({"management_account": {"id": "123"}}, "management_account.id: String should match"),
        (
            {"units": [{"name": "A", "accounts": [{"id": "222222222222", "name": "x"}] * 2}]},
            "appears twice",
        ),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_org_files_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(OrgSpecError, match=message):
        parse_org(_minimal(**overrides))


def test_unknown_org_reference_lists_what_is_valid(tmp_path: Path) -> None:
    with pytest.raises(OrgSpecError, match=r"expected a YAML path, one of \['demo', 'field'\]"):
        load_org("nowhere")
    with pytest.raises(OrgSpecError, match="synthetic"):
        load_org(tmp_path / "missing.yaml")


def test_every_required_scenario_ships_and_loads() -> None:
    assert set(shipped_scenarios()) >= REQUIRED_SCENARIOS
    for name in shipped_scenarios():
        assert load_scenario(name).name == name


def test_bad_scenario_files_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nthrottling:\n  - rate: 1.5\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"throttling\.0\.rate: Input should be less than"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="one of"):
        load_scenario("no-such-scenario")
