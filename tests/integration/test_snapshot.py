"""``python -m distributor_rollout snapshot`` against awssim serving the ``field`` org (not
the demo): the file is an awssim org file, read by plan --org's reader with the same
counts, whose node counts are awssim's ground truth per account, Region, platform,
architecture, targeting tag and reachability; it holds no node identity; ``--anonymize``
renames accounts only; an account without the reader role is reported, not fatal; and not
one mutating call is made (awssim's call log over HTTP)."""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from awssim.orgspec import parse_org
from awssim.pytest_plugin import AwsClients
from awssim.scenario import Scenario, Throttling
from awssim.simulator import Simulator
from distributor_rollout import snapshot_cli
from distributor_rollout.core.org_file import read_org_file
from distributor_rollout.hooks import org_snapshot

READER = "SnapshotReader"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
NO_ROLE = "724000000006"  # legacy-batch: its reader role was never created
Shape = tuple[str, str, str, str, str, bool]
"""account, Region, platform, platform version, arch, Distributor tag, online."""


def _trust(admin: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _roles(sim: Simulator, aws: AwsClients, *, without: set[str]) -> None:
    """The reader role in every active member account but ``without``."""
    admin = sim.org_spec.delegated_admin
    for _path, account in sim.org_spec.accounts():
        if account.status == "ACTIVE" and account.id not in without:
            iam = aws.client("iam", account=account.id)
            iam.create_role(RoleName=READER, AssumeRolePolicyDocument=_trust(admin))


def _calls(aws: AwsClients) -> list[dict[str, Any]]:
    """awssim's log of mutating calls, read as any client of the simulator would."""
    url = f"{aws.endpoint_url}/_awssim/calls"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return list(json.loads(response.read()))


def _snapshot(out: Path, *extra: str) -> int:
    return snapshot_cli.main(
        ["--conn", "aws_default", "--out", str(out), "--role-name", READER, *extra]
    )


def _accounts(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for u in units for a in [*u["accounts"], *_accounts(u["units"])]]


def _written(data: dict[str, Any]) -> Counter[Shape]:
    """Every node the file lists, by shape."""
    shapes: Counter[Shape] = Counter()
    for account in _accounts(data["units"]):
        for region, entries in account["inventory"].items():
            for entry in entries:
                tag = entry["tags"].get("Distributor", "-")
                key = (account["id"], region, entry["platform"], entry["platform_version"])
                online = entry["count"] - entry["offline"]
                shapes[(*key, entry["arch"], tag, True)] += online
                shapes[(*key, entry["arch"], tag, False)] += entry["offline"]
    return +shapes


def _truth(sim: Simulator, accounts: set[str]) -> Counter[Shape]:
    """awssim's fleet in those accounts, by shape, as of now."""
    now = sim.now()
    return Counter(
        (
            node.account_id,
            node.region,
            node.platform,
            node.platform_version,
            node.arch,
            node.tags.get("Distributor", "-"),
            node.ping_status(now) == "Online",
        )
        for node in sim.fleet
        if node.account_id in accounts
    )


def _count_calls(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every AWS call awssim serves from now on, by ``service.Operation``, and how many of
    them its faults answered with an error (``throttled``)."""
    calls: Counter[str] = Counter()
    decide = sim.faults.for_call

    def counting(service: str, operation: str) -> Any:
        decision = decide(service, operation)
        calls[f"{service}.{operation}"] += 1
        calls["throttled"] += decision.error is not None
        return decision

    monkeypatch.setattr(sim.faults, "for_call", counting)
    return calls


@pytest.fixture
def field(sim: Simulator) -> Simulator:
    sim.load("field", None, speed=1.0, seed=0)
    return sim


def test_snapshot_of_the_field_org_is_its_ground_truth_and_changes_nothing(  # noqa: PLR0917
    field: Simulator,
    aws: AwsClients,
    aws_conn: str,
    example_plan_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _roles(field, aws, without={NO_ROLE})
    before = _calls(aws)
    out = tmp_path / "field-copy.yaml"

    # The plan gives the tag key it targets by (Distributor); --regions the Regions.
    status = _snapshot(out, "--plan", str(example_plan_path), "--regions", ",".join(REGIONS))

    assert status == 0
    assert _calls(aws) == before  # not one mutating call
    text = out.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    spec = parse_org(data, subject=str(out))  # awssim accepts it as it is
    product = read_org_file(data, subject=str(out))  # and so does plan --org
    assert not product.estimated  # every count exact
    per_target: Counter[tuple[str, str]] = Counter()
    for shape, count in _written(data).items():
        per_target[shape[:2]] += count
    read_back = Counter(
        {
            (t.account_id, t.region): int(sum(g.count for g in groups))
            for t, groups in product.nodes.items()
        }
    )
    assert +read_back == per_target
    assert spec.name == "field-copy"
    assert spec.delegated_admin == field.org_spec.delegated_admin == "720000000001"
    assert spec.management_account.id == "720000000000"
    assert data["regions"] == sorted(REGIONS)
    assert [path for path, _unit in spec.units_with_paths()] == sorted(
        path for path, _unit in field.org_spec.units_with_paths()
    )
    expected = {(a.id, a.name, a.status) for _path, a in field.org_spec.accounts()}
    assert {(a.id, a.name, a.status) for _path, a in spec.accounts()} == expected
    assert sorted((path, a.id) for path, a in spec.accounts()) == sorted(
        (path, a.id) for path, a in field.org_spec.accounts()
    )
    readable = {
        a.id for _p, a in field.org_spec.accounts() if a.status == "ACTIVE" and a.id != NO_ROLE
    }
    assert _written(data) == _truth(field, readable)
    # Not read: suspended and closing accounts, and the one without the role.
    unread = [a for _p, a in spec.accounts() if a.id not in readable]
    assert {a.id for a in unread} == {NO_ROLE, "725000000001", "725000000002", "725000000003"}
    assert all(a.inventory == {} for a in unread)
    assert data["source"]["unreadable"] == [
        {
            "account": NO_ROLE,
            "reason": f"cannot assume arn:aws:iam::{NO_ROLE}:role/{READER}: no such role, "
            "or it does not trust this caller",
        }
    ]
    assert data["source"]["tag_keys"] == ["Distributor"]
    assert data["source"]["incomplete"] == []
    # Shapes and counts only: no instance id, address, computer name or other tag.
    for node in field.fleet:
        assert node.instance_id not in text
    assert not re.search(r"\b(i|mi)-[0-9a-f]{8,}\b", text)
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", text)
    assert "ip-" not in text
    assert "Env" not in text
    assert "Name" not in text
    errors = capsys.readouterr().err
    assert "36/36 accounts read" in errors
    assert f"warning: account {NO_ROLE} not read" in errors


def test_the_snapshot_rebuilds_the_same_fleet_in_awssim(
    field: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    _roles(field, aws, without=set())
    out = tmp_path / "field-copy.yaml"
    assert _snapshot(out, "--regions", ",".join(REGIONS), "--tag-key", "Distributor") == 0
    readable = {a.id for _p, a in field.org_spec.accounts() if a.status == "ACTIVE"}
    original = _truth(field, readable)

    field.load(parse_org(yaml.safe_load(out.read_text())), None, speed=1.0, seed=7)

    assert _truth(field, readable) == original


def test_anonymized_accounts_are_numbered_by_id_and_nothing_else_changes(
    field: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    _roles(field, aws, without=set())
    plain, anonymous = tmp_path / "plain.yaml", tmp_path / "anonymous.yaml"
    assert _snapshot(plain, "--regions", "us-east-1", "--name", "x") == 0
    assert _snapshot(anonymous, "--regions", "us-east-1", "--name", "x", "--anonymize") == 0

    named, renamed = yaml.safe_load(plain.read_text()), yaml.safe_load(anonymous.read_text())
    text = anonymous.read_text()
    for _path, account in field.org_spec.accounts():
        assert account.name not in text
    assert field.org_spec.management_account.name not in text
    ids = sorted(a["id"] for a in _accounts(renamed["units"]))
    assert {a["id"]: a["name"] for a in _accounts(renamed["units"])} == {
        account_id: f"account-{n}" for n, account_id in enumerate(ids, start=1)
    }
    assert renamed["management_account"] == {"id": "720000000000", "name": "management"}
    assert renamed["source"]["anonymized"] is True

    def without_names(data: dict[str, Any]) -> dict[str, Any]:
        blanked = json.loads(json.dumps(data))
        for account in [*_accounts(blanked["units"]), blanked["management_account"]]:
            account["name"] = ""
        blanked["source"] = None
        return blanked

    assert without_names(renamed) == without_names(named)  # OU names and ids kept
    parse_org(renamed)


def test_a_large_account_is_read_in_pages_and_batches(
    sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """230 nodes in one Region: five DescribeInstanceInformation pages of 50 and two
    DescribeInstances calls (200 instance ids, then 30); the admin account's empty Region
    costs one DescribeInstanceInformation and no DescribeInstances."""
    org = {
        "name": "big",
        "management_account": {"id": "810000000000"},
        "delegated_admin": "810000000001",
        "regions": ["eu-central-1"],
        "units": [
            {"name": "Admin", "accounts": [{"id": "810000000001", "name": "admin", "nodes": 0}]},
            {"name": "Fleet", "accounts": [{"id": "810000000002", "name": "big", "nodes": 230}]},
        ],
        "fleet": {
            "profiles": [
                {"platform": "rocky", "platform_version": "9", "arch": "arm64"},
                {"platform": "windows", "platform_version": "10.0.17763", "online": False},
            ]
        },
    }
    sim.load(parse_org(org), None, speed=1.0, seed=0)
    _roles(sim, aws, without=set())
    requests = _count_calls(sim, monkeypatch)
    out = tmp_path / "big.yaml"

    assert _snapshot(out, "--regions", "eu-central-1") == 0

    assert requests["ssm.DescribeInstanceInformation"] == 5 + 1
    assert requests["ec2.DescribeInstances"] == 2
    data = yaml.safe_load(out.read_text())
    assert _written(data) == _truth(sim, {"810000000001", "810000000002"})


def test_throttling_delays_the_snapshot_but_does_not_change_it(
    field: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _roles(field, aws, without=set())
    monkeypatch.setattr(org_snapshot, "THROTTLE_PAUSE_SECONDS", 0.05)
    storm = Throttling(
        services=["ssm", "ec2", "organizations"],
        operations=["DescribeInstanceInformation", "DescribeInstances", "List*"],
        rate=0.3,
    )
    field.set_scenario(Scenario(name="storm", throttling=[storm]))
    calls = _count_calls(field, monkeypatch)
    out = tmp_path / "storm.yaml"

    assert _snapshot(out, "--regions", "us-east-1,eu-west-1", "--tag-key", "Distributor") == 0

    data = yaml.safe_load(out.read_text())
    readable = {a.id for _p, a in field.org_spec.accounts() if a.status == "ACTIVE"}
    truth = _truth(field, readable)
    assert _written(data) == Counter({s: n for s, n in truth.items() if s[1] != "ap-southeast-2"})
    assert data["source"]["unreadable"] == []
    assert calls["throttled"] >= 10  # the storm did hit it
