"""The retire run's report: per wave what was uninstalled and deleted, which nodes may
still hold the package (offline), where the stack set and the buckets ended; its table,
its status, and where it goes.

Built from what the tasks recorded (their states and XComs, read through ``pull``), like
the rollout's report, and as small: counts, reasons and capped target lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.report import ValidationFailure
from distributor_rollout.core.retire_buckets import BucketOutcome, artifacts_deleted
from distributor_rollout.core.retire_stack_set import TARGETS_SHOWN, StackSetOutcome
from distributor_rollout.core.retire_steps import (
    DELETE_INSTANCES,
    REMOVAL_XCOM_KEY,
    RETIRE_REPORT_PREFIX,
    RETIRE_WAVE_STEPS,
    UNINSTALL,
    WAIT_REMOVED,
)
from distributor_rollout.core.retire_waves import RemovalCheck
from distributor_rollout.core.steps import (
    APPROVE,
    DELETE_BUCKETS,
    DELETE_STACK_SET,
    VALIDATE,
    VALIDATION_XCOM_KEY,
    wave_task_id,
)

SCHEMA_VERSION = 1
SKIP_REASON_XCOM_KEY = "skip_reason"
"""What a retire task that skips records first: why (the report says it per wave)."""
RETURN = "return_value"

Pull = Callable[[str, str], Any]
"""``pull(task_id, key)``: a task's XCom in this run (None when it recorded none)."""
RetireStatus = Literal["retired", "incomplete", "failed", "dry_run"]
WaveOutcome = Literal["retired", "kept", "skipped", "failed", "not_run", "dry_run"]
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WaveRetirement:
    """How one wave's retire went."""

    name: str
    outcome: WaveOutcome
    reason: str = ""
    instances: int = 0
    removed: int = 0
    deleted: int = 0
    held: int = 0
    kept: tuple[str, ...] = ()
    kept_total: int = 0
    offline_nodes: int = 0
    """Nodes offline since their instance was created: they may still hold the package."""
    untouched_nodes: int = 0
    """Nodes offline since before their instance existed: they never got the package."""
    operations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "name": self.name,
            "outcome": self.outcome,
            "reason": self.reason,
            "instances": self.instances,
            "removed": self.removed,
            "deleted": self.deleted,
            "held": self.held,
            "kept": list(self.kept),
            "kept_total": self.kept_total,
            "offline_nodes": self.offline_nodes,
            "untouched_nodes": self.untouched_nodes,
            "operations": list(self.operations),
        }


