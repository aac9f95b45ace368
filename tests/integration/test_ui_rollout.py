"""The Rollout tab and the organization view through Airflow's real API app, over real runs
of the example plan (``dag.test()`` against awssim): a happy one, a version whose canary
fails and is rolled back, one whose prod approval is rejected, and one whose params
``validate`` refuses.

Checks what the issue asks: 401 for anonymous requests on every route, 403 for a user
denied the DAG, the tab's wave rows equal to the report's (the report task's XCom), a
failed cell's reason, who approved and who rejected, the org view's version per wave, and
the plugin's registration. The API server here has no plan files: the tab reads each run
through the plan its ``validate`` recorded; a run without that record (from before it was
recorded) is read through the plan file, or without a plan when that cannot be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.models.xcom import XComModel
from airflow.utils.db import upgradedb
from airflow.utils.session import create_session
from denying_auth import DENIED_ENV
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from awssim.server import SimServer
from distributor_rollout.core.steps import RUN_PLAN_XCOM_KEY, VALIDATE
from distributor_rollout.dag_factory import dag_id_for
from distributor_rollout.ui.records import PlanUnavailable, StoredRun, run_plan
from rollout_demo import aws_connection, rehearsal

SPEED = 300.0
"""awssim's clock and the rollout's time scale, as the e2e layer runs them."""
DAG_ID = dag_id_for("examplepackage")
PREFIX = "/distributor-rollout"
PLANS_ENV = "AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR"
PLANS = Path(__file__).resolve().parents[2] / "include" / "rollouts"
"""The plan files the DAG runs (the DAGs' include folder, which the API server may lack)."""

pytestmark = pytest.mark.timeout(900)  # four rollouts in the first test's setup


@pytest.fixture(scope="module")
def runs(awssim_server: SimServer) -> dict[str, rehearsal.Rehearsal]:
    """A happy run of 1.0.2; 1.1.0 failing on the canary and rolled back; 1.1.0 to canary
    and prod, prod's approval rejected and rolled back; a source ``validate`` refuses."""
    upgradedb()
    with pytest.MonkeyPatch.context() as patch:
        awssim_server.sim.load("demo", None, speed=SPEED, seed=0)
        patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(awssim_server.endpoint_url))
        patch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE", str(SPEED))
        happy = rehearsal.rehearse(DAG_ID)
        awssim_server.sim.set_scenario("canary-failure")
        failed = rehearsal.rehearse(DAG_ID, {"version": "1.1.0"})
        awssim_server.sim.set_scenario(None)
        rejected = rehearsal.rehearse(
            DAG_ID, {"version": "1.1.0", "waves": ["canary", "prod"]}, decide=lambda task: False
        )
        invalid = rehearsal.rehearse(DAG_ID, {"source": "does/not/exist"})
    assert happy.succeeded, happy.task_states
    assert failed.report is not None
    assert failed.report["status"] == "rolled_back", failed.report["summary"]
    assert rejected.approvals == (("prod.approve", "Reject"),)
    assert rejected.report is not None
    assert rejected.report["status"] == "rolled_back", rejected.report["summary"]
    assert invalid.task_states["validate"] == "failed"
    return {"happy": happy, "failed": failed, "rejected": rejected, "invalid": invalid}


