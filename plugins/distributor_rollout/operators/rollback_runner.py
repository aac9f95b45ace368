"""What a rollback does on AWS: run one action on StackSets (start its operation once,
wait for it, judge it, try again only where it failed), rebuild a wave's changes from its
operations, and wait on the nodes for an uninstall.

``RollbackOperator`` (``operators.stack_set_rollback``) decides which actions run and in
what order; this base class makes their calls. Every operation id is deterministic
(``rollback_operation_id``), so a retried or resumed task adopts what it started.
"""

from __future__ import annotations

import time
from collections.abc import Set
from typing import Any

from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.deployment import (
    create_operation_id,
    holds_template,
    recovered_changes,
    rollback_preferences,
    update_operation_id,
)
from distributor_rollout.core.operation_ids import rollback_operation_id
from distributor_rollout.core.operation_wait import judge
from distributor_rollout.core.plan import Plan, wave_gate, wave_operation
from distributor_rollout.core.release import Release
from distributor_rollout.core.rollback import retried_summary, unrestored
from distributor_rollout.core.rollback_actions import (
    DeleteInstances,
    RestoreTemplate,
    RollbackAction,
    UninstallByTemplate,
    narrowed,
)
from distributor_rollout.core.rollback_record import ActionOutcome
from distributor_rollout.core.stack_set_update import keeping_held_template
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import UninstallCheck
from distributor_rollout.core.verdict import (
    ACTIVE_OPERATION_STATUSES,
    InstanceResult,
    OperationVerdict,
    truncate_list,
)
from distributor_rollout.hooks.association_status import AssociationStatusHook
from distributor_rollout.operators.stack_set_base import StackSetOperatorBase
from distributor_rollout.operators.uninstall_wait import wait_for_uninstall
from distributor_rollout.settings import scaled_seconds, time_scale

DEFAULT_UNINSTALL_TIMEOUT = 1800.0
"""How long an uninstall of a wave no longer in the plan may take to reach its nodes (the
fleet's time: divided by the configured time scale, see ``settings``)."""
ROLLBACK_RETRIES = 2
"""Times a rollback action is tried again on the targets where it failed."""
RETRY_PAUSE_SECONDS = 30.0
"""The pause before each retry, so a throttled or busy target has time to settle."""


