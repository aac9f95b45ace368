"""How a rollout run went, from its tasks' states and records: the rollback's trigger, each
wave's decision, the run's status and its report.

The DAG runs one task per step and wave (``<wave>.deploy``, ``<wave>.wait_operation``,
``<wave>.wait_compliance``, ``<wave>.approve``); Airflow keeps their states and XComs. This
module reads those facts as plain values (state strings and dicts), so the decisions the
rollback and report tasks make are tested here, without Airflow or AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from distributor_rollout.core.gate import GateDecision
from distributor_rollout.core.plan import Plan, RollbackTrigger
from distributor_rollout.core.report import (
    FAILED_TARGETS_CAP,
    ComplianceReport,
    FailedTargetEntry,
    OperationReport,
    RollbackReport,
    RollbackStatus,
    RunReport,
    RunStatus,
    WaveDecision,
    WaveReport,
    summarize,
)
from distributor_rollout.core.steps import (
    APPROVE,
    DEPLOY,
    WAIT_COMPLIANCE,
    WAIT_OPERATION,
)
from distributor_rollout.core.targets import Target

FAILED = "failed"
SUCCESS = "success"
SKIPPED = "skipped"
UPSTREAM_FAILED = "upstream_failed"


@dataclass(frozen=True)
class WaveFacts:
    """What Airflow recorded for one wave: its tasks' states and their results.

    ``states`` maps a step (``deploy``, ...) to its task state (``None``: no task, or
    not started). ``deployed`` is the deploy task's return value, ``operation`` the
    operation sensor's, ``gate`` the compliance sensor's ``compliance_gate`` XCom and
    ``started_at`` the deploy task's ``started_at`` XCom.
    """

    name: str
    states: Mapping[str, str | None]
    deployed: Mapping[str, Any] | None = None
    operation: Mapping[str, Any] | None = None
    gate: Mapping[str, Any] | None = None
    started_at: str | None = None
    approved_at: str | None = None

    def state(self, step: str) -> str | None:
        """The state of one step's task."""
        return self.states.get(step)

    def failure(self) -> RollbackTrigger | None:
        """What failed in this wave, as a rollback trigger; None when nothing did.

        Only a task's own failure counts (``upstream_failed`` is a consequence). A deploy
        failure counts as a failed operation; a compliance sensor that failed without a
        gate record (it could not read the fleet) counts as a failed gate: the wave is
        not proven healthy.
        """
        if FAILED in (self.state(DEPLOY), self.state(WAIT_OPERATION)):
            return "operation_failed"
        if self.state(WAIT_COMPLIANCE) == FAILED:
            trigger = (self.gate or {}).get("trigger")
            return "compliance_timeout" if trigger == "compliance_timeout" else "compliance_failed"
        if self.state(APPROVE) == FAILED:
            return "approval_rejected"
        return None

    def decision(self) -> WaveDecision:
        """The wave's line in the report."""
        failure = self.failure()
        if failure == "approval_rejected":
            return "rejected"
        if failure is not None:
            return "failed"
        if self.state(APPROVE) == SUCCESS:
            return "approved"
        if self.state(WAIT_COMPLIANCE) == SUCCESS:
            return "passed"
        if self.state(DEPLOY) in (SUCCESS, SKIPPED):
            return "skipped"
        return "not_run"


@dataclass(frozen=True)
class Failure:
    """The first wave that failed and how: what the rollback answers to."""

    wave: str
    trigger: RollbackTrigger

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {"wave": self.wave, "trigger": self.trigger}


def first_failure(waves: Sequence[WaveFacts]) -> Failure | None:
    """The earliest wave (plan order) with a failed task, and its trigger."""
    for wave in waves:
        trigger = wave.failure()
        if trigger is not None:
            return Failure(wave.name, trigger)
    return None


@dataclass(frozen=True)
class RollbackDecision:
    """Whether the rollback task acts, and why (its log line, and the report's note)."""

    act: bool
    reason: str
    failure: Failure | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the rollback task's ``rollback_decision`` XCom)."""
        return {
            "act": self.act,
            "reason": self.reason,
            "failure": self.failure.to_dict() if self.failure else None,
        }


def decide_rollback(plan: Plan, mode: str, waves: Sequence[WaveFacts]) -> RollbackDecision:
    """Roll back only for a wave failure whose trigger the plan lists, in a mode that acts.

    A failure before any wave (validate, build, publish, prepare) changed no stack
    instance: there is nothing to roll back.
    """
    failure = first_failure(waves)
    if failure is None:
        return RollbackDecision(False, "no wave failed: nothing this run deployed to roll back")
    where = f"wave {failure.wave} failed ({failure.trigger})"
    if failure.trigger not in plan.rollback.triggers:
        listed = ", ".join(plan.rollback.triggers) or "none"
        return RollbackDecision(
            False, f"{where}, which is not a rollback trigger of the plan ({listed})", failure
        )
    if mode == "none":
        return RollbackDecision(False, f"{where}; rollback mode is 'none'", failure)
    return RollbackDecision(True, f"{where}: rolling back ({mode})", failure)


@dataclass(frozen=True)
class RunFacts:
    """Everything the report task gathered about the run."""

    run_id: str
    dag_id: str
    plan: Plan
    version: str
    dry_run: bool
    started_at: str | None
    finished_at: str | None
    waves: tuple[WaveFacts, ...]
    step_states: Mapping[str, str | None] = field(default_factory=dict)
    """States of the steps outside the waves (validate, build, check_deployed, ...)."""
    rollback_state: str | None = None
    rollback: Mapping[str, Any] | None = None
    rollback_reason: str | None = None
    nothing_to_do: bool = False


