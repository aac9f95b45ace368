"""The org and scenario examples in awssim's README stay valid."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from awssim.orgspec import parse_org
from awssim.scenario import Scenario

SECTION = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", SECTION, flags=re.DOTALL)


def test_readme_org_example_is_a_valid_org() -> None:
    org = parse_org(yaml.safe_load(YAML_BLOCKS[0]), subject="README")
    assert [path for path, _unit in org.units_with_paths()] == ["/Prod", "/Prod/EU", "/Security"]


def test_readme_scenario_example_is_a_valid_scenario() -> None:
    scenario = Scenario.model_validate(yaml.safe_load(YAML_BLOCKS[1]))
    assert scenario.package_failures[0].versions == "new"
