"""Run a rollout DAG for real, in this process, and answer its approvals like a person would.

``rehearse`` parses the DAG from Airflow's DAGs folder and runs it with ``dag.test()``: every
task runs for real against whatever AWS endpoint ``aws_default`` names (awssim in the demo
and the e2e tests), deferrable tasks through their triggers. Approval tasks park in Airflow's
AWAITING_INPUT state; the ``Approver`` thread answers them through the metadata DB, the
same transition the Required Actions page makes, so the run goes on without a UI.

Import this only after Airflow's environment is set (AIRFLOW_HOME and friends).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow import settings
from airflow.configuration import conf
from airflow.dag_processing.dagbag import DagBag
from airflow.models.dagrun import DagRun
from airflow.models.hitl import HITLDetail
from airflow.models.taskinstance import TaskInstance, clear_task_instances
from airflow.models.trigger import handle_event_submit
from airflow.models.xcom import XComModel
from airflow.sdk import DagRunState, timezone
from airflow.sdk.definitions.dag import _run_task
from airflow.serialization.serialized_objects import DagSerialization
from airflow.triggers.base import TriggerEvent
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from distributor_rollout.core.run_outcome import AFTER_GATE_PASSED
from distributor_rollout.core.steps import (
    GATE_XCOM_KEY,
    REPORT,
    REPORT_XCOM_KEY,
    ROLLBACK,
    ROLLBACK_XCOM_KEY,
    VERDICTS_XCOM_KEY,
    WAIT_COMPLIANCE,
    WAIT_OPERATION,
)

log = logging.getLogger(__name__)

PROGRESS_WIDTH = 24
"""The progress lines' task id column: wider when a plan's wave names make longer ids."""

Decide = Callable[[str], bool]
"""Given an approval task id (``prod.approve``), approve (True) or reject (False)."""


def approve_all(task_id: str) -> bool:
    """The demo's approver: says yes."""
    return True


@dataclass
class Approver:
    """Answers every approval of one DAG as it comes up, on a background thread; with
    ``progress``, also prints each task's state as it changes."""

    dag_id: str
    decide: Decide = approve_all
    progress: bool = False
    run_id: str | None = None
    """The run to answer; default: the run created after this approver started."""
    width: int = PROGRESS_WIDTH
    """The task id column of the progress lines."""
    answered: list[tuple[str, str]] = field(default_factory=list)
    _seen: dict[str, str] = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)
    _since: datetime = field(default_factory=timezone.utcnow)
    _errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Approver:
        # Runs created from now on are this rehearsal's (by creation time: dag.test() gives
        # a rerun of the same logical date the run id, start date and row id of the old one).
        self._since = timezone.utcnow()
        self._thread = threading.Thread(target=self._loop, name="approver", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.progress:
            self._print_progress()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._answer_waiting()
                if self.progress:
                    self._print_progress()
            except OperationalError as error:  # SQLite busy with the run's writes: next round
                self._errors += 1
                if self._errors % 20 == 0:
                    print(f"[approver] cannot read the metadata DB: {error}", flush=True)

    def _current_run(self, session: Any) -> str | None:
        """The run this rehearsal started (other runs' approvals are not ours to answer)."""
        if self.run_id is not None:
            return self.run_id
        return session.scalar(
            select(DagRun.run_id)
            .where(DagRun.dag_id == self.dag_id, DagRun.created_at >= self._since)
            .order_by(DagRun.id.desc())
            .limit(1)
        )

    def _print_progress(self) -> None:
        with create_session() as session:
            run_id = self._current_run(session)
            rows = session.execute(
                select(TaskInstance.task_id, TaskInstance.state).where(
                    TaskInstance.dag_id == self.dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.state.is_not(None),
                )
            ).all()
        for task_id, raw in sorted(rows):
            state = str(getattr(raw, "value", raw))
            if self._seen.get(task_id) != state and state not in ("scheduled", "queued"):
                self._seen[task_id] = state
                elapsed = time.monotonic() - self._started
                why = ""
                if state == "failed" and run_id is not None:
                    rejected = (task_id, "Reject") in self.answered
                    reason = (
                        "rejected" if rejected else failure_reason(self.dag_id, run_id, task_id)
                    )
                    why = f": {reason}" if reason else " (--verbose shows its log)"
                print(f"[{elapsed:6.1f}s] {task_id:<{self.width}} {state}{why}", flush=True)

    def _answer_waiting(self) -> None:
        answers: list[tuple[str, str]] = []
        with create_session() as session:
            waiting = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == self.dag_id,
                    TaskInstance.run_id == self._current_run(session),
                    TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                )
            ).all()
            for ti in waiting:
                detail = session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti.id))
                if detail is None or detail.responded_at is not None:
                    continue
                choice = "Approve" if self.decide(ti.task_id) else "Reject"
                detail.responded_by = {"id": "rehearsal", "name": "rehearsal approver"}
                detail.responded_at = timezone.utcnow()
                detail.chosen_options = [choice]
                detail.params_input = {}
                session.add(detail)
                handle_event_submit(
                    TriggerEvent(detail.as_resume_event_payload()),
                    task_instance=ti,
                    session=session,
                )
                answers.append((ti.task_id, choice))
        # Only once the session committed: a busy SQLite may refuse it, and we answer again.
        for task_id, choice in answers:
            self.answered.append((task_id, choice))
            print(f"[approver] {choice} {task_id} (as the Required Actions page would)")


