"""The operation sensor's record of a wave's StackSets operations, as it crosses XCom.

``StackSetOperationSensor`` returns it and stores it under ``steps.VERDICTS_XCOM_KEY``;
the compliance gate reads its failed targets (their instances still run the previous
version) and the report its counts. Per operation it keeps the status, the outcome, the
per-Region counts, the failed targets with AWS's reason and the cancelled ones only
counted, so the record stays small however many instances an operation had.

``from_dict`` reads what ``to_dict`` writes, and also what earlier runs and hand-written
arguments hold: an operation verdict (``OperationVerdict.to_dict()``: the trigger's event
before the summary, cancelled targets listed), a failed target written as
``"account/region"`` text, and partial operations (only ``failed``; a missing status reads
as ``UNKNOWN``, missing counts as none). The outcome is derived from the operations, not
read: records written before the sensor stored ``failed`` said ``succeeded`` either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast, get_args

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.record_reading import read_or_none
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import FailedTarget, OperationVerdict, Outcome, RegionCounts

UNKNOWN_STATUS = "UNKNOWN"
"""The status of an operation a partial record does not give one for."""


@dataclass(frozen=True, slots=True)
class OperationSummary:
    """One operation as the sensor judged it (``summary`` is the verdict's one line)."""

    status: str
    outcome: Outcome
    regions: Mapping[str, RegionCounts] = field(default_factory=dict)
    failed: tuple[FailedTarget, ...] = ()
    cancelled: int = 0
    summary: str = ""

    @classmethod
    def from_verdict(cls, verdict: OperationVerdict) -> OperationSummary:
        """The summary of a judged operation (its cancelled targets only counted)."""
        return cls(
            status=verdict.status,
            outcome=verdict.outcome,
            regions=dict(verdict.regions),
            failed=verdict.failed,
            cancelled=len(verdict.cancelled),
            summary=verdict.summary,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "status": self.status,
            "outcome": self.outcome,
            "regions": {region: counts.to_dict() for region, counts in self.regions.items()},
            "failed": [item.to_dict() for item in self.failed],
            "cancelled": self.cancelled,
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "") -> OperationSummary:
        """The inverse of ``to_dict``, lenient about earlier shapes (see the module);
        ``ValidationError`` locates a bad field under ``path``."""
        problems: list[Problem] = []
        status = data.get("status") or UNKNOWN_STATUS
        if not isinstance(status, str):
            problems.append(wrong(_at(path, "status"), "not a status", status, "text"))
            status = UNKNOWN_STATUS
        failed = _failed_targets(data.get("failed") or [], _at(path, "failed"), problems)
        regions = _regions(data.get("regions") or {}, _at(path, "regions"), problems)
        cancelled = _cancelled(data.get("cancelled") or 0, _at(path, "cancelled"), problems)
        outcome = _outcome(data.get("outcome"), status, _at(path, "outcome"), problems)
        summary = data.get("summary") or ""
        if problems:
            raise ValidationError("operations summary", problems)
        return cls(status, outcome, regions, failed, cancelled, str(summary))


@dataclass(frozen=True, slots=True)
class OperationsSummary:
    """A wave's operations by id, in the order they ran; none when the wave did nothing."""

    operations: Mapping[str, OperationSummary] = field(default_factory=dict)

    @classmethod
    def from_verdicts(cls, verdicts: Mapping[str, OperationVerdict]) -> OperationsSummary:
        """The summary of judged operations."""
        return cls(
            {operation_id: OperationSummary.from_verdict(v) for operation_id, v in verdicts.items()}
        )

    @property
    def outcome(self) -> Outcome:
        """``failed`` when an operation failed (beyond its tolerance, or stopped),
        ``succeeded`` otherwise."""
        failed = any(operation.outcome == "failed" for operation in self.operations.values())
        return "failed" if failed else "succeeded"

    def failures(self) -> list[str]:
        """``"<operation id>: <summary>"`` for each failed operation."""
        return [
            f"{operation_id}: {operation.summary}"
            for operation_id, operation in self.operations.items()
            if operation.outcome == "failed"
        ]

    def failed_targets(self) -> list[Target]:
        """Every target an operation failed in, in the record's order, each once (failures
        within tolerance included: those instances still run the previous version)."""
        targets = (item.target for op in self.operations.values() for item in op.failed)
        return list(dict.fromkeys(targets))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``{"outcome", "operations": {id: OperationSummary.to_dict()}}``."""
        return {
            "outcome": self.outcome,
            "operations": {
                operation_id: operation.to_dict()
                for operation_id, operation in self.operations.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationsSummary:
        """The inverse of ``to_dict`` (any ``outcome`` is recomputed; see the module).
        ``ValidationError`` names every bad field by its path (``operations.<id>.failed[0]``)."""
        operations = data.get("operations") or {}
        if not isinstance(operations, Mapping):
            raise ValidationError(
                "operations summary",
                [wrong("operations", "not a mapping", operations, "{operation id: {...}}")],
            )
        read: dict[str, OperationSummary] = {}
        problems: list[Problem] = []
        for operation_id, operation in operations.items():
            path = _at("operations", str(operation_id))
            if not isinstance(operation, Mapping):
                problems.append(wrong(path, "not an operation", operation, "{'failed': [...]}"))
                continue
            try:
                read[str(operation_id)] = OperationSummary.from_dict(operation, path)
            except ValidationError as error:
                problems.extend(error.problems)
        if problems:
            raise ValidationError("operations summary", problems)
        return cls(read)

    @classmethod
    def read(cls, value: object) -> OperationsSummary | None:
        """A record as a reader of the run finds it: None when there is none, or when it
        cannot be read (damaged, or written by another version of this code)."""
        return read_or_none(cls.from_dict, value)


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _failed_targets(items: Any, path: str, problems: list[Problem]) -> tuple[FailedTarget, ...]:
    if not isinstance(items, list | tuple):
        problems.append(wrong(path, "not a list", items, "a list of failed targets"))
        return ()
    found = []
    for index, item in enumerate(items):
        target = item.get("target") if isinstance(item, Mapping) else item
        reason = item.get("reason") if isinstance(item, Mapping) else None
        try:
            if isinstance(target, Mapping) and {"account_id", "region"} <= target.keys():
                found.append(FailedTarget(Target.from_dict(target), str(reason or "")))
                continue
            if isinstance(target, str):
                found.append(FailedTarget(Target.parse(target), str(reason or "")))
                continue
        except ValidationError as error:
            problems.extend(Problem(f"{path}[{index}]", str(p)) for p in error.problems)
            continue
        problems.append(
            wrong(
                f"{path}[{index}]",
                "not a failed target",
                item,
                "{'target': {'account_id', 'region'} or 'account/region', 'reason': ...}",
            )
        )
    return tuple(found)


def _regions(regions: Any, path: str, problems: list[Problem]) -> dict[str, RegionCounts]:
    if not isinstance(regions, Mapping):
        problems.append(wrong(path, "not a mapping", regions, "{region: counts}"))
        return {}
    read = {}
    for region, counts in regions.items():
        try:
            read[str(region)] = RegionCounts.from_dict(counts)
        except (KeyError, TypeError, ValueError, AttributeError):
            expected = ", ".join(RegionCounts.__slots__) + " as integers"
            problems.append(wrong(f"{path}.{region}", "not Region counts", counts, expected))
    return read


def _outcome(outcome: Any, status: str, path: str, problems: list[Problem]) -> Outcome:
    if outcome is None:
        # A partial record: what its status says (a final status other than these succeeded).
        return "failed" if status in ("FAILED", "STOPPED") else "succeeded"
    if outcome not in get_args(Outcome):
        problems.append(wrong(path, "unknown outcome", outcome, " | ".join(get_args(Outcome))))
        return "failed"
    return cast(Outcome, outcome)


def _cancelled(cancelled: Any, path: str, problems: list[Problem]) -> int:
    # Operation verdicts (earlier trigger events) list the cancelled targets: count them.
    if isinstance(cancelled, list | tuple):
        return len(cancelled)
    if isinstance(cancelled, int) and not isinstance(cancelled, bool) and cancelled >= 0:
        return cancelled
    problems.append(wrong(path, "not a count", cancelled, "an integer ≥ 0"))
    return 0
