"""``make rehearse``: a plan, an organization, a fault scenario and a package source that live
outside the repository (in the test's tmp folder), rehearsed end to end as a user runs them,
``python -m rollout_demo --plan FILE --org FILE --scenario FILE`` in its own process.

Each run's exit status, progress lines and report table are the command's output; awssim's
ground truth (``--ground-truth``: every node's installed versions, the stack sets) says what
the run did to the simulated organization.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from own_rollout import PACKAGE, SCENARIO, STACK_SET, VERSION, WAVES, OwnRollout, write_own_rollout

REPO = Path(__file__).resolve().parents[2]
SPEED = 600
"""awssim's clock and the rollout's time scale: the plan's gate timeout (2h) is 12 s."""


@dataclass(frozen=True)
class Workspace:
    """The user's files, outside the repository, and the rehearsal's Airflow home."""

    files: OwnRollout
    home: Path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("acme")
    assert not root.is_relative_to(REPO)
    # One Airflow home for the module's runs: its DB is migrated once.
    return Workspace(write_own_rollout(root), root / "airflow")


def rehearse(workspace: Workspace, truth: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``make rehearse PLAN=... ORG=... SCENARIO=...`` (what it runs), from the repository."""
    command = [
        sys.executable, "-m", "rollout_demo",
        "--plan", str(workspace.files.plan), "--org", str(workspace.files.org),
        "--scenario", str(workspace.files.scenario), "--speed", str(SPEED),
        "--home", str(workspace.home), "--ground-truth", str(truth), *extra,
    ]  # fmt: skip
    return subprocess.run(
        command,
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def report_rows(stdout: str) -> dict[str, list[str]]:
    """The report table's wave rows, by wave, cells stripped."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 8 and cells[0] in WAVES:
            rows[cells[0]] = cells
    return rows


def targets() -> set[tuple[str, str]]:
    """(account, Region) of every wave."""
    return {
        (account, region)
        for accounts, regions in WAVES.values()
        for account in accounts
        for region in regions
    }


def instances(truth: dict[str, Any]) -> set[tuple[str, str]]:
    """(account, Region) of every stack instance of the plan's active stack set."""
    return {
        (instance["account"], instance["region"])
        for stack_set in truth["stack_sets"].values()
        if stack_set["name"] == STACK_SET and stack_set["status"] == "ACTIVE"
        for instance in stack_set["instances"]
    }


def test_a_plan_org_and_scenario_of_ones_own_are_rehearsed_end_to_end(
    workspace: Workspace, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.json"
    result = rehearse(workspace, truth_file)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"[rehearse] awssim: acme organization, scenario {SCENARIO['name']}" in out
    assert f"its DAG is in {workspace.home / 'dags'}" in out
    assert "[approver] Approve everyone.approve" in out
    assert "everyone.wait_compliance  success" in out  # the task id column fits its waves
    rows = report_rows(out)
    assert list(rows) == ["pilot", "everyone"]
    assert [row[6] for row in rows.values()] == ["passed", "approved"]
    assert [int(row[1]) for row in rows.values()] == [2, 6]
    assert "offline (excluded)" in rows["everyone"][5]
    assert f"[rehearse] OK: {PACKAGE} {VERSION}: succeeded, 2 of 2 waves passed" in out

    truth = json.loads(truth_file.read_text())
    assert (truth["org"]["name"], truth["scenario"]) == ("acme", SCENARIO["name"])
    reached = targets()
    targeted = [
        node
        for node in truth["nodes"]
        if (node["account_id"], node["region"]) in reached and node["tags"].get("Team") == "apps"
    ]
    lost = [node for node in targeted if not node["online"]]
    assert lost, "the scenario's lost agents"
    assert all(node["installed"] == {} for node in lost)
    assert all(node["installed"] == {PACKAGE: VERSION} for node in targeted if node["online"])
    others = [node for node in truth["nodes"] if node not in targeted]
    assert others
    assert all(node["installed"] == {} for node in others)
    assert instances(truth) == reached


def test_a_rejected_approval_of_ones_own_wave_rolls_back(
    workspace: Workspace, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.json"
    result = rehearse(workspace, truth_file, "--reject", "everyone")

    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "[approver] Reject everyone.approve" in out
    assert "everyone.approve          failed: rejected" in out
    rows = report_rows(out)
    assert [row[6] for row in rows.values()] == ["passed", "rejected"]
    assert "rollback actions:" in out
    assert "[rehearse] FAILED:" in out
    truth = json.loads(truth_file.read_text())
    # A fresh awssim: the run's first install is undone everywhere; no stack instance is left.
    assert truth["nodes"]
    assert all(node["installed"] == {} for node in truth["nodes"])
    assert instances(truth) == set()
