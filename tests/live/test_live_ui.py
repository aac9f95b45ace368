"""The Rollout tab and the Distributor rollouts view in a real browser, on the live stack.

Headless Chromium (``browser.py``) signs in through Airflow's login form and opens the
plugin's pages inside the Airflow UI (its iframes), and the tests read what a person sees
there: the Rollout tab of a running rollout waiting for its approval, which refreshes by
itself until the run has finished; the tab of a rolled-back run (the failed wave's reason,
the gate's percentage, a failed cell's reason, the rollback's actions); the organization
view (and, expected to fail until the plugin works around Airflow's iframe sandbox, its
links to the runs' tabs). Over plain HTTP, the plugin's routes refuse anonymous
requests (401) and a user denied the DAG (403).

Cost: one run of its own (``live-a``, about a minute, approved by the approver user); the
rolled-back run is ``test_live_rollouts``' (``fail-001``) when that module ran first, else one
triggered here. Screenshots go to ``<tmp_path>/screenshots`` of each test (printed); on a
failure that folder also gets a screenshot and the page source, and the message names it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import Browser
from live_api import LiveApi
from live_checks import Run, answer_approvals, wait_all
from live_stack import ADMIN, APPROVER, OUTSIDER, LiveStack

from distributor_rollout.dag_factory import dag_id_for

README_SCREENSHOT_ENV = "README_SCREENSHOT"
"""Where to copy the rolled-back run's tab for README (``make screenshot``); unset: nowhere."""

# One Airflow stack per session: every live test runs in the same xdist worker.
pytestmark = pytest.mark.xdist_group("live")

PLUGIN = "/distributor-rollout"
TAB = "plugin/distributor-rollout"
ORG = "plugin/distributor-rollouts"
RUN_FRAME, ORG_FRAME = "distributor-rollout/ui/run", "distributor-rollout/ui/"
FAIL_PLAN, APPROVAL_PLAN, APPROVAL_TASK = "live-fail", "live-a", "canary.approve"
LIVE_VERSION = "1.1.0"
"""The version the running rollout ships (the happy live runs ship 1.0.x)."""
# Generous bounds only a stuck run reaches (a clean run takes about a minute).
RUN_BUDGET = 300.0
FAIL_RUN_IDS = ("fail-001", "ui-fail-001")
"""test_live_rollouts' failing run, else the one this module triggers."""
PERCENT = r"(\d+(?:\.\d)?)% of (\d+(?:\.\d+)?)%"
"""How the tab words a gate: "<percent>% of <threshold>%"."""


def tab_path(dag_id: str, run_id: str) -> str:
    """The run page's Rollout tab in the Airflow UI."""
    return f"dags/{dag_id}/runs/{run_id}/{TAB}"


