"""Shared fixtures: paths to the repository's shipped examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
AWSSIM_TESTS = REPO / "include" / "awssim" / "tests"


def _alive(pid: str) -> bool:
    """Whether the process ``pid`` (a session that named a DB after itself) still runs."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _airflow_home() -> None:
    """One Airflow home and metadata DB per xdist worker and session: the e2e tests run
    DAGs on SQLite, which two processes must not share, and a file left by an interrupted
    session is never reused (a running session's, in the same tree, is left alone). Set on
    import: Airflow reads both when first imported, and conftests below this one import it
    before any pytest hook runs."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # set by xdist before conftests load
    if worker is None and "AIRFLOW_HOME" in os.environ:
        return  # the caller chose a home (and its DB)
    # A worker inherits the controller's environment: replace it rather than keep it.
    home = REPO / ".airflow" / "tests" / (worker or "main")
    home.mkdir(parents=True, exist_ok=True)
    for stale in home.glob("airflow-session-*.db*"):
        if not _alive(stale.name.removeprefix("airflow-session-").split(".")[0]):
            stale.unlink(missing_ok=True)  # another session running in this tree keeps its own
    os.environ["AIRFLOW_HOME"] = str(home)
    database = home / f"airflow-session-{os.getpid()}.db"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{database}"


# Airflow's home, config and DB stay inside the repo (ignored by git), away from ~/airflow.
_airflow_home()
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
# Tasks here run in-process (dag.test(), run_task) with no scheduler: no deferral race to
# hold triggers back for. Tests of the floor set it themselves; the live layer keeps it.
os.environ.setdefault("AIRFLOW__DISTRIBUTOR_ROLLOUT__MIN_DEFERRAL_SECONDS", "0")

# Property tests judge logic, not speed: on 2 cores shared by two xdist workers and the
# in-process simulators, one example can stall past hypothesis' 200 ms default deadline.
settings.register_profile("repo", deadline=None)
settings.load_profile("repo")

# awssim's fixtures (awssim_server, sim, aws) come from its pytest11 entry point.


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def example_plan_path() -> Path:
    """The shipped example plan."""
    return REPO / "include" / "rollouts" / "examplepackage.yaml"


@pytest.fixture(scope="session")
def example_org_path() -> Path:
    """The shipped example organization snapshot."""
    return REPO / "include" / "orgs" / "example.json"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder (tests/unit → ``unit``) so ``-m`` selects by level;
    awssim's own tests (include/awssim/tests) run against it over HTTP: ``integration``."""
    for item in items:
        if item.path.is_relative_to(AWSSIM_TESTS):
            item.add_marker("integration")
            continue
        level = item.path.relative_to(REPO / "tests").parts[0]
        if level in {"unit", "integration", "dags", "packaging", "e2e", "live", "bench"}:
            item.add_marker(level)
