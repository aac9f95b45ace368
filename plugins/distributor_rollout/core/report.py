"""The run report: one small, versioned JSON document per rollout, and its table.

It travels as XCom, lands in S3 and feeds the UI, so it holds ids, counts and reasons,
never raw API responses, and long failure lists are capped (with their full count).
``schema_version`` changes whenever a reader of version N could misread the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from distributor_rollout.core.durations import format_duration
from distributor_rollout.core.errors import Problem, ValidationError
from distributor_rollout.core.gate import GateDecision
from distributor_rollout.core.rollback import RollbackMode, RollbackPlan
from distributor_rollout.core.verdict import FailedTarget, OperationVerdict, truncate_list

SCHEMA_VERSION: Literal[1] = 1
FAILED_TARGETS_CAP = 50
"""Failed targets listed per operation or rollback; the count covers the rest."""

RunStatus = Literal["succeeded", "failed", "rolled_back", "rollback_failed", "dry_run", "running"]
WaveDecision = Literal["passed", "failed", "skipped", "not_run", "approved", "rejected"]
RollbackStatus = Literal["not_started", "running", "succeeded", "failed", "skipped"]


def _iso(value: str | None) -> str | None:
    if value is not None:
        datetime.fromisoformat(value)  # ValueError → a pydantic error naming the field
    return value


Count = Annotated[int, Field(ge=0)]
IsoTime = Annotated[str | None, AfterValidator(_iso)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FailedTargetEntry(_Model):
    """A target (``"account/region"``) and why it failed."""

    target: str
    reason: str


def _capped(failed: Sequence[FailedTarget]) -> tuple[FailedTargetEntry, ...]:
    return tuple(
        FailedTargetEntry(target=str(item.target), reason=item.reason)
        for item in failed[:FAILED_TARGETS_CAP]
    )


class _FailureList(_Model):
    failed_targets: tuple[FailedTargetEntry, ...] = ()
    failed_targets_total: Count = 0

    @model_validator(mode="after")
    def _check_cap(self) -> _FailureList:
        if len(self.failed_targets) > FAILED_TARGETS_CAP:
            raise ValueError(f"failed_targets lists at most {FAILED_TARGETS_CAP} entries")
        if self.failed_targets_total < len(self.failed_targets):
            raise ValueError("failed_targets_total is less than the failed targets listed")
        return self


class OperationReport(_FailureList):
    """The wave's StackSet operation: id, final status and per-instance tallies."""

    id: str
    status: str
    succeeded: Count
    failed: Count

    @classmethod
    def from_verdict(cls, operation_id: str, verdict: OperationVerdict) -> OperationReport:
        """Condense a verdict: counts over all Regions, failures capped."""
        return cls(
            id=operation_id,
            status=verdict.status,
            succeeded=sum(counts.succeeded for counts in verdict.regions.values()),
            failed=len(verdict.failed),
            failed_targets=_capped(verdict.failed),
            failed_targets_total=len(verdict.failed),
        )


class ComplianceReport(_Model):
    """The wave's last gate evaluation."""

    percent: float
    success: Count
    failed: Count
    pending: Count
    expected: Count
    decision: Literal["PASS", "WAIT", "FAIL"]
    reason: str

    @classmethod
    def from_decision(cls, decision: GateDecision) -> ComplianceReport:
        """Condense a gate decision: totals and the reason, not the per-target counts."""
        totals = decision.totals
        return cls(
            percent=round(decision.compliant_percent, 2),
            success=totals.success,
            failed=totals.failed,
            pending=totals.pending,
            expected=totals.expected,
            decision=decision.state,
            reason=decision.reason,
        )


class WaveReport(_Model):
    """One wave. ``skipped`` counts targets the wave did not deploy to (e.g. suspended
    accounts); a wave that never deployed has ``decision`` ``skipped`` or ``not_run``."""

    name: str
    targets: Count
    skipped: Count = 0
    operation: OperationReport | None = None
    compliance: ComplianceReport | None = None
    decision: WaveDecision
    started_at: IsoTime = None
    finished_at: IsoTime = None
    duration_seconds: Annotated[float, Field(ge=0)] | None = None


