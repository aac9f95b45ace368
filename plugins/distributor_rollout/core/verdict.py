"""What a StackSet operation's status and per-instance results mean for a wave.

``DescribeStackSetOperation`` says whether the operation is done; only
``ListStackSetOperationResults`` says which account/Region failed and why, and only the
operation's failure tolerance says whether those failures were acceptable. This module
reads the three together, so sensors and triggers only fetch and hand over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.targets import Target

OPERATION_STATUSES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "STOPPING", "STOPPED")
INSTANCE_STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
ACTIVE_OPERATION_STATUSES = frozenset({"QUEUED", "RUNNING", "STOPPING"})
"""Statuses of an operation that has not ended (a queued one waits for the stack set)."""
SUMMARY_LIMIT = 10
"""How many targets or Regions a summary names before it says ``and N more``."""

Outcome = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class InstanceResult:
    """One ``ListStackSetOperationResults`` entry: how the operation went in one target."""

    target: Target
    status: str
    reason: str = ""
    account_gate_status: str | None = None

    def __post_init__(self) -> None:
        if self.status not in INSTANCE_STATUSES:
            expected = " | ".join(INSTANCE_STATUSES)
            raise ValidationError(
                "instance result", [wrong("status", "unknown status", self.status, expected)]
            )

    @classmethod
    def from_api(cls, entry: Mapping[str, Any]) -> InstanceResult:
        """From one ``Summaries`` entry of ``ListStackSetOperationResults`` (botocore shape)."""
        gate = entry.get("AccountGateResult") or {}
        return cls(
            target=Target(entry["Account"], entry["Region"]),
            status=entry["Status"],
            reason=entry.get("StatusReason") or "",
            account_gate_status=gate.get("Status"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "target": self.target.to_dict(),
            "status": self.status,
            "reason": self.reason,
            "account_gate_status": self.account_gate_status,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceResult:
        """The inverse of ``to_dict``."""
        return cls(
            target=Target.from_dict(data["target"]),
            status=data["status"],
            reason=data.get("reason", ""),
            account_gate_status=data.get("account_gate_status"),
        )


@dataclass(frozen=True, slots=True)
class FailureTolerance:
    """An operation's ``FailureToleranceCount`` or ``FailureTolerancePercentage`` (per Region).

    Neither set means AWS's default: zero failures tolerated.
    """

    count: int | None = None
    percentage: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.count is not None and self.percentage is not None:
            problems.append(Problem("", "give a failure tolerance count or a percentage, not both"))
        if self.count is not None and (not _is_int(self.count) or self.count < 0):
            problems.append(wrong("count", "not a failure count", self.count, "an integer ≥ 0"))
        if self.percentage is not None and (
            not _is_int(self.percentage) or not 0 <= self.percentage <= 100
        ):
            problems.append(
                wrong("percentage", "not a percentage", self.percentage, "an integer 0-100")
            )
        if problems:
            raise ValidationError("failure tolerance", problems)

    @classmethod
    def from_preferences(cls, preferences: Mapping[str, Any] | None) -> FailureTolerance:
        """From a botocore ``OperationPreferences`` mapping (as sent or as described)."""
        preferences = preferences or {}
        return cls(
            count=preferences.get("FailureToleranceCount"),
            percentage=preferences.get("FailureTolerancePercentage"),
        )

    def for_region(self, accounts: int) -> int:
        """Failures tolerated in a Region of ``accounts`` accounts; percentages round down."""
        if self.count is not None:
            return self.count
        if self.percentage is not None:
            return accounts * self.percentage // 100
        return 0

    def to_dict(self) -> dict[str, int | None]:
        """JSON-safe form."""
        return {"count": self.count, "percentage": self.percentage}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailureTolerance:
        """The inverse of ``to_dict``."""
        return cls(count=data.get("count"), percentage=data.get("percentage"))


@dataclass(frozen=True, slots=True)
class FailedTarget:
    """A target whose instance failed, and the reason AWS gave."""

    target: Target
    reason: str

    def __str__(self) -> str:
        return f"{self.target}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"target": self.target.to_dict(), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailedTarget:
        """The inverse of ``to_dict``."""
        return cls(Target.from_dict(data["target"]), data["reason"])


@dataclass(frozen=True, slots=True)
class RegionCounts:
    """Per-Region tally; ``total`` also counts instances still pending or running."""

    succeeded: int
    failed: int
    cancelled: int
    total: int
    tolerance: int

    @property
    def over_tolerance(self) -> bool:
        """True when this Region failed more instances than the operation tolerates."""
        return self.failed > self.tolerance

    def to_dict(self) -> dict[str, int]:
        """JSON-safe form."""
        return {
            "succeeded": self.succeeded,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "total": self.total,
            "tolerance": self.tolerance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegionCounts:
        """The inverse of ``to_dict``."""
        return cls(**{key: int(data[key]) for key in cls.__slots__})


@dataclass(frozen=True, slots=True)
class OperationVerdict:
    """The meaning of one operation for the wave: still running, succeeded, or failed."""

    outcome: Outcome
    status: str
    failed: tuple[FailedTarget, ...]
    cancelled: tuple[Target, ...]
    regions: Mapping[str, RegionCounts]
    regions_over_tolerance: tuple[str, ...]
    summary: str

    @property
    def done(self) -> bool:
        """True once the operation reached a final status."""
        return self.outcome != "running"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "outcome": self.outcome,
            "status": self.status,
            "failed": [item.to_dict() for item in self.failed],
            "cancelled": [target.to_dict() for target in self.cancelled],
            "regions": {region: counts.to_dict() for region, counts in self.regions.items()},
            "regions_over_tolerance": list(self.regions_over_tolerance),
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationVerdict:
        """The inverse of ``to_dict``."""
        outcome = data["outcome"]
        if outcome not in ("running", "succeeded", "failed"):
            raise ValidationError(
                "operation verdict",
                [wrong("outcome", "unknown outcome", outcome, "running | succeeded | failed")],
            )
        return cls(
            outcome=outcome,
            status=data["status"],
            failed=tuple(FailedTarget.from_dict(item) for item in data["failed"]),
            cancelled=tuple(Target.from_dict(item) for item in data["cancelled"]),
            regions={
                region: RegionCounts.from_dict(counts) for region, counts in data["regions"].items()
            },
            regions_over_tolerance=tuple(data["regions_over_tolerance"]),
            summary=data["summary"],
        )


def judge_operation(
    status: str,
    results: Iterable[InstanceResult],
    tolerance: FailureTolerance | None = None,
) -> OperationVerdict:
    """Read an operation's status and per-instance results against its failure tolerance.

    ``QUEUED``, ``RUNNING`` and ``STOPPING`` are still running; ``FAILED`` and ``STOPPED``
    fail. ``SUCCEEDED`` succeeds when every Region's failures are within tolerance (those
    failures are still listed); if a Region is over tolerance anyway, the results and the
    status disagree and the safe reading is failure. A target reported twice (results
    pages can overlap when a retried operation is re-read) counts once, by its last entry.
    """
    if status not in OPERATION_STATUSES:
        raise ValidationError(
            "operation",
            [wrong("status", "unknown operation status", status, " | ".join(OPERATION_STATUSES))],
        )
    tolerance = tolerance or FailureTolerance()
    latest = {result.target: result for result in results}
    ordered = [latest[target] for target in sorted(latest)]

    regions = _count_regions(ordered, tolerance)
    over = tuple(region for region, counts in regions.items() if counts.over_tolerance)
    failed = tuple(
        FailedTarget(result.target, _reason(result))
        for result in ordered
        if result.status == "FAILED"
    )
    cancelled = tuple(result.target for result in ordered if result.status == "CANCELLED")

    outcome: Outcome
    if status in ACTIVE_OPERATION_STATUSES:
        outcome = "running"
    elif status == "SUCCEEDED" and not over:
        outcome = "succeeded"
    else:
        outcome = "failed"
    return OperationVerdict(
        outcome=outcome,
        status=status,
        failed=failed,
        cancelled=cancelled,
        regions=regions,
        regions_over_tolerance=over,
        summary=_summary(
            outcome,
            status,
            results=ordered,
            failed=failed,
            cancelled=cancelled,
            regions=regions,
            over=over,
        ),
    )


def _count_regions(
    results: list[InstanceResult], tolerance: FailureTolerance
) -> dict[str, RegionCounts]:
    by_region: dict[str, list[InstanceResult]] = {}
    for result in results:
        by_region.setdefault(result.target.region, []).append(result)
    counts = {}
    for region in sorted(by_region):
        entries = by_region[region]
        statuses = [entry.status for entry in entries]
        # Targets are unique here, so one entry per account: the percentage's base.
        counts[region] = RegionCounts(
            succeeded=statuses.count("SUCCEEDED"),
            failed=statuses.count("FAILED"),
            cancelled=statuses.count("CANCELLED"),
            total=len(entries),
            tolerance=tolerance.for_region(len(entries)),
        )
    return counts


def _reason(result: InstanceResult) -> str:
    reason = result.reason.strip() or "no reason given"
    # A failed account gate stops the instance before CloudFormation runs: say so, since
    # the fix is in the gate function, not in the template.
    if result.account_gate_status == "FAILED":
        return f"account gate failed: {reason}"
    return reason


def _summary(
    outcome: Outcome,
    status: str,
    *,
    results: list[InstanceResult],
    failed: tuple[FailedTarget, ...],
    cancelled: tuple[Target, ...],
    regions: Mapping[str, RegionCounts],
    over: tuple[str, ...],
) -> str:
    done = sum(1 for result in results if result.status not in ("PENDING", "RUNNING"))
    if outcome == "running":
        head = f"operation {status}: {done} of {len(results)} instances done"
    else:
        head = f"operation {status}: {len(results)} instances"
    parts = [head, f"{len(failed)} failed"]
    if cancelled:
        parts.append(f"{len(cancelled)} cancelled")
    text = ", ".join(parts)
    if outcome == "succeeded" and failed:
        text += " (within tolerance)"
    if status == "SUCCEEDED" and over:
        text += " (status SUCCEEDED, but results exceed the failure tolerance)"
    if over:
        over_text = [f"{r} ({regions[r].failed} failed > {regions[r].tolerance})" for r in over]
        text += "; over tolerance in " + truncate_list(over_text)
    if failed:
        text += "; failures: " + truncate_list([str(item) for item in failed], separator="; ")
    return text


def truncate_list(items: list[str], limit: int = SUMMARY_LIMIT, separator: str = ", ") -> str:
    """The first ``limit`` items joined, then ``and N more``: summaries stay one line."""
    shown = separator.join(items[:limit])
    hidden = len(items) - limit
    return f"{shown}{separator}and {hidden} more" if hidden > 0 else shown


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
