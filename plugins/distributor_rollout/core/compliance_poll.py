"""One poll of a wave's compliance gate: association counts in, a gate decision out.

A poll reads the association's ``Overview.AssociationStatusAggregatedCount`` in every
account/Region of the wave. This module turns those counts into ``TargetCompliance``,
decides the gate when some targets could not be read at all (AWS kept throttling past
every retry), and words a failed gate for the task log. The sensor's poke path and the
trigger both decide here, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from fractions import Fraction
from typing import Literal

from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.gate import (
    GateDecision,
    GateSettings,
    TargetCompliance,
    evaluate_gate,
    node_kinds,
)
from distributor_rollout.core.targets import Target

SUCCESS_STATUSES = frozenset({"Success"})
FAILED_STATUSES = frozenset({"Failed"})
SKIPPED_STATUSES = frozenset({"Skipped"})
# Skipped: State Manager stopped the run at MaxErrors before these nodes; its schedule runs
# them again. Every other status is a node that has not finished: Pending and InProgress,
# but also Cancelled (a newer run superseded it) and unknown statuses: never compliant,
# never a failure the gate would stop on.

FailureTrigger = Literal["compliance_failed", "compliance_timeout"]
SHOWN_TARGETS = 5
"""How many targets a message names before it says "and N more"."""


def compliance_from_counts(
    target: Target, counts: Mapping[str, int] | None, offline: int = 0
) -> TargetCompliance:
    """A target's node counts from the association's counts by status.

    ``counts`` is ``AssociationStatusAggregatedCount`` (status → nodes); every node the
    association targets has a status, so ``expected`` is their sum. ``None`` means the
    association does not exist there (yet): nothing expected, nothing reported.

    ``offline`` is how many of the targeted nodes have an offline agent (SSM PingStatus
    ConnectionLost or Inactive). The counts do not say which status those nodes hold, but
    an offline agent runs nothing, so they are taken out of the unfinished nodes (pending
    first, then skipped), never out of success or failed. A node that reported this
    version and then went offline is therefore counted by its result where the target has
    fewer unfinished nodes than offline ones, and may stand in for an online pending node
    otherwise; both only while its agent stays away.
    """
    if counts is None:
        return TargetCompliance(target, 0, 0, 0, 0)
    problems = [
        wrong(f"counts[{status!r}]", "not a node count", count, "an integer ≥ 0")
        for status, count in counts.items()
        if not isinstance(count, int) or isinstance(count, bool) or count < 0
    ]
    if not isinstance(offline, int) or isinstance(offline, bool) or offline < 0:
        problems.append(wrong("offline", "not a node count", offline, "an integer ≥ 0"))
    if problems:
        raise ValidationError(f"association status of {target}", problems)
    success = sum(count for status, count in counts.items() if status in SUCCESS_STATUSES)
    failed = sum(count for status, count in counts.items() if status in FAILED_STATUSES)
    skipped = sum(count for status, count in counts.items() if status in SKIPPED_STATUSES)
    expected = sum(counts.values())
    pending = expected - success - failed - skipped
    from_pending = min(offline, pending)
    from_skipped = min(offline - from_pending, skipped)
    return TargetCompliance(
        target,
        expected,
        success,
        failed,
        pending - from_pending,
        skipped - from_skipped,
        from_pending + from_skipped,
    )


def elapsed_since(opened_at: float, now: float) -> float:
    """Seconds the gate has been open at ``now`` (epoch seconds, like ``opened_at``); never
    negative, since the worker and the triggerer that read the clock may disagree a little."""
    return max(0.0, now - opened_at)


def as_failed(
    compliances: Iterable[TargetCompliance], failed_targets: Collection[Target]
) -> list[TargetCompliance]:
    """Counts where every node of ``failed_targets`` failed.

    Those are targets whose stack instance failed to update (within the operation's
    tolerance): their association still runs the previous version, so whatever it reports
    — often success — says nothing about the new one, and their nodes are not compliant.
    """
    return [
        TargetCompliance(item.target, item.effective_expected, 0, item.effective_expected, 0)
        # (its offline nodes too: whatever they run, it is not the new version)
        if item.target in failed_targets
        else item
        for item in compliances
    ]


def evaluate_poll(
    compliances: Iterable[TargetCompliance],
    unread: Collection[Target],
    settings: GateSettings,
    elapsed: float,
    passing_since: float | None = None,
    *,
    failed_targets: Collection[Target] = (),
) -> GateDecision:
    """``evaluate_gate`` over one poll, some of whose targets may be ``unread``.

    The nodes of an unread target could tip the gate either way, so a poll with unread
    targets can neither pass nor fail on thresholds: it waits, keeping ``passing_since``
    (nothing showed the gate stopped passing). It fails only when the gate's time is up:
    the timeout, or the timeout plus the bake for a gate that was passing.
    """
    counted = as_failed(compliances, failed_targets) if failed_targets else list(compliances)
    decision = evaluate_gate(counted, settings, elapsed, passing_since)
    if not unread:
        return decision
    deadline = settings.timeout_seconds
    if passing_since is not None:
        deadline += settings.bake_seconds
    missing = f"{len(unread)} {_targets(len(unread))} could not be read ({name_targets(unread)})"
    if elapsed >= deadline:
        return GateDecision(
            "FAIL",
            f"timed out after {elapsed:.0f}s: {missing}; from the others: {decision.reason}",
            decision.compliant_percent,
            decision.totals,
            None,
            decision.worst,
        )
    return GateDecision(
        "WAIT",
        f"poll incomplete, {missing}; from the others: {decision.reason}",
        decision.compliant_percent,
        decision.totals,
        passing_since,
        decision.worst,
    )


def failure_trigger(decision: GateDecision, settings: GateSettings) -> FailureTrigger:
    """Which rollback trigger a failed gate fires: failed nodes alone make the threshold
    unreachable (``compliance_failed``), or time ran out first (``compliance_timeout``)."""
    totals = decision.totals
    if totals.expected:
        best_case = Fraction((totals.expected - totals.failed) * 100, totals.expected)
        if best_case < Fraction(str(settings.threshold_percent)):
            return "compliance_failed"
    return "compliance_timeout"


def failure_message(wave: str, decision: GateDecision) -> str:
    """A failed gate in an operator's words: the reason, then the least compliant targets."""
    message = f"compliance gate of wave {wave!r} failed: {decision.reason}"
    if decision.worst:
        shown = "; ".join(_target_status(item) for item in decision.worst[:SHOWN_TARGETS])
        message += f". Least compliant: {shown}"
    return message


def _target_status(item: TargetCompliance) -> str:
    counts = {**item.to_dict(), "unreported": item.unreported}
    parts = [f"{item.success}/{item.effective_expected} succeeded", *node_kinds(counts)]
    return f"{item.target} ({', '.join(parts)})"


def name_targets(targets: Collection[Target]) -> str:
    """Some targets by name (sorted), and how many more there are."""
    ordered = sorted(targets)
    shown = ", ".join(str(target) for target in ordered[:SHOWN_TARGETS])
    more = len(ordered) - SHOWN_TARGETS
    return f"{shown} and {more} more" if more > 0 else shown


def _targets(count: int) -> str:
    return "target" if count == 1 else "targets"
