"""A package that already exists in Distributor, rehearsed as a user runs it: the shipped
example plan for AWS's ``AmazonCloudWatchAgent`` (include/rollouts/examples/cloudwatch-agent.yaml)
through ``python -m rollout_demo`` (``make rehearse PLAN=...``) in its own process, on the demo
organization, checked against awssim's ground truth (``--ground-truth``).

Nothing is built or published: the DAG has no build and no publish task, and the nodes
install AWS's own package at its default version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "include" / "rollouts" / "examples" / "cloudwatch-agent.yaml"
PACKAGE = "AmazonCloudWatchAgent"
DEFAULT_VERSION = "1.300032.2"
"""awssim's default (newest) version of AWS's AmazonCloudWatchAgent."""
STACK_SET = "distributor-cloudwatch-agent"
SPEED = 600
"""awssim's clock and the rollout's time scale: the plan's 30-minute gate timeout is 3 s."""

pytestmark = pytest.mark.e2e


def rehearse(
    home: Path, truth: Path, *extra: str, plan: Path = PLAN
) -> subprocess.CompletedProcess[str]:
    """``make rehearse PLAN=include/rollouts/examples/cloudwatch-agent.yaml`` (what it runs)."""
    command = [
        sys.executable, "-m", "rollout_demo", "--plan", str(plan), "--speed", str(SPEED),
        "--home", str(home), "--ground-truth", str(truth), *extra,
    ]  # fmt: skip
    return subprocess.run(
        command,
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Airflow home for the module's runs: its DB is migrated once."""
    return tmp_path_factory.mktemp("cloudwatch") / "airflow"


def stack_instances(truth: dict[str, Any], name: str = STACK_SET) -> list[dict[str, Any]]:
    """The instances of the plan's active stack set."""
    return [
        instance
        for stack_set in truth["stack_sets"].values()
        if stack_set["name"] == name and stack_set["status"] == "ACTIVE"
        for instance in stack_set["instances"]
    ]


def reached_nodes(truth: dict[str, Any], name: str = STACK_SET) -> list[dict[str, Any]]:
    """The nodes the association targets (tag Distributor=enabled, SSM-managed, online) in
    the accounts and Regions the stack set reached."""
    instances = stack_instances(truth, name)
    reached = {(instance["account"], instance["region"]) for instance in instances}
    return [
        node
        for node in truth["nodes"]
        if (node["account_id"], node["region"]) in reached
        and node["tags"].get("Distributor") == "enabled"
        and node["managed"]
        and node["online"]
    ]


def test_aws_cloudwatch_agent_reaches_every_wave_without_a_build(
    home: Path, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.json"
    result = rehearse(home, truth_file)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # No build, no publish: the run goes from validate to check_deployed.
    assert " build " not in out
    assert " publish " not in out
    assert "check_deployed" in out
    assert "[approver] Approve prod.approve" in out
    # The report says which version the default was in each Region when validate read it.
    assert (
        "preflight package: pass: AmazonCloudWatchAgent, default version by Region: "
        "us-east-1 1.300032.2, us-west-2 1.300032.2, eu-west-1 1.300032.2"
    ) in out
    truth = json.loads(truth_file.read_text())
    instances = stack_instances(truth)
    # Every wave's Regions: us-east-1 (canary, nonprod, prod), us-west-2, eu-west-1 (prod).
    assert {instance["region"] for instance in instances} == {"us-east-1", "us-west-2", "eu-west-1"}
    assert all(instance["status"] == "CURRENT" for instance in instances)
    nodes = reached_nodes(truth)
    assert nodes
    # Unpinned: every reachable targeted node runs AWS's default version, nothing else.
    assert all(node["installed"] == {PACKAGE: DEFAULT_VERSION} for node in nodes)
    reached = {node["instance_id"] for node in nodes}
    assert all(
        PACKAGE not in node["installed"]
        for node in truth["nodes"]
        if node["instance_id"] not in reached and node["tags"].get("Distributor") != "enabled"
    )


def test_a_failing_canary_of_aws_cloudwatch_agent_is_rolled_back(
    home: Path, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.json"
    result = rehearse(home, truth_file, "--scenario", "canary-failure")

    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "canary.wait_compliance" in out
    assert "failed" in out
    assert "rollback actions:" in out
    truth = json.loads(truth_file.read_text())
    # A first install, undone: no node keeps AWS's package, no stack instance is left.
    assert truth["nodes"]
    assert all(PACKAGE not in node["installed"] for node in truth["nodes"])
    assert stack_instances(truth) == []


def test_a_vendor_package_shared_by_arn_is_pinned_in_every_region(
    home: Path, tmp_path: Path
) -> None:
    """The plan names another account's shared document by its ARN (in us-east-1) and pins
    an older version: every Region's stack names that Region's document, and each reachable
    targeted node installs exactly the pin."""
    plan = yaml.safe_load(PLAN.read_text())
    plan["name"] = "vendor-agent"
    plan["package"] = {
        "existing": "arn:aws:ssm:us-east-1:444455556666:document/ExampleVendorAgent",
        "version": "3.1.0",
    }
    plan["stack_set"]["name"] = "distributor-vendor-agent"
    plan["association"]["name"] = "ExampleVendorAgent-PackageDistributor"
    plan["waves"] = plan["waves"][:2]  # canary (us-east-1), nonprod (us-east-1, us-west-2)
    plan["defaults"]["operation"]["region_order"] = ["us-east-1", "us-west-2"]
    vendor_plan = tmp_path / "vendor-agent.yaml"
    vendor_plan.write_text(yaml.safe_dump(plan, sort_keys=False))
    truth_file = tmp_path / "truth.json"
    result = rehearse(home, truth_file, plan=vendor_plan)

    assert result.returncode == 0, result.stdout + result.stderr
    truth = json.loads(truth_file.read_text())
    instances = stack_instances(truth, "distributor-vendor-agent")
    assert {instance["region"] for instance in instances} == {"us-east-1", "us-west-2"}
    nodes = reached_nodes(truth, "distributor-vendor-agent")
    assert {node["region"] for node in nodes} == {"us-east-1", "us-west-2"}
    assert all(node["installed"] == {"ExampleVendorAgent": "3.1.0"} for node in nodes)
