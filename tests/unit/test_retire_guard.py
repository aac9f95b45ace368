"""A rollout and a retire of the same plan refuse to run at the same time."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.operators.retire_guard import (
    RunConflict,
    refuse_retire_during_rollout,
    refuse_rollout_during_retire,
)

ROLLOUT = "distributor_rollout__examplepackage"
RETIRE = f"{ROLLOUT}__retire"


COUNTS: dict[str, int] = {}


@pytest.fixture
def running() -> dict[str, int]:
    """Running runs per DAG id, as Airflow would count them (through the task instance)."""
    COUNTS.clear()
    return COUNTS


def context(dag_id: str) -> dict[str, object]:
    """A task context whose instance counts runs as ``RuntimeTaskInstance.get_dr_count``."""

    def get_dr_count(dag_id: str, states: list[str] | None = None, **_: object) -> int:
        assert states == ["running"]
        return COUNTS.get(dag_id, 0)

    return {"ti": SimpleNamespace(dag_id=dag_id, get_dr_count=get_dr_count)}


def test_a_retire_refuses_while_its_rollout_runs(running: dict[str, int]) -> None:
    refuse_retire_during_rollout(context(RETIRE))
    running[ROLLOUT] = 1
    with pytest.raises(RunConflict, match=f"{ROLLOUT} has 1 running run: a retire") as raised:
        refuse_retire_during_rollout(context(RETIRE))
    # Recorded like any validation problem, and never retried.
    assert isinstance(raised.value, ValidationError)
    assert isinstance(raised.value, AirflowFailException)
    running[RETIRE] = 1  # its own run does not count
    running[ROLLOUT] = 0
    refuse_retire_during_rollout(context(RETIRE))


def test_a_rollout_refuses_while_its_retire_runs(running: dict[str, int]) -> None:
    refuse_rollout_during_retire(context(ROLLOUT))
    running[RETIRE] = 2
    with pytest.raises(RunConflict, match="2 running runs: a rollout and a retire"):
        refuse_rollout_during_retire(context(ROLLOUT))
    running["distributor_rollout__other__retire"] = 1
    running[RETIRE] = 0
    refuse_rollout_during_retire(context(ROLLOUT))
