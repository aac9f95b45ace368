"""The Rollout tab of one run, as JSON: its state and summary, one row per wave, each wave's
accounts × Regions, and the rollback.

Every wave row carries the report's own line for the wave (``row``: ``WaveReport`` as the
report task would write it), built by ``run_outcome.build_report`` from the same
``RunFacts`` the report task reads (``core.recorded_run``), so the tab and the report agree
by construction. Around it: what only a live view needs (the wave's phase, its OUs and
Regions from the plan, its StackSets operations with console links, the gate's progress,
the approval, the matrix), all from the same records; nothing is read from AWS.

A run's plan is the one ``validate`` recorded (``core.recorded_run.RecordedPlan``), or for
a run from before it did, the plan file with the run's params. A run with neither gets
``planless_view``: its state, status, summary and validation problems, and no waves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate import GateDecision, GateSettings
from distributor_rollout.core.gate_journal import GateRecord
from distributor_rollout.core.gate_progress import GateProgress, LatestPoll, gate_progress
from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.plan import WaveSpec, wave_gate
from distributor_rollout.core.record_reading import read_or_none
from distributor_rollout.core.recorded_run import ApprovalRequest
from distributor_rollout.core.report import RunReport, ValidationFailure, WaveReport, summarize
from distributor_rollout.core.rollback_record import RollbackRecord
from distributor_rollout.core.run_outcome import (
    FAILED,
    SKIPPED,
    SUCCESS,
    RunFacts,
    WaveRecords,
    build_report,
)
from distributor_rollout.core.steps import (
    APPROVE,
    DEPLOY,
    WAIT_COMPLIANCE,
    WAIT_OPERATION,
    WAVE_STEPS,
)
from distributor_rollout.core.wave_matrix import ConsoleUrl, wave_matrix

REFRESH_SECONDS = 5
"""How often the tab asks again while the run is not finished."""
FINISHED_RUN_STATES = ("success", "failed")
ACTIVE_TASK_STATES = (
    "queued",
    "scheduled",
    "running",
    "deferred",
    "up_for_reschedule",
    "up_for_retry",
    "awaiting_input",
    "restarting",
)
PHASES = {
    DEPLOY: "deploying",
    WAIT_OPERATION: "operation running",
    WAIT_COMPLIANCE: "gating",
    APPROVE: "awaiting approval",
}
"""What a wave is doing while one of its steps' tasks is active."""

PlanSource = Literal["recorded", "plan_file"]
"""Where the tab's plan came from: ``validate``'s record of it, or the plan file with the
run's params (a run from before ``validate`` recorded its plan)."""


def run_view(
    facts: RunFacts,
    *,
    run_state: str,
    now: datetime,
    time_scale: float = 1.0,
    journals: Mapping[str, GateRecord | None] | None = None,
    polls: Mapping[str, LatestPoll | None] | None = None,
    operation_url: ConsoleUrl = lambda _: None,
    instances_url: str | None = None,
    approvals: Mapping[str, ApprovalRequest] | None = None,
    plan_source: PlanSource = "recorded",
    plan_changed: bool = False,
) -> dict[str, Any]:
    """The tab's JSON for a run whose DAG run is in ``run_state``.

    ``journals``, ``polls`` and ``approvals`` hold each wave's gate journal, latest poll
    and approval question by wave name (missing: none); ``time_scale`` is the
    deployment's (the gates' real seconds); ``operation_url`` links an operation id to the
    console; ``plan_source`` says where ``facts.plan`` came from, and ``plan_changed`` that
    a plan file is no longer the one the run validated (the tab then shows it as it is
    now, as the report does).
    """
    report = build_report(facts)
    finished = run_state in FINISHED_RUN_STATES
    if not finished:
        report = report.model_copy(update={"status": "running"})
        report = report.model_copy(update={"summary": summarize(report)})
    specs = {wave.name: wave for wave in facts.plan.waves}
    waves = [
        _wave(
            records,
            row,
            specs[records.name],
            # The gate in real seconds, as the wave's sensor holds it.
            settings=wave_gate(facts.plan, specs[records.name]).scaled(time_scale),
            journal=(journals or {}).get(records.name),
            poll=(polls or {}).get(records.name),
            request=(approvals or {}).get(records.name),
            now=now,
            operation_url=operation_url,
            instances_url=instances_url,
        )
        for records, row in zip(facts.waves, report.waves, strict=True)
    ]
    return {
        "dag_id": facts.dag_id,
        "run_id": facts.run_id,
        "run_state": run_state,
        "finished": finished,
        "refresh_seconds": None if finished else REFRESH_SECONDS,
        "status": report.status,
        "summary": report.summary,
        "package": {"name": report.package_name, "version": report.package_version},
        "plan": {
            "name": report.plan_name,
            "digest": report.plan_digest,
            "changed": plan_changed,
            "source": plan_source,
            "problem": None,
        },
        "dry_run": facts.dry_run,
        "started_at": facts.started_at,
        "finished_at": facts.finished_at if finished else None,
        "waves": waves,
        "rollback": _rollback(facts, report, operation_url),
        "validation": report.validation.to_dict() if report.validation else None,
    }


