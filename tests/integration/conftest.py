"""Fixtures for the Airflow integration layer against awssim."""

from __future__ import annotations

import pytest

from awssim.server import SimServer
from awssim.simulator import Simulator
from rollout_demo import aws_connection

CONN_ID = "aws_default"


@pytest.fixture
def fast_sim(sim: Simulator) -> Simulator:
    """The demo simulator with a clock 600x real time, for tasks that wait on AWS for real."""
    sim.load("demo", None, speed=600.0, seed=0)
    return sim


@pytest.fixture
def aws_conn(awssim_server: SimServer, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``aws_default`` pointing at awssim, acting as the delegated administrator."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", aws_connection(awssim_server.endpoint_url)
    )
    return CONN_ID
