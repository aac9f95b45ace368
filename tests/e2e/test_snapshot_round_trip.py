"""Your own organization, the way the README walks it: ``snapshot`` of an organization that
is not the demo (awssim serving the ``field`` org over HTTP, as AWS would be reached), then
``plan --org`` on the file it wrote, then ``make rehearse`` of the field example plan
against that file, in a process of its own.

The snapshot is read-only (awssim's log of mutating calls stays as it was); ``plan --org``
counts the nodes each wave reaches exactly (no estimate: a snapshot has every account's
inventory) and the same as awssim's ground truth; the rehearsal, on a simulator built from
the snapshot alone, installs the package on every targeted node that reports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout import cli, snapshot_cli
from distributor_rollout.core.plan_validation import load_plan
from rollout_demo import aws_connection

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "include" / "rollouts" / "examples" / "field-agent.yaml"
SPEED = 600
TAG = ("Distributor", "enabled")


def _calls(aws: AwsClients) -> list[dict[str, Any]]:
    url = f"{aws.endpoint_url}/_awssim/calls"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return list(json.loads(response.read()))


def _reader_roles(sim: Simulator, aws: AwsClients, role: str) -> None:
    """The compliance-reader role in every active member account, as the product's stack
    set template creates it (trusting the delegated administrator)."""
    admin = sim.org_spec.delegated_admin
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "sts:AssumeRole"}],
    }
    for _path, account in sim.org_spec.accounts():
        if account.status == "ACTIVE":
            aws.client("iam", account=account.id).create_role(
                RoleName=role, AssumeRolePolicyDocument=json.dumps(trust)
            )


def _targeted_nodes(sim: Simulator, ou: str, regions: list[str]) -> int:
    """Nodes of ``ou``'s active accounts in ``regions`` the association's tag targets."""
    accounts = {
        account.id
        for path, account in sim.org_spec.accounts()
        if path == ou and account.status == "ACTIVE"
    }
    return sum(
        1
        for node in sim.fleet
        if node.account_id in accounts
        and node.region in regions
        and node.tags.get(TAG[0]) == TAG[1]
    )


def test_snapshot_then_plan_then_rehearse_an_organization_that_is_not_the_demo(
    sim: Simulator,
    aws: AwsClients,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim.load("field", None, speed=1.0, seed=0)
    plan = load_plan(PLAN)
    _reader_roles(sim, aws, plan.stack_set.compliance_reader.role_name)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws.endpoint_url))
    before = _calls(aws)
    org_file = tmp_path / "my-org.yaml"

    # 1. snapshot: Regions, reader role and targeting tag from the plan; read-only.
    argv = ["--conn", "aws_default", "--out", str(org_file), "--plan", str(PLAN)]
    assert snapshot_cli.main(argv) == 0
    assert _calls(aws) == before, "the snapshot changed the organization"
    written = yaml.safe_load(org_file.read_text(encoding="utf-8"))
    assert written["delegated_admin"] == sim.org_spec.delegated_admin
    assert not re.search(r"\bi-[0-9a-f]{8,17}\b", org_file.read_text(encoding="utf-8"))  # no ids
    capsys.readouterr()

    # 2. plan --org on the file: per wave, exactly the nodes awssim targets there.
    assert cli.main(["plan", str(PLAN), "--org", str(org_file)]) == 0
    shown = capsys.readouterr().out
    assert "≈" not in shown  # a snapshot's counts are exact
    for wave in plan.waves:
        [ou] = wave.ous
        expected = _targeted_nodes(sim, ou, list(wave.regions))
        assert expected > 0
        block = shown[shown.index(f"wave {wave.name}: ") :]
        targeted = re.search(r"nodes targeted \(tag Distributor=enabled\): (\d+) \(", block)
        assert targeted is not None, shown
        assert int(targeted[1]) == expected, (wave.name, shown)

    # 3. make rehearse PLAN=field-agent ORG=<the snapshot> (its own process and awssim).
    truth_file = tmp_path / "truth.json"
    command = [
        sys.executable, "-m", "rollout_demo", "--plan", str(PLAN), "--org", str(org_file),
        "--scenario", "happy", "--speed", str(SPEED), "--home", str(tmp_path / "airflow"),
        "--ground-truth", str(truth_file),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    package, version = plan.package.name, plan.package.version
    waves = {
        (account.id, region)
        for wave in plan.waves
        for path, account in sim.org_spec.accounts()
        if path in wave.ous and account.status == "ACTIVE"
        for region in wave.regions
    }
    reached = [
        node
        for node in truth["nodes"]
        if (node["account_id"], node["region"]) in waves and node["tags"].get(TAG[0]) == TAG[1]
    ]
    assert reached
    online = [node for node in reached if node["online"]]
    assert online
    assert all(node["installed"].get(package) == version for node in online)
