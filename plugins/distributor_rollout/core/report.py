"""The run report: one small, versioned JSON document per rollout, and its table.

It travels as XCom, lands in S3 and feeds the UI, so it holds ids, counts and reasons,
never raw API responses, and long failure lists are capped (with their full count).
``schema_version`` changes whenever a reader of version N could misread the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from distributor_rollout.core.durations import format_duration
from distributor_rollout.core.errors import Problem, ValidationError
from distributor_rollout.core.gate import GateDecision, TargetCompliance, node_kinds
from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.rollback import RollbackMode, RollbackPlan
from distributor_rollout.core.rollback_standing import StackSetStanding
from distributor_rollout.core.verdict import FailedTarget, truncate_list

SCHEMA_VERSION: Literal[1] = 1
FAILED_TARGETS_CAP = 50
"""Failed targets listed per operation or rollback; the count covers the rest."""
WAVE_TARGETS_SHOWN = 5
"""Failed targets a wave's line names (report, table, summary); then "and N more"."""

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


_WORST_STATUSES_FIRST = ("FAILED", "STOPPED", "RUNNING", "QUEUED")
"""The statuses that stand for a wave's operations, worst first (else the last one's)."""


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
    def from_summary(cls, summary: OperationsSummary) -> OperationReport | None:
        """Condense a wave's operations (the operation sensor's record) into one line: the
        last id, the worst status, counts over all of them, failures capped; None when
        the wave ran no operation."""
        operations = summary.operations
        if not operations:
            return None
        statuses = [operation.status for operation in operations.values()]
        failed = [item for operation in operations.values() for item in operation.failed]
        worst = next((s for s in _WORST_STATUSES_FIRST if s in statuses), statuses[-1])
        return cls(
            id=list(operations)[-1],
            status=worst,
            succeeded=sum(
                counts.succeeded
                for operation in operations.values()
                for counts in operation.regions.values()
            ),
            failed=len(failed),
            failed_targets=_capped(failed),
            failed_targets_total=len(failed),
        )


class ComplianceReport(_Model):
    """The wave's last gate evaluation, with its nodes in separate kinds.

    ``success`` nodes are compliant, ``failed`` failed to install, ``pending`` are still
    in progress, ``skipped`` were skipped by State Manager after MaxErrors, ``offline``
    have an offline agent (``excluded_offline`` of them left out of ``percent``), and
    ``unreported`` never reported at all. Gate records from before a kind was counted
    read it as 0.
    """

    percent: float
    success: Count
    failed: Count
    pending: Count
    expected: Count
    skipped: Count = 0
    offline: Count = 0
    excluded_offline: Count = 0
    unreported: Count = 0
    decision: Literal["PASS", "WAIT", "FAIL"]
    reason: str

    @classmethod
    def from_decision(cls, decision: GateDecision) -> ComplianceReport:
        """Condense a gate decision: totals and the reason, not the per-target counts."""
        return cls.from_record(decision.to_dict())

    @classmethod
    def from_record(cls, decision: Mapping[str, Any]) -> ComplianceReport:
        """Condense a recorded decision (``GateDecision.to_dict``): read as written, so
        the kinds a gate counts are reported whether or not this reader knows its
        ``GateDecision`` to have them, and a record from before them reads them as 0."""
        totals = decision["totals"]
        return cls(
            percent=round(float(decision["compliant_percent"]), 2),
            success=totals["success"],
            failed=totals["failed"],
            pending=totals["pending"],
            expected=totals["expected"],
            skipped=totals.get("skipped", 0),
            offline=totals.get("offline", 0),
            excluded_offline=totals.get("excluded_offline", 0),
            unreported=totals.get("unreported", 0),
            decision=decision["state"],
            reason=decision["reason"],
        )

    def breakdown(self) -> str:
        """Where the wave's nodes stand, each kind apart, empty kinds left out:
        ``36 compliant, 1 failed, 1 in progress, 1 skipped by MaxErrors, 1 offline
        (excluded)`` (the words of the gate's own messages)."""
        return node_breakdown(
            {
                "success": self.success,
                "failed": self.failed,
                "pending": self.pending,
                "skipped": self.skipped,
                "unreported": self.unreported,
                "offline": self.offline,
                "excluded_offline": self.excluded_offline,
            }
        )


