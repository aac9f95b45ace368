"""The preflight against awssim: the CLI and the DAG's validate task, read-only.

On the demo organization every prerequisite holds (the artifacts bucket, which prepare
creates, is the one warning); under awssim's ``trusted-access-off`` and
``not-delegated-admin`` scenarios the preflight fails with what to do. Nothing the
preflight does changes AWS: awssim's log of mutating calls stays empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow_support import make_context

from awssim.catalog.aws_owned import AWS_PACKAGES
from awssim.catalog.vendor import VENDOR_ACCOUNT, VENDOR_PACKAGE
from awssim.server import SimServer
from awssim.simulator import Simulator
from distributor_rollout import preflight_cli
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.preflight import STACKSETS_PRINCIPAL
from distributor_rollout.core.steps import RUN_PLAN_XCOM_KEY, VALIDATION_XCOM_KEY
from distributor_rollout.hooks.preflight import PreflightHook, run_preflight
from distributor_rollout.operators.rollout import ValidateRunOperator
from rollout_demo import aws_connection

ADMIN = "222222222222"
MANAGEMENT = "111111111111"
ARTIFACTS = f"distributor-rollout-{ADMIN}-us-east-1"
CLOUDWATCH = next(spec for spec in AWS_PACKAGES if spec.name == "AmazonCloudWatchAgent")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = preflight_cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _verdict(out: str, title: str) -> str:
    """The verdict the table shows for a check."""
    [row] = [line for line in out.splitlines() if line.startswith(f"  {title} ")]
    return row.removeprefix(f"  {title} ").split()[0]


def _report(err: str) -> list[str]:
    """The failure report on stderr (Airflow's own log lines go there too)."""
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("preflight of plan "))
    return lines[start:]


def _plan(example_plan_path: Path, tmp_path: Path, **changes: Any) -> Path:
    """The example plan with ``changes`` to its top-level blocks, in ``tmp_path``."""
    data = yaml.safe_load(example_plan_path.read_text())
    data["package"]["source"] = str(
        (example_plan_path.parent / data["package"]["source"]).resolve()
    )
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _existing(example_plan_path: Path, tmp_path: Path, package: dict[str, Any]) -> Path:
    data = yaml.safe_load(example_plan_path.read_text())
    data["package"] = package
    path = tmp_path / "existing.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# The CLI ---------------------------------------------------------------------------------


