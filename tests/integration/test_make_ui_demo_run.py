"""``make ui``'s demo run (``rollout_demo.demo_run``): a finished run of the example plan in the
metadata DB, which the Rollout tab shows wave by wave; the run it replaces (the last demo run,
and no other); the clock hand-over from the demo's speed to the session's; the page the
launcher prints.

The run is recorded as the launcher's child does, in this process: ``dag.test()`` against
awssim at the demo's speed, with the rollout's waits scaled to match. ``make ui`` with a plan,
organization and scenario of one's own runs the launcher itself, its child and all, up to
where Airflow's components would start: what they would find is the plan's DAG alone and its
demo run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from fastapi.testclient import TestClient
from own_rollout import write_own_rollout
from sqlalchemy import select

from awssim.server import SimServer
from awssim.simulator import Simulator
from distributor_rollout.core.retire_steps import retire_dag_id
from distributor_rollout.core.steps import REPORT, REPORT_XCOM_KEY
from distributor_rollout.dag_factory import dag_id_for
from distributor_rollout.plugin import DistributorRolloutPlugin
from rollout_demo import aws_connection, rehearsal
from rollout_demo.demo_run import NOTE_PREFIX, DemoRun, note_for, record_demo_run
from rollout_demo.project import PROJECT_ENV
from rollout_demo.ui import (
    ROLLOUT_TAB,
    ROLLOUTS_VIEW,
    continue_at,
    demo_run_environment,
    rollout_tab_url,
    ui_environment,
)

DEMO_SPEED = 300.0
"""make ui's DEMO_SPEED: awssim's clock and the rollout's time scale while it records."""
DAG_ID = dag_id_for("examplepackage")
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)  # three rollouts, two of them dry runs


@pytest.fixture
def demo_sim(awssim_server: SimServer, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """awssim at the demo's speed, with aws_default and the time scale pointing at it."""
    awssim_server.sim.load("demo", None, speed=DEMO_SPEED, seed=0)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(awssim_server.endpoint_url))
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE", str(DEMO_SPEED))
    return awssim_server.sim


def runs_of(dag_id: str) -> dict[str, str | None]:
    """Every run of ``dag_id`` in the metadata DB, with its note."""
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)).all()
        return {run.run_id: run.note for run in runs}


def rows_of(run_id: str) -> dict[str, int]:
    """How many task instances and XComs the metadata DB holds for ``run_id``."""
    with create_session() as session:
        return {
            "task_instances": len(
                session.scalars(select(TaskInstance.id).where(TaskInstance.run_id == run_id)).all()
            ),
            "xcoms": len(
                session.scalars(select(XComModel.key).where(XComModel.run_id == run_id)).all()
            ),
        }