@pytest.fixture(scope="module")
def browser(live_stack: LiveStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium for the module (each test signs in if it is not yet)."""
    profile = tmp_path_factory.mktemp("chromium")
    chromium = Browser(live_stack.api_url, profile, folder=profile / "screenshots")
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def ui(browser: Browser, live_stack: LiveStack, api: LiveApi, tmp_path: Path) -> Browser:
    """The browser, signed in as the admin, saving screenshots under this test's tmp_path."""
    browser.folder = tmp_path / "screenshots"
    print(f"screenshots: {browser.folder}")
    if browser.signed_in_as != ADMIN:
        browser.sign_in(ADMIN, live_stack.password)
    return browser


@pytest.fixture(scope="module")
def failed_run(api: LiveApi) -> Run:
    """A finished run of the failing plan (its gate fails, the run rolls back)."""
    dag_id = dag_id_for(FAIL_PLAN)
    listed = api.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
    present = {run["dag_run_id"] for run in listed}
    run_id = next((run_id for run_id in FAIL_RUN_IDS if run_id in present), None)
    if run_id is None:
        api.unpause(dag_id)
        run_id = api.trigger(dag_id, {"version": "1.0.1"}, run_id=FAIL_RUN_IDS[-1])
    run = Run(dag_id, run_id)
    wait_all(api, [run], RUN_BUDGET)
    assert run.state == "failed", f"{dag_id} {run_id} ended {run.state}"
    return run


def test_the_plugin_routes_refuse_anonymous_users_and_users_denied_the_dag(
    live_stack: LiveStack, api: LiveApi, failed_run: Run
) -> None:
    base = f"{live_stack.api_url}{PLUGIN}"
    run_query = {"dag_id": failed_run.dag_id, "run_id": failed_run.run_id}
    routes: list[tuple[str, dict[str, str]]] = [
        ("/ui/", {}),
        ("/ui/run", run_query),
        ("/api/run", run_query),
        ("/api/org", {}),
        ("/static/rollout.js", {}),
        ("/static/icon.svg", {}),
    ]

    def statuses(headers: dict[str, str]) -> dict[str, int]:
        with httpx.Client(timeout=60, headers=headers) as client:
            return {
                path: client.get(base + path, params=query).status_code for path, query in routes
            }

    # No cookie, no token: every route, pages and static files too, asks for a login.
    anonymous = statuses({})
    assert anonymous == dict.fromkeys(anonymous, 401)

    # The outsider (a viewer denied the failing plan's DAG), with the cookie the login page
    # sets: the run's page and data are refused, the rest is theirs to see.
    outsider_api = LiveApi(live_stack.api_url, OUTSIDER, live_stack.password)
    outsider_api.close()  # only its token is needed
    outsider = {"Cookie": f"_token={outsider_api.token}"}
    assert statuses(outsider) == {
        "/ui/": 200,
        "/ui/run": 403,
        "/api/run": 403,
        "/api/org": 200,
        "/static/rollout.js": 200,
        "/static/icon.svg": 200,
    }
    # The refusal is the outsider's: the admin reads the same run.
    admin = {"Authorization": f"Bearer {api.token}"}
    as_admin = statuses(admin)
    assert as_admin == dict.fromkeys(as_admin, 200)
    # The organization view lists the DAG to the admin only.
    listed = {
        name: {
            dag["dag_id"]
            for dag in httpx.get(f"{base}/api/org", headers=headers, timeout=60).json()["dags"]
        }
        for name, headers in (("admin", admin), ("outsider", outsider))
    }
    assert failed_run.dag_id in listed["admin"]
    assert failed_run.dag_id not in listed["outsider"]
    assert listed["outsider"], "the outsider may read the other rollout DAGs"


@pytest.mark.timeout(RUN_BUDGET * 2 + 300)
def test_the_tab_of_a_running_rollout_shows_it_live_and_refreshes_by_itself(
    ui: Browser, api: LiveApi, approver_api: LiveApi, tracked_runs: list[tuple[str, str]]
) -> None:
    dag_id = dag_id_for(APPROVAL_PLAN)
    api.unpause(dag_id)
    run = Run(dag_id, api.trigger(dag_id, {"version": LIVE_VERSION}, run_id="ui-live-001"))
    tracked_runs.append((run.dag_id, run.run_id))
    # The run parks at its first wave's approval, which nobody answers yet.
    deadline = time.monotonic() + RUN_BUDGET
    while api.task_states(dag_id, run.run_id).get(APPROVAL_TASK) not in {
        "deferred",
        "awaiting_input",
    }:
        assert time.monotonic() < deadline, f"{APPROVAL_TASK} never asked for an answer"
        assert api.run(dag_id, run.run_id)["state"] in {"queued", "running"}
        time.sleep(1)

    ui.open(tab_path(dag_id, run.run_id))
    ui.enter_frame(RUN_FRAME)
    # A mark on the page's window: it survives the page's own refreshes, not a reload.
    ui.driver.execute_script("window.liveTestMark = 'not reloaded';")
    ui.wait_text("#package", "LiveAPackage", LIVE_VERSION)
    ui.wait_text("#status", "running")
    ui.wait_text("#notes", "Live: refreshes every")
    ui.wait_text("#waves tr[data-wave='canary']", "canary", "awaiting approval", "/Sandbox")
    ui.wait_text("#waves tr[data-wave='canary'] td:nth-child(10)", "waiting", APPROVER)
    ui.wait_match("#waves tr[data-wave='canary'] td:nth-child(7)", PERCENT)
    ui.wait_text("#waves tr[data-wave='nonprod']", "nonprod", "/NonProd", "us-east-1")
    print(f"running: {ui.screenshot('running-rollout-awaiting-approval')}")

    # The approver answers (after a person's pause); the page, never reloaded, follows.
    wait_all(
        api,
        [run],
        RUN_BUDGET,
        on_poll=lambda polled, _: answer_approvals(approver_api, polled, APPROVAL_TASK),
    )
    assert run.state == "success", f"{dag_id} {run.run_id} ended {run.state}"
    ui.wait_text("#status", "succeeded")
    ui.wait_text("#waves tr[data-wave='canary']", "approved", f"by {APPROVER}")
    nonprod = ui.wait_text("#waves tr[data-wave='nonprod']", "passed")
    ui.check(
        ui.driver.execute_script("return window.liveTestMark;") == "not reloaded",
        "the tab was reloaded: it must refresh its content by itself",
    )
    ui.check("Live:" not in ui.texts("#notes")[0], "a finished run still says it refreshes")
    gate = ui.wait_match("#waves tr[data-wave='nonprod'] td:nth-child(7)", PERCENT)
    ui.check(float(gate[1]) >= float(gate[2]), f"a passed gate shows {gate[0]} ({nonprod!r})")
    print(f"finished: {ui.screenshot('finished-run-tab')}")


def test_the_tab_of_a_rolled_back_run_shows_why_where_and_what_the_rollback_did(
    ui: Browser, api: LiveApi, failed_run: Run
) -> None:
    dag_id, run_id = failed_run.dag_id, failed_run.run_id
    report: dict[str, Any] = api.xcom(dag_id, run_id, "report", "report")
    (wave,) = report["waves"]
    ui.open(tab_path(dag_id, run_id))
    ui.enter_frame(RUN_FRAME)

    ui.wait_text("#status", "rolled back")
    ui.wait_text("#summary", report["summary"])
    # The wave's row: failed, with the gate's reason and percentage against its threshold.
    row = "#waves tr[data-wave='canary']"
    ui.wait_text(row, "canary", "failed", wave["reason"], "/Sandbox", "us-east-1")
    gate = ui.wait_match(f"{row} td:nth-child(7)", PERCENT)
    ui.check(
        abs(float(gate[1]) - wave["compliance"]["percent"]) <= 0.051 and float(gate[2]) == 90,
        f"the gate shows {gate[0]}; the report has {wave['compliance']['percent']}% of 90%",
    )
    # The matrix names the failed targets first, each with the report's reason, and
    # colours their cells as failed.
    first = wave["failed_targets"][0]
    ui.wait_text(
        f"details[data-wave='canary'] ul.failed-cells li[data-target='{first['target']}']",
        first["target"],
        first["reason"],
    )
    cell = ui.element(
        f"details[data-wave='canary'] td[data-target='{first['target']}']",
        f"the matrix cell of {first['target']}",
    )
    ui.check("bad" in (cell.get_attribute("class") or ""), f"{first['target']} is not shown failed")
    # The rollback: its outcome and one row per action, each with its status.
    rollback = report["rollback"]
    ui.wait_text("#rollback-summary", rollback["status"], f"{rollback['actions']} actions")
    actions = ui.wait_for(
        f"{rollback['actions']} rollback actions",
        lambda _: (
            (rows := ui.texts("#rollback-actions tbody tr"))
            and len(rows) == rollback["actions"]
            and rows
        ),
    )
    ui.check(all(text.strip() for text in actions), f"an empty rollback action row: {actions}")
    # Where the stack set stands after the rollback, as the report says it.
    standing = rollback["stack_set"]
    ui.check(standing is not None, "the rollback recorded no standing of the stack set")
    ui.wait_text("#rollback-stack-set", "stack set after the rollback", standing["holds"])
    shot = ui.screenshot("rolled-back-run-tab")
    print(f"rolled back: {shot}")
    # `make screenshot` keeps this one as README's picture of the tab.
    if keep := os.environ.get(README_SCREENSHOT_ENV):
        shutil.copyfile(shot, keep)


def test_the_organization_view_shows_each_dags_versions_and_last_runs(
    ui: Browser, api: LiveApi, failed_run: Run
) -> None:
    dag_id, run_id = failed_run.dag_id, failed_run.run_id
    ui.open(ORG)
    ui.enter_frame(ORG_FRAME)
    section = f"section[data-dag-id='{dag_id}']"
    ui.wait_text(section, "LiveFailPackage", dag_id, "Version per wave", "Last runs")
    ui.wait_text(f"{section} tr[data-wave='canary']", "canary")
    ui.wait_text(f"{section} tr[data-run-id='{run_id}']", run_id, "1.0.1", "rolled back")
    # The latest finished live-a run's version is what both its waves hold.
    latest = api.call(
        "GET",
        f"/dags/{dag_id_for(APPROVAL_PLAN)}/dagRuns",
        params={"limit": 1, "order_by": "-run_after"},
    )["dag_runs"]
    if latest and latest[0]["state"] == "success":
        version = latest[0]["conf"]["version"]
        happy = f"section[data-dag-id='{dag_id_for(APPROVAL_PLAN)}']"
        for name in ("canary", "nonprod"):
            ui.wait_text(f"{happy} tr[data-wave='{name}']", name, version)
    link = ui.element(f"{section} tr[data-run-id='{run_id}'] a", f"the link to {run_id}")
    href = link.get_attribute("href") or ""
    ui.check(href.endswith(f"/dags/{dag_id}/runs/{run_id}/{TAB}"), f"{run_id} links to {href}")
    print(f"organization view: {ui.screenshot('organization-view')}")


def test_a_run_link_of_the_organization_view_opens_the_runs_rollout_tab(
    ui: Browser, failed_run: Run
) -> None:
    dag_id, run_id = failed_run.dag_id, failed_run.run_id
    ui.open(ORG)
    ui.enter_frame(ORG_FRAME)
    link = f"section[data-dag-id='{dag_id}'] tr[data-run-id='{run_id}'] a"
    ui.element(link, f"the link to {run_id}").click()
    ui.driver.switch_to.default_content()
    ui.wait_for(
        f"the window to show {run_id}'s Rollout tab",
        lambda driver: driver.current_url.endswith(f"/runs/{run_id}/{TAB}"),
        timeout=15,
    )
    ui.enter_frame(RUN_FRAME)
    ui.wait_text("#status", "rolled back")

    # A console link opens in a new tab of the browser (the sandbox has no allow-popups:
    # the page replays the click in the Airflow page).
    before = set(ui.driver.window_handles)
    ui.element("ul.failed-cells li a", "a failed target's console link").click()
    ui.wait_for(
        "the console link to open a new tab",
        lambda driver: len(set(driver.window_handles) - before) == 1,
        timeout=15,
    )
    (opened,) = set(ui.driver.window_handles) - before
    ui.driver.switch_to.window(opened)
    ui.driver.close()
    ui.driver.switch_to.window(next(iter(before)))
