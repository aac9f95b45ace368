"""The DAG files: every one imports cleanly, offline, and builds the rollout as designed."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import TriggerRule

from distributor_rollout import settings
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.params import PARAM_NAMES
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.dag_factory import dag_id_for, rollout_dag

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PLANS = sorted((REPO / "include" / "rollouts").glob("*.yaml"))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test: parsing must stay offline."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access while parsing DAGs: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def dagbag(no_network: None) -> DagBag:
    return DagBag(str(DAGS))


def test_every_dag_file_imports_without_errors_or_network(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert dagbag.dags


def test_every_plan_has_its_dag(dagbag: Any) -> None:
    for path in PLANS:
        plan = load_plan(path)
        assert dag_id_for(plan.name) in dagbag.dags, f"no DAG file in dags/ builds {path.name}"


def test_the_example_dag_runs_the_designed_sequence(dagbag: Any) -> None:
    dag = dagbag.dags["distributor_rollout__examplepackage"]
    upstream = {task.task_id: set(task.upstream_task_ids) for task in dag.tasks}
    assert upstream["build"] == {"validate"}
    assert upstream["check_deployed"] == {"build"}
    assert upstream["publish"] == {"check_deployed"}
    assert upstream["prepare"] == {"publish"}
    assert upstream["canary.deploy"] == {"prepare"}
    assert upstream["canary.wait_operation"] == {"canary.deploy"}
    assert upstream["canary.wait_compliance"] == {"canary.wait_operation"}
    assert upstream["nonprod.deploy"] == {"prepare", "canary.wait_compliance"}
    assert upstream["prod.approve"] == {"prod.wait_compliance"}
    # Only the wave that asks for approval has an approval task.
    assert "canary.approve" not in upstream
    assert "nonprod.approve" not in upstream
    assert upstream["finalize"] == {
        "prepare",
        "canary.wait_compliance",
        "nonprod.wait_compliance",
        "prod.approve",
    }
    wave_tasks = {t for t in upstream if t.split(".")[0] in {"canary", "nonprod", "prod"}}
    assert upstream["rollback"] == wave_tasks
    assert upstream["report"] == {"finalize", "rollback"}

    rules = {task.task_id: TriggerRule(task.trigger_rule).value for task in dag.tasks}
    assert rules["rollback"] == "one_failed"
    assert rules["report"] == "all_done"
    assert rules["finalize"] == rules["prod.deploy"] == "none_failed_min_one_success"
    assert rules["prod.wait_operation"] == "all_success"


def test_the_example_dag_carries_the_plans_settings(dagbag: Any, example_plan_path: Path) -> None:
    plan = load_plan(example_plan_path)
    dag = dagbag.dags[dag_id_for(plan.name)]
    assert dag.max_active_runs == 1
    assert dag.render_template_as_native_obj is True
    assert set(plan.tags) <= set(dag.tags)
    assert "distributor-rollout" in dag.tags
    assert dag.owner == plan.owner
    assert dag.schedule is None  # the plan says "schedule: none"
    assert set(dag.params) == set(PARAM_NAMES) - {"skip_approvals"}  # the plan keeps approvals
    assert "ExamplePackage" in dag.doc_md
    assert "| prod |" in dag.doc_md
    finalize = dag.get_task("finalize")
    assert [asset.name for asset in finalize.outlets] == ["distributor-package/ExamplePackage"]
    assert dag.get_task("validate").retries == 0
    # One retry: an approval lost to Airflow's deferral race is asked again; a rejection
    # or a timeout is final (ApprovalDeclined is never retried).
    assert dag.get_task("prod.approve").retries == 1
    sensor = dag.get_task("canary.wait_operation")
    assert sensor.region_name == plan.stack_set.region


def write_plan(folder: Path, name: str, change: Any) -> None:
    plan = yaml.safe_load(PLANS[0].read_text())
    plan["name"] = name
    plan["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    change(plan)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(plan))


def test_a_broken_plan_is_refused_with_its_validation_report(tmp_path: Path) -> None:
    def breaks(plan: dict[str, Any]) -> None:
        plan["waves"][0]["regions"] = ["us-east-99"]
        plan["defaults"]["gate"]["threshold_percent"] = 140

    write_plan(tmp_path, "broken", breaks)
    with pytest.raises(ValidationError) as raised:
        rollout_dag("broken", plans_dir=tmp_path)
    report = str(raised.value)
    assert "waves[0].regions[0]" in report
    assert "defaults.gate.threshold_percent" in report


def test_a_broken_plan_is_the_import_error_of_its_own_dag_file_only(
    tmp_path: Path, no_network: None
) -> None:
    plans, dags = tmp_path / "plans", tmp_path / "dags"
    plans.mkdir()
    dags.mkdir()
    write_plan(plans, "good", lambda plan: None)
    write_plan(plans, "bad", lambda plan: plan["package"].update(version="not a version!"))
    for name in ("good", "bad"):
        (dags / f"rollout_{name}.py").write_text(
            "# airflow DAG\n"
            "from pathlib import Path\n"
            "from distributor_rollout.dag_factory import rollout_dag\n"
            f"dag = rollout_dag({name!r}, plans_dir=Path({str(plans)!r}))\n"
        )
    bag = DagBag(str(dags))
    assert list(bag.dags) == [dag_id_for("good")]
    [(path, error)] = bag.import_errors.items()
    assert path.endswith("rollout_bad.py")
    assert "package.version" in error


def test_plans_kept_outside_the_repository_are_found_through_the_setting(
    tmp_path: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment keeps its plans anywhere: ``[distributor_rollout] plans_dir``."""
    plans = tmp_path / "elsewhere" / "plans"
    plans.mkdir(parents=True)
    write_plan(plans, "outside", lambda plan: plan.update(name="outside"))
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR", str(plans))
    dag = rollout_dag("outside")
    assert dag.dag_id == dag_id_for("outside")
    assert any(
        str(plans) in str(task.plan_path) for task in dag.tasks if hasattr(task, "plan_path")
    )


def test_the_default_folders_sit_beside_the_dags_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "repo" / "dags"))
    monkeypatch.delenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR", raising=False)
    monkeypatch.delenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__PACKAGES_ROOT", raising=False)
    assert settings.plans_dir() == tmp_path / "repo" / "include" / "rollouts"
    assert settings.packages_root() == tmp_path / "repo" / "include" / "packages"
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR", "relative/plans")
    with pytest.raises(ValidationError, match=r"distributor_rollout\.plans_dir"):
        settings.plans_dir()


def test_every_task_has_a_short_doc_for_the_people_running_rollouts(dagbag: Any) -> None:
    dag = dagbag.dags[dag_id_for("examplepackage")]
    for task in dag.tasks:
        assert task.doc_md, task.task_id
        assert len(task.doc_md) <= 250, task.task_id
        assert task.doc_md != (type(task).__doc__ or "").strip(), task.task_id
