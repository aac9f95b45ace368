"""A rollout and a retire of the same package never run at the same time.

Each one's validate asks Airflow how many runs of the other's DAG are running (the task
SDK's ``RuntimeTaskInstance.get_dr_count``) and refuses to start while there is one: a
retire deleting stack instances under a wave that deploys them, or a rollout recreating
what a retire just deleted, would leave the organization in neither state. Both DAGs
allow one active run each (``max_active_runs``), so only the other DAG's runs count.

The rollout's ``ValidateRunOperator`` calls ``refuse_rollout_during_retire``; the retire's
validate calls ``refuse_retire_during_rollout``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

from distributor_rollout.core.errors import Problem, ValidationError
from distributor_rollout.core.retire_steps import retire_dag_id, rollout_dag_id

RUNNING = "running"


class RunConflict(ValidationError, AirflowFailException):
    """The other DAG of the same plan has a running run (not retried: a person waits for
    it to end, then triggers again)."""


def running_runs(ti: RuntimeTaskInstance, dag_id: str) -> int:
    """How many runs of ``dag_id`` are running now (0 for a DAG Airflow does not know),
    asked through the running task's instance (the execution API)."""
    return ti.get_dr_count(dag_id=dag_id, states=[RUNNING])


def conflict(
    ti: RuntimeTaskInstance, other_dag_id: str, doing: str, other: str
) -> RunConflict | None:
    """The refusal when ``other_dag_id`` has a running run, else None."""
    count = running_runs(ti, other_dag_id)
    if not count:
        return None
    return RunConflict(
        "concurrent runs",
        [
            Problem(
                "",
                f"{other_dag_id} has {count} running run{'s' * (count != 1)}: a {doing} and a "
                f"{other} of the same package never run at the same time; let it finish (or "
                "mark it failed), then trigger this run again",
            )
        ],
    )


def _dag_id(context: Any) -> str:
    return str(context["ti"].dag_id)


def refuse_retire_during_rollout(context: Any) -> None:
    """Raise ``RunConflict`` in a retire run while the plan's rollout DAG has a running run."""
    refusal = conflict(context["ti"], rollout_dag_id(_dag_id(context)), "retire", "rollout")
    if refusal is not None:
        raise refusal


def refuse_rollout_during_retire(context: Any) -> None:
    """Raise ``RunConflict`` in a rollout run while the plan's retire DAG has a running run
    (the rollout's validate calls it once its own checks passed)."""
    refusal = conflict(context["ti"], retire_dag_id(_dag_id(context)), "rollout", "retire")
    if refusal is not None:
        raise refusal