def node_breakdown(counts: Mapping[str, int]) -> str:
    """Node counts by kind in words: compliant always, the other kinds when not 0.

    ``counts`` uses the gate's record keys (``success``, ``failed``, ``pending``,
    ``skipped``, ``unreported``, ``offline``, ``excluded_offline``); missing keys are 0.
    """
    return ", ".join([f"{counts.get('success', 0)} compliant", *node_kinds(counts)])


def target_shortfall(item: TargetCompliance) -> str:
    """Why a target is among the gate's least compliant, from its own counts:
    ``3 of 5 nodes compliant, 2 failed``."""
    # to_dict, not attributes: kinds a gate record does not have yet read as 0.
    counts = {**item.to_dict(), "unreported": item.unreported}
    head = f"{item.success} of {item.effective_expected} nodes compliant"
    return ", ".join([head, *node_kinds(counts)])


class WaveReport(_Model):
    """One wave. ``skipped`` counts targets the wave did not deploy to (e.g. suspended
    accounts); a wave that never deployed has ``decision`` ``skipped`` or ``not_run``.

    ``reason`` says why a failed or rejected wave stopped, from what its tasks recorded.
    ``failed_targets`` names the first few account/Regions that failed (stack instances
    the operation failed, then the gate's least compliant targets), each with why;
    ``failed_targets_total`` counts them all, and is only a lower bound when
    ``failed_targets_total_is_minimum`` (the gate records a capped list).
    """

    name: str
    targets: Count
    skipped: Count = 0
    operation: OperationReport | None = None
    compliance: ComplianceReport | None = None
    decision: WaveDecision
    reason: str | None = None
    failed_targets: tuple[FailedTargetEntry, ...] = ()
    failed_targets_total: Count = 0
    failed_targets_total_is_minimum: bool = False
    started_at: IsoTime = None
    finished_at: IsoTime = None
    duration_seconds: Annotated[float, Field(ge=0)] | None = None
    approved_by: str | None = None
    """The Airflow user who approved the wave (waves with an approval only)."""

    @model_validator(mode="after")
    def _check_failed_targets(self) -> WaveReport:
        if len(self.failed_targets) > WAVE_TARGETS_SHOWN:
            raise ValueError(f"failed_targets lists at most {WAVE_TARGETS_SHOWN} entries")
        if self.failed_targets_total < len(self.failed_targets):
            raise ValueError("failed_targets_total is less than the failed targets listed")
        return self

    def failed_targets_text(self, *, reasons: bool = True) -> str:
        """The failed targets in one line: the first few, then ``and N more``."""
        names = [
            f"{item.target} ({item.reason})" if reasons and item.reason else item.target
            for item in self.failed_targets
        ]
        return first_few(
            names,
            self.failed_targets_total,
            at_least=self.failed_targets_total_is_minimum,
            separator="; " if reasons else ", ",
        )


def first_few(
    shown: Sequence[str], total: int, *, at_least: bool = False, separator: str = ", "
) -> str:
    """``a, b and N more``: the names shown, then how many of ``total`` are not.

    ``at_least`` says ``total`` is a lower bound (a capped source), so the tail reads
    ``and at least N more`` (or ``and maybe more`` when every known name is shown).
    """
    text = separator.join(shown)
    hidden = max(total - len(shown), 0)
    if hidden:
        return f"{text} and {'at least ' if at_least else ''}{hidden} more"
    return f"{text} and maybe more" if at_least and shown else text


_WRONG = re.compile(r"^(?P<what>.*) \(got (?P<got>.*?); expected (?P<expected>.*)\)$", re.DOTALL)
"""The shape ``core.errors.wrong`` gives a problem's message."""


class ValidationProblemEntry(_Model):
    """One problem ``validate`` found: the field, what is wrong, what it got and what
    would be valid (``got``/``expected`` are None when the message does not say)."""

    field: str
    what: str
    got: str | None = None
    expected: str | None = None

    @classmethod
    def from_problem(cls, problem: Problem) -> ValidationProblemEntry:
        """Split a ``Problem`` back into its parts (the message as a whole when it is not
        in ``what (got X; expected Y)`` form)."""
        match = _WRONG.match(problem.message)
        if match is None:
            return cls(field=problem.path, what=problem.message)
        return cls(field=problem.path, **match.groupdict())

    def __str__(self) -> str:
        text = f"{self.field}: {self.what}" if self.field else self.what
        if self.got is not None or self.expected is not None:
            text += f" (got {self.got}; expected {self.expected})"
        return text


