"""What a user who may only trigger a DAG cannot do, against awssim: every refused run stops
in its tasks' first check, names the field, and leaves awssim's mutation log empty.

Build and Publish recompute the run's configuration too, so a task started by hand past a
failed ``validate`` refuses the same params before its first AWS call.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow_support import make_context, run_task

from awssim.simulator import Simulator
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.steps import VALIDATION_XCOM_KEY
from distributor_rollout.operators.package import PublishPackageOperator
from distributor_rollout.operators.package_build import BuildPackageOperator
from distributor_rollout.operators.rollout import ValidateRunOperator


@pytest.fixture
def packages_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A packages root holding one package folder and a symlink that leads out of it."""
    root = tmp_path / "packages"
    (root / "agent").mkdir(parents=True)
    (root / "escape").symlink_to(tmp_path)
    (tmp_path / "secrets").mkdir()
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__PACKAGES_ROOT", str(root))
    return root


@pytest.fixture
def plan(example_plan_path: Path, tmp_path: Path) -> Path:
    """The example plan with the default manual-run policy and a named approver."""
    data = yaml.safe_load(example_plan_path.read_text())
    data["package"]["source"] = str(
        (example_plan_path.parent / data["package"]["source"]).resolve()
    )
    data.pop("manual_runs", None)
    data["approvals"] = {"approvers": ["alice"]}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def triggered_by(user: str | None) -> dict[str, Any]:
    return {"dag_run": SimpleNamespace(triggering_user_name=user)}


REFUSED = [
    ({"source": "/etc"}, None, "source", "an absolute path"),
    ({"source": "../../secrets"}, None, "source", "not a confined path (a path segment '..')"),
    ({"source": "escape/secrets"}, None, "source", "leads out of the packages root"),
    ({"source": "s3://attacker-bucket/agent/"}, None, "source", "not a bucket the plan allows"),
    ({"version": ".."}, None, "version", "not a safe single path segment"),
    ({"skip_approvals": True}, None, "skip_approvals", "not allowed for a manual run"),
    ({"waves": ["prod"]}, None, "waves", "not allowed for a manual run"),
    ({"gate_threshold_percent": 10}, None, "gate_threshold_percent", "looser than the plan"),
    ({"gate_bake": "0"}, None, "gate_bake", "looser than the plan's gate"),
    ({"rollback_mode": "none"}, None, "rollback_mode", "not allowed for a manual run"),
    ({}, "alice", "approvals.approvers", "no one but the user who triggered this run"),
]


@pytest.mark.parametrize(
    ("params", "user", "field", "what"),
    REFUSED,
    ids=[case[2] + "-" + str(i) for i, case in enumerate(REFUSED)],
)
def test_a_refused_run_changes_nothing(  # noqa: PLR0917
    plan: Path,
    packages_root: Path,
    tmp_path: Path,
    aws_conn: str,
    sim: Simulator,
    params: dict[str, Any],
    user: str | None,
    field: str,
    what: str,
) -> None:
    validate = ValidateRunOperator(
        task_id="validate", plan_path=str(plan), run_params=params, aws_conn_id=aws_conn
    )
    context = make_context("validate", **triggered_by(user))
    with pytest.raises(ValidationError) as raised:
        validate.execute(context)
    [problem] = raised.value.problems
    assert problem.path == field
    assert problem.message.startswith(what), problem
    recorded = context["ti"].xcom[VALIDATION_XCOM_KEY]["problems"]
    assert [entry["field"] for entry in recorded] == [field]

    if user is None:  # the approver rule binds only the runs that user triggers
        build = BuildPackageOperator(
            task_id="build",
            plan_path=str(plan),
            run_params=params,
            build_root=str(tmp_path / "builds"),
            aws_conn_id=aws_conn,
        )
        with pytest.raises(ValidationError):
            run_task(build)
        publish = PublishPackageOperator(
            task_id="publish",
            plan_path=str(plan),
            run_params=params,
            build={"package": "ExamplePackage", "version": "1.0.2"},
            build_root=str(tmp_path / "builds"),
            aws_conn_id=aws_conn,
        )
        with pytest.raises(ValidationError):
            run_task(publish, make_context("publish"))
    assert sim.ledger.calls() == []
    assert not (tmp_path / "builds").exists()


def test_what_the_policy_allows_goes_through(
    plan: Path, packages_root: Path, aws_conn: str, sim: Simulator
) -> None:
    validate = ValidateRunOperator(
        task_id="validate",
        plan_path=str(plan),
        run_params={
            "version": "2.0.0",
            "source": "agent",
            "waves": ["canary", "nonprod"],
            "gate_threshold_percent": 100,
            "gate_bake": "1h",
            "rollback_mode": "uninstall",
        },
        aws_conn_id=aws_conn,
    )
    summary = validate.execute(make_context("validate", **triggered_by("bob")))
    assert summary["version"] == "2.0.0"
    assert summary["waves"] == ["canary", "nonprod"]
