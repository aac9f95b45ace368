"""The compliance gate's change feed: which targets a poll re-reads, decided without AWS.

An AWS Config aggregator records a configuration item of type
``AWS::SSM::AssociationCompliance`` each time a managed node's association compliance
changes. A compliance item cannot prove that a node ran the new version (State Manager
re-stamps every association's compliance whenever any of them runs), so the aggregator
is only a change feed: it says which account/Region targets changed, those targets are
re-read through the authoritative per-target read, and every other target keeps its last
read status. Poll 1, every ``full_read_minutes`` and any poll after the feed failed read
every target ("full" polls; the gate also confirms a decision with one).

Config delivers items minutes late, carrying their earlier capture time, so each query
looks back: ``configurationItemCaptureTime >=`` the previous poll's start minus the
lookback. Rows seen before (same account, Region, resource and capture time) never cause
a second read; rows older than the query's since-time are forgotten (no later query can
return them). Durations here are real seconds: ``FeedCadence.of`` divides the plan's
fleet minutes by the deployment's time scale, as the gate's own durations are.

A row captured well before its target's last read began (``READ_MARGIN_SECONDS``) is
already in that read: it causes no second read. Without that, the poll after a full one
would re-read nearly every target, as every node of a wave just deployed changed within
the lookback.

Rows come from the aggregator, so they are untrusted: a row that is not a JSON object
with the four selected fields (a 12-digit account, a Region-shaped name, a resource id,
an ISO-8601 time) is skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar

from distributor_rollout.core.errors import RolloutError, ValidationError, describe, wrong
from distributor_rollout.core.targets import Target

RESOURCE_TYPE = "AWS::SSM::AssociationCompliance"
"""The Config resource type of a managed node's association compliance."""
SELECTED_FIELDS = ("accountId", "awsRegion", "resourceId", "configurationItemCaptureTime")
"""What each query selects, in order (the aggregator answers each row as JSON text)."""
AGGREGATOR_NAME_MAX = 256
_AGGREGATOR_NAME = re.compile(rf"[\w-]{{1,{AGGREGATOR_NAME_MAX}}}", re.ASCII)
RESOURCE_ID_MAX = 768
"""Config's longest resource id: a longer value is not a row Config wrote."""

READ_MARGIN_SECONDS = 120.0
"""How long before a target's read a change must have been captured for that read to have
seen it: SSM's counts and Config's capture may lag the node's report, and AWS's clock and
ours may differ. A larger margin only costs reads: every decision is confirmed by a full
poll whatever the feed skipped."""

Status = TypeVar("Status")


def aggregator_name(value: str) -> str | None:
    """A ``ConfigurationAggregatorName`` (Config's pattern ``[\\w\\-]+``, 1-256 characters)."""
    if _AGGREGATOR_NAME.fullmatch(value):
        return None
    return (
        f"not a Config aggregator name (got {describe(value)}; expected 1-"
        f"{AGGREGATOR_NAME_MAX} letters, digits, '_' or '-')"
    )