@dataclass(frozen=True)
class RetireReport:
    """The whole run's report."""

    run_id: str
    dag_id: str
    plan: str
    package: str
    status: RetireStatus
    summary: str
    dry_run: bool
    delete_buckets: bool
    waves: tuple[WaveRetirement, ...]
    stack_set: StackSetOutcome | None = None
    buckets: tuple[BucketOutcome, ...] = ()
    buckets_note: str = ""
    validation: ValidationFailure | None = None
    schema_version: int = field(default=SCHEMA_VERSION)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom, S3)."""
        return {
            "schema_version": self.schema_version,
            "kind": "retire",
            "run_id": self.run_id,
            "dag_id": self.dag_id,
            "plan": self.plan,
            "package": self.package,
            "status": self.status,
            "summary": self.summary,
            "dry_run": self.dry_run,
            "delete_buckets": self.delete_buckets,
            "waves": [wave.to_dict() for wave in self.waves],
            "stack_set": self.stack_set.to_dict() if self.stack_set else None,
            "buckets": [bucket.to_dict() for bucket in self.buckets],
            "buckets_note": self.buckets_note,
            "validation": self.validation.to_dict() if self.validation else None,
        }

    def to_json(self) -> str:
        """The document uploaded to S3."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @property
    def succeeded(self) -> bool:
        """Whether the run ends well (the report task fails it otherwise)."""
        return self.status in ("retired", "dry_run")


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def wave_retirement(name: str, states: Mapping[str, str | None], pull: Pull) -> WaveRetirement:
    """One wave's record, from its tasks' states and XComs."""
    ids = {step: wave_task_id(name, step) for step in RETIRE_WAVE_STEPS}
    uninstall = _mapping(pull(ids[UNINSTALL], RETURN)) or {}
    removal_record = _mapping(pull(ids[WAIT_REMOVED], REMOVAL_XCOM_KEY))
    removal = RemovalCheck.from_dict(removal_record) if removal_record else None
    deleting = _mapping(pull(ids[DELETE_INSTANCES], RETURN)) or {}
    operations = (*uninstall.get("operations", ()), *deleting.get("operations", ()))
    base: dict[str, Any] = {
        "name": name,
        "instances": len(uninstall.get("targets", ())),
        "operations": tuple(operations),
    }
    if removal is not None:
        kept = sorted(removal.kept.items())
        base |= {
            "removed": len(removal.removed),
            "kept": tuple(str(target) for target, _ in kept[:TARGETS_SHOWN]),
            "kept_total": len(kept),
            "offline_nodes": sum(count for _, count in kept),
            "untouched_nodes": sum(removal.untouched.values()),
        }
    base |= {"deleted": len(deleting.get("deleting", ())), "held": len(deleting.get("held", ()))}
    wave_states = {step: states.get(task) for step, task in ids.items()}
    failed = [step for step, state in wave_states.items() if state == FAILED]
    if failed:
        reason = (removal.failure() if removal else None) or f"{failed[0]} failed"
        return WaveRetirement(outcome="failed", reason=reason, **base)
    if wave_states[UNINSTALL] == "skipped":
        reason = pull(ids[UNINSTALL], SKIP_REASON_XCOM_KEY)
        return WaveRetirement(outcome="skipped", reason=str(reason or "skipped"), **base)
    if uninstall.get("dry_run"):
        return WaveRetirement(
            outcome="dry_run", reason=f"would uninstall {base['instances']} targets", **base
        )
    if all(state == "success" for state in wave_states.values()):
        if base.get("kept_total"):
            return WaveRetirement(
                outcome="kept",
                reason=f"{base['kept_total']} targets keep their instance: "
                f"{base['offline_nodes']} nodes offline since the package reached them",
                **base,
            )
        return WaveRetirement(outcome="retired", **base)
    return WaveRetirement(outcome="not_run", **base)


def build_retire_report(
    plan: Plan,
    *,
    run_id: str,
    dag_id: str,
    dry_run: bool,
    delete_buckets: bool,
    states: Mapping[str, str | None],
    pull: Pull,
) -> RetireReport:
    """The report of a retire run whose tasks are in ``states`` (all but the report done)."""
    waves = tuple(wave_retirement(wave.name, states, pull) for wave in reversed(plan.waves))
    validation_record = _mapping(pull(VALIDATE, VALIDATION_XCOM_KEY))
    validation = ValidationFailure.from_dict(validation_record) if validation_record else None
    stack_set_record = _mapping(pull(DELETE_STACK_SET, RETURN))
    stack_set = StackSetOutcome.from_dict(stack_set_record) if stack_set_record else None
    buckets_record = _mapping(pull(DELETE_BUCKETS, RETURN)) or {}
    buckets = tuple(BucketOutcome.from_dict(b) for b in buckets_record.get("buckets", ()))
    buckets_note = str(pull(DELETE_BUCKETS, SKIP_REASON_XCOM_KEY) or "")
    status, summary = _status(
        plan,
        states,
        waves=waves,
        stack_set=stack_set,
        buckets=buckets,
        validation=validation,
        dry_run=dry_run,
    )
    return RetireReport(
        run_id=run_id,
        dag_id=dag_id,
        plan=plan.name,
        package=plan.package.name,
        status=status,
        summary=summary,
        dry_run=dry_run,
        delete_buckets=delete_buckets,
        waves=waves,
        stack_set=stack_set,
        buckets=buckets,
        buckets_note=buckets_note,
        validation=validation,
    )