class ValidationFailure(_Model):
    """Why a run stopped in ``validate``: the input checked (``subject``) and every problem."""

    subject: str
    problems: tuple[ValidationProblemEntry, ...]
    total: Count | None = None
    """How many problems there were (an error keeps only the first few); None: as listed."""

    @property
    def count(self) -> int:
        """How many problems there were, listed or not."""
        return self.total if self.total is not None else len(self.problems)

    @classmethod
    def from_error(cls, error: ValidationError) -> ValidationFailure:
        """The record ``validate`` keeps of the error it raises."""
        return cls(
            subject=error.subject,
            problems=tuple(ValidationProblemEntry.from_problem(p) for p in error.problems),
            total=error.total,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``validate``'s XCom)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationFailure:
        """The inverse of ``to_dict``; problems name their field path."""
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as error:
            raise _translated(error, "validation record") from error

    def summary(self, limit: int = 3) -> str:
        """One line: the first ``limit`` problems, then ``and N more``."""
        shown = [str(problem) for problem in self.problems[:limit]]
        return first_few(shown, self.count, separator="; ")


class StackSetStandingReport(_Model):
    """The stack set once the rollback ended, as StackSets reports it
    (``core.rollback_standing``): what it holds (``holds``, and ``before`` the run), how
    many of its ``instances`` are ``current``, and those that are not: instances the run
    never changed, left OUTDATED by its first ``UpdateStackSet`` (``untouched_outdated``,
    first few, ``untouched_outdated_total`` in all), and instances the rollback put back
    that are not CURRENT with what the stack set now holds (``restored_outdated``).
    """

    holds: str
    before: str = ""
    instances: Count
    current: Count
    untouched_outdated: tuple[str, ...] = ()
    untouched_outdated_total: Count = 0
    restored_outdated: tuple[str, ...] = ()
    restored_outdated_total: Count = 0

    @model_validator(mode="after")
    def _check_lists(self) -> StackSetStandingReport:
        for name in ("untouched_outdated", "restored_outdated"):
            listed = len(getattr(self, name))
            if listed > FAILED_TARGETS_CAP:
                raise ValueError(f"{name} lists at most {FAILED_TARGETS_CAP} entries")
            if getattr(self, f"{name}_total") < listed:
                raise ValueError(f"{name}_total is less than the instances listed")
        if self.current > self.instances:
            raise ValueError("current is more than the instances")
        return self

    @classmethod
    def from_standing(cls, standing: StackSetStanding) -> StackSetStandingReport:
        """The rollback record's standing, its lists capped."""
        return cls(
            holds=standing.holds,
            before=standing.before,
            instances=standing.instances,
            current=standing.current,
            untouched_outdated=standing.untouched_outdated[:FAILED_TARGETS_CAP],
            untouched_outdated_total=standing.untouched_outdated_total,
            restored_outdated=standing.restored_outdated[:FAILED_TARGETS_CAP],
            restored_outdated_total=standing.restored_outdated_total,
        )

    def lines(self) -> list[str]:
        """What the stack set holds, and a line per kind of instance not CURRENT with it,
        saying why."""
        lines = [
            f"stack set after the rollback: holds {self.holds}; {self.current} of "
            f"{_instances(self.instances)} CURRENT"
        ]
        if self.untouched_outdated_total:
            before = f" ({self.before})" if self.before else ""
            names = first_few(
                self.untouched_outdated[:WAVE_TARGETS_SHOWN], self.untouched_outdated_total
            )
            lines.append(
                f"left OUTDATED: {_instances(self.untouched_outdated_total)} this run never "
                f"changed ({names}), still running what they ran before the run{before}; the "
                f"stack set now says {self.holds}. The run's first UpdateStackSet marked "
                "every instance OUTDATED and updated only its wave's, as StackSets do; the "
                "rollback does not deploy to instances the run never changed, so they turn "
                "CURRENT when a rollout next deploys to them"
            )
        if self.restored_outdated_total:
            names = first_few(
                self.restored_outdated[:WAVE_TARGETS_SHOWN], self.restored_outdated_total
            )
            lines.append(
                f"restored but not CURRENT: {_instances(self.restored_outdated_total)} "
                f"({names}): they run what the rollback restored them to, while the stack set "
                f"now holds {self.holds}; a rollout that reaches them updates them"
            )
        return lines


def _instances(count: int) -> str:
    return f"{count} stack instance{'s' * (count != 1)}"


class RollbackReport(_FailureList):
    """What the rollback did: its mode, how many calls, and the targets it put back.

    Offline agents it left alone: ``kept_targets`` kept their stack instance (and the
    association's uninstall) because nodes that may hold the package went offline after
    their wave deployed (first few, ``kept_targets_total`` in all); ``untouched_nodes``
    were offline since before their wave deployed, never got the version, and were left as
    they were. ``stack_set``: where the stack set and its instances stand afterwards (None
    when the rollback did not record it).
    """

    mode: RollbackMode
    actions: Count
    restored_targets: Count
    status: RollbackStatus
    kept_targets: tuple[FailedTargetEntry, ...] = ()
    kept_targets_total: Count = 0
    untouched_nodes: Count = 0
    stack_set: StackSetStandingReport | None = None

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


PreflightVerdict = Literal["pass", "warn", "fail"]


class PreflightCheckEntry(_Model):
    """One check of the AWS prerequisites as ``validate`` saw them (``core.preflight``):
    for an existing package, the ``package`` check names the version each Region's default
    was, which is what an unpinned association installs."""

    name: str
    verdict: PreflightVerdict
    found: str

    def line(self) -> str:
        """``preflight <name>: <verdict>: <found>``, for the table."""
        return f"preflight {self.name}: {self.verdict}: {self.found}"


def preflight_entries(record: Mapping[str, Any] | None) -> tuple[PreflightCheckEntry, ...]:
    """The checks of a ``Preflight.to_dict`` record (none when absent or unreadable: the
    report must not fail on an odd record; validate's log has the whole table)."""
    if not isinstance(record, Mapping) or not isinstance(record.get("checks"), list):
        return ()
    try:
        return tuple(
            PreflightCheckEntry(
                name=str(check["name"]), verdict=check["verdict"], found=str(check["found"])
            )
            for check in record["checks"]
        )
    except (KeyError, TypeError, pydantic.ValidationError):
        return ()


class RunReport(_Model):
    """A whole rollout run: what was rolled out, where, how each wave went, and the end."""

    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    dag_id: str
    plan_name: str
    plan_digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    package_name: str
    package_version: str
    package_existing: str | None = None
    """For a package that already exists in Distributor, how the plan names it."""
    started_at: IsoTime
    finished_at: IsoTime = None
    status: RunStatus
    waves: tuple[WaveReport, ...] = ()
    rollback: RollbackReport | None = None
    validation: ValidationFailure | None = None
    """Set when the run stopped in ``validate``: the problems it found."""
    preflight: tuple[PreflightCheckEntry, ...] = ()
    """``validate``'s checks of the AWS prerequisites (none for runs from before them)."""
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
    """One line for the run: how far it got and, if it stopped, why and where."""
    passed = sum(wave.decision in ("passed", "approved") for wave in report.waves)
    text = (
        f"{report.package_name} {report.package_version}: {report.status}, "
        f"{passed} of {len(report.waves)} waves passed"
    )
    stopped = next((w for w in report.waves if w.decision in ("failed", "rejected")), None)
    if stopped is not None:
        text += f"; wave {stopped.name} {stopped.decision}: {_why(stopped)}"
        if stopped.failed_targets:
            text += f"; failed targets: {stopped.failed_targets_text(reasons=False)}"
    if report.rollback is not None:
        rollback = report.rollback
        text += f"; rollback {rollback.status} ({rollback.restored_targets} targets restored)"
        standing = rollback.stack_set
        if standing is not None and standing.untouched_outdated_total:
            text += (
                f"; {_instances(standing.untouched_outdated_total)} the run never changed "
                f"left OUTDATED (still on {standing.before or 'what they ran before'})"
            )
        if standing is not None and standing.restored_outdated_total:
            text += f"; {_instances(standing.restored_outdated_total)} restored, not CURRENT"
    return text


def render_table(report: RunReport) -> str:
    """A fixed-width, wave-by-wave table for task logs: a header, one row per wave (its
    nodes by kind), then why each stopped wave stopped and where it failed, the
    validation problems of a run that stopped in ``validate``, and a rollback footer."""
    header = (
        f"package {report.package_name} {report.package_version} | run {report.run_id} "
        f"| status {report.status}"
    )
    columns = (
        "wave",
        "targets",
        "operation",
        "failed",
        "compliance %",
        "nodes",
        "decision",
        "duration",
    )
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
    for wave in report.waves:
        lines += _wave_details(wave)
    if report.validation is not None:
        lines += _validation_lines(report.validation)
    # What passed goes without saying, except which version an existing package resolved to.
    lines += [
        check.line()
        for check in report.preflight
        if check.verdict != "pass" or (check.name == "package" and report.package_existing)
    ]
    if report.rollback is not None:
        lines.append(_rollback_line(report.rollback))
        if report.rollback.stack_set is not None:
            lines += report.rollback.stack_set.lines()
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
        compliance.breakdown() if compliance else "-",
        wave.decision,
        format_duration(duration) if duration is not None else "-",
    )