def planless_view(
    *,
    dag_id: str,
    run_id: str,
    run_state: str,
    started_at: str | None,
    finished_at: str | None,
    report: object,
    validation: object,
    problem: str,
) -> dict[str, Any]:
    """The tab's JSON for a run whose plan is neither recorded nor readable here
    (``problem`` says why): the keys ``run_view`` gives, from the run's state, its
    ``report`` record once the report task wrote it and ``validate``'s ``validation``
    record (each as stored, or None); no waves, no rollback (their rows need the plan)."""
    finished = run_state in FINISHED_RUN_STATES
    written = read_or_none(RunReport.from_dict, report)
    failure = read_or_none(ValidationFailure.from_dict, validation)
    if written is not None and written.validation is not None:
        failure = written.validation
    if not finished:
        status, summary = "running", f"running; {problem}"
    elif written is not None:
        status, summary = written.status, written.summary
    else:
        status = "succeeded" if run_state == SUCCESS else "failed"
        summary = f"stopped in validate: {failure.summary()}" if failure else f"run {run_state}"
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "run_state": run_state,
        "finished": finished,
        "refresh_seconds": None if finished else REFRESH_SECONDS,
        "status": status,
        "summary": summary,
        "package": {
            "name": written.package_name if written else None,
            "version": written.package_version if written else None,
        },
        "plan": {
            "name": written.plan_name if written else None,
            "digest": written.plan_digest if written else None,
            "changed": False,
            "source": None,
            "problem": problem,
        },
        "dry_run": written.status == "dry_run" if written else False,
        "started_at": started_at,
        "finished_at": finished_at if finished else None,
        "waves": [],
        "rollback": None,
        "validation": failure.to_dict() if failure else None,
    }


def _wave(
    records: WaveRecords,
    row: WaveReport,
    spec: WaveSpec,
    *,
    settings: GateSettings,
    journal: GateRecord | None,
    poll: LatestPoll | None,
    request: ApprovalRequest | None,
    now: datetime,
    operation_url: ConsoleUrl,
    instances_url: str | None,
) -> dict[str, Any]:
    gate = gate_progress(
        settings,
        result=records.gate_result,
        journal=journal,
        poll=poll,
        now=now,
    )
    shown = _shown_decision(records, journal, poll)
    return {
        "name": records.name,
        "phase": wave_phase(records, row),
        "row": row.model_dump(mode="json"),
        "ous": list(spec.ous),
        "regions": list(spec.regions),
        "accounts": spec.accounts.model_dump(mode="json") if spec.accounts else None,
        "targets": row.targets,
        "operations": _operations(records, operation_url),
        "gate": gate.to_dict() if _gate_shown(records, gate) else None,
        "approval": approval_view(records, spec, request),
        "matrix": wave_matrix(
            records, shown, operation_url=operation_url, instances_url=instances_url
        ),
    }


def wave_phase(records: WaveRecords, row: WaveReport) -> str:
    """What the wave is doing now (a step's task is active), else its report decision
    (``not_run``: not started yet, or not in this run)."""
    for step in WAVE_STEPS:
        if records.state(step) in ACTIVE_TASK_STATES:
            return PHASES[step]
    return row.decision


def _gate_shown(records: WaveRecords, gate: GateProgress) -> bool:
    return gate.source is not None or records.state(WAIT_COMPLIANCE) is not None


