"""Shared fixtures: paths to the repository's shipped examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Airflow reads its home and config when first imported: keep both inside the repo (ignored
# by git), away from ~/airflow, and quiet.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow" / "tests"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))

# awssim's fixtures (awssim_server, sim, aws) for tests that run against the simulator.
pytest_plugins = ["awssim.pytest_plugin"]


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
    """Mark each test by its folder (tests/unit → ``unit``) so ``-m`` selects by level."""
    for item in items:
        level = item.path.relative_to(REPO / "tests").parts[0]
        if level in {"unit", "integration", "dags", "e2e"}:
            item.add_marker(level)
