"""A DAG run is pinned to the plan its validate task saw."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from distributor_rollout import run_config as config
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.run_config import PlanChangedError, load_run_config


class FakeTaskInstance:
    def __init__(self, task_id: str, validated: dict[str, Any] | None) -> None:
        self.task_id = task_id
        self.validated = validated

    def xcom_pull(self, task_ids: str) -> dict[str, Any] | None:
        assert task_ids == "validate"
        return self.validated


@pytest.fixture
def plan_copy(tmp_path: Path, example_plan_path: Path) -> Path:
    path = tmp_path / "rollouts" / example_plan_path.name
    path.parent.mkdir()
    shutil.copy(example_plan_path, path)
    source = example_plan_path.parent / "../packages/examplepackage"
    shutil.copytree(source, tmp_path / "packages" / "examplepackage")
    return path


def in_task(monkeypatch: pytest.MonkeyPatch, task_id: str, validated: Any) -> None:
    context = {"ti": FakeTaskInstance(task_id, validated)}
    monkeypatch.setattr(config, "get_current_context", lambda: context)


def test_a_task_refuses_a_plan_changed_since_validate(
    plan_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = load_plan(plan_copy).digest()
    in_task(monkeypatch, "prod.deploy", {"plan_digest": digest})
    assert load_run_config(plan_copy, {}).plan.digest() == digest

    plan_copy.write_text(
        plan_copy.read_text().replace("threshold_percent: 90", "threshold_percent: 50")
    )
    with pytest.raises(PlanChangedError, match="changed after this run validated it"):
        load_run_config(plan_copy, {})
    # Undoing and reporting go on, with the plan as it is now.
    assert load_run_config(plan_copy, {}, pinned=False).plan.digest() != digest


def test_validate_itself_and_code_outside_a_run_are_not_pinned(
    plan_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_task(monkeypatch, "validate", {"plan_digest": "0" * 64})
    load_run_config(plan_copy, {})
    in_task(monkeypatch, "build", None)  # validate recorded nothing (an older run)
    load_run_config(plan_copy, {})
    monkeypatch.undo()
    load_run_config(plan_copy, {})  # no Airflow task context at all