def test_the_demo_org_passes_read_only(
    example_plan_path: Path, aws_conn: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run([str(example_plan_path), "--conn", aws_conn], capsys)
    assert status == 0, out + err
    assert _verdict(out, "StackSets administrator") == "pass"
    assert f"account {ADMIN} is a registered StackSets delegated administrator" in out
    assert "StackSets trusted access with AWS Organizations is ENABLED" in out
    assert "all 3 OUs of the 3 waves exist: /Sandbox, /NonProd, /Prod" in out
    assert "us-east-1, us-west-2, eu-west-1: no opt-in needed" in out
    # Prepare creates the artifacts bucket on a first run: not there yet, a warning.
    assert _verdict(out, "artifacts bucket") == "warn"
    assert f"{ARTIFACTS} does not exist yet" in out
    assert out.rstrip().endswith("preflight: WARN (4 pass, 1 warn)")
    assert "preflight of plan" not in err
    assert sim.ledger.calls() == []


def test_an_existing_artifacts_bucket_passes_too(
    example_plan_path: Path,
    aws_conn: str,
    sim: Simulator,
    aws: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    aws.client("s3").create_bucket(Bucket=ARTIFACTS)
    status, out, _ = _run([str(example_plan_path), "--conn", aws_conn, "--json"], capsys)
    printed = json.loads(out)
    assert status == 0
    assert printed["verdict"] == "pass"
    assert printed["caller"] == ADMIN
    assert [check["verdict"] for check in printed["checks"]] == ["pass"] * 5


def test_trusted_access_off_fails_with_what_to_do(
    example_plan_path: Path, aws_conn: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.load("demo", "trusted-access-off")
    status, out, err = _run([str(example_plan_path), "--conn", aws_conn], capsys)
    assert status == 1
    assert _verdict(out, "trusted access") == "FAIL"
    assert "StackSets trusted access with AWS Organizations is DISABLED" in out
    assert _report(err)[0] == "preflight of plan 'examplepackage': 1 problem"
    assert _report(err)[1] == (
        "  - stack_set: StackSets trusted access with AWS Organizations is not enabled "
        "(got 'DISABLED'; expected enable trusted access: ActivateOrganizationsAccess from "
        "the management account (aws cloudformation activate-organizations-access), or "
        "CloudFormation console → StackSets → Enable trusted access)"
    )
    assert sim.ledger.calls() == []


def test_an_unregistered_caller_fails_with_how_to_register(
    example_plan_path: Path, aws_conn: str, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.load("demo", "not-delegated-admin")
    status, out, err = _run([str(example_plan_path), "--conn", aws_conn], capsys)
    assert status == 1
    assert _verdict(out, "StackSets administrator") == "FAIL"
    [problem] = [line for line in err.splitlines() if "stack_set.call_as" in line]
    assert f"account {ADMIN} is not" in problem
    assert "registered StackSets delegated administrator" in problem
    assert (
        f"aws organizations register-delegated-administrator --account-id {ADMIN} "
        f"--service-principal {STACKSETS_PRINCIPAL}"
    ) in " ".join(err.split())
    assert sim.ledger.calls() == []


@pytest.fixture
def management_conn(
    awssim_server: SimServer, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> str:
    """An Airflow connection acting as the demo org's management account."""
    connection = json.loads(aws_connection(awssim_server.endpoint_url))
    connection["login"] = MANAGEMENT  # awssim: a 12-digit key acts as that account
    monkeypatch.setenv("AIRFLOW_CONN_AWS_MANAGEMENT", json.dumps(connection))
    return "aws_management"


def test_call_as_self_wants_the_management_account(
    example_plan_path: Path,
    tmp_path: Path,
    aws_conn: str,
    management_conn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = _plan(example_plan_path, tmp_path, stack_set={"call_as": "SELF"})
    status, out, _ = _run([str(plan), "--conn", management_conn], capsys)
    assert status == 0, out
    assert f"account {MANAGEMENT} is the management account (call_as SELF)" in out
    assert _verdict(out, "StackSets administrator") == "pass"
    status, out, err = _run([str(plan), "--conn", aws_conn], capsys)
    assert status == 1
    assert f"account {ADMIN} is not the management account {MANAGEMENT}" in err


def test_a_missing_ou_names_the_wave(
    example_plan_path: Path,
    tmp_path: Path,
    aws_conn: str,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = yaml.safe_load(example_plan_path.read_text())
    waves = data["waves"]
    waves[2]["ous"] = ["/Prod", "/Prod/Moon"]
    status, out, err = _run(
        [str(_plan(example_plan_path, tmp_path, waves=waves)), "--conn", aws_conn], capsys
    )
    assert status == 1
    assert "missing: wave prod: /Prod/Moon" in out
    assert "  - waves[2].ous[1]: wave 'prod': OU /Prod/Moon is not in the organization" in err


def test_an_opt_in_region_is_a_warning(
    example_plan_path: Path,
    tmp_path: Path,
    aws_conn: str,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    regions = PreflightHook(aws_conn_id=aws_conn, region_name="us-east-1").regions()
    assert isinstance(regions, dict)
    region = sorted(name for name, status in regions.items() if status == "not-opted-in")[0]
    data = yaml.safe_load(example_plan_path.read_text())
    waves = data["waves"]
    waves[2]["regions"] = [*waves[2]["regions"], region]
    status, out, _ = _run(
        [str(_plan(example_plan_path, tmp_path, waves=waves)), "--conn", aws_conn], capsys
    )
    assert status == 0
    assert _verdict(out, "Regions") == "warn"
    flat = " ".join(out.split())
    assert f"{region} is an opt-in Region (not-opted-in: not enabled in the administrator" in flat
    assert "every target account must opt in too, or its stack instances there fail" in flat


# Existing packages -----------------------------------------------------------------------


def test_an_aws_package_pinned_to_an_older_version_passes(
    example_plan_path: Path,
    tmp_path: Path,
    aws_conn: str,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    older, newest = CLOUDWATCH.versions[0], CLOUDWATCH.versions[-1]
    plan = _existing(
        example_plan_path, tmp_path, {"existing": "AmazonCloudWatchAgent", "version": older}
    )
    status, out, err = _run([str(plan), "--conn", aws_conn, "--json"], capsys)
    assert status == 0, err
    [package] = [c for c in json.loads(out)["checks"] if c["name"] == "package"]
    assert package["verdict"] == "pass"
    assert package["found"] == (
        f"AmazonCloudWatchAgent, version {older} by Region: us-east-1 {older}, "
        f"us-west-2 {older}, eu-west-1 {older}"
    )
    assert older != newest


def test_an_unpinned_package_reports_the_default_version(
    example_plan_path: Path, tmp_path: Path, aws_conn: str, sim: Simulator
) -> None:
    plan = load_plan(_existing(example_plan_path, tmp_path, {"existing": "AWSEFSTools"}))
    [check] = [c for c in run_preflight(plan, aws_conn_id=aws_conn).checks if c.name == "package"]
    newest = next(spec for spec in AWS_PACKAGES if spec.name == "AWSEFSTools").versions[-1]
    assert check.verdict == "pass"
    assert check.found == (
        f"AWSEFSTools, default version by Region: us-east-1 {newest}, us-west-2 {newest}, "
        f"eu-west-1 {newest}"
    )


def test_a_version_that_does_not_exist_fails(
    example_plan_path: Path,
    tmp_path: Path,
    aws_conn: str,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = _existing(
        example_plan_path, tmp_path, {"existing": "AmazonCloudWatchAgent", "version": "9.9.9"}
    )
    status, _, err = _run([str(plan), "--conn", aws_conn], capsys)
    assert status == 1
    problems = [line for line in err.splitlines() if line.startswith("  - package.version")]
    assert [problem.split(" does not exist in ")[1].split(" ")[0] for problem in problems] == [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
    ]


def test_a_shared_vendor_package_is_read_by_its_arn_in_each_region(
    example_plan_path: Path, tmp_path: Path, aws_conn: str, sim: Simulator
) -> None:
    arn = f"arn:aws:ssm:eu-west-1:{VENDOR_ACCOUNT}:document/{VENDOR_PACKAGE}"
    plan = load_plan(_existing(example_plan_path, tmp_path, {"existing": arn}))
    [check] = [c for c in run_preflight(plan, aws_conn_id=aws_conn).checks if c.name == "package"]
    assert check.verdict == "pass", check
    assert check.found.startswith(f"{arn}, default version by Region: us-east-1 ")


def test_a_package_that_does_not_exist_fails(
    example_plan_path: Path, tmp_path: Path, aws_conn: str, sim: Simulator
) -> None:
    plan = load_plan(_existing(example_plan_path, tmp_path, {"existing": "AmazonCloudWatchAgnt"}))
    preflight = run_preflight(plan, aws_conn_id=aws_conn)
    [check] = [c for c in preflight.checks if c.name == "package"]
    assert check.verdict == "fail"
    assert {problem.path for problem in check.problems} == {"package.existing"}
    assert "AmazonCloudWatchAgnt does not exist in us-east-1 for account" in check.found


# The DAG's validate task -----------------------------------------------------------------


def _validate(plan: Path, aws_conn: str, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    task = ValidateRunOperator(
        task_id="validate", plan_path=str(plan), run_params=params, aws_conn_id=aws_conn
    )
    context = make_context("validate", dag_run=SimpleNamespace(triggering_user_name="bob"))
    return task, context


@pytest.mark.parametrize("dry_run", [False, True])
def test_validate_fails_on_the_preflight_and_records_it(
    example_plan_path: Path, aws_conn: str, sim: Simulator, dry_run: bool
) -> None:
    sim.load("demo", "trusted-access-off")
    task, context = _validate(example_plan_path, aws_conn, {"dry_run": dry_run})
    with pytest.raises(ValidationError) as raised:
        task.execute(context)
    assert raised.value.subject == "preflight of plan 'examplepackage'"
    [problem] = raised.value.problems
    assert problem.path == "stack_set"
    recorded = context["ti"].xcom[VALIDATION_XCOM_KEY]
    assert recorded["subject"] == "preflight of plan 'examplepackage'"
    assert [entry["field"] for entry in recorded["problems"]] == ["stack_set"]
    assert recorded["problems"][0]["got"] == "'DISABLED'"
    # The plan validated: the run's plan is recorded as for any run.
    assert context["ti"].xcom[RUN_PLAN_XCOM_KEY]["dry_run"] is dry_run
    assert sim.ledger.calls() == []


def test_validate_passes_on_the_demo_org(
    example_plan_path: Path, aws_conn: str, sim: Simulator
) -> None:
    task, context = _validate(example_plan_path, aws_conn, {"dry_run": True})
    summary = task.execute(context)
    assert summary["dry_run"] is True
    assert VALIDATION_XCOM_KEY not in context["ti"].xcom
    assert sim.ledger.calls() == []
