"""The Rollout tab of one run, as JSON: its state and summary, one row per wave, each wave's
accounts × Regions, and the rollback.

Every wave row carries the report's own line for the wave (``row``: ``WaveReport`` as the
report task would write it), built by ``run_outcome.build_report`` from the same
``RunFacts`` the report task reads (``core.recorded_run``), so the tab and the report agree
by construction. Around it: what only a live view needs (the wave's phase, its OUs and
Regions from the plan, its StackSets operations with console links, the gate's progress,
the approval, the matrix), all from the same records; nothing is read from AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate import GateDecision, GateSettings
from distributor_rollout.core.gate_journal import GateRecord
from distributor_rollout.core.gate_progress import GateProgress, LatestPoll, gate_progress
from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.plan import WaveSpec, wave_gate
from distributor_rollout.core.report import RunReport, WaveReport, summarize
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
    plan_changed: bool = False,
) -> dict[str, Any]:
    """The tab's JSON for a run whose DAG run is in ``run_state``.

    ``journals`` and ``polls`` hold each wave's gate journal and latest poll by wave name
    (missing: none); ``time_scale`` is the deployment's (the gates' real seconds);
    ``operation_url`` links an operation id to the console; ``plan_changed`` says the plan
    file is no longer the one the run validated (the tab then shows it as it is now, as
    the report does).
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
        "plan": {"name": report.plan_name, "digest": report.plan_digest, "changed": plan_changed},
        "dry_run": facts.dry_run,
        "started_at": facts.started_at,
        "finished_at": facts.finished_at if finished else None,
        "waves": waves,
        "rollback": _rollback(facts, report, operation_url),
        "validation": report.validation.to_dict() if report.validation else None,
    }


def _wave(
    records: WaveRecords,
    row: WaveReport,
    spec: WaveSpec,
    *,
    settings: GateSettings,
    journal: GateRecord | None,
    poll: LatestPoll | None,
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
        "approval": _approval(records, spec),
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


def _approval(records: WaveRecords, spec: WaveSpec) -> dict[str, Any]:
    """Whether the wave asks for an approval, where it stands and who answered."""
    state = records.state(APPROVE)
    if not spec.approval and state is None:
        answer = "not_required"
    elif state in ACTIVE_TASK_STATES:
        answer = "waiting"
    elif state == SUCCESS or (state == FAILED and records.approved_at):
        answer = "approved"
    elif state == FAILED:
        answer = "rejected"
    elif state == SKIPPED:
        answer = "skipped"
    else:
        answer = "not_started"
    return {
        "required": spec.approval,
        "state": answer,
        "by": records.approved_by if records.approved_at else None,
        "at": records.approved_at,
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
            "description": outcome.action.describe() if outcome.action else "",
            "status": outcome.status,
            "summary": outcome.summary,
            "operation_id": outcome.operation_id or None,
            "url": operation_url(outcome.operation_id) if outcome.operation_id else None,
        }
        for outcome in record.actions
    ]
