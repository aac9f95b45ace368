"""Running stack set operations on simulated time, as AWS runs them.

An operation goes Region by Region (or all Regions at once when PARALLEL), deploying to at
most the allowed number of accounts at a time. Each account/Region takes a few tens of
simulated seconds (a hash of the operation id and target, so reruns are reproducible); the
stack work happens when it finishes. Failures beyond a Region's tolerance stop the operation
there and in the Regions after it: it ends FAILED and what never started is CANCELLED.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from awssim.organization import CLOSED_OR_CLOSING
from awssim.scenario import draw
from awssim.stacksets import instances
from awssim.stacksets.model import (
    CANCELLED,
    CURRENT,
    FAILED,
    INOPERABLE,
    OUTDATED,
    PENDING,
    QUEUED,
    RUNNING,
    SKIPPED_SUSPENDED_ACCOUNT,
    STOPPED,
    STOPPING,
    SUCCEEDED,
    SUSPENDED_REASON,
    Operation,
    RegionRun,
    StackInstance,
    StackSet,
    Target,
)
from awssim.stacksets.preferences import PARALLEL
from awssim.stacksets.targets import SERVICE_MANAGED

if TYPE_CHECKING:
    from awssim.simulator import Simulator

CREATE = "CREATE"
UPDATE = "UPDATE"
DELETE = "DELETE"
# (minimum, spread) of simulated seconds one account/Region takes, per action.
DURATIONS = {CREATE: (30.0, 30.0), UPDATE: (20.0, 25.0), DELETE: (15.0, 15.0)}
TOLERANCE_CANCELLED = "Cancelled since failure tolerance has exceeded"
STOP_CANCELLED = "Cancelled since the operation was stopped"
SKIPPED_RESULT = "Skipped: the account is suspended"


def instance_seconds(seed: int, operation_id: str, account: str, region: str, action: str) -> float:
    """How long one account/Region of an operation takes (deterministic)."""
    low, spread = DURATIONS[action]
    return float(round(low + spread * draw(seed, "stackset", operation_id, account, region)))


class Runner:
    """Starts, advances, stops and finishes operations on the simulator's scheduler."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    # --- lifecycle ----------------------------------------------------------------------
    def submit(self, stack_set: StackSet, op: Operation) -> None:
        """Queue ``op`` (the engine checked that queueing is allowed) or start it now."""
        busy = bool(stack_set.active_operations())
        stack_set.operations.append(op)
        op.status = QUEUED
        if not busy:
            self.start(stack_set, op, self.sim.now())

    def start(self, stack_set: StackSet, op: Operation, now: float) -> None:
        """Begin ``op``: apply its change, mark its instances and launch the first targets."""
        op.status = RUNNING
        if op.change is None:
            op.change = stack_set.change
        else:
            stack_set.change = op.change
            if op.marks_outdated:
                self._mark_outdated(stack_set)
        by_region: dict[str, list[Target]] = {}
        for target in op.targets:
            by_region.setdefault(target.region, []).append(target)
        prefs = op.preferences
        op.regions = [
            RegionRun(
                region=region,
                targets=by_region[region],
                max_concurrent=prefs.max_concurrent(len(by_region[region])),
                tolerance=prefs.tolerance(len(by_region[region])),
                strict=prefs.strict,
            )
            for region in prefs.ordered_regions(list(by_region))
        ]
        skipped = self._skipped_accounts(stack_set)
        for target in op.targets:
            self._prepare(stack_set, op, target, skipped)
        self._advance(stack_set, op, now)

    def stop(self, stack_set: StackSet, op: Operation, now: float) -> None:
        """StopStackSetOperation: cancel what has not started, let running targets finish."""
        if op.status == QUEUED:
            for target in op.targets:
                target.status, target.reason = CANCELLED, STOP_CANCELLED
            self._finish(stack_set, op, STOPPED, now)
            return
        op.status = STOPPING
        self._advance(stack_set, op, now)

    # --- progress -----------------------------------------------------------------------
    def _advance(self, stack_set: StackSet, op: Operation, now: float) -> None:
        if op.status == STOPPING:
            for run in op.regions:
                self._cancel(stack_set, op, run.pending(), STOP_CANCELLED)
            if not any(run.running for run in op.regions):
                self._finish(stack_set, op, STOPPED, now)
            return
        self._progress_regions(stack_set, op, now)
        halted = [run for run in op.regions if run.halted]
        if all(not run.running and run.next_pending() is None for run in op.regions):
            if halted:
                regions = ", ".join(run.region for run in halted)
                op.status_reason = f"Failure tolerance exceeded in {regions}"
            self._finish(stack_set, op, FAILED if halted else SUCCEEDED, now)

    def _progress_regions(self, stack_set: StackSet, op: Operation, now: float) -> None:
        if op.preferences.region_concurrency == PARALLEL:
            active = op.regions
        else:
            while op.region_index < len(op.regions) and _done(op.regions[op.region_index]):
                op.region_index += 1
            active = op.regions[op.region_index : op.region_index + 1]
        for run in active:
            if run.halted:
                self._cancel(stack_set, op, run.pending(), TOLERANCE_CANCELLED)
            else:
                self._launch_ready(stack_set, op, run, now)
        sequential = op.preferences.region_concurrency != PARALLEL
        if sequential and active and active[0].halted and not active[0].running:
            # The operation stops in this Region and does not attempt the Regions after it.
            for run in op.regions[op.region_index + 1 :]:
                self._cancel(stack_set, op, run.pending(), TOLERANCE_CANCELLED)

    def _launch_ready(self, stack_set: StackSet, op: Operation, run: RegionRun, now: float) -> None:
        while len(run.running) < run.concurrency():
            target = run.next_pending()
            if target is None:
                return
            target.status = RUNNING
            instance = stack_set.instances.get(target.key)
            if instance is not None:
                instance.detailed_status = RUNNING
            seconds = instance_seconds(
                self.sim.seed, op.operation_id, target.account, target.region, op.action
            )
            run.running[target.key] = self.sim.scheduler.at(
                now + seconds,
                lambda due, t=target, r=run: self._complete(stack_set, op, r, t, due),
                f"stackset {stack_set.name} {op.operation_id} {target.account}/{target.region}",
            )

    def _complete(
        self, stack_set: StackSet, op: Operation, run: RegionRun, target: Target, due: float
    ) -> None:
        run.running.pop(target.key, None)
        reason = self._work(stack_set, op, target)
        if reason is None:
            target.status, target.reason = SUCCEEDED, None
        else:
            target.status, target.reason = FAILED, reason
            run.failures += 1
            if run.failures > run.tolerance:
                run.halted = True
        self._advance(stack_set, op, due)

    def _finish(self, stack_set: StackSet, op: Operation, status: str, now: float) -> None:
        op.status = status
        op.ended = now
        queued = [other for other in stack_set.operations if other.status == QUEUED]
        running = [other for other in stack_set.operations if other.status in {RUNNING, STOPPING}]
        if queued and not running:
            self.start(stack_set, queued[0], now)

    # --- instances ----------------------------------------------------------------------
    def _mark_outdated(self, stack_set: StackSet) -> None:
        """An update that names a template or parameter values marks every instance
        OUTDATED before the operation updates only its targets, even when the content is
        what the stack set already held (API_UpdateStackSet, DeploymentTargets and
        Regions). AWS shows the instances left out with DetailedStatus PENDING, though no
        operation will reach them (aws-cloudformation/cloudformation-coverage-roadmap#1751):
        only an operation that updates an instance makes it CURRENT again."""
        for instance in stack_set.instances.values():
            if instance.status != INOPERABLE:
                instance.status, instance.detailed_status, instance.reason = OUTDATED, PENDING, None

    def _prepare(
        self, stack_set: StackSet, op: Operation, target: Target, skipped: frozenset[str]
    ) -> None:
        instance = stack_set.instances.get(target.key)
        if instance is None and op.action == CREATE:
            instance = StackInstance(
                account=target.account,
                region=target.region,
                ou_id=target.ou_id,
                stack_name=instances.new_stack_name(stack_set.name),
            )
            stack_set.instances[target.key] = instance
        if instance is None:
            return
        instance.last_operation_id = op.operation_id
        if target.ou_id:
            instance.ou_id = target.ou_id
        if target.account in skipped and not (op.action == DELETE and op.retain_stacks):
            # Suspended (or closing) accounts are skipped, not failed (nor retried by this op).
            target.status, target.reason = SUCCEEDED, SKIPPED_RESULT
            instance.status, instance.detailed_status = OUTDATED, SKIPPED_SUSPENDED_ACCOUNT
            instance.reason = SUSPENDED_REASON
            return
        instance.detailed_status, instance.reason = PENDING, None

    def _skipped_accounts(self, stack_set: StackSet) -> frozenset[str]:
        """The accounts a service-managed stack set skips (suspended or closing), read
        once per operation: asked per target, the organization's account list would be
        walked targets × accounts times."""
        if stack_set.permission_model != SERVICE_MANAGED:
            return frozenset()
        return frozenset(
            str(account.id)
            for account in self.sim.org.backend.accounts
            if str(account.status) in CLOSED_OR_CLOSING
        )

    def _work(self, stack_set: StackSet, op: Operation, target: Target) -> str | None:
        """Do one account/Region of ``op``; returns the failure reason or None."""
        instance = stack_set.instances.get(target.key)
        if instance is None:
            return None
        if op.action == DELETE:
            return self._delete(stack_set, op, instance)
        if target.overrides is not None:
            instance.overrides = dict(target.overrides)
        reason = self.sim.faults.stack_instance_failure(target.account, target.region, op.action)
        if reason is None:
            assert op.change is not None
            try:
                deployed = instances.deploy(instance, op.change, stack_set.tags)
            except Exception as error:  # noqa: BLE001 - any resource failure fails the instance
                reason = instances.failure_reason(error)
            else:
                instance.deployed_parameters = deployed
        if reason is not None:
            instance.status, instance.detailed_status, instance.reason = OUTDATED, FAILED, reason
            return reason
        assert op.change is not None
        current = op.change.version == stack_set.change.version
        instance.status = CURRENT if current else OUTDATED
        instance.detailed_status, instance.reason = SUCCEEDED, None
        instance.version = op.change.version
        return None

    def _delete(self, stack_set: StackSet, op: Operation, instance: StackInstance) -> str | None:
        if not op.retain_stacks:
            reason = self.sim.faults.stack_instance_failure(
                instance.account, instance.region, DELETE
            )
            if reason is None:
                try:
                    instances.delete(instance)
                except Exception as error:  # noqa: BLE001 - a failed delete leaves it INOPERABLE
                    reason = instances.failure_reason(error)
            if reason is not None:
                instance.status = instance.detailed_status = INOPERABLE
                instance.reason = reason
                return reason
        del stack_set.instances[instance.key]
        return None

    def _cancel(
        self, stack_set: StackSet, op: Operation, targets: list[Target], reason: str
    ) -> None:
        for target in targets:
            target.status, target.reason = CANCELLED, reason
            instance = stack_set.instances.get(target.key)
            if instance is None:
                continue
            instance.detailed_status, instance.reason = CANCELLED, reason
            if op.action != DELETE:
                instance.status = OUTDATED


def _done(run: RegionRun) -> bool:
    return not run.running and run.next_pending() is None and not run.halted
