"""Wait, from the worker, until a rollback's uninstall has reached the nodes it can reach.

The rollback task calls it between an uninstall and the delete after it (and for the
uninstalls whose instances stay): ``core.uninstall`` decides from each poll what is done,
kept or still to hear from; this module only polls, sleeps and logs. Rollbacks are rare
and short, so the wait holds the worker rather than deferring.
"""

from __future__ import annotations

import time
from collections.abc import Set

from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import (
    UninstallCheck,
    split_offline,
    unconfirmed_everywhere,
    uninstall_check,
    uninstall_progress,
)
from distributor_rollout.core.verdict import truncate_list
from distributor_rollout.hooks.association_status import AssociationStatusHook
from distributor_rollout.hooks.errors import MemberAccessDenied
from distributor_rollout.operators.task_log import TaskLog


def wait_for_uninstall(
    reader: AssociationStatusHook,
    targets: Set[Target],
    association: str,
    *,
    timeout: float,
    interval: float,
    deployed_at: float | None,
    log: TaskLog,
) -> UninstallCheck:
    """Poll ``association`` on ``targets`` every ``interval`` seconds until every node that
    can run the uninstall did, or ``timeout`` seconds passed; what it found. Nodes whose
    agent went offline before ``deployed_at`` (epoch seconds) never got the version. Reads
    only, so it is safe to repeat on every resume."""
    ordered = sorted(targets)
    deadline = time.monotonic() + timeout
    while True:
        try:
            poll = reader.poll(ordered, association)
        except MemberAccessDenied as error:
            # Unreadable is unconfirmed: keep the instances (and their associations).
            log.warning("Cannot confirm the uninstall: %s", error)
            return unconfirmed_everywhere(targets)
        splits = {
            status.target: split_offline(
                [node.last_ping for node in status.offline_nodes], deployed_at
            )
            for status in poll.statuses
            if status.offline_nodes
        }
        progress = uninstall_progress(poll.compliances, splits)
        check = uninstall_check(progress, poll.unread, timed_out=time.monotonic() >= deadline)
        if check is not None:
            _log_check(check, log)
            return check
        time.sleep(interval)


def _log_check(check: UninstallCheck, log: TaskLog) -> None:
    """The wait's result, in an operator's words."""
    if check.unconfirmed:
        log.warning(
            "Uninstall not confirmed on %d targets: %s",
            len(check.unconfirmed),
            truncate_list([str(target) for target in sorted(check.unconfirmed)]),
        )
    if check.kept:
        log.warning(
            "Keeping %d targets' instances (with the uninstall, for when their agents "
            "return): nodes went offline after their wave deployed: %s",
            len(check.kept),
            truncate_list([f"{target} ({n} offline)" for target, n in sorted(check.kept.items())]),
        )
    if check.untouched:
        log.info(
            "%d nodes were offline since before their wave deployed and never got the "
            "version: left as they were",
            sum(check.untouched.values()),
        )
