"""Where a wave's compliance gate stands, for the Rollout tab: node counts by kind, the
percentage against the threshold, and how long is left to bake and to the timeout.

Read from what the run recorded, never from AWS: the gate's decision once made
(``core.gate_result``), its journal (``core.gate_journal``: when it opened, since when it
has been passing) and, while it waits, its latest poll (``LatestPoll``: the sensor records
the polls it makes on the worker, its trigger those it makes while deferred; both through
``waiting_poll``). The clock arithmetic is the gate's own: the gate times out
``timeout_seconds`` after it opened, and passes once it has been passing for
``bake_seconds`` (both in real seconds, as ``GateSettings`` holds them once scaled).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from distributor_rollout.core.gate import GateDecision, GateSettings, GateState
from distributor_rollout.core.gate_journal import GateRecord
from distributor_rollout.core.gate_result import GateResult
from distributor_rollout.core.record_reading import read_or_none

ProgressSource = Literal["decision", "poll", "journal"]


@dataclass(frozen=True, slots=True)
class LatestPoll:
    """The compliance sensor's latest poll while the gate waits: its decision (``WAIT``)
    and when the poll began (ISO-8601). Recorded as ``{"decision", "polled_at"}``."""

    decision: GateDecision
    polled_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"decision": self.decision.to_dict(), "polled_at": self.polled_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatestPoll:
        """The inverse of ``to_dict``."""
        polled_at = data.get("polled_at")
        return cls(GateDecision.from_dict(data["decision"]), str(polled_at) if polled_at else None)

    @classmethod
    def read(cls, value: object) -> LatestPoll | None:
        """A recorded poll, or None when there is none this code can read."""
        return read_or_none(cls.from_dict, value)


def waiting_poll(decision: GateDecision, began: float) -> LatestPoll | None:
    """What a poll records for the tab: the decision of a gate that still waits, and when
    the poll began (epoch seconds, recorded as ISO-8601 UTC). None once the gate decided:
    the decision is then recorded as the gate's result, and the wait is over."""
    if decision.state != "WAIT":
        return None
    return LatestPoll(decision, datetime.fromtimestamp(began, UTC).isoformat())


@dataclass(frozen=True, slots=True)
class GateProgress:
    """A gate as the tab shows it. ``source`` says what the numbers come from (``None``:
    the gate has no record yet); ``as_of`` is when they were read. The ``*_left`` fields
    are real seconds from ``now`` (None when not knowable, or the gate decided)."""

    threshold_percent: float
    min_nodes: int
    bake_seconds: float
    timeout_seconds: float
    source: ProgressSource | None = None
    state: GateState | None = None
    reason: str = ""
    percent: float | None = None
    counts: Mapping[str, int] | None = None
    as_of: str | None = None
    opened_at: str | None = None
    passing: bool = False
    bake_seconds_left: float | None = None
    timeout_seconds_left: float | None = None
    trigger: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the tab's ``gate``)."""
        return {
            "source": self.source,
            "state": self.state,
            "reason": self.reason,
            "percent": self.percent,
            "threshold_percent": self.threshold_percent,
            "min_nodes": self.min_nodes,
            "counts": dict(self.counts) if self.counts is not None else None,
            "as_of": self.as_of,
            "opened_at": self.opened_at,
            "passing": self.passing,
            "bake_seconds": self.bake_seconds,
            "bake_seconds_left": self.bake_seconds_left,
            "timeout_seconds": self.timeout_seconds,
            "timeout_seconds_left": self.timeout_seconds_left,
            "trigger": self.trigger,
        }


def node_counts(decision: GateDecision) -> dict[str, int]:
    """A decision's totals by the tab's kinds: compliant, failed, in progress, skipped,
    offline (``excluded_offline`` of them left out of the percentage), unreported."""
    totals = decision.totals
    return {
        "expected": totals.expected,
        "compliant": totals.success,
        "failed": totals.failed,
        "in_progress": totals.pending,
        "skipped": totals.skipped,
        "offline": totals.offline,
        "excluded_offline": totals.excluded_offline,
        "unreported": totals.unreported,
    }


def gate_progress(
    settings: GateSettings,
    *,
    result: GateResult | None,
    journal: GateRecord | None,
    poll: LatestPoll | None,
    now: datetime,
) -> GateProgress:
    """The gate's progress as of ``now`` (timezone-aware).

    A decision recorded in the gate's XCom wins, then one in its journal (a try that
    decided but was failed before it pushed), then the latest poll; while undecided, the
    journal's opening time and passing streak give the time left.
    """
    base = GateProgress(
        threshold_percent=settings.threshold_percent,
        min_nodes=settings.min_nodes,
        bake_seconds=settings.bake_seconds,
        timeout_seconds=settings.timeout_seconds,
        opened_at=_iso(journal.opened_at, now) if journal else None,
        trigger=result.trigger if result else None,
    )
    if result is not None and result.decision is not None:
        return _with(base, "decision", result.decision, result.decided_at)
    if journal is not None and journal.decision is not None:
        return _with(base, "journal", journal.decision, journal.decided_at)
    if result is not None and result.trigger is not None:
        return replace(base, source="decision", state="FAIL", as_of=result.decided_at)
    progress = _with(base, "poll", poll.decision, poll.polled_at) if poll else base
    if journal is None:
        return progress
    elapsed = max(0.0, now.timestamp() - journal.opened_at)
    passing_since = poll.decision.passing_since if poll else journal.passing_since
    passing_since = journal.passing_since if passing_since is None else passing_since
    bake_left = None
    if passing_since is not None:
        bake_left = max(0.0, passing_since + settings.bake_seconds - elapsed)
    return replace(
        progress,
        passing=passing_since is not None,
        bake_seconds_left=bake_left,
        timeout_seconds_left=max(0.0, settings.timeout_seconds - elapsed),
    )


def _with(
    base: GateProgress, source: ProgressSource, decision: GateDecision, as_of: str | None
) -> GateProgress:
    return replace(
        base,
        source=source,
        state=decision.state,
        reason=decision.reason,
        percent=round(decision.compliant_percent, 2),
        counts=node_counts(decision),
        as_of=as_of,
        passing=decision.state == "PASS" or decision.passing_since is not None,
    )


def _iso(epoch: float, like: datetime) -> str:
    return datetime.fromtimestamp(epoch, like.tzinfo).isoformat()