class RollbackReport(_FailureList):
    """What the rollback did: its mode, how many calls, and the targets it put back."""

    mode: RollbackMode
    actions: Count
    restored_targets: Count
    status: RollbackStatus

    @classmethod
    def from_plan(
        cls, plan: RollbackPlan, status: RollbackStatus, failed: Sequence[FailedTarget] = ()
    ) -> RollbackReport:
        """Condense a plan and how it went: targets reached minus those that failed."""
        failed_set = {item.target for item in failed}
        return cls(
            mode=plan.mode,
            actions=len(plan.actions),
            restored_targets=len(plan.targets() - failed_set),
            status=status,
            failed_targets=_capped(failed),
            failed_targets_total=len(failed),
        )


class RunReport(_Model):
    """A whole rollout run: what was rolled out, where, how each wave went, and the end."""

    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    dag_id: str
    plan_name: str
    plan_digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    package_name: str
    package_version: str
    started_at: IsoTime
    finished_at: IsoTime = None
    status: RunStatus
    waves: tuple[WaveReport, ...] = ()
    rollback: RollbackReport | None = None
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport:
        """Validate a report read back; problems name their field path."""
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as error:
            raise _translated(error) from error

    def to_json(self) -> str:
        """Deterministic JSON: sorted keys, two-space indent, so reports diff cleanly."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunReport:
        """The inverse of ``to_json``."""
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as error:
            raise _translated(error) from error


def summarize(report: RunReport) -> str:
    """One line for the run: how far it got and, if it stopped, why."""
    passed = sum(wave.decision in ("passed", "approved") for wave in report.waves)
    text = (
        f"{report.package_name} {report.package_version}: {report.status}, "
        f"{passed} of {len(report.waves)} waves passed"
    )
    stopped = next((w for w in report.waves if w.decision in ("failed", "rejected")), None)
    if stopped is not None:
        text += f"; wave {stopped.name} {stopped.decision}: {_why(stopped)}"
    if report.rollback is not None:
        rollback = report.rollback
        text += f"; rollback {rollback.status} ({rollback.restored_targets} targets restored)"
    return text


def render_table(report: RunReport) -> str:
    """A fixed-width, wave-by-wave table for task logs, with a header and a rollback footer."""
    header = (
        f"package {report.package_name} {report.package_version} | run {report.run_id} "
        f"| status {report.status}"
    )
    columns = ("wave", "targets", "operation", "failed", "compliance %", "decision", "duration")
    right = {"targets", "failed", "compliance %", "duration"}
    rows = [_row(wave) for wave in report.waves]
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows, strict=True)]

    def line(cells: Iterable[str]) -> str:
        parts = [
            cell.rjust(width) if name in right else cell.ljust(width)
            for name, cell, width in zip(columns, cells, widths, strict=True)
        ]
        return " | ".join(parts).rstrip()

    lines = [header, line(columns), "-+-".join("-" * width for width in widths)]
    lines += [line(row) for row in rows]
    if report.rollback is not None:
        lines.append(_rollback_line(report.rollback))
    return "\n".join(lines)


def _row(wave: WaveReport) -> tuple[str, ...]:
    operation, compliance = wave.operation, wave.compliance
    duration = wave.duration_seconds
    return (
        wave.name,
        str(wave.targets),
        operation.status if operation else "-",
        str(operation.failed) if operation else "-",
        f"{compliance.percent:.1f}" if compliance else "-",
        wave.decision,
        format_duration(duration) if duration is not None else "-",
    )


def _rollback_line(rollback: RollbackReport) -> str:
    text = (
        f"rollback ({rollback.mode}): {rollback.status}, {rollback.actions} actions, "
        f"{rollback.restored_targets} targets restored, {rollback.failed_targets_total} failed"
    )
    if rollback.failed_targets:
        failed = [f"{item.target} ({item.reason})" for item in rollback.failed_targets]
        hidden = rollback.failed_targets_total - len(failed)
        text += ": " + truncate_list(failed) + (f" (+{hidden} not listed)" if hidden else "")
    return text


def _why(wave: WaveReport) -> str:
    if wave.decision == "rejected":
        return "its approval was rejected or timed out"
    if wave.compliance is not None and wave.compliance.decision == "FAIL":
        return wave.compliance.reason
    if wave.operation is not None and wave.operation.failed:
        return f"operation {wave.operation.status}, {wave.operation.failed} targets failed"
    if wave.operation is not None:
        return f"operation {wave.operation.status}"
    return "no details recorded"


def _translated(error: pydantic.ValidationError) -> ValidationError:
    problems = []
    for item in error.errors():
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
        problems.append(Problem(path, item["msg"]))
    return ValidationError("run report", problems)