@pytest.fixture(scope="module")
def client(
    runs: dict[str, rehearsal.Rehearsal], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """Airflow's API app (plugins mounted) with two viewers; bob is denied the DAG. The
    API server has no plan files (``plans_dir`` names a folder that does not exist)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PLANS_ENV, str(tmp_path_factory.mktemp("api-server") / "no-plans"))
        patch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "denying_auth.DenyingAuthManager")
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "alice:viewer,bob:viewer")
        patch.setenv(DENIED_ENV, f"bob={DAG_ID}")
        # A key long enough for HS512 (a generated short one warns, and warnings fail tests).
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "ui-test-" + "k" * 64)
        yield TestClient(create_app())


def token(user: str) -> dict[str, str]:
    """Headers carrying the ``_token`` cookie the UI's login sets, for a viewer (as a
    header: httpx deprecates per-request cookies)."""
    jwt = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=user, role="viewer"))
    return {"Cookie": f"_token={jwt}"}


def run_query(run: rehearsal.Rehearsal) -> dict[str, str]:
    return {"dag_id": run.dag_id, "run_id": run.run_id}


def tab(client: TestClient, run: rehearsal.Rehearsal) -> dict[str, Any]:
    response = client.get(f"{PREFIX}/api/run", params=run_query(run), headers=token("alice"))
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextmanager
def plan_record(run: rehearsal.Rehearsal, **changes: Any) -> Iterator[None]:
    """The run's recorded plan (``validate``'s ``run_plan`` XCom row) changed for the block
    (``key=...``: hidden, as a run from before it was recorded; ``value=...``: damaged)."""
    row = (
        XComModel.dag_id == run.dag_id,
        XComModel.run_id == run.run_id,
        XComModel.task_id == VALIDATE,
    )
    with create_session() as session:
        original = session.scalars(
            select(XComModel).where(*row, XComModel.key == RUN_PLAN_XCOM_KEY)
        ).one()
        saved = {"key": original.key, "value": original.value}
        session.execute(
            update(XComModel).where(*row, XComModel.key == RUN_PLAN_XCOM_KEY).values(**changes)
        )
    try:
        yield
    finally:
        with create_session() as session:
            key = changes.get("key", RUN_PLAN_XCOM_KEY)
            session.execute(update(XComModel).where(*row, XComModel.key == key).values(**saved))


def test_every_route_refuses_anonymous_requests(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    query = run_query(runs["happy"])
    for path, params in [
        ("/api/run", query),
        ("/ui/run", query),
        ("/api/org", None),
        ("/ui/", None),
        ("/static/rollout.js", None),
        ("/static/icon.svg", None),
    ]:
        response = client.get(PREFIX + path, params=params)
        assert response.status_code == 401, (path, response.text)


def test_a_user_denied_the_dag_gets_403_for_its_run_data_and_no_entry(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    query = run_query(runs["failed"])
    for path in ("/api/run", "/ui/run"):
        response = client.get(PREFIX + path, params=query, headers=token("bob"))
        assert response.status_code == 403, (path, response.text)
    org = client.get(f"{PREFIX}/api/org", headers=token("bob"))
    assert org.status_code == 200
    assert org.json()["dags"] == []
    assert client.get(f"{PREFIX}/api/org", headers=token("alice")).json()["dags"] != []


@pytest.mark.parametrize("name", ["happy", "failed", "rejected", "invalid"])
def test_the_tabs_wave_rows_are_the_reports_wave_table(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal], name: str
) -> None:
    run = runs[name]
    report = run.report
    assert report is not None
    view = tab(client, run)
    assert view["finished"] is True
    assert view["refresh_seconds"] is None
    assert [wave["row"] for wave in view["waves"]] == report["waves"]
    assert (view["status"], view["summary"]) == (report["status"], report["summary"])
    assert view["rollback"] is None or view["rollback"]["report"] == report["rollback"]
    # Read through the plan validate recorded: this API server has no plan files.
    assert view["plan"]["source"] == "recorded"
    assert (view["plan"]["name"], view["plan"]["digest"]) == (
        report["plan_name"],
        report["plan_digest"],
    )
    assert view["validation"] == report["validation"]


def test_the_happy_run_shows_operations_gates_and_who_approved(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    view = tab(client, runs["happy"])
    waves = {wave["name"]: wave for wave in view["waves"]}
    assert list(waves) == ["canary", "nonprod", "prod"]
    for wave in waves.values():
        assert wave["phase"] in ("passed", "approved")
        assert wave["ous"]
        assert wave["regions"]
        assert wave["operations"], wave["name"]
        assert all("operationId=" in op["url"] for op in wave["operations"])
        assert wave["gate"]["state"] == "PASS"
        assert wave["gate"]["percent"] >= wave["gate"]["threshold_percent"]
        assert wave["matrix"]["cells_total"] == wave["row"]["targets"]
        assert wave["matrix"]["failed"] == 0
    assert waves["prod"]["approval"] == {
        "required": True,
        "state": "approved",
        "by": "rehearsal approver",
        "at": waves["prod"]["row"]["finished_at"],
        "waiting_for": [],
    }


def test_a_rejected_approval_names_who_rejected_it(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    view = tab(client, runs["rejected"])
    waves = {wave["name"]: wave for wave in view["waves"]}
    prod = waves["prod"]
    assert prod["row"]["decision"] == "rejected"
    approval = prod["approval"]
    assert (approval["state"], approval["by"], approval["waiting_for"]) == (
        "rejected",
        "rehearsal approver",
        [],
    )
    # Airflow's record of the answer: between the wave's start and the run's end.
    answered = datetime.fromisoformat(approval["at"])
    assert datetime.fromisoformat(prod["row"]["started_at"]) <= answered
    assert answered <= datetime.fromisoformat(view["finished_at"])
    assert waves["nonprod"]["phase"] == "skipped"  # not among the run's waves
    assert view["rollback"]["state"] == "success"


def test_a_run_validate_refused_shows_its_plan_as_written_and_the_problem(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    view = tab(client, runs["invalid"])
    assert view["status"] == "failed"
    assert [wave["phase"] for wave in view["waves"]] == ["not_run"] * 3
    assert view["package"] == {"name": "ExamplePackage", "version": "1.0.2"}
    [problem] = view["validation"]["problems"]
    assert problem["field"] == "source"


@pytest.mark.parametrize("name", ["failed", "invalid"])
def test_a_run_without_a_recorded_plan_is_read_through_its_plan_file(
    client: TestClient,
    runs: dict[str, rehearsal.Rehearsal],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    run = runs[name]
    assert run.report is not None
    monkeypatch.setenv(PLANS_ENV, str(PLANS))
    with plan_record(run, key="hidden"):
        view = tab(client, run)
    assert (view["plan"]["source"], view["plan"]["changed"]) == ("plan_file", False)
    assert view["plan"]["digest"] == run.report["plan_digest"]
    assert [wave["row"] for wave in view["waves"]] == run.report["waves"]
    assert (view["status"], view["summary"]) == (run.report["status"], run.report["summary"])


@pytest.mark.parametrize("name", ["failed", "invalid"])
def test_a_run_with_neither_a_recorded_plan_nor_a_plan_file_shows_what_it_can(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal], name: str
) -> None:
    run = runs[name]
    assert run.report is not None
    with plan_record(run, key="hidden"):
        view = tab(client, run)
    assert (view["status"], view["summary"]) == (run.report["status"], run.report["summary"])
    assert (view["run_state"], view["finished"], view["waves"]) == ("failed", True, [])
    assert view["plan"]["source"] is None
    assert "recorded no plan" in view["plan"]["problem"]
    assert view["validation"] == run.report["validation"]


def test_a_new_run_without_plan_files_waits_for_validate_to_record_its_plan(
    client: TestClient,
) -> None:
    """Before ``validate`` ran there is no record yet: not "recorded no plan"."""
    new = StoredRun(
        dag_id=DAG_ID,
        run_id="manual__new",
        state="queued",
        start_date=None,
        end_date=None,
        conf={},
        triggered_by=None,
        states={"validate": None},
        max_tries={},
        xcoms={},
    )
    with pytest.raises(PlanUnavailable, match="once validate has recorded it"):
        run_plan(new)
    done = replace(new, state="failed", states={"validate": "failed"})
    with pytest.raises(PlanUnavailable, match="recorded no plan and its plan file cannot be read"):
        run_plan(done)


def test_a_damaged_recorded_plan_is_a_conflict_that_names_it(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    run = runs["happy"]
    with plan_record(run, value={"plan": {"name": "examplepackage"}, "dry_run": False}):
        response = client.get(f"{PREFIX}/api/run", params=run_query(run), headers=token("alice"))
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "validate's run_plan XCom" in detail
    assert "plan.package: missing" in detail
    assert tab(client, run)["plan"]["source"] == "recorded"  # restored


def test_the_failed_run_names_its_failed_cells_first_with_their_reasons(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    run = runs["failed"]
    assert run.report is not None
    view = tab(client, run)
    canary = view["waves"][0]
    assert (canary["name"], canary["phase"]) == ("canary", "failed")
    assert canary["gate"]["state"] == "FAIL"
    assert canary["gate"]["counts"]["failed"] > 0
    cells = canary["matrix"]["cells"]
    failed = [cell for cell in cells if cell["failed"]]
    assert failed
    assert cells[: len(failed)] == failed  # failed cells come first
    named = {entry["target"]: entry["reason"] for entry in run.report["waves"][0]["failed_targets"]}
    first = failed[0]
    assert named[first["target"]] == first["reason"]
    assert " failed" in first["reason"]
    assert first["compliance"] == "failed"
    assert canary["matrix"]["accounts"][0] == first["account"]
    rollback = view["rollback"]
    assert rollback["state"] == "success"
    assert rollback["actions"]
    assert all(action["status"] == "succeeded" for action in rollback["actions"])
    # Where the stack set stands afterwards, in the report's words (one line per kind of
    # instance not CURRENT with what it holds).
    standing = run.report["rollback"]["stack_set"]
    lines = rollback["stack_set_lines"]
    assert lines[0].startswith(f"stack set after the rollback: holds {standing['holds']}; ")
    left = any(line.startswith("left OUTDATED: ") for line in lines)
    assert left == bool(standing["untouched_outdated_total"])


def test_the_org_view_shows_each_waves_version_and_the_last_runs(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    response = client.get(f"{PREFIX}/api/org", headers=token("alice"))
    assert response.status_code == 200
    entry = next(dag for dag in response.json()["dags"] if dag["dag_id"] == DAG_ID)
    assert entry["package"] == "ExamplePackage"
    # 1.1.0 was rolled back: every wave still runs what the happy run deployed.
    happy = runs["happy"]
    assert [(w["name"], w["version"], w["held"], w["run_id"]) for w in entry["waves"]] == [
        (name, "1.0.2", "current", happy.run_id) for name in ("canary", "nonprod", "prod")
    ]
    listed = {run["run_id"]: run for run in entry["runs"]}
    assert listed[runs["failed"].run_id]["status"] == "rolled_back"
    assert listed[happy.run_id]["status"] == "succeeded"
    assert all(run["duration_seconds"] > 0 for run in listed.values())


def test_the_pages_and_assets_are_served_with_relative_urls(
    client: TestClient, runs: dict[str, rehearsal.Rehearsal]
) -> None:
    page = client.get(f"{PREFIX}/ui/run", params=run_query(runs["happy"]), headers=token("alice"))
    assert page.status_code == 200
    assert f'data-run-id="{runs["happy"].run_id}"' in page.text.replace("&#x27;", "'")
    assert 'src="../static/rollout.js"' in page.text
    org = client.get(f"{PREFIX}/ui/", headers=token("alice"))
    assert org.status_code == 200
    assert 'href="../static/rollout.css"' in org.text
    script = client.get(f"{PREFIX}/static/rollout.js", headers=token("alice"))
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get(f"{PREFIX}/static/missing.js", headers=token("alice")).status_code == 404


def test_airflow_lists_the_plugins_views_and_app(client: TestClient) -> None:
    response = client.get("/api/v2/plugins", headers=token("alice"))
    assert response.status_code == 200
    plugin = next(p for p in response.json()["plugins"] if p["name"] == "distributor_rollout")
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == [PREFIX]
    views = {view["name"]: view for view in plugin["external_views"]}
    assert views["Rollout"]["destination"] == "dag_run"
    assert views["Rollout"]["href"] == (
        "distributor-rollout/ui/run?dag_id={DAG_ID}&run_id={RUN_ID}"
    )
    assert views["Distributor rollouts"]["destination"] == "nav"
    assert not views["Distributor rollouts"]["href"].startswith(("/", "http"))
