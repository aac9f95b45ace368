"""The live layer: one real Airflow stack (API server, scheduler with LocalExecutor,
dag-processor, triggerer; PostgreSQL) against one awssim, per pytest session.

The tests talk to it only over HTTP: Airflow's REST API v2 with a JWT, and awssim's ground
truth. Every test module here marks itself ``xdist_group("live")``, so under ``pytest -n 2
--dist loadgroup`` a single worker starts the stack and runs them all (``make test`` runs
the layer as its own pytest invocation after the others, with the machine to itself).
When a test fails, its report carries the tail of every component's log and the task logs
of the runs it tracked (``tracked_runs``), so a CI failure can be read without the machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_api import LiveApi
from live_stack import APPROVER, DENIED_ENV, LIVE, OUTSIDER, REPO, LiveStack, tail

from distributor_rollout.dag_factory import dag_id_for

SPEED = 300.0
"""awssim's clock and the rollout's time scale (``make demo`` runs at the same)."""
SCENARIO = LIVE / "scenarios" / "live.yaml"
DAGS = LIVE / "dags"
PLANS = LIVE / "plans"
# The product's deferral floor ([distributor_rollout] min_deferral_seconds) is left at its
# default unless LIVE_MIN_DEFERRAL_SECONDS says otherwise (for experiments; CI keeps it).
MIN_DEFERRAL_ENV = "LIVE_MIN_DEFERRAL_SECONDS"
KEEP_SESSIONS = 3


def plan_dag_ids() -> list[str]:
    """The DAG id of every live test plan."""
    return [dag_id_for(path.stem) for path in sorted(PLANS.glob("*.yaml"))]


def _session_root() -> Path:
    """This session's folder under .airflow/live/ (ignored by git), kept after the session
    so its logs can be read; folders of earlier sessions whose process is gone are removed,
    all but the latest few."""
    base = REPO / ".airflow" / "live"
    base.mkdir(parents=True, exist_ok=True)
    earlier = sorted(base.glob("session-*"), key=lambda path: path.stat().st_mtime)
    for folder in earlier[:-KEEP_SESSIONS]:
        if not _alive(int(folder.name.rsplit("-", 1)[-1])):
            shutil.rmtree(folder, ignore_errors=True)
    root = base / f"session-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    return root


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def live_stack() -> Iterator[LiveStack]:
    """awssim + Airflow, up and healthy, for the whole session; stopped at its end."""
    extra = {
        # No [distributor_rollout] plans_dir: the API server's Rollout tab reads the plan
        # each run's validate recorded, as a deployment's API server without the DAGs' files.
        # The outsider may read every DAG but the failing plan's (the browser tests' 403).
        DENIED_ENV: f"{OUTSIDER}={dag_id_for('live-fail')}",
    }
    if os.environ.get(MIN_DEFERRAL_ENV):
        extra["AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS"] = os.environ[MIN_DEFERRAL_ENV]
    stack = LiveStack(
        root=_session_root(),
        dags_folder=DAGS,
        scenario=SCENARIO,
        speed=SPEED,
        extra_env=extra,
    )
    try:
        stack.start()
    except BaseException:
        stack.stop()  # nothing of a half-started stack outlives the session
        raise
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def api(live_stack: LiveStack) -> Iterator[LiveApi]:
    """REST v2 as the admin user, once every live plan's DAG is parsed (no import errors)."""
    client = LiveApi(live_stack.api_url, "admin", live_stack.password)
    try:
        client.wait_for_dags(plan_dag_ids())
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def approver_api(api: LiveApi, live_stack: LiveStack) -> Iterator[LiveApi]:
    """REST v2 as the approver, the one user the live plans let approve their waves."""
    client = LiveApi(live_stack.api_url, APPROVER, live_stack.password)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def tracked_runs() -> list[tuple[str, str]]:
    """(dag_id, run_id) of the runs a test started: their task logs go into its report."""
    return []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None] | pytest.TestReport:
    """On a failed live test, attach the components' log tails and the tracked runs' task
    states and failed/retried task logs."""
    report: pytest.TestReport = yield
    if report.failed and call.when in {"setup", "call"}:
        funcargs = getattr(item, "funcargs", {})
        stack = funcargs.get("live_stack")
        if isinstance(stack, LiveStack):
            report.sections.append(
                ("live stack logs", f"all logs: {stack.root}\n{stack.tails(lines=80)}")
            )
            for dag_id, run_id in funcargs.get("tracked_runs") or ():
                report.sections.append(
                    (f"{dag_id} {run_id}", _run_diagnostics(stack, funcargs, dag_id, run_id))
                )
    return report


def _run_diagnostics(
    stack: LiveStack, funcargs: dict[str, object], dag_id: str, run_id: str
) -> str:
    lines = [f"task logs in {stack.home / 'logs'}"]
    client = funcargs.get("api")
    if isinstance(client, LiveApi):
        try:
            for ti in client.task_instances(dag_id, run_id):
                lines.append(f"  {ti['task_id']}: {ti['state']} (try {ti['try_number']})")
        except Exception as error:  # noqa: BLE001 - diagnostics must not hide the failure
            lines.append(f"  (task states unavailable: {error})")
    for path in stack.task_log_files(dag_id, run_id):
        text = path.read_text(encoding="utf-8", errors="replace")
        # The logs of tries that erred, of retries, and of triggers.
        if '"level":"error"' in text or path.name != "attempt=1.log":
            lines.append(f"----- {path} -----\n{tail(path, 25)}")
    return "\n".join(lines)
