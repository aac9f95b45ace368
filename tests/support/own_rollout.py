"""A user's own rollout, kept outside the repository: a plan, an organization file, a fault
scenario and a package source in one folder, as the issue's user wrote them (another
package, tag key, stack set, OU tree, Regions and wave names than the example's).

``write_own_rollout(folder)`` writes them; the plan is the example plan made the user's own,
its package source (a copy of the example package's files) relative to the plan file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PACKAGE, VERSION, STACK_SET = "AcmeAgent", "1.4.0", "acme-agent"
PILOT, MAIN = ("811000000001", "811000000002"), ("812000000001", "812000000002", "812000000003")
# Per wave, the accounts and Regions it deploys.
WAVES = {"pilot": (PILOT, {"us-east-1"}), "everyone": (MAIN, {"us-east-1", "eu-west-1"})}

ORG = {
    "name": "acme",
    "management_account": {"id": "810000000000", "name": "acme-management"},
    "delegated_admin": "810000000001",
    "regions": ["us-east-1", "eu-west-1"],
    "units": [
        {
            "name": "Platform",
            "accounts": [{"id": "810000000001", "name": "deployer", "regions": ["us-east-1"]}],
        },
        {
            "name": "Apps",
            "units": [
                {
                    "name": "Pilot",
                    "accounts": [
                        {"id": account, "name": f"pilot-{n}", "regions": ["us-east-1"]}
                        for n, account in enumerate(PILOT, 1)
                    ],
                },
                {
                    "name": "Main",
                    "accounts": [
                        {"id": account, "name": f"main-{n}"} for n, account in enumerate(MAIN, 1)
                    ],
                },
            ],
        },
    ],
    "fleet": {
        "nodes_per_target": [4, 8],
        "profiles": [
            {"platform": "amazon", "platform_version": "2023", "arch": "x86_64", "weight": 3,
             "tags": {"Team": "apps"}},
            {"platform": "ubuntu", "platform_version": "22.04", "arch": "x86_64", "weight": 2,
             "tags": {"Team": "apps"}},
            {"platform": "ubuntu", "platform_version": "22.04", "arch": "arm64", "weight": 1,
             "tags": {"Team": "build"}},
        ],
    },
}  # fmt: skip

SCENARIO = {
    "name": "a-few-lost-agents",
    "description": "A tenth of the /Apps/Main agents never report.",
    "seed": 3,
    "unmanaged_nodes": [{"ous": ["/Apps/Main"], "fraction": 0.1}],
}


def acme_plan() -> dict[str, Any]:
    """The example plan made the user's own: another package, tag, stack set and waves."""
    plan = yaml.safe_load((REPO / "include" / "rollouts" / "examplepackage.yaml").read_text())
    plan["name"] = "acme-agent"
    plan["package"].update(name=PACKAGE, version=VERSION, source="../packages/acme-agent")
    plan["stack_set"]["name"] = STACK_SET
    plan["association"].update(
        name="AcmeAgent-Install", target_tag_key="Team", target_tag_value="apps"
    )
    plan["defaults"]["operation"]["region_order"] = ["us-east-1", "eu-west-1"]
    plan["defaults"]["gate"]["timeout"] = "2h"
    plan["waves"] = [
        {"name": "pilot", "ous": ["/Apps/Pilot"], "regions": ["us-east-1"]},
        {
            "name": "everyone",
            "ous": ["/Apps/Main"],
            "regions": ["eu-west-1", "us-east-1"],
            "approval": True,
        },
    ]
    return plan


@dataclass(frozen=True)
class OwnRollout:
    """Where the user's files are."""

    plan: Path
    org: Path
    scenario: Path


def write_own_rollout(root: Path) -> OwnRollout:
    """Write the user's plan, organization, scenario and package source under ``root``."""
    shutil.copytree(
        REPO / "include" / "packages" / "examplepackage", root / "packages" / "acme-agent"
    )
    files = {"plans/acme-agent.yaml": acme_plan(), "orgs/acme.yaml": ORG,
             "scenarios/lost-agents.yaml": SCENARIO}  # fmt: skip
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(yaml.safe_dump(content, sort_keys=False))
    return OwnRollout(
        root / "plans" / "acme-agent.yaml",
        root / "orgs" / "acme.yaml",
        root / "scenarios" / "lost-agents.yaml",
    )