def _status(
    plan: Plan,
    states: Mapping[str, str | None],
    *,
    waves: Sequence[WaveRetirement],
    stack_set: StackSetOutcome | None,
    buckets: Sequence[BucketOutcome],
    validation: ValidationFailure | None,
    dry_run: bool,
) -> tuple[RetireStatus, str]:
    package = plan.package.name
    if states.get(VALIDATE) == FAILED:
        why = validation.summary() if validation else "see the validate task's log"
        return "failed", f"retire of {package} refused in validate: {why}"
    if states.get(APPROVE) == FAILED:
        return "failed", f"retire of {package} was not approved: nothing was removed"
    stopped = next((wave for wave in waves if wave.outcome == FAILED), None)
    if stopped is not None:
        return "failed", f"retire of {package} stopped at wave {stopped.name}: {stopped.reason}"
    for step in (DELETE_STACK_SET, DELETE_BUCKETS):
        if states.get(step) == FAILED:
            return "failed", f"retire of {package}: {step} failed (see its log)"
    deleted = sum(wave.deleted + wave.held for wave in waves)
    if dry_run:
        would = sum(wave.instances for wave in waves)
        return "dry_run", f"dry run: would retire {package} from {would} stack instances"
    if stack_set is None or not stack_set.gone:
        why = stack_set.reason if stack_set else "the stack set step did not run"
        return "incomplete", f"{package} not fully retired ({deleted} instances deleted): {why}"
    parts = [f"{package} retired: {deleted} stack instances deleted", stack_set.line()]
    gone = [bucket for bucket in buckets if bucket.result == "deleted"]
    if gone:
        parts.append(f"{len(gone)} buckets deleted")
    kept = [bucket for bucket in buckets if bucket.result == "kept"]
    if kept:
        parts.append(f"{len(kept)} buckets kept")
    return "retired", "; ".join(parts)


def render_retire_table(report: RetireReport) -> str:
    """A fixed-width table for the task log: one row per wave, then the stack set and the
    buckets."""
    header = f"retire of {report.package} (plan {report.plan}) | run {report.run_id} | "
    header += f"status {report.status}"
    columns = ("wave", "instances", "removed", "kept", "offline nodes", "deleted", "outcome")
    rows = [
        (
            wave.name,
            str(wave.instances),
            str(wave.removed),
            str(wave.kept_total),
            str(wave.offline_nodes),
            str(wave.deleted + wave.held),
            wave.outcome,
        )
        for wave in report.waves
    ]
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows, strict=True)]

    def line(cells: Iterable[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [header, line(columns), "-+-".join("-" * width for width in widths)]
    lines += [line(row) for row in rows]
    for wave in report.waves:
        if wave.reason and wave.outcome != "dry_run":
            lines.append(f"wave {wave.name} {wave.outcome}: {wave.reason}")
        if wave.kept:
            lines.append(f"  kept: {', '.join(wave.kept[:5])}")
    if report.validation is not None:
        lines.append(f"validate: {report.validation.summary()}")
    if report.stack_set is not None:
        lines.append(report.stack_set.line())
    lines += [bucket.line() for bucket in report.buckets]
    if report.buckets_note:
        lines.append(f"buckets: {report.buckets_note}")
    lines.append(report.summary)
    return "\n".join(lines)


def retire_report_key(package: str, run_id: str) -> str:
    """Where a retire report lives in the artifacts bucket."""
    return f"{RETIRE_REPORT_PREFIX}/{package}/{run_id}.json"


@dataclass(frozen=True, slots=True)
class ReportDelivery:
    """Whether the report is uploaded, and if not, why (for the log)."""

    upload: bool
    note: str = ""


def retire_delivery(report: RetireReport, states: Mapping[str, str | None]) -> ReportDelivery:
    """A dry run and a run refused in validate changed nothing: not uploaded. Once the
    artifacts bucket is deleted the report has nowhere to go: it stays in XCom and the
    log (a report written before would have kept the bucket from being empty)."""
    if report.dry_run:
        return ReportDelivery(False, "Dry run: the report is not uploaded")
    if states.get(VALIDATE) == FAILED:
        return ReportDelivery(False, "The run stopped in validate: the report is not uploaded")
    if artifacts_deleted(report.buckets):
        return ReportDelivery(
            False,
            "The artifacts bucket is deleted: the report is in this log and in XCom only",
        )
    return ReportDelivery(True)
