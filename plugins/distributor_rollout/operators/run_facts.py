"""Read what Airflow recorded about this run (task states, XComs) from a task's context into
``core`` facts, through ``core.recorded_run`` (which the UI's Rollout tab reads the stored
run with too, so the report and the tab build from the same facts).

The rollback, approval and report tasks decide from the other tasks' states and results;
this module only hands ``core.recorded_run`` the context's task states and XCom pull.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from distributor_rollout.core import recorded_run
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.run_outcome import RunFacts, WaveRecords


def task_states(context: Any) -> dict[str, str | None]:
    """Every task's state in this run, by task id (``None``: not started)."""
    ti = context["ti"]
    run_id = str(context["run_id"])
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id])
    raw: Mapping[str, Any] = states.get(run_id, {}) if isinstance(states, Mapping) else {}
    return {task_id: (str(state) if state is not None else None) for task_id, state in raw.items()}


def _puller(context: Any) -> recorded_run.Pull:
    """``pull(task_id, key)`` over this run's XComs, as the task sees them."""
    ti = context["ti"]
    return lambda task_id, key: ti.xcom_pull(task_ids=task_id, key=key)


def wave_records(
    context: Any, plan: Plan, states: Mapping[str, str | None]
) -> tuple[WaveRecords, ...]:
    """One ``WaveRecords`` per plan wave, in plan order."""
    return recorded_run.wave_records(plan, states, _puller(context))


def run_facts(context: Any, plan: Plan, *, dry_run: bool) -> RunFacts:
    """Everything the report needs about this run, as Airflow recorded it."""
    started = getattr(context.get("dag_run"), "start_date", None)
    return recorded_run.run_facts(
        plan,
        task_states(context),
        _puller(context),
        run_id=str(context["run_id"]),
        dag_id=str(context["ti"].dag_id),
        dry_run=dry_run,
        started_at=started.isoformat() if isinstance(started, datetime) else None,
        finished_at=datetime.now(UTC).isoformat(),
    )
