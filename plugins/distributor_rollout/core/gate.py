"""The association compliance gate: has a wave's fleet installed the package, well enough?

A sensor or trigger polls every account/Region of the wave for the association's node
counts and hands them here with how long the gate has been open. The decision is a pure
function of those numbers, so it can be replayed, tested and explained in the report.

Real fleets always have nodes that cannot answer: agents that are offline (SSM PingStatus
ConnectionLost or Inactive) and nodes State Manager skipped once a run hit MaxErrors. The
counts keep them apart from nodes still installing, so every message says which is which.
Offline nodes are left out of the percentage by default (``offline_nodes: exclude``), as
they cannot receive the package until their agent is back, but a wave where more than
``max_offline_percent`` of the nodes are offline does not pass: a gate over a fleet that
mostly cannot answer proves nothing.

Percentages are compared as exact fractions of the threshold as written (``99.9`` means
999/1000), so 999 of 1000 nodes meet 99.9% even though ``999 / 1000 * 100`` in floating
point falls a hair short.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Literal

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.targets import Target

GateState = Literal["PASS", "WAIT", "FAIL"]
OfflinePolicy = Literal["exclude", "count"]
OFFLINE_POLICIES: tuple[OfflinePolicy, ...] = ("exclude", "count")
WORST_LIMIT = 10
"""How many of the least compliant targets a decision carries."""


@dataclass(frozen=True, slots=True)
class TargetCompliance:
    """Association node counts in one target, each node in exactly one bucket.

    ``expected`` is the number of nodes the association targets. ``success`` and
    ``failed`` finished; ``pending`` are still to run (Pending, InProgress, ...) on an
    agent that is online; ``skipped`` were skipped by State Manager after the run hit
    MaxErrors (the next scheduled run tries them again); ``offline`` have not finished and
    their agent is offline. Nodes in none of these have not reported at all (often: not
    SSM-managed). More reports than expected nodes (a stale node count) is a data error:
    the counts are then taken as reported, i.e. expected is raised to their sum.
    """

    target: Target
    expected: int
    success: int
    failed: int
    pending: int
    skipped: int = 0
    offline: int = 0

    def __post_init__(self) -> None:
        problems = [
            wrong(name, "not a node count", getattr(self, name), "an integer ≥ 0")
            for name in COUNT_FIELDS
            if not _is_count(getattr(self, name))
        ]
        if problems:
            raise ValidationError(f"compliance of {self.target}", problems)

    @property
    def reported_total(self) -> int:
        """Nodes in a bucket: succeeded, failed, pending, skipped or offline."""
        return self.success + self.failed + self.pending + self.skipped + self.offline

    @property
    def effective_expected(self) -> int:
        """``expected``, unless more nodes reported than that (then the reported count)."""
        return max(self.expected, self.reported_total)

    @property
    def unreported(self) -> int:
        """Targeted nodes with no status at all; never negative."""
        return self.effective_expected - self.reported_total

    @property
    def compliant_percent(self) -> float:
        """Succeeded nodes as a percentage of targeted nodes (100.0 when there are none)."""
        expected = self.effective_expected
        return self.success * 100 / expected if expected else 100.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "target": self.target.to_dict(),
            **{name: getattr(self, name) for name in COUNT_FIELDS},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetCompliance:
        """The inverse of ``to_dict`` (records from before skipped/offline read as 0)."""
        return cls(
            target=Target.from_dict(data["target"]),
            expected=data["expected"],
            success=data["success"],
            failed=data["failed"],
            pending=data["pending"],
            skipped=data.get("skipped", 0),
            offline=data.get("offline", 0),
        )


COUNT_FIELDS = ("expected", "success", "failed", "pending", "skipped", "offline")


@dataclass(frozen=True, slots=True)
class ComplianceTotals:
    """Node counts summed over a wave's targets (after the per-target clamp).

    ``excluded_offline`` is how many of the ``offline`` nodes the gate left out of its
    percentage (all of them under ``offline_nodes: exclude``, none under ``count``):
    the percentage is ``success`` of ``counted`` nodes.
    """

    expected: int = 0
    success: int = 0
    failed: int = 0
    pending: int = 0
    unreported: int = 0
    skipped: int = 0
    offline: int = 0
    excluded_offline: int = 0

    @property
    def reported(self) -> int:
        """Nodes with a final result: succeeded or failed (pending has not finished)."""
        return self.success + self.failed

    @property
    def counted(self) -> int:
        """The nodes the percentage is over: expected, less the excluded offline ones."""
        return self.expected - self.excluded_offline

    def to_dict(self) -> dict[str, int]:
        """JSON-safe form."""
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComplianceTotals:
        """The inverse of ``to_dict`` (counts a record does not have read as 0)."""
        return cls(**{key: int(data.get(key, 0)) for key in cls.__slots__})


@dataclass(frozen=True, slots=True)
class GateSettings:
    """A wave's gate: how compliant, how many nodes, how long to wait and to bake.

    ``timeout_seconds`` bounds the time to *reach* compliance. A gate that is passing at
    its timeout is allowed to finish its bake (it fails if it stops passing meanwhile),
    so the longest a gate can stay open is ``timeout_seconds + bake_seconds``, plus the
    reading time of its last poll (a poll is judged as of when it began).

    ``offline_nodes`` says whether nodes with an offline agent are left out of the
    percentage (``exclude``) or count as not compliant (``count``); under either, a wave
    with more than ``max_offline_percent`` of its nodes offline does not pass.
    """

    threshold_percent: float = 100.0
    min_nodes: int = 1
    timeout_seconds: float = 3600.0
    bake_seconds: float = 0.0
    poll_interval_seconds: float = 60.0
    offline_nodes: OfflinePolicy = "exclude"
    max_offline_percent: float = 20.0

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not _is_number(self.threshold_percent) or not 0 <= self.threshold_percent <= 100:
            problems.append(
                wrong("threshold_percent", "not a percentage", self.threshold_percent, "0-100")
            )
        if not _is_count(self.min_nodes):
            problems.append(wrong("min_nodes", "not a node count", self.min_nodes, "≥ 0"))
        if self.offline_nodes not in OFFLINE_POLICIES:
            problems.append(
                wrong("offline_nodes", "unknown policy", self.offline_nodes, "exclude | count")
            )
        if not _is_number(self.max_offline_percent) or not 0 <= self.max_offline_percent <= 100:
            problems.append(
                wrong("max_offline_percent", "not a percentage", self.max_offline_percent, "0-100")
            )
        for name, minimum in (
            ("timeout_seconds", "> 0"),
            ("bake_seconds", "≥ 0"),
            ("poll_interval_seconds", "> 0"),
        ):
            value = getattr(self, name)
            valid = _is_number(value) and (value >= 0 if minimum == "≥ 0" else value > 0)
            if not valid:
                problems.append(wrong(name, "not a duration", value, f"seconds {minimum}"))
        if problems:
            raise ValidationError("gate settings", problems)

    def scaled(self, factor: float) -> GateSettings:
        """These settings with every duration divided by ``factor`` (threshold and node
        count unchanged): a gate written in a fleet's time, in the real seconds of a fleet
        whose clock runs ``factor`` times faster (a simulator's). ``factor`` 1 is a no-op.
        """
        if not _is_number(factor) or factor <= 0:
            raise ValidationError(
                "gate settings", [wrong("factor", "not a time scale", factor, "a number > 0")]
            )
        if factor == 1:
            return self
        return replace(
            self,
            timeout_seconds=self.timeout_seconds / factor,
            bake_seconds=self.bake_seconds / factor,
            poll_interval_seconds=self.poll_interval_seconds / factor,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateSettings:
        """The inverse of ``to_dict``; missing keys take the defaults."""
        return cls(**{name: data[name] for name in cls.__slots__ if name in data})


@dataclass(frozen=True, slots=True)
class GateDecision:
    """One evaluation of the gate.

    ``passing_since`` is the elapsed time at which the gate started passing without a
    break (``None`` when it is not passing): feed it back into the next evaluation.
    """

    state: GateState
    reason: str
    compliant_percent: float
    totals: ComplianceTotals
    passing_since: float | None
    worst: tuple[TargetCompliance, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "state": self.state,
            "reason": self.reason,
            "compliant_percent": self.compliant_percent,
            "totals": self.totals.to_dict(),
            "passing_since": self.passing_since,
            "worst": [item.to_dict() for item in self.worst],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateDecision:
        """The inverse of ``to_dict``."""
        state = data["state"]
        if state not in ("PASS", "WAIT", "FAIL"):
            raise ValidationError(
                "gate decision", [wrong("state", "unknown state", state, "PASS | WAIT | FAIL")]
            )
        return cls(
            state=state,
            reason=data["reason"],
            compliant_percent=float(data["compliant_percent"]),
            totals=ComplianceTotals.from_dict(data["totals"]),
            passing_since=data["passing_since"],
            worst=tuple(TargetCompliance.from_dict(item) for item in data.get("worst", ())),
        )


def total_compliance(
    targets: Iterable[TargetCompliance], offline_nodes: OfflinePolicy = "count"
) -> ComplianceTotals:
    """Sum the per-target counts (each clamped first, see ``TargetCompliance``); under
    ``offline_nodes="exclude"`` the offline nodes are left out of the percentage."""
    sums = dict.fromkeys((*COUNT_FIELDS, "unreported"), 0)
    for item in targets:
        sums["expected"] += item.effective_expected
        sums["unreported"] += item.unreported
        for name in COUNT_FIELDS[1:]:
            sums[name] += getattr(item, name)
    excluded = sums["offline"] if offline_nodes == "exclude" else 0
    return ComplianceTotals(**sums, excluded_offline=excluded)


def evaluate_gate(
    targets: Iterable[TargetCompliance],
    settings: GateSettings,
    elapsed: float,
    passing_since: float | None = None,
) -> GateDecision:
    """Decide PASS, WAIT or FAIL for a wave's compliance ``elapsed`` seconds into the gate.

    Passing means: some nodes are counted, compliant% (succeeded / counted nodes; nodes
    pending, skipped or never reported count against, offline ones per
    ``offline_nodes``) reaches the threshold, at least ``min_nodes`` nodes reported a
    final result, and no more than ``max_offline_percent`` of the nodes are offline. The
    gate FAILs at once when failed nodes alone make the threshold unreachable (even if
    every offline node came back and installed); PASSes once it has been passing for
    ``bake_seconds`` without a break; and FAILs at its timeout if it is not passing then.
    """
    problems = []
    if not _is_number(elapsed) or elapsed < 0:
        problems.append(wrong("elapsed", "not a time since the gate opened", elapsed, "≥ 0"))
    elif passing_since is not None and (
        not _is_number(passing_since) or not 0 <= passing_since <= elapsed
    ):
        problems.append(
            wrong("passing_since", "not a time before now", passing_since, f"0-{elapsed}")
        )
    if problems:
        raise ValidationError("gate evaluation", problems)

    items = list(targets)
    totals = total_compliance(items, settings.offline_nodes)
    threshold = Fraction(str(settings.threshold_percent))
    ratio = Fraction(totals.success * 100, totals.counted) if totals.counted else Fraction(0)
    percent = float(ratio)
    worst = _worst(items)
    need = f"need {settings.threshold_percent:g}%"

    def decide(state: GateState, reason: str, since: float | None) -> GateDecision:
        return GateDecision(state, reason, percent, totals, since, worst)

    if totals.expected:
        best_case = Fraction((totals.expected - totals.failed) * 100, totals.expected)
        if best_case < threshold:
            return decide(
                "FAIL",
                f"threshold unreachable: {totals.failed} of {totals.expected} nodes failed, "
                f"at most {_shown(best_case, threshold)}% can comply, {need}; "
                f"{breakdown(totals)}",
                None,
            )

    passing = (
        totals.counted > 0
        and ratio >= threshold
        and totals.reported >= settings.min_nodes
        and not _too_many_offline(totals, settings)
    )
    if passing:
        since = elapsed if passing_since is None else passing_since
        baked = elapsed - since
        shown = _shown(ratio, threshold)
        status = f"{shown}% compliant ({need}); {breakdown(totals)}"
        if baked >= settings.bake_seconds:
            return decide("PASS", f"{status}; passing for {baked:.0f}s", since)
        return decide(
            "WAIT", f"{status}; baking: {baked:.0f}s of {settings.bake_seconds:.0f}s", since
        )

    unmet = _unmet(totals, ratio, threshold, settings)
    if elapsed >= settings.timeout_seconds:
        return decide("FAIL", f"timed out after {elapsed:.0f}s: {unmet}", None)
    return decide("WAIT", f"waiting: {unmet}", None)


def breakdown(totals: ComplianceTotals) -> str:
    """Where a wave's nodes stand, each kind apart: "40 nodes: 36 compliant, 1 failed,
    1 in progress, 1 skipped by MaxErrors, 1 offline (excluded)"; empty kinds left out."""
    kinds = ", ".join([f"{totals.success} compliant", *node_kinds(totals.to_dict())])
    return f"{totals.expected} {_nodes(totals.expected)}: {kinds}"


def node_kinds(counts: Mapping[str, Any]) -> list[str]:
    """The nodes that are not compliant, by kind, in words ("2 failed", "1 in progress",
    "3 skipped by MaxErrors", "1 never reported", "4 offline"), empty kinds left out: the
    one wording of every message, record and report. ``counts`` uses the record keys
    (missing ones are 0); where it says how many offline nodes the percentage left out
    (``excluded_offline``: a wave's totals), the offline kind says how they were counted.
    """
    parts = [
        f"{counts[key]} {label}"
        for key, label in (
            ("failed", "failed"),
            ("pending", "in progress"),
            ("skipped", "skipped by MaxErrors"),
            ("unreported", "never reported"),
        )
        if counts.get(key, 0)
    ]
    offline = counts.get("offline", 0)
    if offline:
        excluded = counts.get("excluded_offline")
        if excluded is None:
            parts.append(f"{offline} offline")
        elif excluded >= offline:
            parts.append(f"{offline} offline (excluded)")
        elif excluded:
            parts.append(f"{offline} offline ({excluded} excluded)")
        else:
            parts.append(f"{offline} offline (counted)")
    return parts


def offline_percent(totals: ComplianceTotals) -> Fraction:
    """Offline nodes as an exact percentage of the wave's nodes (0 when there are none)."""
    return Fraction(totals.offline * 100, totals.expected) if totals.expected else Fraction(0)


def _too_many_offline(totals: ComplianceTotals, settings: GateSettings) -> bool:
    return offline_percent(totals) > Fraction(str(settings.max_offline_percent))


def next_poll_in(
    decision: GateDecision, settings: GateSettings, elapsed: float, polling_took: float = 0.0
) -> float:
    """Seconds until the gate should be evaluated again; 0.0 once it has decided.

    The poll interval, shortened so a poll lands exactly when the bake ends (while
    passing) or when the timeout strikes (while not yet there). A poll is judged as of
    when it began (``elapsed``); the ``polling_took`` seconds its reads took since are
    already spent, so the next poll still starts an interval after this one did.
    """
    if decision.state != "WAIT":
        return 0.0
    wait = settings.poll_interval_seconds
    if decision.passing_since is not None:
        bake_left = decision.passing_since + settings.bake_seconds - elapsed
        if bake_left > 0:
            wait = min(wait, bake_left)
    timeout_left = settings.timeout_seconds - elapsed
    if timeout_left > 0:
        wait = min(wait, timeout_left)
    return float(max(0.0, wait - polling_took))


def _unmet(
    totals: ComplianceTotals, ratio: Fraction, threshold: Fraction, settings: GateSettings
) -> str:
    """Which passing conditions fail, in the words an operator would act on, then where
    the wave's nodes stand."""
    if not totals.expected:
        return "no targeted nodes found"
    parts = []
    if not totals.counted:
        parts.append(f"all {totals.expected} nodes are offline")
    elif ratio < threshold:
        shown = _shown(ratio, threshold)
        of = f" of {totals.counted} online" if totals.excluded_offline else ""
        parts.append(f"{shown}%{of} compliant, need {settings.threshold_percent:g}%")
    if totals.reported < settings.min_nodes:
        reachable = totals.expected - totals.offline
        short = ""
        if reachable < settings.min_nodes:
            online = " online" if totals.offline else ""
            short = f" (the wave has only {reachable}{online})"
        parts.append(
            f"only {totals.reported} {_nodes(totals.reported)} reported, "
            f"need at least {settings.min_nodes}{short}"
        )
    if _too_many_offline(totals, settings):
        shown = _shown(offline_percent(totals), Fraction(str(settings.max_offline_percent)))
        parts.append(f"{shown}% of nodes offline, above the {settings.max_offline_percent:g}% cap")
    return f"{'; '.join(parts)}; {breakdown(totals)}"


def _worst(items: list[TargetCompliance]) -> tuple[TargetCompliance, ...]:
    # Only targets short of full compliance: a list padded with healthy ones hides nothing
    # useful, and targets without nodes have no percentage to rank.
    lagging = [item for item in items if item.success < item.effective_expected]
    lagging.sort(key=lambda item: (item.compliant_percent, -item.failed, item.target))
    return tuple(lagging[:WORST_LIMIT])


def _shown(percent: Fraction, threshold: Fraction) -> str:
    """One decimal, or more where one would round across the threshold (94.96 is not 95.0)."""
    for decimals in range(1, 5):
        text = f"{float(percent):.{decimals}f}"
        if (Fraction(text) >= threshold) == (percent >= threshold):
            return text
    return text


def _nodes(count: int) -> str:
    return "node" if count == 1 else "nodes"


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