def xcom(dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    """One XCom of a finished run (None when the task pushed none)."""
    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run_id, key=key, task_ids=task_id, dag_ids=dag_id)
        ).first()
        return XComModel.deserialize_value(row) if row is not None else None


def failure_reason(dag_id: str, run_id: str, task_id: str) -> str | None:
    """Why a rollout task failed, from what it recorded before failing; None if unknown."""
    step = task_id.rpartition(".")[2]
    if step == WAIT_COMPLIANCE:
        gate = xcom(dag_id, run_id, task_id, GATE_XCOM_KEY) or {}
        decision = gate.get("decision") or {}
        if decision.get("state") == "PASS":
            # Failed although its gate passed: Airflow failed it, not the fleet.
            return AFTER_GATE_PASSED
        return decision.get("reason")
    if step == WAIT_OPERATION:
        verdicts = xcom(dag_id, run_id, task_id, VERDICTS_XCOM_KEY) or {}
        failed = [
            f"{operation_id}: {operation['summary']}"
            for operation_id, operation in (verdicts.get("operations") or {}).items()
            if operation.get("outcome") == "failed"
        ]
        return "; ".join(failed) or None
    if step == ROLLBACK:
        record = xcom(dag_id, run_id, task_id, ROLLBACK_XCOM_KEY) or {}
        # The record keeps only the first few failed targets; the total counts them all.
        failed = record.get("failed_total", len(record.get("failed") or []))
        return f"{failed} targets not restored" if failed else None
    if step == REPORT:
        return "the rollout did not succeed (its report follows)"
    return None


@dataclass(frozen=True)
class Rehearsal:
    """How a rehearsed run ended."""

    dag_id: str
    run_id: str
    state: str
    report: Mapping[str, Any] | None
    task_states: Mapping[str, str | None]
    approvals: tuple[tuple[str, str], ...] = ()
    tries: Mapping[str, int] = field(default_factory=dict)
    """Each task's try number (how often it was started)."""

    @property
    def succeeded(self) -> bool:
        """Whether the DAG run succeeded."""
        return self.state == "success"


