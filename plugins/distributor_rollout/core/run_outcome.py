"""How a rollout run went, from its tasks' states and records: the rollback's trigger, each
wave's decision, the run's status and its report.

The DAG runs one task per step and wave (``<wave>.deploy``, ``<wave>.wait_operation``,
``<wave>.wait_compliance``, ``<wave>.approve``); Airflow keeps their states and XComs. This
module reads those facts as Airflow hands them over (state strings, and each task's record
as it came out of XCom, read through its ``core`` type: ``WaveResult``,
``OperationsSummary``, ``GateResult``, ``RollbackRecord``), so the decisions the rollback
and report tasks make are tested here, without Airflow or AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from distributor_rollout.core.errors import RolloutError, ValidationError, wrong
from distributor_rollout.core.gate import WORST_LIMIT, TargetCompliance
from distributor_rollout.core.gate_result import GateResult
from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.plan import ALL_ROLLBACK_TRIGGERS, Plan, RollbackTrigger
from distributor_rollout.core.record_reading import read_or_none
from distributor_rollout.core.report import (
    FAILED_TARGETS_CAP,
    WAVE_TARGETS_SHOWN,
    ComplianceReport,
    FailedTargetEntry,
    OperationReport,
    RollbackReport,
    RollbackStatus,
    RunReport,
    RunStatus,
    StackSetStandingReport,
    ValidationFailure,
    WaveDecision,
    WaveReport,
    preflight_entries,
    summarize,
    target_shortfall,
)
from distributor_rollout.core.rollback_record import RollbackRecord
from distributor_rollout.core.steps import (
    APPROVE,
    DEPLOY,
    VALIDATE,
    WAIT_COMPLIANCE,
    WAIT_OPERATION,
    WAVE_STEPS,
    wave_task_id,
)
from distributor_rollout.core.wave_result import WaveResult

FAILED = "failed"
SUCCESS = "success"
SKIPPED = "skipped"
UPSTREAM_FAILED = "upstream_failed"

TASK_FAILED: Literal["task_failed"] = "task_failed"
"""A wave task that Airflow failed after its own check passed (the gate or the operation
recorded success; e.g. Airflow's "state mismatch" race on deferred tasks). It is not a
rollback trigger (the plan cannot list it): the wave is healthy as far as anything
recorded shows, so rolling it back would undo a good rollout because Airflow lost a task.
Clearing the failed task resumes the run from its records."""
FailureCause = RollbackTrigger | Literal["task_failed"]
"""What stopped a wave: a rollback trigger, or ``task_failed``."""

AFTER_GATE_PASSED = "task failed by Airflow after the gate passed (state mismatch)"
AFTER_OPERATION_SUCCEEDED = "task failed by Airflow after the operation succeeded (state mismatch)"
AFTER_APPROVAL = "task failed by Airflow after it was approved (state mismatch)"
REJECTED = "its approval was rejected or timed out"


def undecided(task_id: str) -> str:
    """The reason of a task that failed with no decision recorded: its log says why."""
    return f"task {task_id} failed before it decided (see its log)"


@dataclass(frozen=True)
class FailedTargets:
    """A wave's failed targets; ``more_unlisted`` when a capped record may hide more."""

    entries: tuple[FailedTargetEntry, ...]
    more_unlisted: bool = False


@dataclass(frozen=True)
class StepFailure:
    """A wave task that failed: which step, what it means for the rollback, and why, in
    the words of what the task recorded before it failed."""

    step: str
    cause: FailureCause
    reason: str


@dataclass(frozen=True)
class WaveRecords:
    """What Airflow recorded for one wave of this run: its tasks' states and results.

    ``states`` maps a step (``deploy``, ...) to its task state (``None``: no task, or
    not started). ``deployed`` is the deploy task's return value (``WaveResult``),
    ``operation`` the operation sensor's (``OperationsSummary``), ``gate`` the compliance sensor's
    ``compliance_gate`` XCom (``GateResult``) and ``started_at`` the deploy task's
    ``started_at`` XCom, each as XCom returned it. ``approved_at`` is when a human
    approved the wave (the approval task records a result only for an approval), and
    ``approved_by`` who. (Not ``core.deployment``'s snapshot of a wave on AWS.)
    """

    name: str
    states: Mapping[str, str | None]
    deployed: Mapping[str, Any] | None = None
    operation: Mapping[str, Any] | None = None
    gate: Mapping[str, Any] | None = None
    started_at: str | None = None
    approved_at: str | None = None
    approved_by: str | None = None

    def state(self, step: str) -> str | None:
        """The state of one step's task."""
        return self.states.get(step)

    @property
    def deploy_result(self) -> WaveResult | None:
        """The deploy task's result, or None when it returned none."""
        return WaveResult.from_dict(self.deployed) if self.deployed else None

    @property
    def operations_result(self) -> OperationsSummary | None:
        """The operation sensor's record, or None when it left none it could read."""
        return OperationsSummary.read(self.operation)

    @property
    def gate_result(self) -> GateResult | None:
        """The compliance wait's record, or None when it left none it could read."""
        return GateResult.read(self.gate)

    def failed_step(self) -> StepFailure | None:
        """The wave's first failed task, judged by what it recorded; None when none failed.

        Only a task's own failure counts (``upstream_failed`` is a consequence). The
        reason and the cause come only from recorded decisions, never from a neighbour's
        record: a wait that recorded success but was failed anyway is ``task_failed``; one
        that recorded a failure gives its own reason; one that recorded nothing "failed
        before it decided", and counts as its step's failure (the wave is not proven
        healthy).
        """
        for step in WAVE_STEPS:
            if self.state(step) == FAILED:
                return self._judge(step)
        return None

    def _judge(self, step: str) -> StepFailure:
        task_id = wave_task_id(self.name, step)
        if step == WAIT_OPERATION:
            # The outcome as the sensor stored it, not ``OperationsSummary.outcome``:
            # ``from_dict`` recomputes that from the operations, so a record that stores
            # no outcome would read as succeeded (and blame Airflow for a wait that never
            # decided), and one stored by an earlier version that said "succeeded" over a
            # failed operation would read as failed (and roll back a run it did not before).
            outcome = (self.operation or {}).get("outcome")
            if outcome == "succeeded":
                return StepFailure(step, TASK_FAILED, AFTER_OPERATION_SUCCEEDED)
            if outcome == "failed":
                return StepFailure(
                    step, "operation_failed", _operation_reason(self.operations_result)
                )
            return StepFailure(step, "operation_failed", undecided(task_id))
        if step == WAIT_COMPLIANCE:
            return _judge_gate(self.gate_result, task_id)
        if step == APPROVE:
            # The approval's result is recorded only when a human approved (a rejection
            # or a timeout fails the task without one).
            if self.approved_at:
                return StepFailure(step, TASK_FAILED, AFTER_APPROVAL)
            return StepFailure(step, "approval_rejected", REJECTED)
        # deploy: it decides nothing; its failure leaves the operations' outcome unknown.
        return StepFailure(step, "operation_failed", undecided(task_id))

    def failed_targets(self) -> FailedTargets:
        """The wave's failed account/Regions, each once, from what its tasks recorded.

        First the stack instances its operations failed (AWS's reason), then the gate's
        least compliant targets (their node counts): all of them when the gate failed,
        since they are why; only those with failed nodes otherwise, since a passing gate
        also lists targets that are merely still installing.
        """
        entries: dict[str, FailedTargetEntry] = {}
        operations = self.operations_result or OperationsSummary()
        for operation in operations.operations.values():
            for failed in operation.failed:
                target = str(failed.target)
                entries.setdefault(target, FailedTargetEntry(target=target, reason=failed.reason))
        named_by_gate: list[TargetCompliance] = []
        gate = self.gate_result.decision if self.gate_result else None
        if gate is not None:
            named_by_gate = [i for i in gate.worst if gate.state == "FAIL" or i.failed]
            for item in named_by_gate:
                target = str(item.target)
                entries.setdefault(
                    target, FailedTargetEntry(target=target, reason=target_shortfall(item))
                )
            # The gate records only its WORST_LIMIT least compliant targets: a full list
            # may have left out more of the kind it named.
            more = bool(named_by_gate) and len(gate.worst) >= WORST_LIMIT
            return FailedTargets(tuple(entries.values()), more_unlisted=more)
        return FailedTargets(tuple(entries.values()))

    def failure(self) -> FailureCause | None:
        """What stopped this wave (a rollback trigger or ``task_failed``); None when
        nothing did. See ``failed_step``."""
        failed = self.failed_step()
        return failed.cause if failed else None

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


def _judge_gate(gate: GateResult | None, task_id: str) -> StepFailure:
    """A failed compliance wait, by its ``compliance_gate`` record: a PASS means Airflow
    failed the task, a FAIL (or a trigger) says why; a WAIT decision or no record means
    it never decided."""
    if gate is not None and gate.passed:
        return StepFailure(WAIT_COMPLIANCE, TASK_FAILED, AFTER_GATE_PASSED)
    if gate is not None and gate.failed:
        cause: FailureCause = gate.trigger or "compliance_failed"
        reason = (gate.decision.reason if gate.decision else "") or f"the gate failed ({cause})"
        return StepFailure(WAIT_COMPLIANCE, cause, reason)
    return StepFailure(WAIT_COMPLIANCE, "compliance_failed", undecided(task_id))


def _operation_reason(record: OperationsSummary | None) -> str:
    """A failed operation wait, by its verdicts: the worst status and the failure count."""
    report = OperationReport.from_summary(record) if record else None
    if report is None:
        return "operation failed"
    return f"operation {report.status}, {report.failed} targets failed"


@dataclass(frozen=True)
class Failure:
    """The first wave that failed and how: what the rollback answers to."""

    wave: str
    trigger: FailureCause

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {"wave": self.wave, "trigger": self.trigger}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure:
        """The inverse of ``to_dict``."""
        trigger = data["trigger"]
        known: tuple[FailureCause, ...] = (*ALL_ROLLBACK_TRIGGERS, TASK_FAILED)
        cause = next((name for name in known if name == trigger), None)
        if cause is None:
            expected = " | ".join(known)
            raise ValidationError(
                "failure", [wrong("trigger", "unknown trigger", trigger, expected)]
            )
        return cls(str(data["wave"]), cause)


def first_failure(waves: Sequence[WaveRecords]) -> Failure | None:
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollbackDecision:
        """The inverse of ``to_dict``."""
        failure = data.get("failure")
        return cls(
            act=bool(data["act"]),
            reason=str(data["reason"]),
            failure=Failure.from_dict(failure) if failure else None,
        )

    @classmethod
    def read(cls, value: object) -> RollbackDecision | None:
        """The rollback task's recorded decision, or None when there is none it can read
        (the report then gives no reason rather than failing)."""
        return read_or_none(cls.from_dict, value)


def decide_rollback(plan: Plan, mode: str, waves: Sequence[WaveRecords]) -> RollbackDecision:
    """Roll back only for a wave failure whose trigger the plan lists, in a mode that acts.

    A failure before any wave (validate, build, publish, prepare) changed no stack
    instance: there is nothing to roll back.
    """
    failure = first_failure(waves)
    if failure is None:
        return RollbackDecision(False, "no wave failed: nothing this run deployed to roll back")
    where = f"wave {failure.wave} failed ({failure.trigger})"
    listed = failure.trigger in plan.rollback.triggers
    if failure.trigger == TASK_FAILED and not listed:
        return RollbackDecision(
            False,
            f"{where}: Airflow failed a task after the wave's checks passed, which is not a "
            "rollback trigger; clear the failed task to resume the run",
            failure,
        )
    if not listed:
        triggers = ", ".join(plan.rollback.triggers) or "none"
        return RollbackDecision(
            False, f"{where}, which is not a rollback trigger of the plan ({triggers})", failure
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
    waves: tuple[WaveRecords, ...]
    step_states: Mapping[str, str | None] = field(default_factory=dict)
    """States of the steps outside the waves (validate, build, check_deployed, ...)."""
    rollback_state: str | None = None
    rollback: Mapping[str, Any] | None = None
    """The rollback task's ``RollbackRecord``, as XCom returned it."""
    rollback_reason: str | None = None
    nothing_to_do: bool = False
    validation: Mapping[str, Any] | None = None
    """``validate``'s record of the problems it failed on (``ValidationFailure.to_dict``)."""
    preflight: Mapping[str, Any] | None = None
    """``validate``'s preflight of the AWS prerequisites (``Preflight.to_dict``)."""

    @property
    def rollback_record(self) -> RollbackRecord | None:
        """The rollback's record, or None when it left none."""
        return RollbackRecord.from_dict(self.rollback) if self.rollback is not None else None


def run_status(facts: RunFacts) -> RunStatus:
    """The run's end: rolled back, failed, succeeded or a dry run."""
    rollback = facts.rollback_record
    if facts.rollback_state == FAILED or (rollback is not None and rollback.failed_count):
        return "rollback_failed"
    if rollback is not None and facts.rollback_state == SUCCESS and rollback.actions:
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
        package_existing=facts.plan.package.existing,
        started_at=facts.started_at,
        finished_at=facts.finished_at,
        status=status,
        waves=tuple(_wave_report(wave) for wave in facts.waves),
        rollback=_rollback_report(facts),
        validation=_validation(facts),
        preflight=preflight_entries(facts.preflight),
    )
    return report.model_copy(update={"summary": _summary(facts, report)})


def _validation(facts: RunFacts) -> ValidationFailure | None:
    """The validation problems, for a run that failed in ``validate`` (a record left by an
    earlier try of a run that has since validated is not news)."""
    if facts.validation is None or facts.step_states.get(VALIDATE) != FAILED:
        return None
    try:
        return ValidationFailure.from_dict(facts.validation)
    except RolloutError:
        return None  # the summary still says the run failed in validate; its log says why


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
        if report.validation is not None:
            text += f" ({report.validation.subject}: {report.validation.summary()})"
    if facts.rollback_reason and report.rollback is None and report.status != "succeeded":
        text += f"; no rollback: {facts.rollback_reason}"
    return text


def _wave_report(wave: WaveRecords) -> WaveReport:
    deployed = wave.deploy_result
    operations = wave.operations_result
    gate = wave.gate_result
    finished = gate.decided_at if gate else None
    if wave.approved_at:
        finished = wave.approved_at
    duration = _seconds_between(wave.started_at, finished)
    failed = wave.failed_step()
    failures = wave.failed_targets()
    return WaveReport(
        name=wave.name,
        targets=deployed.target_count if deployed else 0,
        operation=OperationReport.from_summary(operations) if operations else None,
        compliance=ComplianceReport.from_decision(gate.decision)
        if gate and gate.decision
        else None,
        decision=wave.decision(),
        reason=failed.reason if failed else None,
        failed_targets=failures.entries[:WAVE_TARGETS_SHOWN],
        failed_targets_total=len(failures.entries),
        failed_targets_total_is_minimum=failures.more_unlisted,
        started_at=wave.started_at,
        finished_at=finished if wave.started_at else None,
        duration_seconds=duration,
        approved_by=wave.approved_by if wave.approved_at else None,
    )


def _rollback_report(facts: RunFacts) -> RollbackReport | None:
    record = facts.rollback_record
    if record is None:
        if facts.rollback_state == FAILED:
            return RollbackReport(
                mode=facts.plan.rollback.mode, actions=0, restored_targets=0, status="failed"
            )
        return None
    # An unfinished record: the task died mid-rollback, so no target is known restored.
    reason = "not restored" if record.complete else "rollback did not finish"
    # The record XCom holds lists only the first targets of each kind (as many as the
    # report shows): the totals are its counts, never len() of a list.
    failed = record.failed
    failed_total = record.failed_count
    status: RollbackStatus = (
        "failed" if failed_total or facts.rollback_state == FAILED else "succeeded"
    )
    return RollbackReport(
        mode=record.mode or facts.plan.rollback.mode,
        # An unfinished record lists the actions it had not reached yet as pending.
        actions=record.actions_run,
        restored_targets=record.restored_count,
        status=status,
        failed_targets=tuple(
            FailedTargetEntry(target=target, reason=reason)
            for target in failed[:FAILED_TARGETS_CAP]
        ),
        failed_targets_total=failed_total,
        kept_targets=tuple(
            FailedTargetEntry(
                target=item.target,
                reason=f"{_nodes(item.offline_nodes)} went offline after the deploy: "
                "instance kept with the uninstall for when they return",
            )
            for item in record.kept[:FAILED_TARGETS_CAP]
        ),
        kept_targets_total=record.kept_count,
        untouched_nodes=record.untouched_nodes,
        stack_set=StackSetStandingReport.from_standing(record.stack_set)
        if record.stack_set
        else None,
    )


def _nodes(count: int) -> str:
    return f"{count} node" if count == 1 else f"{count} nodes"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return round(seconds, 1) if seconds >= 0 else None