def _shown_decision(
    records: WaveRecords, journal: GateRecord | None, poll: LatestPoll | None
) -> GateDecision | None:
    """The gate decision the matrix colours compliance by: the recorded one, else the
    journal's, else the latest poll's."""
    result = records.gate_result
    if result is not None and result.decision is not None:
        return result.decision
    if journal is not None and journal.decision is not None:
        return journal.decision
    return poll.decision if poll else None


def _operations(records: WaveRecords, operation_url: ConsoleUrl) -> list[dict[str, Any]]:
    """The wave's StackSets operations: the ids the deploy started, with what the
    operation sensor recorded of each once it did."""
    deployed = records.deploy_result
    ids = list(deployed.operations) if deployed else []
    summary = _summary(records.operation)
    judged = summary.operations if summary else {}
    ids += [operation_id for operation_id in judged if operation_id not in ids]
    listed = []
    for operation_id in ids:
        operation = judged.get(operation_id)
        listed.append(
            {
                "id": operation_id,
                "status": operation.status if operation else None,
                "outcome": operation.outcome if operation else None,
                "summary": operation.summary if operation else "",
                "succeeded": sum(c.succeeded for c in operation.regions.values())
                if operation
                else None,
                "failed": len(operation.failed) if operation else None,
                "url": operation_url(operation_id),
            }
        )
    return listed


def _summary(record: Mapping[str, Any] | None) -> OperationsSummary | None:
    if not record:
        return None
    try:
        return OperationsSummary.from_dict(record)
    except ValidationError:
        return None


def approval_view(
    records: WaveRecords, spec: WaveSpec, request: ApprovalRequest | None
) -> dict[str, Any]:
    """Whether the wave asks for an approval, where it stands, who answered and when, and
    while it waits, whom it waits for (``request``: the question as Airflow keeps it).

    An approval is recorded by the approval task's result; a rejection only by the
    question's answer (it fails the task). A failed task whose question has no answer was
    not answered in time (or failed while it waited): ``not_answered``. With no question
    to read, a failed approval is ``rejected``, as the report calls it.
    """
    state = records.state(APPROVE)
    by = at = None
    if not spec.approval and state is None:
        answer = "not_required"
    elif state in ACTIVE_TASK_STATES:
        answer = "waiting"
    elif state == SUCCESS or (state == FAILED and records.approved_at):
        answer = "approved"
        if records.approved_at:
            by, at = records.approved_by, records.approved_at
        elif request is not None and request.answered:
            by, at = request.responded_by, request.responded_at
    elif state == FAILED and request is not None and request.rejected:
        answer, by, at = "rejected", request.responded_by, request.responded_at
    elif state == FAILED and request is not None and not request.answered:
        answer = "not_answered"
    elif state == FAILED:
        answer = "rejected"
    elif state == SKIPPED:
        answer = "skipped"
    else:
        answer = "not_started"
    waits_for = request.assignees if answer == "waiting" and request is not None else ()
    return {
        "required": spec.approval,
        "state": answer,
        "by": by,
        "at": at,
        "waiting_for": list(waits_for),
    }


def _rollback(
    facts: RunFacts, report: RunReport, operation_url: ConsoleUrl
) -> dict[str, Any] | None:
    """The rollback's decision, actions and outcome, when its task ran or runs."""
    if facts.rollback_state is None or facts.rollback_state in (SKIPPED, "upstream_failed"):
        return None
    try:
        record = facts.rollback_record
    except (KeyError, TypeError, ValueError, ValidationError):
        record = None
    return {
        "state": facts.rollback_state,
        "reason": facts.rollback_reason,
        "report": report.rollback.model_dump(mode="json") if report.rollback else None,
        # Where the stack set and its instances stand after it, in the report's words.
        "stack_set_lines": (
            report.rollback.stack_set.lines()
            if report.rollback and report.rollback.stack_set
            else []
        ),
        "actions": _actions(record, operation_url),
        "note": record.note if record else "",
        "complete": record.complete if record else None,
    }


def _actions(record: RollbackRecord | None, operation_url: ConsoleUrl) -> list[dict[str, Any]]:
    if record is None:
        return []
    return [
        {
            "kind": outcome.action.kind if outcome.action else None,
            "wave": outcome.action.wave if outcome.action else None,
            "description": outcome.describe() if outcome.action else "",
            "status": outcome.status,
            "summary": outcome.summary,
            "operation_id": outcome.operation_id or None,
            "url": operation_url(outcome.operation_id) if outcome.operation_id else None,
        }
        for outcome in record.actions
    ]
