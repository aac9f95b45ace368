"""``python -m distributor_rollout preflight``: output and exit status, over canned checks.

What the checks read and decide is tested against awssim (tests/integration/
test_preflight.py) and in tests/unit/test_preflight.py; here the reads are replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from distributor_rollout import cli, preflight_cli
from distributor_rollout.core.errors import Problem
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.preflight import Check, Preflight
from distributor_rollout.hooks import preflight as preflight_hook

PASSED = Check("caller", "StackSets administrator", "pass", "account 222222222222 is registered")
WARNED = Check("artifacts_bucket", "artifacts bucket", "warn", "b does not exist yet", "nothing")
FAILED = Check(
    "trusted_access",
    "trusted access",
    "fail",
    "StackSets trusted access with AWS Organizations is DISABLED",
    "enable trusted access",
    (Problem("stack_set", "not enabled (got 'DISABLED'; expected enable trusted access)"),),
)


def _canned(monkeypatch: pytest.MonkeyPatch, *checks: Check) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run_preflight(plan: Plan, **hook_kwargs: Any) -> Preflight:
        calls.append({"plan": plan.name, **hook_kwargs})
        return Preflight(plan.name, "222222222222", plan.stack_set.call_as, checks)

    monkeypatch.setattr(preflight_hook, "run_preflight", run_preflight)
    return calls


def test_passed_and_warned_checks_exit_0(
    monkeypatch: pytest.MonkeyPatch, example_plan_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _canned(monkeypatch, PASSED, WARNED)
    assert preflight_cli.main([str(example_plan_path), "--conn", "aws_rollout"]) == 0
    assert calls == [{"plan": "examplepackage", "aws_conn_id": "aws_rollout"}]
    out, err = capsys.readouterr()
    assert "  StackSets administrator  pass     account 222222222222 is registered" in out
    assert "to do: nothing" in out
    assert out.rstrip().endswith("preflight: WARN (1 pass, 1 warn)")
    assert err == ""


def test_a_failed_check_exits_1_with_validates_report(
    monkeypatch: pytest.MonkeyPatch, example_plan_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _canned(monkeypatch, PASSED, FAILED)
    assert preflight_cli.main([str(example_plan_path)]) == 1
    out, err = capsys.readouterr()
    assert "  trusted access           FAIL     StackSets trusted access" in out
    assert err.splitlines() == [
        "preflight of plan 'examplepackage': 1 problem",
        "  - stack_set: not enabled (got 'DISABLED'; expected enable trusted access)",
    ]


def test_json_prints_the_checks(
    monkeypatch: pytest.MonkeyPatch, example_plan_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _canned(monkeypatch, PASSED, FAILED)
    assert preflight_cli.main([str(example_plan_path), "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["verdict"] == "fail"
    assert Preflight.from_dict(printed).checks == (PASSED, FAILED)


def test_aws_that_cannot_be_reached_exits_1(
    monkeypatch: pytest.MonkeyPatch, example_plan_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable(plan: Plan, **hook_kwargs: Any) -> Preflight:
        raise EndpointConnectionError(endpoint_url="https://sts.amazonaws.com")

    monkeypatch.setattr(preflight_hook, "run_preflight", unreachable)
    assert preflight_cli.main([str(example_plan_path)]) == 1
    assert capsys.readouterr().err.startswith("preflight could not read AWS: Could not connect")


def test_an_invalid_plan_exits_2_before_any_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _canned(monkeypatch, PASSED)
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: x\n")
    assert preflight_cli.main([str(plan)]) == 2
    assert calls == []
    assert capsys.readouterr().err.startswith(f"{plan}: ")


def test_it_is_a_command_of_the_cli(
    monkeypatch: pytest.MonkeyPatch, example_plan_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _canned(monkeypatch, PASSED)
    assert cli.main(["preflight", str(example_plan_path), "--conn", "aws_default"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("preflight: PASS (1 pass)")
