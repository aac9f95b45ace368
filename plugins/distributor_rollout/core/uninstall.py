"""Has an uninstall reached the nodes? Decided from the association's node counts and from
which nodes' agents are offline, and since when.

A rollback that uninstalls the package and then deletes the stack instances must not
delete first: deleting an instance deletes its association, and a node that had not run
the uninstall yet keeps the package with nothing left to remove it. After an uninstall's
stack operation, each target's association (a new version, so every node starts Pending)
is read until every node that can run it has.

Real fleets always have offline agents, and they cannot run anything. Which ones matter
depends on when they went offline, against when their wave deployed the new version:
- offline since before the deploy: the node never received the new version and needs no
  uninstall; its target may be deleted (the node is named as left as it was);
- offline since the deploy (or since an unknown time): the node may have installed the
  version; its target keeps its stack instance, so the association keeps the uninstall for
  when the agent comes back (the target is *kept*, and named, not deleted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime

from distributor_rollout.core.gate import TargetCompliance
from distributor_rollout.core.targets import Target


@dataclass(frozen=True, slots=True)
class OfflineSplit:
    """A target's offline agents: since before its wave deployed, and since then."""

    before_deploy: int = 0
    since_deploy: int = 0


def split_offline(last_pings: Iterable[float | None], deployed_at: float | None) -> OfflineSplit:
    """Offline agents by when they last answered (epoch seconds) against the wave's deploy
    (epoch seconds). An unknown time on either side counts as since the deploy: the node
    may hold the package, so it is kept rather than forgotten."""
    before = since = 0
    for ping in last_pings:
        if ping is not None and deployed_at is not None and ping < deployed_at:
            before += 1
        else:
            since += 1
    return OfflineSplit(before, since)


@dataclass(frozen=True, slots=True)
class UninstallProgress:
    """Targets by how far their uninstall got.

    ``done``: every node that can run the uninstall did (or the association targets none,
    or does not exist there). ``failed``: some node failed and no online node is still to
    report, so waiting longer changes nothing. ``kept``: only nodes that went offline
    after their wave deployed are left; their instance must stay. ``waiting``: online nodes
    still pending or never reporting. ``untouched`` counts, per target, the nodes offline
    since before the deploy (left as they were); ``stranded`` the offline ones of ``kept``.
    """

    done: frozenset[Target]
    failed: frozenset[Target]
    waiting: frozenset[Target]
    kept: frozenset[Target] = frozenset()
    untouched: Mapping[Target, int] = field(default_factory=dict)
    stranded: Mapping[Target, int] = field(default_factory=dict)


def uninstall_progress(
    compliances: Iterable[TargetCompliance], offline: Mapping[Target, OfflineSplit] | None = None
) -> UninstallProgress:
    """Sort targets by how far their uninstall got (see ``UninstallProgress``).

    ``offline`` splits each target's offline agents (none where a target is absent). Only
    unfinished nodes are explained by offline agents: an agent that went offline after it
    ran the uninstall is already counted as done.
    """
    offline = offline or {}
    done: set[Target] = set()
    failed: set[Target] = set()
    waiting: set[Target] = set()
    kept: set[Target] = set()
    untouched: dict[Target, int] = {}
    stranded: dict[Target, int] = {}
    for item in compliances:
        split = offline.get(item.target, OfflineSplit())
        unfinished = item.effective_expected - item.success - item.failed
        never_reached = min(split.before_deploy, unfinished)
        away = min(split.since_deploy, unfinished - never_reached)
        online_left = unfinished - never_reached - away
        if never_reached:
            untouched[item.target] = never_reached
        if online_left:
            waiting.add(item.target)
        elif item.failed:
            failed.add(item.target)
        elif away:
            kept.add(item.target)
            stranded[item.target] = away
        else:
            done.add(item.target)
    return UninstallProgress(
        frozenset(done), frozenset(failed), frozenset(waiting), frozenset(kept), untouched, stranded
    )


@dataclass(frozen=True, slots=True)
class UninstallCheck:
    """What an uninstall wait found: targets whose uninstall failed or could not be
    confirmed, targets to keep because nodes that may hold the package went offline
    (``kept``, with how many such nodes), and nodes left as they were because their agent
    was offline since before their wave deployed (``untouched``)."""

    unconfirmed: frozenset[Target] = frozenset()
    kept: Mapping[Target, int] = field(default_factory=dict)
    untouched: Mapping[Target, int] = field(default_factory=dict)


def uninstall_check(
    progress: UninstallProgress, unread: Iterable[Target] = (), *, timed_out: bool = False
) -> UninstallCheck | None:
    """What a wait that read ``progress`` (and could not read ``unread``) found, or None
    while there are nodes left to hear from and time left to wait. When it stops, targets
    that failed or are still waiting are unconfirmed, and a target kept for offline nodes
    is kept only if it is not unconfirmed."""
    left = progress.waiting | frozenset(unread)
    if left and not timed_out:
        return None
    unconfirmed = progress.failed | left
    kept = {target: n for target, n in progress.stranded.items() if target not in unconfirmed}
    return UninstallCheck(unconfirmed, kept, dict(progress.untouched))


def merged_checks(checks: Iterable[UninstallCheck]) -> UninstallCheck:
    """Several waits' findings as one (later waits win for a target found twice)."""
    unconfirmed: set[Target] = set()
    kept: dict[Target, int] = {}
    untouched: dict[Target, int] = {}
    for check in checks:
        unconfirmed |= check.unconfirmed
        kept.update(check.kept)
        untouched.update(check.untouched)
    return UninstallCheck(frozenset(unconfirmed), kept, untouched)


def unconfirmed_everywhere(targets: Set[Target]) -> UninstallCheck:
    """The finding when the association cannot be read at all: nothing is confirmed, so
    every instance (and its association) stays."""
    return UninstallCheck(unconfirmed=frozenset(targets))


def deployed_at_seconds(value: object) -> float | None:
    """A wave's recorded start (the deploy task's ``started_at``: ISO-8601 text, or a
    datetime as XCom may return it) in epoch seconds; None when unknown or unreadable."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None
