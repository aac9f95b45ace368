"""``python -m rollout_demo`` (``make rehearse``) with a plan of one's own: the DAG file it
generates parses into the plan's DAG as Airflow parses any DAG file, and inputs that cannot be
rehearsed are refused before anything starts (exit status 2, no Airflow home made)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from own_rollout import OwnRollout, write_own_rollout

from distributor_rollout.core.retire_steps import retire_dag_id
from distributor_rollout.dag_factory import dag_id_for
from rollout_demo.dags_folder import dags_folder
from rollout_demo.inputs import resolve_plan

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def own(tmp_path: Path) -> OwnRollout:
    return write_own_rollout(tmp_path / "mine")


def test_the_generated_dag_file_parses_into_the_plans_dag_offline(
    own: OwnRollout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = dags_folder(resolve_plan(str(own.plan), REPO), REPO, tmp_path / "home")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access while parsing DAGs: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    bag = DagBag(str(folder.path))

    assert bag.import_errors == {}
    # The plan's rollout DAG and its retire DAG.
    acme = dag_id_for("acme-agent")
    assert sorted(bag.dags) == [acme, retire_dag_id(acme)]
    dag = bag.dags[dag_id_for("acme-agent")]
    assert {"pilot.deploy", "everyone.wait_compliance", "everyone.approve"} <= set(dag.task_ids)
    assert "canary.deploy" not in dag.task_ids
    assert dag.get_task("validate").plan_path == str(own.plan)


def rehearse(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollout_demo", *args, "--home", str(home)],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--plan", "no-such-plan"], ["plan 'no-such-plan'", "['examplepackage']"]),
        (["--org", "no-such-org"], ["org 'no-such-org'", "'demo'", "'field'", "synthetic:"]),
        (["--scenario", "no-such"], ["scenario 'no-such'", "'happy'", "'offline-rollback'"]),
        (["--reject", "canary"], ["wave canary of plan examplepackage asks for no approval"]),
        (
            ["--org", "field"],
            ["does not fit organization field", "wave canary: OU /Sandbox is not in the"],
        ),
    ],
)
def test_what_cannot_be_rehearsed_is_refused_before_anything_starts(
    args: list[str], said: list[str], tmp_path: Path
) -> None:
    result = rehearse(*args, home=tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    for text in said:
        assert text in result.stderr
    assert not (tmp_path / "home").exists()


def test_ones_own_plan_against_an_org_without_its_ous_names_them(
    own: OwnRollout, tmp_path: Path
) -> None:
    result = rehearse("--plan", str(own.plan), "--org", "demo", home=tmp_path / "home")
    assert result.returncode == 2
    assert f"plan acme-agent ({own.plan}) does not fit organization demo" in result.stderr
    assert "wave pilot: OU /Apps/Pilot is not in the organization" in result.stderr
    assert "wave everyone: OU /Apps/Main is not in the organization" in result.stderr
    assert "the organization's OUs: /, /Sandbox, /NonProd, " in result.stderr
