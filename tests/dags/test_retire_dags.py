"""The retire DAGs: every plan's parses offline and runs its waves last first, gated and
reported as designed."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import TriggerRule

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.retire_params import RETIRE_PARAM_NAMES
from distributor_rollout.core.retire_steps import RETIRE_WAVE_STEPS, retire_dag_id
from distributor_rollout.dag_factory import dag_id_for
from distributor_rollout.retire_factory import RETIRE_TASK_DOCS, retire_dag

REPO = Path(__file__).resolve().parents[2]
ROLLOUTS = REPO / "include" / "rollouts"
PLANS = sorted([*ROLLOUTS.glob("*.yaml"), *(ROLLOUTS / "examples").glob("*.yaml")])


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test: parsing must stay offline."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access while parsing DAGs: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def dag() -> Any:
    return retire_dag("examplepackage", plans_dir=ROLLOUTS)


@pytest.mark.parametrize("path", PLANS, ids=lambda path: path.stem)
def test_every_plan_has_a_retire_dag_that_parses_offline(path: Path, no_network: None) -> None:
    plan = load_plan(path)
    dag = retire_dag(path.stem, plans_dir=path.parent)
    assert dag.dag_id == retire_dag_id(dag_id_for(plan.name))
    assert dag.schedule is None or str(dag.schedule) in {"None", "null"}
    assert dag.max_active_runs == 1
    assert "retire" in dag.tags
    expected = {f"{wave.name}.{step}" for wave in plan.waves for step in RETIRE_WAVE_STEPS}
    assert expected <= set(dag.task_ids)


def test_a_thin_dag_file_builds_the_rollout_and_the_retire(
    tmp_path: Path, no_network: None
) -> None:
    (tmp_path / "examplepackage.py").write_text(
        "# airflow DAGs\n"
        "from pathlib import Path\n"
        "from distributor_rollout.dag_factory import rollout_dag\n"
        "from distributor_rollout.retire_factory import retire_dag\n"
        f"dag = rollout_dag('examplepackage', plans_dir=Path({str(ROLLOUTS)!r}))\n"
        f"retire = retire_dag('examplepackage', plans_dir=Path({str(ROLLOUTS)!r}))\n"
    )
    bag = DagBag(str(tmp_path))
    assert bag.import_errors == {}
    rollout = dag_id_for("examplepackage")
    assert sorted(bag.dags) == [rollout, retire_dag_id(rollout)]


def test_the_waves_retire_last_first_after_one_approval(dag: Any) -> None:
    upstream = {task.task_id: set(task.upstream_task_ids) for task in dag.tasks}
    assert upstream["validate"] == set()
    assert upstream["approve"] == {"validate"}
    assert upstream["prod.uninstall"] == {"approve"}
    assert upstream["prod.wait_uninstall"] == {"prod.uninstall"}
    assert upstream["prod.wait_removed"] == {"prod.wait_uninstall"}
    assert upstream["prod.delete_instances"] == {"prod.wait_removed"}
    assert upstream["prod.wait_delete"] == {"prod.delete_instances"}
    assert upstream["nonprod.uninstall"] == {"prod.wait_delete"}
    assert upstream["canary.uninstall"] == {"nonprod.wait_delete"}
    assert upstream["delete_stack_set"] == {"canary.wait_delete"}
    assert upstream["delete_buckets"] == {"delete_stack_set"}
    assert upstream["report"] == {"delete_buckets"}

    rules = {task.task_id: TriggerRule(task.trigger_rule).value for task in dag.tasks}
    # A skipped approval (dry run) or a wave with nothing left does not stop what follows;
    # a failed one does; the report always runs.
    for task_id in ("prod.uninstall", "nonprod.uninstall", "canary.uninstall"):
        assert rules[task_id] == "none_failed"
    assert rules["delete_stack_set"] == rules["delete_buckets"] == "none_failed"
    assert rules["report"] == "all_done"
    inside = [f"{wave}.{step}" for wave in ("prod",) for step in RETIRE_WAVE_STEPS[1:]]
    assert {rules[task_id] for task_id in inside} == {"all_success"}


def test_the_tasks_are_wired_to_the_plan(dag: Any) -> None:
    plan = load_plan(ROLLOUTS / "examplepackage.yaml")
    assert dag.get_task("validate").retries == 0
    assert dag.get_task("approve").retries == 1
    sensor = dag.get_task("nonprod.wait_delete")
    assert sensor.stack_set_name == plan.stack_set.name
    assert sensor.region_name == plan.stack_set.region
    assert "nonprod.delete_instances" in sensor.operation_ids
    assert "nonprod.uninstall" in dag.get_task("nonprod.wait_uninstall").operation_ids
    assert dag.get_task("prod.uninstall").wave == "prod"
    assert all(task.doc_md for task in dag.tasks)
    assert {task.task_id.rsplit(".", 1)[-1] for task in dag.tasks} == set(RETIRE_TASK_DOCS)


def test_the_form_offers_what_the_plan_allows(dag: Any, tmp_path: Path) -> None:
    assert set(dag.params) == {"dry_run", "delete_buckets"}
    assert dag.params["dry_run"] is False
    assert dag.params["delete_buckets"] is False
    data = yaml.safe_load((ROLLOUTS / "examplepackage.yaml").read_text())
    data["manual_runs"]["skip_approvals"] = True
    data["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    (tmp_path / "lenient.yaml").write_text(yaml.safe_dump({**data, "name": "lenient"}))
    lenient = retire_dag("lenient", plans_dir=tmp_path)
    assert set(lenient.params) == set(RETIRE_PARAM_NAMES)


def test_an_existing_package_form_deletes_only_the_artifacts_bucket(tmp_path: Path) -> None:
    data = yaml.safe_load((ROLLOUTS / "examplepackage.yaml").read_text())
    data["package"] = {"existing": "AmazonCloudWatchAgent"}
    (tmp_path / "cw.yaml").write_text(yaml.safe_dump({**data, "name": "cw"}))
    dag = retire_dag("cw", plans_dir=tmp_path)
    description = dag.params.get_param("delete_buckets").description
    assert "the artifacts bucket (an existing package has no package bucket)" in description


def test_a_wave_named_like_a_retire_step_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((ROLLOUTS / "examplepackage.yaml").read_text())
    data["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    data["waves"][0]["name"] = "approve"
    (tmp_path / "clash.yaml").write_text(yaml.safe_dump({**data, "name": "clash"}))
    # The plan itself refuses it (every plan has both DAGs), before the factory's own check.
    reserved = r"waves\[0\]\.name: is reserved for the rollout's and the retire's own steps"
    with pytest.raises(ValidationError, match=reserved):
        retire_dag("clash", plans_dir=tmp_path)