def load_dag(dag_id: str) -> Any:
    """The DAG from Airflow's DAGs folder, parsed as the DAG processor would (import errors
    raised)."""
    dags = conf.get("core", "dags_folder")
    bag = DagBag(dags)
    if bag.import_errors:
        problems = "\n".join(f"{path}:\n{error}" for path, error in bag.import_errors.items())
        raise RuntimeError(f"{dags} has import errors:\n{problems}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise KeyError(f"no DAG {dag_id} in {dags}")
    return dag


def progress_width(dag: Any) -> int:
    """The task id column for ``dag``'s progress lines (the example plan's fits 24)."""
    return max(PROGRESS_WIDTH, *(len(task_id) + 1 for task_id in dag.task_ids))


def rehearse(
    dag_id: str,
    params: Mapping[str, Any] | None = None,
    *,
    decide: Decide = approve_all,
    progress: bool = False,
    when: datetime | None = None,
) -> Rehearsal:
    """Run the DAG once with these params (the trigger form's values); its outcome.

    ``when`` fixes the run's logical date and so its run id: rehearsing again with the same
    ``when`` runs every task of that same run again (``dag.test()`` replaces the run and
    its XComs), as clearing the whole run in the UI would. To clear only some tasks of a
    run, keeping the others' states and XComs, see ``resume``.
    """
    dag = load_dag(dag_id)
    dates: dict[str, Any] = {"logical_date": when, "run_after": when} if when else {}
    with Approver(dag_id, decide, progress, width=progress_width(dag)) as approver:
        started = time.monotonic()
        run = dag.test(run_conf=dict(params or {}), **dates)
        elapsed = time.monotonic() - started
    print(f"[rehearsal] {dag_id} run {run.run_id}: {run.state} in {elapsed:.1f}s")
    return _outcome(dag_id, run.run_id, str(run.state), approver)


def resume(
    dag_id: str,
    run_id: str,
    *,
    decide: Decide = approve_all,
    progress: bool = False,
    timeout: float = 600.0,
) -> Rehearsal:
    """Clear a finished run's failed tasks and everything downstream of them, as the UI's
    *Clear* (with *Downstream*) on each failed task does, and run the run on from there.

    Tasks outside that set keep their states and XComs. The cleared tasks run in this
    process through the same minimal loop as ``dag.test()`` (its ``_run_task``, triggers
    inline); approvals are answered by the stand-in approver. A run still running after
    ``timeout`` seconds raises ``TimeoutError`` (``dag.test()`` itself would wait forever).
    """
    dag = load_dag(dag_id)
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    session = settings.Session()
    try:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            raise KeyError(f"no run {run_id} of {dag_id}")
        instances = run.get_task_instances(session=session)
        cleared: set[str] = set()
        for ti in instances:
            if ti.state == TaskInstanceState.FAILED:
                downstream = dag.get_task(ti.task_id).get_flat_relative_ids(upstream=False)
                cleared |= {ti.task_id, *downstream}
        if not cleared:
            raise ValueError(f"run {run_id} of {dag_id} has no failed task to clear")
        clear_task_instances([ti for ti in instances if ti.task_id in cleared], session)
        session.commit()
        print(f"[rehearsal] cleared {len(cleared)} tasks of {run_id}: {', '.join(sorted(cleared))}")

        run.dag = scheduler_dag
        run.state = DagRunState.RUNNING  # what the scheduler does with a queued run
        session.commit()
        with Approver(
            dag_id, decide, progress, run_id=run_id, width=progress_width(dag)
        ) as approver:
            started = time.monotonic()
            while run.state == DagRunState.RUNNING:
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"run {run_id} still running after {timeout:.0f}s")
                _step(run, dag, session)
            elapsed = time.monotonic() - started
        state = str(run.state)
    finally:
        session.close()
    print(f"[rehearsal] {dag_id} run {run_id} resumed: {state} in {elapsed:.1f}s")
    return _outcome(dag_id, run_id, state, approver)


def _step(run: Any, dag: Any, session: Any) -> None:
    """One turn of ``dag.test()``'s loop: schedule what can run, then run it here."""
    session.expire_all()
    schedulable, _ = run.update_state(session=session)
    for ti in schedulable:
        if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
            ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
        ti.scheduled_dttm = timezone.utcnow()
    session.commit()
    scheduled = [
        ti
        for ti in run.get_task_instances(session=session)
        if ti.state == TaskInstanceState.SCHEDULED
    ]
    if not scheduled:
        time.sleep(1)  # an approval, a retry delay or a reschedule is pending
    for ti in scheduled:
        try:
            _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
        except Exception:  # as dag.test(): the task's state says it failed
            log.exception("Task failed; ti=%s", ti)


def _outcome(dag_id: str, run_id: str, state: str, approver: Approver) -> Rehearsal:
    """A finished run's ``Rehearsal``, read from the metadata DB."""
    with create_session() as session:
        instances = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        states = {ti.task_id: (str(ti.state) if ti.state is not None else None) for ti in instances}
        tries = {ti.task_id: ti.try_number for ti in instances}
    return Rehearsal(
        dag_id=dag_id,
        run_id=run_id,
        state=state,
        report=xcom(dag_id, run_id, REPORT, REPORT_XCOM_KEY),
        task_states=states,
        approvals=tuple(approver.answered),
        tries=tries,
    )
