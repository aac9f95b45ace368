"""Read a rollout run's records (task states and XComs) into ``core.run_outcome`` facts.

The report task reads them from its task context, the UI's Rollout tab from the metadata
database: both hand over the run's task states by task id and a ``pull(task_id, key)``
that returns one XCom as stored (None when the task pushed none), and get the same
``WaveRecords`` and ``RunFacts``, so the tab's wave table and the report agree by
construction. This is the one place that knows which task records what under which key.

Two records here are the tab's own: the plan the run runs, which ``validate`` records
(``RecordedPlan``) so that the API server needs no plan file, and an approval's question
as Airflow's human-in-the-loop keeps it (``ApprovalRequest``), the only record of who
rejected a wave (a rejection fails the approval task, which then pushes no XCom).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import model_problems
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
    PREFLIGHT_XCOM_KEY,
    REPORT,
    REPORT_XCOM_KEY,
    ROLLBACK,
    ROLLBACK_DECISION_XCOM_KEY,
    ROLLBACK_XCOM_KEY,
    RUN_PLAN_XCOM_KEY,
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
    return RunFacts(
        run_id=run_id,
        dag_id=dag_id,
        plan=plan,
        version=plan.package.version_label,
        dry_run=dry_run,
        started_at=started_at,
        finished_at=finished_at,
        waves=wave_records(plan, states, pull),
        step_states={step: states.get(step) for step in (*STEPS_BEFORE_WAVES, FINALIZE)},
        rollback_state=rollback_state,
        rollback=pull(ROLLBACK, ROLLBACK_XCOM_KEY) if ran else None,
        rollback_reason=decision.reason if decision else None,
        nothing_to_do=states.get(CHECK_DEPLOYED) == SKIPPED,
        validation=validation_record(states, pull),
        preflight=pull(VALIDATE, PREFLIGHT_XCOM_KEY),
    )


def report_record(pull: Pull) -> Any:
    """The run's report as the report task recorded it (``RunReport.to_dict``), once it did."""
    return pull(REPORT, REPORT_XCOM_KEY)


def validation_record(states: Mapping[str, str | None], pull: Pull) -> Any:
    """What ``validate`` recorded of the problems it failed on (``ValidationFailure``),
    when it failed; None otherwise."""
    # A run that stopped in validate changed nothing and has no release or bucket.
    return pull(VALIDATE, VALIDATION_XCOM_KEY) if states.get(VALIDATE) == FAILED else None


def responded_at(approval: Any) -> str | None:
    """When the approval was answered (ISO-8601), from the approval task's return value."""
    if not isinstance(approval, Mapping):
        return None
    return _iso(approval.get("responded_at"))


def responded_by(approval: Any) -> str | None:
    """The approver's name as Airflow recorded it (``responded_by_user``: id and name)."""
    return _user_name(approval.get("responded_by_user") if isinstance(approval, Mapping) else None)


def _iso(value: Any) -> str | None:
    """A time as Airflow hands it over (a datetime, or already text) in ISO-8601."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _user_name(user: Any) -> str | None:
    """An Airflow HITL user (``{"id", "name"}``) by name, else by id."""
    if not isinstance(user, Mapping):
        return None
    name = user.get("name") or user.get("id")
    return str(name) if name else None


RUN_PLAN_SUBJECT = f"the run's recorded plan ({VALIDATE}'s {RUN_PLAN_XCOM_KEY} XCom)"


@dataclass(frozen=True, slots=True)
class RecordedPlan:
    """The plan a run runs, as ``validate`` records it: after the run's params (as written
    when ``validate`` refused the params, the plan the report then reports on), and whether
    the run is a dry run. The Rollout tab reads the run through it, not the plan file."""

    plan: Plan
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``validate``'s XCom): the plan as ``Plan.model_dump`` writes it."""
        return {"plan": self.plan.model_dump(mode="json"), "dry_run": self.dry_run}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> RecordedPlan:
        """The inverse of ``to_dict``, the plan checked by the plan model (a record that is
        not one raises ``ValidationError`` naming every field that is wrong)."""
        plan, dry_run = record.get("plan"), record.get("dry_run", False)
        problems: list[Problem] = [
            wrong(str(key), "unknown key", key, "plan, dry_run")
            for key in record
            if key not in ("plan", "dry_run")
        ]
        if isinstance(plan, Mapping):
            problems.extend(model_problems(Plan, plan, prefix="plan"))
        else:
            problems.append(wrong("plan", "not a plan", plan, "a mapping with name, package, ..."))
        if not isinstance(dry_run, bool):
            problems.append(wrong("dry_run", "wrong type", dry_run, "true or false"))
        if problems:
            raise ValidationError(RUN_PLAN_SUBJECT, problems)
        return cls(Plan.model_validate(plan), dry_run)


def recorded_plan(pull: Pull) -> RecordedPlan | None:
    """The plan ``validate`` recorded for this run; None when it recorded none (a run from
    before it did, or one whose plan file was invalid). A damaged record is an error
    (``ValidationError``), not "no plan": the run did run some plan."""
    record = pull(VALIDATE, RUN_PLAN_XCOM_KEY)
    if record is None:
        return None
    if not isinstance(record, Mapping):
        raise ValidationError(
            RUN_PLAN_SUBJECT, [wrong("", "not a record", record, "a mapping with plan, dry_run")]
        )
    return RecordedPlan.from_dict(record)


APPROVE_OPTION = "Approve"
REJECT_OPTION = "Reject"
"""The two answers of Airflow's approval task (``ApprovalOperator.APPROVE``/``REJECT``)."""


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """An approval task's question as Airflow's human-in-the-loop keeps it (its HITL detail):
    the users it waits for (none: whoever Airflow lets answer) and, once answered, the
    answer, who gave it and when. Asked again (a retry, an answer that did not count), the
    question forgets its earlier answer."""

    assignees: tuple[str, ...] = ()
    chosen: tuple[str, ...] = ()
    responded_by: str | None = None
    responded_at: str | None = None

    @property
    def answered(self) -> bool:
        """Whether someone answered the question as it stands."""
        return self.responded_at is not None

    @property
    def rejected(self) -> bool:
        """Whether the answer is a rejection."""
        return self.answered and REJECT_OPTION in self.chosen

    @classmethod
    def from_detail(
        cls, *, assignees: Any, chosen_options: Any, responded_by: Any, responded_at: Any
    ) -> ApprovalRequest:
        """From the HITL detail's columns as the database returns them (JSON users
        ``{"id", "name"}``, a list of options, a datetime); anything else reads as absent."""
        users = assignees if isinstance(assignees, list) else []
        chosen = chosen_options if isinstance(chosen_options, list) else []
        return cls(
            assignees=tuple(name for user in users if (name := _user_name(user))),
            chosen=tuple(str(option) for option in chosen),
            responded_by=_user_name(responded_by),
            responded_at=_iso(responded_at),
        )
