"""What the UI reads from Airflow's metadata database: a rollout run's task states, XComs,
gate journals and approval questions, the plan it ran, and the recent runs and reports of
rollout DAGs.

Nothing here talks to AWS (the API server needs no AWS credentials), and a run's plan is
the one its ``validate`` task recorded, so the API server needs no plan files either (it
reads ``plans_dir`` only for runs from before ``validate`` recorded the plan). What the
tasks recorded is turned into facts by ``core.recorded_run``, the same reader the report
task uses, and into the pages' JSON by ``core.run_view`` and ``core.org_view``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow._shared.state import TaskScope
from airflow.models.dag import DagModel, DagTag
from airflow.models.dagrun import DagRun
from airflow.models.hitl import HITLDetail
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.sdk import serde
from airflow.state import get_state_backend
from sqlalchemy import select
from sqlalchemy.orm import Session

from distributor_rollout import settings
from distributor_rollout.core.errors import RolloutError, ValidationError
from distributor_rollout.core.gate_journal import JOURNAL_KEY, GateRecord, resumed
from distributor_rollout.core.gate_progress import LatestPoll
from distributor_rollout.core.org_view import RunRow, read_report
from distributor_rollout.core.params import apply_params
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.recorded_run import (
    RETURN_VALUE,
    ApprovalRequest,
    recorded_plan,
    run_facts,
)
from distributor_rollout.core.run_outcome import RunFacts
from distributor_rollout.core.run_view import ACTIVE_TASK_STATES, PlanSource
from distributor_rollout.core.steps import (
    APPROVE,
    LATEST_POLL_XCOM_KEY,
    REPORT,
    REPORT_XCOM_KEY,
    RETIRE_DAG_SUFFIX,
    VALIDATE,
    WAIT_COMPLIANCE,
    wave_task_id,
)
from distributor_rollout.dag_factory import DAG_ID_PREFIX
from distributor_rollout.run_config import PLAN_DIGEST_KEY

ROLLOUT_TAG = "distributor-rollout"
"""The tag every rollout DAG carries (``dag_factory``): how the org view finds them."""
REPORTS_READ = 50
"""Runs per DAG whose reports the org view reads to find each wave's version."""


@dataclass(frozen=True)
class StoredRun:
    """One DAG run as the metadata DB holds it."""

    dag_id: str
    run_id: str
    state: str
    start_date: datetime | None
    end_date: datetime | None
    conf: Mapping[str, Any]
    triggered_by: str | None
    states: Mapping[str, str | None]
    max_tries: Mapping[str, int]
    xcoms: Mapping[tuple[str, str], Any]

    def pull(self, task_id: str, key: str) -> Any:
        """One XCom of the run (``core.recorded_run.Pull``)."""
        return self.xcoms.get((task_id, key))


def read_run(session: Session, dag_id: str, run_id: str) -> StoredRun | None:
    """The run's DAG run row, task states and XComs; None when there is no such run."""
    run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if run is None:
        return None
    instances = session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.map_index == -1,
        )
    ).all()
    rows = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.map_index == -1
        )
    ).all()
    return StoredRun(
        dag_id=dag_id,
        run_id=run_id,
        state=_text(run.state) or "queued",
        start_date=run.start_date,
        end_date=run.end_date,
        conf=dict(run.conf or {}),
        triggered_by=getattr(run, "triggering_user_name", None),
        states={ti.task_id: _text(ti.state) for ti in instances},
        max_tries={ti.task_id: int(ti.max_tries or 0) for ti in instances},
        xcoms={(row.task_id, row.key): xcom_value(row) for row in rows},
    )


@dataclass(frozen=True)
class RunPlan:
    """The plan a run ran, after its params, and where it came from; ``changed`` when it
    came from a plan file that is no longer the one the run validated (it is then shown as
    it is now, as the report does)."""

    plan: Plan
    dry_run: bool
    source: PlanSource
    changed: bool = False


class PlanUnavailable(LookupError):
    """The run has recorded no plan (or not yet) and its plan file cannot be read here: why,
    as a sentence."""


def plan_name(dag_id: str) -> str | None:
    """The plan behind a rollout DAG id; None for another DAG (a plan's retire DAG too:
    the Rollout tab shows rollouts)."""
    if not dag_id.startswith(DAG_ID_PREFIX) or dag_id.endswith(RETIRE_DAG_SUFFIX):
        return None
    return dag_id.removeprefix(DAG_ID_PREFIX)


def run_plan(run: StoredRun) -> RunPlan:
    """The plan ``validate`` recorded for the run; for a run that recorded none, its plan
    file (``plan_file``). A damaged record raises ``ValidationError`` (the run did run a
    plan, just not one this code can read); neither a record nor a readable plan file
    raises ``PlanUnavailable``."""
    recorded = recorded_plan(run.pull)
    if recorded is not None:
        return RunPlan(recorded.plan, dry_run=recorded.dry_run, source="recorded")
    try:
        return plan_file(run)
    except (OSError, RolloutError) as error:
        validating = run.states.get(VALIDATE) in (None, *ACTIVE_TASK_STATES)
        if validating:  # a new run: validate records the plan in a moment
            raise PlanUnavailable("its plan is shown once validate has recorded it") from error
        raise PlanUnavailable(
            f"this run recorded no plan and its plan file cannot be read here ({error})"
        ) from error


