"""Has an uninstall reached the nodes? Decided from the association's node counts.

A rollback that uninstalls the package and then deletes the stack instances must not
delete first: deleting an instance deletes its association, and a node that had not run
the uninstall yet keeps the package with nothing left to remove it. After an uninstall's
stack operation, each target's association (a new version, so every node starts Pending)
is read until every node has run it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from distributor_rollout.core.gate import TargetCompliance
from distributor_rollout.core.targets import Target


@dataclass(frozen=True, slots=True)
class UninstallProgress:
    """Targets whose every node uninstalled, whose nodes finished with failures, and the rest."""

    done: frozenset[Target]
    failed: frozenset[Target]
    waiting: frozenset[Target]


def uninstall_progress(compliances: Iterable[TargetCompliance]) -> UninstallProgress:
    """Sort targets by how far their uninstall got.

    Done: every targeted node reports success (or the association targets no node, or
    does not exist there). Failed: some node failed and none is still to report, so
    waiting longer changes nothing. Waiting: nodes still pending or never reporting.
    """
    done: set[Target] = set()
    failed: set[Target] = set()
    waiting: set[Target] = set()
    for item in compliances:
        expected = item.effective_expected
        if item.success == expected:
            done.add(item.target)
        elif item.failed and item.success + item.failed == expected:
            failed.add(item.target)
        else:
            waiting.add(item.target)
    return UninstallProgress(frozenset(done), frozenset(failed), frozenset(waiting))