class RollbackActionRunner(StackSetOperatorBase):
    """The AWS calls of a rollback. Rollback operations attempt every target (100%
    failure tolerance), and failures are read from their results. The uninstall wait
    polls from the worker (``operators.uninstall_wait``).

    :param retry_pause: seconds (fleet time, see ``settings.time_scale``) to pause before
        trying a failed action again where it failed.
    """

    def __init__(self, *, retry_pause: float = RETRY_PAUSE_SECONDS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_pause = retry_pause

    def run_with_retries(
        self,
        context: Any,
        release: Release,
        plan: Plan,
        action: RollbackAction,
        index: int,
        *,
        narrowed_part: int = 0,
    ) -> tuple[frozenset[Target], str]:
        """Run the action; try again, only where it failed, up to ``ROLLBACK_RETRIES``
        times (each retry its own deterministic operation). What stays lost, and a summary.

        StackSets failures in a rollback are mostly transient (throttled resource
        handlers, a member account busy): retrying just those targets usually restores
        them, and a target that keeps failing is reported, never hidden."""
        op_id = rollback_operation_id(context["run_id"], index, narrowed=narrowed_part)
        verdict = self._run_action(context, release, plan, action, op_id)
        lost = unrestored(verdict, action.targets())
        summary = verdict.summary
        for attempt in range(1, ROLLBACK_RETRIES + 1):
            if not lost:
                break
            self.log.warning(
                "Rollback %s: %d targets not restored (%s); retry %d of %d on those only",
                op_id,
                len(lost),
                truncate_list([str(target) for target in sorted(lost)]),
                attempt,
                ROLLBACK_RETRIES,
            )
            still: frozenset[Target] = frozenset()
            # Deterministic: on a resume, ``lost`` is read again from the same operations.
            parts = narrowed(action, lost)
            retry_ids = [
                rollback_operation_id(context["run_id"], index, attempt, k, narrowed=narrowed_part)
                for k in range(len(parts))
            ]
            if not any(self.operation(release, retry_id) for retry_id in retry_ids):
                # A short pause before trying again (not on a resume that already did).
                time.sleep(scaled_seconds(self.retry_pause))
            for part, retry_id in zip(parts, retry_ids, strict=True):
                retried = self._run_action(context, release, plan, part, retry_id)
                still |= unrestored(retried, part.targets())
            summary = retried_summary(summary, attempt, lost, still)
            lost = still
        return lost, summary

    def run_narrowed(
        self,
        context: Any,
        release: Release,
        plan: Plan,
        action: DeleteInstances,
        *,
        index: int,
        to_delete: Set[Target],
    ) -> tuple[ActionOutcome, frozenset[Target]]:
        """Run a delete on ``to_delete`` only, one operation per group of accounts sharing
        Regions (``narrowed``); the action's outcome, and the targets it could not delete."""
        if not to_delete:
            return ActionOutcome.all_kept(
                action, rollback_operation_id(context["run_id"], index)
            ), frozenset()
        lost: frozenset[Target] = frozenset()
        summaries = []
        ids = []
        for number, part in enumerate(narrowed(action, to_delete), start=1):
            ids.append(rollback_operation_id(context["run_id"], index, narrowed=number))
            part_lost, summary = self.run_with_retries(
                context, release, plan, part, index, narrowed_part=number
            )
            lost |= part_lost
            summaries.append(summary)
        return ActionOutcome.narrowed_delete(action, ids, to_delete, lost, summaries), lost

    def recover(self, run_id: str, release: Release, wave: str) -> WaveChanges:
        """What a wave changed, rebuilt from this run's operations for it (its deploy task
        failed after starting them, so it returned no record)."""
        summaries = self.hook.list_operations(release.stack_set_name, call_as=release.call_as)
        ours = {update_operation_id(run_id, wave)} | {
            create_operation_id(run_id, wave, index) for index in range(len(summaries))
        }
        operations = [
            (
                summary["Action"],
                self.hook.list_operation_results(
                    release.stack_set_name, summary["OperationId"], call_as=release.call_as
                ),
            )
            for summary in summaries
            if summary["OperationId"] in ours
        ]
        return recovered_changes(wave, operations, release.previous)

    def operation(self, release: Release, op_id: str) -> dict[str, Any] | None:
        """The operation as StackSets describes it, or None if it was never started."""
        return self.hook.describe_operation(release.stack_set_name, op_id, call_as=release.call_as)

    def wait_for_uninstall(
        self, targets: Set[Target], wave_name: str, plan: Plan, deployed_at: float | None = None
    ) -> UninstallCheck:
        """Wait until every node of ``targets`` that can run the uninstall did; what it
        found (``operators.uninstall_wait``), by the wave gate's timeout and interval:
        the fleet's time, divided by ``[distributor_rollout] time_scale`` at run time."""
        wave = next((w for w in plan.waves if w.name == wave_name), None)
        # The gate's durations are the fleet's time; the operator's poll_interval is real.
        gate = wave_gate(plan, wave).scaled(time_scale()) if wave else None
        timeout = gate.timeout_seconds if gate else scaled_seconds(DEFAULT_UNINSTALL_TIMEOUT)
        interval = gate.poll_interval_seconds if gate else self.poll_interval
        reader = AssociationStatusHook(
            role_name=plan.stack_set.compliance_reader.role_name,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )
        self.log.info(
            "Waiting up to %.0fs for the uninstall to reach the nodes of %d targets, polling "
            "every %.1fs (time scale %g)",
            timeout,
            len(targets),
            interval,
            time_scale(),
        )
        return wait_for_uninstall(
            reader,
            targets,
            plan.association.name,
            timeout=timeout,
            interval=interval,
            deployed_at=deployed_at,
            log=self.log,
        )

    def _run_action(
        self, context: Any, release: Release, plan: Plan, action: RollbackAction, op_id: str
    ) -> OperationVerdict:
        """Start the action's operation once (after anyone else's), wait for it, judge it."""
        while (operation := self.operation(release, op_id)) is None:
            foreign = [
                summary["OperationId"]
                for summary in self.hook.active_operations(
                    release.stack_set_name, call_as=release.call_as
                )
            ]
            if foreign:
                self.wait_for(context, release, foreign)
                continue
            wave = next((w for w in plan.waves if w.name == action.wave), None)
            preferences = rollback_preferences(
                wave_operation(plan, wave) if wave else None, action.regions
            )
            request = {**action.api_request(), "OperationPreferences": preferences.to_aws()}
            if isinstance(action, RestoreTemplate | UninstallByTemplate):
                described = self.describe_stack_set(release)
                text = self.checked_template(action.template)
                if holds_template(described, text, action.template):
                    # An earlier action (or try) of this rollback set it: named by value it
                    # would mark the instances that action restored OUTDATED again.
                    request = keeping_held_template(request)
                request["Capabilities"] = list(described.get("Capabilities") or [])
            request = self.with_checked_template(request)
            self.log.info("Rollback: %s (%s)", action.describe(), op_id)
            self.start(release, action.api_call, op_id, request)
        if operation["Status"] in ACTIVE_OPERATION_STATUSES:
            self.wait_for(context, release, [op_id])
            operation = self.operation(release, op_id) or operation
        results = self.hook.list_operation_results(
            release.stack_set_name, op_id, call_as=release.call_as
        )
        return judge(
            operation["Status"],
            [InstanceResult.from_api(result) for result in results],
            operation.get("OperationPreferences"),
        )