def capture_time_text(epoch: float) -> str:
    """An instant as Config's query language compares capture times: ISO-8601 UTC with
    milliseconds and ``Z``, rounded down (a since-time must never pass a row it covers)."""
    millis = math.floor(epoch * 1000)
    moment = datetime.fromtimestamp(millis // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}Z"


def changes_expression(since: float | None) -> str:
    """The aggregator query for association compliance items captured at or after
    ``since`` (epoch seconds), or for every recorded one when ``since`` is None."""
    expression = f"SELECT {', '.join(SELECTED_FIELDS)} WHERE resourceType = '{RESOURCE_TYPE}'"
    if since is None:
        return expression
    return f"{expression} AND configurationItemCaptureTime >= '{capture_time_text(since)}'"


@dataclass(frozen=True, slots=True, order=True)
class ChangeRow:
    """One configuration item the aggregator returned: a node's compliance changed in a
    target at ``captured_at`` (epoch seconds). Equal rows are the same item."""

    target: Target
    resource_id: str
    captured_at: float


@dataclass(frozen=True, slots=True)
class ParsedRows:
    """The rows of one query that make sense, and how many did not."""

    rows: tuple[ChangeRow, ...]
    skipped: int = 0


def _capture_time(value: object) -> float | None:
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # Config writes UTC with Z: a naive time is not one of its rows
    return moment.timestamp()


def parse_row(row: object) -> ChangeRow | None:
    """A ``ChangeRow`` from one result (its JSON text, or the object decoded from it), or
    None when it is not a row of the product's query."""
    if isinstance(row, str | bytes):
        try:
            row = json.loads(row)
        except (ValueError, RecursionError):
            return None
    if not isinstance(row, Mapping):
        return None
    account, region, resource_id, captured = (row.get(name) for name in SELECTED_FIELDS)
    if not isinstance(resource_id, str) or not 0 < len(resource_id) <= RESOURCE_ID_MAX:
        return None
    captured_at = _capture_time(captured)
    if captured_at is None:
        return None
    try:
        target = Target(account, region)  # type: ignore[arg-type]  # checked by Target
    except RolloutError:
        return None
    return ChangeRow(target, resource_id, captured_at)


def parse_rows(results: Iterable[object]) -> ParsedRows:
    """Every result that is a row, in order, and the count of those that are not."""
    rows: list[ChangeRow] = []
    skipped = 0
    for result in results:
        row = parse_row(result)
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    return ParsedRows(tuple(rows), skipped)


@dataclass(frozen=True, slots=True)
class FeedCadence:
    """The feed's durations in real seconds: between full polls, and the lookback."""

    full_read_seconds: float
    lookback_seconds: float

    def __post_init__(self) -> None:
        problems = []
        if not _is_number(self.full_read_seconds) or self.full_read_seconds <= 0:
            problems.append(
                wrong("full_read_seconds", "not a duration", self.full_read_seconds, "> 0")
            )
        if not _is_number(self.lookback_seconds) or self.lookback_seconds < 0:
            problems.append(
                wrong("lookback_seconds", "not a duration", self.lookback_seconds, "≥ 0")
            )
        if problems:
            raise ValidationError("change feed cadence", problems)

    @classmethod
    def of(
        cls, full_read_minutes: float, lookback_minutes: float, time_scale: float = 1.0
    ) -> FeedCadence:
        """From the plan's fleet minutes, in the real seconds of a fleet whose clock runs
        ``time_scale`` times faster (1 against AWS)."""
        if not _is_number(time_scale) or time_scale <= 0:
            raise ValidationError(
                "change feed cadence", [wrong("time_scale", "not a time scale", time_scale, "> 0")]
            )
        return cls(full_read_minutes * 60 / time_scale, lookback_minutes * 60 / time_scale)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the feed remembers between polls.

    ``last_full_at`` is when the last full poll began; ``watermark`` when the last poll
    (full, or the feed query of a partial one) began: the next query looks back from it.
    ``seen`` holds the rows already acted on that a later query may return again.
    """

    last_full_at: float | None = None
    watermark: float | None = None
    seen: frozenset[ChangeRow] = field(default_factory=frozenset)

    def full_due(self, now: float, cadence: FeedCadence) -> bool:
        """Whether the poll starting at ``now`` must read every target: the first poll,
        or the full-read interval has passed (or the clock stepped back: no interval
        can be trusted then)."""
        if self.last_full_at is None or self.watermark is None:
            return True
        elapsed = now - self.last_full_at
        return elapsed < 0 or elapsed >= cadence.full_read_seconds

    def since(self, cadence: FeedCadence) -> float | None:
        """The next query's since-time: the previous poll's start minus the lookback (None
        before any poll: every recorded item)."""
        if self.watermark is None:
            return None
        return self.watermark - cadence.lookback_seconds

    def after_full(self, began: float) -> FeedState:
        """The state after a full poll that began at ``began``."""
        return replace(self, last_full_at=began, watermark=began)

    def after_query(
        self, began: float, since: float | None, rows: Iterable[ChangeRow]
    ) -> tuple[FeedState, tuple[ChangeRow, ...]]:
        """The state after a query that began at ``began`` (asking from ``since``) answered
        ``rows``, and the rows not seen before (each once, in answer order)."""
        fresh = tuple(row for row in dict.fromkeys(rows) if row not in self.seen)
        kept = self.seen.union(fresh)
        if since is not None:
            # A later query asks from a later time: older rows cannot come back.
            kept = frozenset(row for row in kept if row.captured_at >= since)
        return replace(self, watermark=began, seen=kept), fresh


def changed_after_read(
    rows: Iterable[ChangeRow], read_at: Mapping[Target, float], margin: float
) -> frozenset[Target]:
    """The targets some rows changed after their last read began (``read_at``, epoch
    seconds, less ``margin``); a target never read counts as changed."""
    return frozenset(
        row.target
        for row in rows
        if row.target not in read_at or row.captured_at >= read_at[row.target] - margin
    )


def targets_to_read(
    wave: Sequence[Target], changed: Iterable[Target], known: Collection[Target]
) -> tuple[Target, ...]:
    """The wave's targets a partial poll re-reads, in wave order, each once: those whose
    compliance changed, and those with no status to keep (left unread before). A changed
    target outside the wave is never read."""
    changed_here = frozenset(changed)
    return tuple(
        target for target in dict.fromkeys(wave) if target in changed_here or target not in known
    )


@dataclass(frozen=True, slots=True)
class MergedPoll(Generic[Status]):
    """One poll over every target of a wave: a status for each target that has one (read
    now or kept), the unread rest, and the statuses to keep for the next poll."""

    statuses: tuple[Status, ...]
    unread: tuple[Target, ...]
    known: Mapping[Target, Status]


def merge_poll(
    wave: Sequence[Target],
    kept: Mapping[Target, Status],
    fresh: Mapping[Target, Status],
    unread: Collection[Target],
) -> MergedPoll[Status]:
    """Fresh statuses over kept ones, every wave target exactly once (in wave order).

    A target read now takes its fresh status; one AWS refused now is unread (its kept
    status is stale: the feed said it changed, or it was never read), and forgotten so
    the next poll reads it; any other target keeps its status, or is unread without one.
    """
    statuses: list[Status] = []
    missing: list[Target] = []
    known: dict[Target, Status] = {}
    for target in dict.fromkeys(wave):
        if target in fresh:
            status = fresh[target]
        elif target in unread or target not in kept:
            missing.append(target)
            continue
        else:
            status = kept[target]
        statuses.append(status)
        known[target] = status
    return MergedPoll(tuple(statuses), tuple(missing), known)
