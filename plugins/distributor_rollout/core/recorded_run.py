"""Read a rollout run's records (task states and XComs) into ``core.run_outcome`` facts.

The report task reads them from its task context, the UI's Rollout tab from the metadata
database: both hand over the run's task states by task id and a ``pull(task_id, key)``
that returns one XCom as stored (None when the task pushed none), and get the same
``WaveRecords`` and ``RunFacts``, so the tab's wave table and the report agree by
construction. This is the one place that knows which task records what under which key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

RETURN_VALUE = "return_value"
"""Airflow's XCom key of a task's return value."""

Pull = Callable[[str, str], Any]
"""``pull(task_id, key)``: one XCom of this run as stored, None when there is none."""


def wave_records(
    plan: Plan, states: Mapping[str, str | None], pull: Pull
) -> tuple[WaveRecords, ...]:
    """One ``WaveRecords`` per plan wave, in plan order (a wave whose deploy task never
    started has no records worth reading: an earlier run's would be stale)."""
    facts = []
    for wave in plan.waves:
        ids = {step: wave_task_id(wave.name, step) for step in WAVE_STEPS}
        started = states.get(ids[DEPLOY]) is not None
        approval = pull(ids[APPROVE], RETURN_VALUE) if wave.approval and started else None
        facts.append(
            WaveRecords(
                name=wave.name,
                states={step: states.get(task_id) for step, task_id in ids.items()},
                deployed=pull(ids[DEPLOY], RETURN_VALUE) if started else None,
                operation=pull(ids[WAIT_OPERATION], VERDICTS_XCOM_KEY) if started else None,
                gate=pull(ids[WAIT_COMPLIANCE], GATE_XCOM_KEY) if started else None,
                started_at=pull(ids[DEPLOY], STARTED_AT_XCOM_KEY) if started else None,
                approved_at=responded_at(approval),
                approved_by=responded_by(approval),
            )
        )
    return tuple(facts)


def run_facts(
    plan: Plan,
    states: Mapping[str, str | None],
    pull: Pull,
    *,
    run_id: str,
    dag_id: str,
    dry_run: bool,
    started_at: str | None,
    finished_at: str | None,
) -> RunFacts:
    """Everything the report needs about the run, from its task states and records."""
    rollback_state = states.get(ROLLBACK)
    # A rollback cleared with a resumed run keeps its old XComs until it runs again:
    # read them only when it ran in this try of the run.
    ran = rollback_state in (SUCCESS, FAILED)
    decision = RollbackDecision.read(pull(ROLLBACK, ROLLBACK_DECISION_XCOM_KEY)) if ran else None
    # A run that stopped in validate changed nothing and has no release or bucket.
    invalid = states.get(VALIDATE) == FAILED
    return RunFacts(
        run_id=run_id,
        dag_id=dag_id,
        plan=plan,
        version=plan.package.version,
        dry_run=dry_run,
        started_at=started_at,
        finished_at=finished_at,
        waves=wave_records(plan, states, pull),
        step_states={step: states.get(step) for step in (*STEPS_BEFORE_WAVES, FINALIZE)},
        rollback_state=rollback_state,
        rollback=pull(ROLLBACK, ROLLBACK_XCOM_KEY) if ran else None,
        rollback_reason=decision.reason if decision else None,
        nothing_to_do=states.get(CHECK_DEPLOYED) == SKIPPED,
        validation=pull(VALIDATE, VALIDATION_XCOM_KEY) if invalid else None,
    )


def responded_at(approval: Any) -> str | None:
    """When the approval was answered (ISO-8601), from the approval task's return value."""
    if not isinstance(approval, Mapping):
        return None
    value = approval.get("responded_at")
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def responded_by(approval: Any) -> str | None:
    """The approver's name as Airflow recorded it (``responded_by_user``: id and name)."""
    user = approval.get("responded_by_user") if isinstance(approval, Mapping) else None
    if not isinstance(user, Mapping):
        return None
    name = user.get("name") or user.get("id")
    return str(name) if name else None