def _wave_details(wave: WaveReport) -> list[str]:
    """Under the table: why a wave stopped, and the first few targets that failed."""
    lines = []
    if wave.approved_by is not None:
        lines.append(f"wave {wave.name} approved by {wave.approved_by}")
    if wave.decision in ("failed", "rejected"):
        lines.append(f"wave {wave.name} {wave.decision}: {_why(wave)}")
    if wave.failed_targets:
        lines.append(f"wave {wave.name} failed targets: {wave.failed_targets_text()}")
    return lines


def _validation_lines(validation: ValidationFailure) -> list[str]:
    count = validation.count
    lines = [f"validate: {validation.subject}: {count} problem{'s' if count != 1 else ''}"]
    lines += [f"  - {problem}" for problem in validation.problems]
    if count > len(validation.problems):
        lines.append(f"  ... and {count - len(validation.problems)} more")
    return lines


def _rollback_line(rollback: RollbackReport) -> str:
    text = (
        f"rollback ({rollback.mode}): {rollback.status}, {rollback.actions} actions, "
        f"{rollback.restored_targets} targets restored, {rollback.failed_targets_total} failed"
    )
    if rollback.failed_targets:
        failed = [f"{item.target} ({item.reason})" for item in rollback.failed_targets]
        hidden = rollback.failed_targets_total - len(failed)
        text += ": " + truncate_list(failed) + (f" (+{hidden} not listed)" if hidden else "")
    if rollback.kept_targets:
        kept = [f"{item.target} ({item.reason})" for item in rollback.kept_targets]
        hidden = rollback.kept_targets_total - len(kept)
        text += (
            f"; {rollback.kept_targets_total} targets kept for offline nodes: "
            + truncate_list(kept)
            + (f" (+{hidden} not listed)" if hidden else "")
        )
    if rollback.untouched_nodes:
        text += (
            f"; {rollback.untouched_nodes} nodes offline since before their wave deployed "
            "left as they were"
        )
    return text


def _why(wave: WaveReport) -> str:
    """The recorded reason; for a report built without one, what its records show (a gate
    FAIL, failed stack instances), never an operation's status as a gate's reason."""
    if wave.reason:
        return wave.reason
    if wave.decision == "rejected":
        return "its approval was rejected or timed out"
    if wave.compliance is not None and wave.compliance.decision == "FAIL":
        return wave.compliance.reason
    if wave.operation is not None and wave.operation.failed:
        return f"operation {wave.operation.status}, {wave.operation.failed} targets failed"
    return "no reason recorded"


def _translated(error: pydantic.ValidationError, subject: str = "run report") -> ValidationError:
    problems = []
    for item in error.errors():
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
        problems.append(Problem(path, item["msg"]))
    return ValidationError(subject, problems)
