"""Real DAG runs against awssim: a migrated metadata DB, aws_default on the simulator, and
the rollout's waits scaled to awssim's clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pytest
from airflow.utils.db import upgradedb

from awssim.server import SimServer
from awssim.simulator import Simulator
from distributor_rollout.dag_factory import dag_id_for
from rollout_demo import aws_connection, rehearsal

SPEED = 300.0
"""awssim's clock, and the rollout's time scale: the plan's gates hold in fleet time."""


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """This worker's metadata DB (a fresh file per session, see tests/conftest.py)."""
    upgradedb()


@pytest.fixture
def rollout_sim(
    sim: Simulator, awssim_server: SimServer, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> Simulator:
    """The demo organization at SPEED, with aws_default and the time scale pointing at it."""
    sim.load("demo", None, speed=SPEED, seed=0)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(awssim_server.endpoint_url))
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE", str(SPEED))
    return sim


@pytest.fixture
def rehearse(rollout_sim: Simulator) -> Callable[..., Any]:
    """Run the example plan's DAG for real; returns the Rehearsal."""

    def run(
        params: Mapping[str, Any] | None = None,
        decide: Any = rehearsal.approve_all,
        when: datetime | None = None,
    ) -> Any:
        return rehearsal.rehearse(dag_id_for("examplepackage"), params, decide=decide, when=when)

    return run


@pytest.fixture
def resume(rollout_sim: Simulator) -> Callable[..., Any]:
    """Clear a rehearsed run's failed tasks and their downstream, and run it on."""

    def run(stopped: rehearsal.Rehearsal, decide: Any = rehearsal.approve_all) -> Any:
        return rehearsal.resume(stopped.dag_id, stopped.run_id, decide=decide)

    return run
