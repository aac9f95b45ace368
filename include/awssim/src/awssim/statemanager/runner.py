"""Association executions on simulated time: dispatch, rate control, results and schedules.

An execution resolves its targets when it starts. Each node picks the association up after a
pickup delay and runs it for a while (tens of simulated seconds, a pure function of the
execution and instance ids). At most MaxConcurrency nodes run at once, in pickup order; a
node whose agent is offline when its turn comes (or when it would pick the run up) is not
dispatched and stays Pending, installing and uninstalling nothing. When its agent comes back
it catches up: it joins the association's latest run if that is of the current version (the
run reopens if it had finished) and runs it after a pickup delay, as a reconnecting SSM Agent
runs the associations it missed. A node that goes offline while it runs finishes that run
and reports it first. When the failures exceed MaxErrors no further node is dispatched: the
rest of the run is Skipped, in the run's targets and in the association's per-node status,
as State Manager stops sending the association to additional targets (running nodes
finish); a node that reconnects after that is Skipped too, until the next run.

A new run of an association (an update, StartAssociationsOnce) supersedes one still in
flight: its nodes that have not finished are Cancelled, so the newest version is the one
the nodes end up with. A scheduled run is skipped while an earlier run is still in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from awssim.fleet import Node
from awssim.scenario import draw
from awssim.statemanager.agent import apply_document
from awssim.statemanager.errors import SsmError
from awssim.statemanager.models import (
    CANCELLED,
    FAILED,
    IN_PROGRESS,
    PENDING,
    SKIPPED,
    SUCCESS,
    Association,
    Execution,
    IdSource,
    NodeRecord,
    TargetRun,
)
from awssim.statemanager.schedule import parse_schedule
from awssim.statemanager.settings import AWS_DOCUMENTS, find_document
from awssim.statemanager.targets import resolve_targets

if TYPE_CHECKING:
    from awssim.simulator import Simulator

PICKUP_SECONDS = (10.0, 60.0)
RUN_SECONDS = (20.0, 60.0)


def concurrency_limit(value: str | None, total: int) -> int:
    """How many nodes may run at once (percentages round down, at least one)."""
    if value is None:
        return max(total, 1)
    if value.endswith("%"):
        return max(1, total * int(value[:-1]) // 100)
    return int(value)


def error_threshold(value: str | None, total: int) -> int | None:
    """How many failures a run tolerates before it stops dispatching (None: no limit)."""
    if value is None:
        return None
    if value.endswith("%"):
        return total * int(value[:-1]) // 100
    return int(value)


class Runner:
    """Starts, advances and schedules the executions of associations."""

    def __init__(self, sim: Simulator, ids: IdSource) -> None:
        self.sim = sim
        self.ids = ids

    # --- starting and stopping ------------------------------------------------------------
    def supersede(self, association: Association) -> list[Node]:
        """Make the latest version current: cancel older runs in flight, re-resolve targets.

        Returns the targeted nodes. Nodes keep their result while the version stands; on a
        new version they start Pending; nodes no longer targeted drop out.
        """
        now = self.sim.now()
        for running in association.in_flight():
            self._cancel(running, now)
        version = association.latest.number
        fleet = self.sim.fleet.nodes(association.account, association.region)
        nodes = resolve_targets(fleet, association.settings.targets)
        records = {}
        for node in nodes:
            record = association.nodes.get(node.instance_id)
            if record is None or record.version != version:
                record = NodeRecord(PENDING, version, None, now)
            records[node.instance_id] = record
        previous = association.nodes
        association.nodes = records
        # A new version drops the nodes' results (their items), and untargeted nodes leave.
        self.sim.config.changed(
            association.account, association.region, sorted(previous.keys() | records.keys()), now
        )
        return nodes

    def start(self, association: Association, trigger: str) -> Execution:
        """Run the association's latest version on its targets now."""
        nodes = self.supersede(association)
        now = self.sim.now()
        settings = association.settings
        execution_id = self.ids.uuid("execution")
        runs = {
            node.instance_id: self._target_run(execution_id, node.instance_id, now)
            for node in nodes
        }
        execution = Execution(
            id=execution_id,
            version=association.latest.number,
            settings=settings,
            created=now,
            trigger=trigger,
            targets=runs,
            queue=sorted(runs, key=lambda instance_id: (runs[instance_id].ready, instance_id)),
            limit=concurrency_limit(settings.max_concurrency, len(nodes)),
            max_errors=error_threshold(settings.max_errors, len(nodes)),
            document_version=self._document_version(association),
        )
        association.executions.append(execution)
        self._pump(association, execution, now)
        self._settle(association, execution, now)
        return execution

    def catch_up(self, node: Node, now: float) -> None:
        """``node``'s agent is back online: it runs the associations it has not run yet."""
        for association in self.sim.statemanager.associations(node.account_id, node.region):
            if not association.executions:
                continue
            execution = association.executions[-1]
            if (
                execution.version != association.latest.number
                or node.instance_id not in execution.waiting
            ):
                continue
            execution.waiting.discard(node.instance_id)
            run = execution.targets[node.instance_id]
            if execution.stopped:
                self._skip(association, execution, [node.instance_id], now)
                continue
            low, high = PICKUP_SECONDS
            pickup = low + (high - low) * draw(
                self.sim.seed, "return", execution.id, node.instance_id, round(now, 3)
            )
            run.ready = now + pickup
            targets = execution.targets
            execution.queue.append(node.instance_id)
            execution.queue.sort(key=lambda instance_id: (targets[instance_id].ready, instance_id))
            execution.done, execution.finished = False, None
            self._pump(association, execution, now)

    def stop(self, association: Association) -> None:
        """Cancel everything the association has scheduled (it is being deleted)."""
        now = self.sim.now()
        for running in association.in_flight():
            self._cancel(running, now)
        if association.timer is not None:
            association.timer.cancel()
            association.timer = None

    def arm(self, association: Association, after: float) -> None:
        """Schedule the association's next run after ``after`` (from its schedule, if any)."""
        if association.timer is not None:
            association.timer.cancel()
            association.timer = None
        expression = association.settings.schedule
        if not expression:
            return
        moment = parse_schedule(expression).next_after(self.sim.clock.at(after))
        if moment is None:
            return
        due = (moment - self.sim.clock.at(0)).total_seconds()
        association.timer = self.sim.scheduler.at(
            due, partial(self._on_timer, association), f"statemanager:{association.id}:schedule"
        )

    # --- internals ------------------------------------------------------------------------
    def _target_run(self, execution_id: str, instance_id: str, now: float) -> TargetRun:
        seed = self.sim.seed
        low, high = PICKUP_SECONDS
        pickup = low + (high - low) * draw(seed, "pickup", execution_id, instance_id)
        low, high = RUN_SECONDS
        run_time = low + (high - low) * draw(seed, "run", execution_id, instance_id)
        return TargetRun(instance_id, ready=now + pickup, run_time=run_time)

    def _document_version(self, association: Association) -> str:
        settings = association.settings
        if settings.document in AWS_DOCUMENTS:
            return "1"
        try:
            document = find_document(
                settings.document,
                settings.document_version,
                association.account,
                association.region,
            )
        except SsmError:
            return settings.document_version
        return str(document.document_version)

    def _on_timer(self, association: Association, _due: float) -> None:
        # Run from the present, not from the due time: a simulator that idled past several
        # occurrences runs once, then schedules the next occurrence from this run.
        association.timer = None
        now = self.sim.now()
        if not association.in_flight():
            self.start(association, "schedule")
        self.arm(association, now)

    def _at(
        self, due: float, action: Callable[[float], None], label: str, execution: Execution
    ) -> None:
        execution.handles.append(self.sim.scheduler.at(due, action, label))

    def _pump(self, association: Association, execution: Execution, now: float) -> None:
        while execution.queue and execution.running < execution.limit:
            instance_id = execution.queue.pop(0)
            node = self.sim.fleet.get(instance_id)
            if node is None or not node.online_at(now):
                execution.waiting.add(instance_id)
                continue
            run = execution.targets[instance_id]
            run.dispatched = True
            execution.running += 1
            self._at(
                max(now, run.ready),
                partial(self._begin, association, execution, instance_id),
                f"statemanager:{execution.id}:{instance_id}:begin",
                execution,
            )

    def _begin(
        self, association: Association, execution: Execution, instance_id: str, due: float
    ) -> None:
        run = execution.targets[instance_id]
        node = self.sim.fleet.get(instance_id)
        if node is None or not node.online_at(due):
            # Offline before it picked the run up: it waits for its agent to come back.
            run.dispatched = False
            execution.running -= 1
            execution.waiting.add(instance_id)
            self._pump(association, execution, due)
            self._settle(association, execution, due)
            return
        run.status, run.date, run.output_id = IN_PROGRESS, due, self.ids.uuid("command")
        execution.status = IN_PROGRESS
        record = association.nodes.get(instance_id)
        if (
            record is not None
            and record.status in (PENDING, SKIPPED)
            and record.version == execution.version
        ):
            record.status, record.date, record.execution_id = IN_PROGRESS, due, execution.id
        self._at(
            due + run.run_time,
            partial(self._finish, association, execution, instance_id),
            f"statemanager:{execution.id}:{instance_id}:finish",
            execution,
        )

    def _finish(
        self, association: Association, execution: Execution, instance_id: str, due: float
    ) -> None:
        run = execution.targets[instance_id]
        node = self.sim.fleet.get(instance_id)
        assert node is not None  # only nodes of the fleet are dispatched, and it never shrinks
        reason = apply_document(self.sim, node, execution.settings, due)
        run.status, run.reason, run.date = (FAILED if reason else SUCCESS), reason, due
        record = association.nodes.get(instance_id)
        if record is not None and record.version == execution.version:
            association.nodes[instance_id] = NodeRecord(
                run.status,
                execution.version,
                execution.id,
                due,
                reason,
                run.output_id,
                execution.document_version,
            )
            self.sim.config.changed(association.account, association.region, [instance_id], due)
        execution.running -= 1
        if reason:
            execution.errors += 1
        if execution.max_errors is not None and execution.errors > execution.max_errors:
            execution.stopped = True
            self._skip(association, execution, execution.queue, due)
            execution.queue.clear()
        self._pump(association, execution, due)
        self._settle(association, execution, due)

    def _skip(
        self, association: Association, execution: Execution, instance_ids: list[str], now: float
    ) -> None:
        """Targets a run stopped by MaxErrors will not send the association to."""
        for instance_id in instance_ids:
            run = execution.targets[instance_id]
            run.status, run.date = SKIPPED, now
            record = association.nodes.get(instance_id)
            if record and record.version == execution.version and record.status == PENDING:
                record.status, record.date, record.execution_id = SKIPPED, now, execution.id

    def _settle(self, association: Association, execution: Execution, now: float) -> None:
        if execution.done or execution.queue or execution.running:
            return
        statuses = {run.status for run in execution.targets.values()}
        if FAILED in statuses:
            execution.status = FAILED
        elif SUCCESS in statuses or not statuses:
            execution.status = SUCCESS
        else:
            execution.status = PENDING  # only nodes whose agents never report
        self._close(association, execution, now)

    def _cancel(self, execution: Execution, now: float) -> None:
        for handle in execution.handles:
            handle.cancel()
        execution.handles.clear()
        for run in execution.targets.values():
            if run.status == IN_PROGRESS or (run.status == PENDING and run.dispatched):
                run.status, run.date = CANCELLED, now
        for instance_id in execution.queue:
            execution.targets[instance_id].status = CANCELLED
        execution.queue.clear()
        execution.waiting.clear()
        execution.running = 0
        statuses = {run.status for run in execution.targets.values()}
        execution.status = FAILED if FAILED in statuses else CANCELLED
        execution.done, execution.finished = True, now

    def _close(self, association: Association, execution: Execution, now: float) -> None:
        execution.done, execution.finished = True, now
        execution.handles.clear()
        if execution.status != PENDING:
            association.last_execution = now
        if execution.status == SUCCESS:
            association.last_success = now