def rollout_tab_data(demo: DemoRun, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The Rollout tab's JSON for the demo run, from Airflow's API app, as standalone's admin."""
    # A key long enough for HS512 (a generated short one warns, and warnings fail tests).
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "make-ui-test-" + "k" * 64)
    client = TestClient(create_app())
    jwt = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    response = client.get(
        "/distributor-rollout/api/run",
        params={"dag_id": demo.dag_id, "run_id": demo.run_id},
        headers={"Cookie": f"_token={jwt}"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_demo_run_replaces_the_last_one_and_its_tab_shows_every_wave(
    demo_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The last make ui's demo run (a dry run: quick, and just as much a demo run), then a
    # run someone triggered; then this make ui's.
    earlier = record_demo_run("happy", {"dry_run": True})
    someone = rehearsal.rehearse(DAG_ID, {"dry_run": True})
    assert rows_of(earlier.run_id)["task_instances"] > 0

    demo = record_demo_run("happy")

    assert (demo.dag_id, demo.state) == (DAG_ID, "success")
    assert demo.summary == "ExamplePackage 1.0.2: succeeded, 3 of 3 waves passed"
    assert demo.replaced == (earlier.run_id,)
    runs = runs_of(DAG_ID)
    assert runs[demo.run_id] == note_for("happy")
    assert note_for("happy").startswith(NOTE_PREFIX)
    assert runs[someone.run_id] is None
    assert earlier.run_id not in runs
    assert rows_of(earlier.run_id) == {"task_instances": 0, "xcoms": 0}
    assert DemoRun.from_dict(demo.to_dict()) == demo

    view = rollout_tab_data(demo, monkeypatch)
    report = rehearsal.xcom(DAG_ID, demo.run_id, REPORT, REPORT_XCOM_KEY)
    assert (view["run_state"], view["finished"], view["summary"]) == (
        "success",
        True,
        demo.summary,
    )
    assert [wave["name"] for wave in view["waves"]] == ["canary", "nonprod", "prod"]
    assert [wave["row"] for wave in view["waves"]] == report["waves"]
    assert [wave["phase"] for wave in view["waves"]] == ["passed", "passed", "approved"]
    assert all(wave["operations"] for wave in view["waves"])


def test_the_clock_goes_on_at_the_session_speed_from_where_the_demo_left_it(
    sim: Simulator,
) -> None:
    sim.load("demo", None, speed=DEMO_SPEED, seed=0)
    sim.advance(3 * 3600)  # the demo run's simulated hours
    start, reached, org = sim.clock.at(0.0), sim.clock.seconds(), sim.org
    pending = sim.scheduler.next_due()

    continue_at(sim, 2.0)

    assert sim.clock.speed == 2.0
    assert sim.clock.at(0.0) == start
    assert sim.clock.seconds() >= reached
    assert sim.org is org  # the same AWS, not a reloaded one
    assert sim.scheduler.next_due() == pending
    before = sim.clock.seconds()
    time.sleep(0.5)
    # About 1 simulated second at x2; at the demo's x300 it would be 150.
    assert 0.5 <= sim.clock.seconds() - before < 30


def test_the_printed_page_is_the_runs_rollout_tab() -> None:
    url = rollout_tab_url(
        "http://127.0.0.1:8080", DAG_ID, "manual__2026-12-06T18:39:15.642409+00:00"
    )
    assert url == (
        "http://127.0.0.1:8080/dags/distributor_rollout__examplepackage/runs/"
        "manual__2026-12-06T18:39:15.642409+00:00/plugin/distributor-rollout"
    )
    # The Airflow UI serves a plugin's external view at plugin/<url_route>, under the run's
    # page for a dag_run view and at the top for a nav entry.
    routes = {
        view["destination"]: f"plugin/{view['url_route']}"
        for view in DistributorRolloutPlugin.external_views
    }
    assert routes == {"dag_run": ROLLOUT_TAB, "nav": ROLLOUTS_VIEW}


def test_the_demo_run_shares_the_uis_home_db_and_dags_at_its_own_speed(tmp_path: Path) -> None:
    endpoint = "http://127.0.0.1:5123"
    ui = ui_environment(tmp_path, endpoint, 60.0, 8089)
    demo = demo_run_environment(tmp_path, endpoint, DEMO_SPEED, 8089)
    for shared in (
        "AIRFLOW_HOME",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "AIRFLOW__CORE__PLUGINS_FOLDER",
        "AIRFLOW_CONN_AWS_DEFAULT",
    ):
        assert demo[shared] == ui[shared], shared
    assert ui["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    # The demo run's waits follow the demo's clock, the session's the session's.
    assert float(demo["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"]) == DEMO_SPEED
    assert float(ui["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"]) == 60.0
    # dag.test() runs triggers inline: no deferral race for the floor to guard against.
    assert demo["AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS"] == "0"
    assert "AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS" not in ui


# --- make ui PLAN=... ORG=... SCENARIO=... -------------------------------------------------

# The launcher, with a stand-in for `airflow standalone` that reads what the UI's components
# would find in their environment: the DAGs its DAG processor parses, the runs in its DB.
LAUNCH = """
import sys
from rollout_demo.ui import main
sys.exit(main(sys.argv[2:], command=[sys.executable, "-c", sys.argv[1]]))
"""
INSPECT = """
import json, os
from airflow.configuration import conf
from airflow.dag_processing.dagbag import DagBag
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
from sqlalchemy import select
bag = DagBag(conf.get("core", "dags_folder"))
with create_session() as session:
    runs = [
        {"dag_id": run.dag_id, "run_id": run.run_id, "state": str(run.state), "note": run.note}
        for run in session.scalars(select(DagRun))
    ]
seen = {"dags": sorted(bag.dags), "errors": list(bag.import_errors), "runs": runs}
with open(os.environ["UI_SEEN"], "w") as out:
    json.dump(seen, out)
raise SystemExit(3)
"""


def make_ui(project: Path, seen: Path, *args: str) -> tuple[dict[str, Any], str]:
    """``make ui ...`` in ``project`` up to where Airflow would start; what the stand-in saw
    and the launcher's output."""
    command = [sys.executable, "-c", LAUNCH, INSPECT, "--port", "8124", "--sim-port", "0"]
    result = subprocess.run(
        [*command, "--demo-run", "--demo-speed", str(2 * DEMO_SPEED), *args],
        env={**os.environ, PROJECT_ENV: str(project), "UI_SEEN": str(seen)},
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    return json.loads(seen.read_text()), result.stdout


@pytest.mark.timeout(400)
def test_make_ui_lists_ones_own_plan_and_opens_on_its_run_then_back_to_the_demo(
    tmp_path: Path,
) -> None:
    own = write_own_rollout(tmp_path / "mine")
    project = tmp_path / "project"  # a copy of this project: the example plan and its DAG
    shutil.copytree(REPO / "dags", project / "dags")
    shutil.copytree(REPO / "include" / "packages", project / "include" / "packages")
    (project / "include" / "rollouts").mkdir()
    shutil.copy(REPO / "include" / "rollouts" / "examplepackage.yaml", project / "include/rollouts")
    own_args = ("--plan", str(own.plan), "--org", str(own.org), "--scenario", str(own.scenario))

    seen, out = make_ui(project, tmp_path / "own.json", *own_args)

    acme = dag_id_for("acme-agent")
    assert seen["errors"] == []
    assert seen["dags"] == [acme, retire_dag_id(acme)]  # the UI's DAG list: the plan's DAGs
    [run] = seen["runs"]
    assert (run["dag_id"], run["state"]) == (acme, "success")
    assert run["note"] == note_for("a-few-lost-agents", "acme")
    assert f"[ui] demo run {run['run_id']}: success, AcmeAgent 1.4.0: succeeded" in out
    assert "awssim: org acme, scenario a-few-lost-agents" in out

    # make ui with no PLAN/ORG/SCENARIO: the project's DAGs and a demo run of the example
    # plan, which replaces the demo run of the plan before.
    seen, out = make_ui(project, tmp_path / "demo.json")

    assert seen["dags"] == [DAG_ID, retire_dag_id(DAG_ID)]
    [demo] = seen["runs"]
    assert (demo["dag_id"], demo["state"], demo["note"]) == (DAG_ID, "success", note_for("happy"))
    assert f"replacing {run['run_id']}" in out