def plan_file(run: StoredRun) -> RunPlan:
    """The run's plan from ``plans_dir`` with the run's params applied (the params as
    triggered; the form's defaults are the plan's own values), or the plan alone when the
    params do not apply to it (the run then failed in ``validate``): how a run from before
    ``validate`` recorded its plan is read."""
    name = plan_name(run.dag_id)
    if name is None:
        raise KeyError(f"{run.dag_id} is not a rollout DAG")
    plan = load_plan(settings.plans_dir() / f"{name}.yaml")
    validated = run.pull(VALIDATE, RETURN_VALUE)
    digest = validated.get(PLAN_DIGEST_KEY) if isinstance(validated, Mapping) else None
    changed = bool(digest) and digest != plan.digest()
    try:
        config = apply_params(
            plan,
            run.conf,
            packages_root=settings.packages_root(),
            triggered_by=run.triggered_by,
        )
    except ValidationError:
        return RunPlan(plan, dry_run=False, source="plan_file", changed=changed)
    return RunPlan(config.plan, dry_run=config.dry_run, source="plan_file", changed=changed)


def facts_of(run: StoredRun, plan: RunPlan) -> RunFacts:
    """``core.recorded_run.run_facts`` over the stored run."""
    ended = run.end_date or datetime.now(UTC)
    return run_facts(
        plan.plan,
        run.states,
        run.pull,
        run_id=run.run_id,
        dag_id=run.dag_id,
        dry_run=plan.dry_run,
        started_at=run.start_date.isoformat() if run.start_date else None,
        finished_at=ended.isoformat(),
    )


def gate_journals(session: Session, run: StoredRun, plan: Plan) -> dict[str, GateRecord | None]:
    """Each wave's gate journal (task state store), when its current try series wrote one."""
    backend = get_state_backend()
    journals: dict[str, GateRecord | None] = {}
    for wave in plan.waves:
        task_id = wave_task_id(wave.name, WAIT_COMPLIANCE)
        if run.states.get(task_id) is None:
            continue
        scope = TaskScope(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, map_index=-1)
        raw = backend.get(scope, JOURNAL_KEY, session=session)
        stored = json.loads(raw) if isinstance(raw, str | bytes) else raw
        value = stored if isinstance(stored, Mapping) else None
        journals[wave.name] = resumed(value, run.max_tries.get(task_id, 0))
    return journals


def approval_requests(session: Session, run: StoredRun, plan: Plan) -> dict[str, ApprovalRequest]:
    """Each wave's approval question, as Airflow's human-in-the-loop keeps it (the HITL
    detail of its approval task's current try), where the task asked one."""
    asked = {
        wave_task_id(wave.name, APPROVE): wave.name
        for wave in plan.waves
        if run.states.get(wave_task_id(wave.name, APPROVE)) is not None
    }
    if not asked:
        return {}
    rows = session.execute(
        select(
            TaskInstance.task_id,
            HITLDetail.assignees,
            HITLDetail.chosen_options,
            HITLDetail.responded_by,
            HITLDetail.responded_at,
        )
        .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
        .where(
            TaskInstance.dag_id == run.dag_id,
            TaskInstance.run_id == run.run_id,
            TaskInstance.map_index == -1,
            TaskInstance.task_id.in_(list(asked)),
        )
    ).all()
    return {
        asked[row.task_id]: ApprovalRequest.from_detail(
            assignees=row.assignees,
            chosen_options=row.chosen_options,
            responded_by=row.responded_by,
            responded_at=row.responded_at,
        )
        for row in rows
    }


def latest_polls(run: StoredRun, plan: Plan) -> dict[str, LatestPoll | None]:
    """Each wave's latest gate poll, where its sensor recorded one."""
    return {
        wave.name: LatestPoll.read(
            run.pull(wave_task_id(wave.name, WAIT_COMPLIANCE), LATEST_POLL_XCOM_KEY)
        )
        for wave in plan.waves
    }


def rollout_dag_ids(session: Session, readable: Collection[str]) -> list[str]:
    """The rollout DAGs among ``readable`` (by their tag, which the plans' retire DAGs
    carry too: those are left out), sorted."""
    if not readable:
        return []
    ids = session.scalars(
        select(DagModel.dag_id)
        .join(DagTag, DagTag.dag_id == DagModel.dag_id)
        .where(DagTag.name == ROLLOUT_TAG, DagModel.dag_id.in_(list(readable)))
    ).all()
    return sorted({dag_id for dag_id in ids if plan_name(dag_id) is not None})


def recent_runs(session: Session, dag_id: str, limit: int = REPORTS_READ) -> list[RunRow]:
    """The DAG's newest runs (by ``run_after``) with their reports, newest first."""
    runs = session.scalars(
        select(DagRun)
        .where(DagRun.dag_id == dag_id)
        .order_by(DagRun.run_after.desc(), DagRun.id.desc())
        .limit(limit)
    ).all()
    if not runs:
        return []
    rows = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id.in_([run.run_id for run in runs]),
            XComModel.task_id == REPORT,
            XComModel.key == REPORT_XCOM_KEY,
        )
    ).all()
    reports = {row.run_id: xcom_value(row) for row in rows}
    return [
        RunRow(
            run_id=run.run_id,
            state=_text(run.state) or "queued",
            started_at=run.start_date,
            ended_at=run.end_date,
            report=read_report(reports.get(run.run_id)),
        )
        for run in runs
    ]


def xcom_value(row: XComModel) -> Any:
    """An XCom as a task's ``xcom_pull`` returns it: JSON, with the values Airflow's serde
    encoded (an approval's ``responded_at`` datetime) decoded again. (A custom XCom backend
    that stores references is not resolved: the API server reads the database only.)"""
    value = XComModel.deserialize_value(row)
    try:
        return serde.deserialize(value)
    except (TypeError, ValueError, ImportError, AttributeError):
        return value  # not serde's shape after all: the JSON as stored


def _text(state: Any) -> str | None:
    """A state as text (Airflow's enums are ``str`` with the value as text)."""
    if state is None:
        return None
    return str(getattr(state, "value", state))