def run_status(facts: RunFacts) -> RunStatus:
    """The run's end: rolled back, failed, succeeded or a dry run."""
    rollback = facts.rollback
    if facts.rollback_state == FAILED or (rollback is not None and rollback.get("failed")):
        return "rollback_failed"
    if rollback is not None and facts.rollback_state == SUCCESS and rollback.get("actions"):
        return "rolled_back"
    if first_failure(facts.waves) is not None or FAILED in facts.step_states.values():
        return "failed"
    return "dry_run" if facts.dry_run else "succeeded"


def build_report(facts: RunFacts) -> RunReport:
    """The run's ``RunReport``, with its one-line summary."""
    status = run_status(facts)
    report = RunReport(
        run_id=facts.run_id,
        dag_id=facts.dag_id,
        plan_name=facts.plan.name,
        plan_digest=facts.plan.digest(),
        package_name=facts.plan.package.name,
        package_version=facts.version,
        started_at=facts.started_at,
        finished_at=facts.finished_at,
        status=status,
        waves=tuple(_wave_report(wave) for wave in facts.waves),
        rollback=_rollback_report(facts),
    )
    return report.model_copy(update={"summary": _summary(facts, report)})


def _summary(facts: RunFacts, report: RunReport) -> str:
    if facts.nothing_to_do:
        return (
            f"{report.package_name} {report.package_version}: nothing to do, already "
            "deployed to every target of the run's waves"
        )
    if report.status == "dry_run":
        planned = [wave for wave in report.waves if wave.targets]
        targets = sum(wave.targets for wave in planned)
        return (
            f"{report.package_name} {report.package_version}: dry run, nothing changed; "
            f"{len(planned)} waves would deploy to {targets} account/Region targets"
        )
    text = summarize(report)
    failed_steps = [step for step, state in facts.step_states.items() if state == FAILED]
    if failed_steps and first_failure(facts.waves) is None:
        text += f"; failed before the waves: {', '.join(failed_steps)}"
    if facts.rollback_reason and report.rollback is None and report.status != "succeeded":
        text += f"; no rollback: {facts.rollback_reason}"
    return text


def _wave_report(wave: WaveFacts) -> WaveReport:
    deployed = wave.deployed or {}
    finished = (wave.gate or {}).get("decided_at")
    if wave.approved_at:
        finished = wave.approved_at
    duration = _seconds_between(wave.started_at, finished)
    return WaveReport(
        name=wave.name,
        targets=len(deployed.get("targets") or ()),
        operation=_operation_report(wave.operation),
        compliance=_compliance_report(wave.gate),
        decision=wave.decision(),
        started_at=wave.started_at,
        finished_at=finished if wave.started_at else None,
        duration_seconds=duration,
    )


def _operation_report(result: Mapping[str, Any] | None) -> OperationReport | None:
    """The wave's operations condensed into one line: the last id, the worst status."""
    operations = (result or {}).get("operations") or {}
    if not operations:
        return None
    succeeded = failed = 0
    failures: list[FailedTargetEntry] = []
    statuses = []
    for summary in operations.values():
        statuses.append(str(summary.get("status", "UNKNOWN")))
        failed_items = summary.get("failed") or []
        failed += len(failed_items)
        for item in failed_items:
            if len(failures) < FAILED_TARGETS_CAP:
                failures.append(
                    FailedTargetEntry(target=_target_text(item), reason=str(item.get("reason", "")))
                )
        for counts in (summary.get("regions") or {}).values():
            succeeded += int(counts.get("succeeded", 0))
    worst = next(
        (s for s in ("FAILED", "STOPPED", "RUNNING", "QUEUED") if s in statuses), statuses[-1]
    )
    return OperationReport(
        id=list(operations)[-1],
        status=worst,
        succeeded=succeeded,
        failed=failed,
        failed_targets=tuple(failures),
        failed_targets_total=failed,
    )


def _target_text(item: Mapping[str, Any]) -> str:
    target = item.get("target")
    if isinstance(target, Mapping):
        return str(Target.from_dict(target))
    return str(target)


def _compliance_report(gate: Mapping[str, Any] | None) -> ComplianceReport | None:
    decision = (gate or {}).get("decision")
    if not decision:
        return None
    return ComplianceReport.from_decision(GateDecision.from_dict(decision))


def _rollback_report(facts: RunFacts) -> RollbackReport | None:
    result = facts.rollback
    if result is None:
        if facts.rollback_state == FAILED:
            return RollbackReport(
                mode=facts.plan.rollback.mode, actions=0, restored_targets=0, status="failed"
            )
        return None
    failed = [str(target) for target in result.get("failed") or ()]
    # An unfinished record: the task died mid-rollback, so no target is known restored.
    reason = "not restored" if result.get("complete", True) else "rollback did not finish"
    status: RollbackStatus = "failed" if failed or facts.rollback_state == FAILED else "succeeded"
    return RollbackReport(
        mode=result.get("mode", facts.plan.rollback.mode),
        # An unfinished record lists the actions it had not reached yet as pending.
        actions=sum(
            1 for action in result.get("actions") or () if action.get("status") != "pending"
        ),
        restored_targets=len(result.get("restored") or ()),
        status=status,
        failed_targets=tuple(
            FailedTargetEntry(target=target, reason=reason)
            for target in failed[:FAILED_TARGETS_CAP]
        ),
        failed_targets_total=len(failed),
    )


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return round(seconds, 1) if seconds >= 0 else None
