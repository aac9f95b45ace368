"""Read what Airflow recorded about this run (task states, XComs) into ``core`` facts
(``core.run_outcome.WaveRecords`` per wave, ``RunFacts`` for the report).

The rollback, approval and report tasks decide from the other tasks' states and results;
this is the one place that reads them by their task ids and XCom keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.run_outcome import (
    FAILED,
    SKIPPED,
    SUCCESS,
    RollbackDecision,
    RunFacts,
    WaveRecords,
)
from distributor_rollout.core.steps import (
    APPROVE,
    CHECK_DEPLOYED,
    DEPLOY,
    FINALIZE,
    GATE_XCOM_KEY,
    ROLLBACK,
    ROLLBACK_DECISION_XCOM_KEY,
    ROLLBACK_XCOM_KEY,
    STARTED_AT_XCOM_KEY,
    STEPS_BEFORE_WAVES,
    VALIDATE,
    VALIDATION_XCOM_KEY,
    VERDICTS_XCOM_KEY,
    WAIT_COMPLIANCE,
    WAIT_OPERATION,
    WAVE_STEPS,
    wave_task_id,
)


def task_states(context: Any) -> dict[str, str | None]:
    """Every task's state in this run, by task id (``None``: not started)."""
    ti = context["ti"]
    run_id = str(context["run_id"])
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id])
    raw: Mapping[str, Any] = states.get(run_id, {}) if isinstance(states, Mapping) else {}
    return {task_id: (str(state) if state is not None else None) for task_id, state in raw.items()}


def _pull(context: Any, task_id: str, key: str = "return_value") -> Any:
    return context["ti"].xcom_pull(task_ids=task_id, key=key)


def wave_records(
    context: Any, plan: Plan, states: Mapping[str, str | None]
) -> tuple[WaveRecords, ...]:
    """One ``WaveRecords`` per plan wave, in plan order."""
    facts = []
    for wave in plan.waves:
        ids = {step: wave_task_id(wave.name, step) for step in WAVE_STEPS}
        started = states.get(ids[DEPLOY]) is not None
        approval = _pull(context, ids[APPROVE]) if wave.approval and started else None
        facts.append(
            WaveRecords(
                name=wave.name,
                states={step: states.get(task_id) for step, task_id in ids.items()},
                deployed=_pull(context, ids[DEPLOY]) if started else None,
                operation=_pull(context, ids[WAIT_OPERATION], VERDICTS_XCOM_KEY)
                if started
                else None,
                gate=_pull(context, ids[WAIT_COMPLIANCE], GATE_XCOM_KEY) if started else None,
                started_at=_pull(context, ids[DEPLOY], STARTED_AT_XCOM_KEY) if started else None,
                approved_at=_responded_at(approval),
                approved_by=_responded_by(approval),
            )
        )
    return tuple(facts)


def run_facts(context: Any, plan: Plan, *, dry_run: bool) -> RunFacts:
    """Everything the report needs about this run, as Airflow recorded it."""
    states = task_states(context)
    rollback_state = states.get(ROLLBACK)
    # A rollback cleared with a resumed run keeps its old XComs until it runs again:
    # read them only when it ran in this try of the run.
    ran = rollback_state in (SUCCESS, FAILED)
    decision = (
        RollbackDecision.read(_pull(context, ROLLBACK, ROLLBACK_DECISION_XCOM_KEY)) if ran else None
    )
    # A run that stopped in validate changed nothing and has no release or bucket.
    invalid = states.get(VALIDATE) == FAILED
    started = getattr(context.get("dag_run"), "start_date", None)
    return RunFacts(
        run_id=str(context["run_id"]),
        dag_id=str(context["ti"].dag_id),
        plan=plan,
        version=plan.package.version,
        dry_run=dry_run,
        started_at=started.isoformat() if isinstance(started, datetime) else None,
        finished_at=datetime.now(UTC).isoformat(),
        waves=wave_records(context, plan, states),
        step_states={step: states.get(step) for step in (*STEPS_BEFORE_WAVES, FINALIZE)},
        rollback_state=rollback_state,
        rollback=_pull(context, ROLLBACK, ROLLBACK_XCOM_KEY) if ran else None,
        rollback_reason=decision.reason if decision else None,
        nothing_to_do=states.get(CHECK_DEPLOYED) == SKIPPED,
        validation=_pull(context, VALIDATE, VALIDATION_XCOM_KEY) if invalid else None,
    )


def _responded_at(approval: Any) -> str | None:
    if not isinstance(approval, Mapping):
        return None
    value = approval.get("responded_at")
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _responded_by(approval: Any) -> str | None:
    """The approver's name as Airflow recorded it (``responded_by_user``: id and name)."""
    user = approval.get("responded_by_user") if isinstance(approval, Mapping) else None
    if not isinstance(user, Mapping):
        return None
    name = user.get("name") or user.get("id")
    return str(name) if name else None
