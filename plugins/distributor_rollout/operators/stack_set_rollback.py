"""Roll back what this run's waves changed, and nothing else."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.deployment import (
    ACTIVE_OPERATION_STATUSES,
    create_operation_id,
    recovered_changes,
    rollback_preferences,
    update_operation_id,
)
from distributor_rollout.core.operation_ids import rollback_operation_id
from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.plan import Plan, wave_gate, wave_operation
from distributor_rollout.core.release import Release
from distributor_rollout.core.rollback import (
    RollbackPlan,
    plan_rollback,
    rollback_summary,
    unrestored,
)
from distributor_rollout.core.rollback_actions import (
    UNINSTALL_ACTIONS,
    DeleteInstances,
    RestoreTemplate,
    RollbackAction,
    UninstallInstances,
    action_templates,
    forward_restore,
    narrowed,
    uninstall_by_template,
)
from distributor_rollout.core.steps import (
    DEPLOY,
    NARROWING_XCOM_KEY,
    ROLLBACK_XCOM_KEY,
    STARTED_AT_XCOM_KEY,
    wave_task_id,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.tries import continues
from distributor_rollout.core.uninstall import OfflineSplit, split_offline, uninstall_progress
from distributor_rollout.core.verdict import (
    FailureTolerance,
    InstanceResult,
    OperationVerdict,
    judge_operation,
    truncate_list,
)
from distributor_rollout.hooks.association_status import AssociationStatusHook
from distributor_rollout.hooks.errors import (
    AwsRolloutError,
    ConfigurationError,
    MemberAccessDenied,
)
from distributor_rollout.links.console import StackSetOperationLink
from distributor_rollout.operators.stack_set_base import StackSetOperatorBase
from distributor_rollout.run_config import load_run_config
from distributor_rollout.settings import scaled_seconds, time_scale
from distributor_rollout.task_store import max_tries, state_store
from distributor_rollout.templated import rendered_list, rendered_mapping

DEFAULT_UNINSTALL_TIMEOUT = 1800.0
"""How long an uninstall of a wave no longer in the plan may take to reach its nodes (the
fleet's time: divided by the configured time scale, see ``settings``)."""


@dataclass(frozen=True)
class UninstallCheck:
    """What an uninstall wait found: targets whose uninstall failed or could not be
    confirmed, targets to keep because nodes that may hold the package went offline
    (``kept``, with how many such nodes), and nodes left as they were because their agent
    was offline since before their wave deployed (``untouched``)."""

    unconfirmed: frozenset[Target] = frozenset()
    kept: Mapping[Target, int] = field(default_factory=dict)
    untouched: Mapping[Target, int] = field(default_factory=dict)


ROLLBACK_RETRIES = 2
"""Times a rollback action is tried again on the targets where it failed."""
RETRY_PAUSE_SECONDS = 30.0
"""The pause before each retry, so a throttled or busy target has time to settle."""


class RollbackIncomplete(AwsRolloutError, AirflowFailException):
    """Some changed targets could not be restored; the message names them. Not retried by
    Airflow: the task already tried again where it failed (``ROLLBACK_RETRIES``)."""


class RollbackOperator(StackSetOperatorBase):
    """Undo this run's changes: ``core.rollback.plan_rollback`` over the waves' records,
    then each action in order, one StackSet operation each, waited for before the next.

    Each action's operation id is ``rollback_operation_id(run_id, index)``: a retried
    or resumed task adopts what it started. Rollback operations attempt every target
    (100% failure tolerance), and failures are read from their results. An action that
    fails is reported and the rest still run, except that a ``DeleteInstances`` reaching a
    target whose uninstall failed is skipped: deleting the stack would remove the
    association and leave the package on the nodes with nothing to remove it.

    Returns (and pushes under ``rollback``) ``{"mode", "note", "actions": [... with
    "operation_id", "status", "summary"], "restored": [targets], "failed": [targets],
    "complete": true}``, and raises ``RollbackIncomplete`` at the end if any target could
    not be restored. Before each action it pushes the same record with ``"complete":
    false``, the actions not yet run ``pending`` and every target in ``failed``: a task
    that dies mid-rollback leaves the report an honest account of how far it got.

    After an uninstall, the next action waits until every node of its targets has run the
    uninstall (``wait_for_uninstall``: the association's node counts, read through the
    compliance-reader role, until the wave gate's timeout): deleting an instance deletes
    its association, so a node that had not uninstalled yet would keep the package. A
    target whose nodes failed or never reported counts as not restored, and its delete
    is skipped. This wait polls from the worker: rollbacks are rare and short, and the
    stack operations around it already defer. Its timeout and poll interval (the wave
    gate's, fleet time) are divided by the deployment's ``[distributor_rollout]
    time_scale`` at run time.

    In a dry run nothing was deployed, so there is nothing to roll back: the task raises
    ``AirflowSkipException`` before any AWS call.

    :param plan_path: the rollout plan file.
    :param run_params: the DAG run's params (templated).
    :param release: the prepare step's ``Release.to_dict()`` (templated).
    :param wave_results: the deploy tasks' return values, one per plan wave in plan order
        (templated; a rendered JSON or Python-literal list is accepted). A None entry for
        a wave this run deploys (its task failed after starting an operation, so it
        returned nothing) is rebuilt from this run's operations for that wave; None for a
        wave not run (its deploy task was skipped) is ignored.
    :param retry_pause: seconds (fleet time, see ``settings.time_scale``) to pause before
        trying a failed action again where it failed.
    :param mode: ``previous_version``, ``uninstall`` or ``none``; default: the plan's
        (after the run's ``rollback_mode`` param).
    """

    template_fields: Sequence[str] = aws_template_fields(
        "plan_path", "run_params", "release", "wave_results", "mode"
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "run_params": "json",
        "release": "json",
        "wave_results": "json",
    }
    operator_extra_links = (StackSetOperationLink(),)

    def __init__(
        self,
        *,
        plan_path: str,
        release: Mapping[str, Any] | str,
        wave_results: Sequence[Mapping[str, Any] | None] | str,
        run_params: Mapping[str, Any] | None = None,
        mode: str | None = None,
        retry_pause: float = RETRY_PAUSE_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.release = release
        self.wave_results = wave_results
        self.run_params = run_params
        self.mode = mode
        self.retry_pause = retry_pause

    def execute(self, context: Any) -> dict[str, Any]:
        """Run (or resume) the rollback plan; its record."""
        return self._rollback(context)

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """Resume after a wait: pick up from what AWS reports now."""
        self.check_wait_event(event)
        return self._rollback(context)

    def wait_for_uninstall(
        self, targets: Set[Target], wave_name: str, plan: Plan, deployed_at: float | None = None
    ) -> UninstallCheck:
        """Wait until every node of ``targets`` that can run the uninstall did; what it
        found (see ``UninstallCheck``). Nodes whose agent went offline before ``deployed_at``
        (when the wave deployed; epoch seconds) never got the version and need nothing;
        those that went offline since may hold it, and keep their target's instance. Reads
        only, so it is safe to repeat on every resume."""
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
        ordered = sorted(targets)
        deadline = time.monotonic() + timeout
        self.log.info(
            "Waiting up to %.0fs for the uninstall to reach the nodes of %d targets, polling "
            "every %.1fs (time scale %g)",
            timeout,
            len(ordered),
            interval,
            time_scale(),
        )
        while True:
            try:
                poll = reader.poll(ordered, plan.association.name)
            except MemberAccessDenied as error:
                # Unreadable is unconfirmed: keep the instances (and their associations).
                self.log.warning("Cannot confirm the uninstall: %s", error)
                return UninstallCheck(unconfirmed=frozenset(ordered))
            splits = {
                status.target: split_offline(
                    [node.last_ping for node in status.offline_nodes], deployed_at
                )
                for status in poll.statuses
                if status.offline_nodes
            }
            progress = uninstall_progress(poll.compliances, splits)
            left = progress.waiting | set(poll.unread)
            if not left or time.monotonic() >= deadline:
                return self._uninstall_check(progress.failed | left, progress, splits)
            time.sleep(interval)

    def _uninstall_check(
        self, unconfirmed: Set[Target], progress: Any, splits: Mapping[Target, OfflineSplit]
    ) -> UninstallCheck:
        """The wait's result, logged in an operator's words."""
        kept = {target: n for target, n in progress.stranded.items() if target not in unconfirmed}
        if unconfirmed:
            self.log.warning(
                "Uninstall not confirmed on %d targets: %s",
                len(unconfirmed),
                truncate_list([str(target) for target in sorted(unconfirmed)]),
            )
        if kept:
            self.log.warning(
                "Keeping %d targets' instances (with the uninstall, for when their agents "
                "return): nodes went offline after their wave deployed: %s",
                len(kept),
                truncate_list([f"{target} ({n} offline)" for target, n in sorted(kept.items())]),
            )
        if progress.untouched:
            self.log.info(
                "%d nodes were offline since before their wave deployed and never got the "
                "version: left as they were",
                sum(progress.untouched.values()),
            )
        return UninstallCheck(frozenset(unconfirmed), kept, dict(progress.untouched))

    def _rollback(self, context: Any, config: RunConfig | None = None) -> dict[str, Any]:
        # Undoing must happen even if the plan file changed since the run validated it.
        config = config or load_run_config(self.plan_path, self.run_params, pinned=False)
        if config.dry_run:
            raise AirflowSkipException("dry run: nothing was deployed to roll back")
        release = self.load_release(self._release_dict())
        mode = self.mode or config.plan.rollback.mode
        waves = self._wave_changes(context, release, config)
        plan = _forward(plan_rollback(waves, mode), release)
        self.log.info("%s", rollback_summary(plan))
        # Every template the actions restore, read back and checked before any of them runs.
        self.check_templates(action_templates(plan.actions))
        if plan.actions:
            self.describe_stack_set(release)
        outcomes: list[dict[str, Any]] = []
        failed: set[Target] = set()
        uninstall_failed: set[Target] = set()
        offline = _OfflineRecord()
        narrowings = dict(self._recorded_narrowings(context))
        for index, action in enumerate(plan.actions):
            # Recorded before each action: if the task dies here, the report still says
            # which actions ran and which targets may not be restored.
            self._push_progress(context, plan, outcomes, offline)
            op_id = rollback_operation_id(context["run_id"], index)
            if isinstance(action, DeleteInstances):
                decision = narrowings.get(str(index))
                if decision is None:
                    decision = self._decide_delete(
                        context,
                        release,
                        config.plan,
                        action,
                        op_id=op_id,
                        uninstall_failed=uninstall_failed,
                    )
                    narrowings[str(index)] = decision
                    self._record_narrowings(context, narrowings)
                unconfirmed = _targets(decision["unconfirmed"])
                uninstall_failed |= unconfirmed
                failed |= unconfirmed
                offline.add(decision)
                to_delete = _targets(decision["delete"])
                if to_delete != action.targets():
                    outcomes.append(
                        self._run_narrowed(
                            context,
                            release,
                            config.plan,
                            action,
                            index=index,
                            to_delete=to_delete,
                        )
                    )
                    failed |= _targets(outcomes[-1]["lost"])
                    continue
            lost, summary = self._run_with_retries(context, release, config.plan, action, index)
            failed |= lost
            if isinstance(action, UNINSTALL_ACTIONS):
                uninstall_failed |= lost
            status = "failed" if lost else "succeeded"
            outcomes.append(_outcome(action, op_id, status, summary))
        self._push_progress(context, plan, outcomes, offline)  # every action done
        confirmed = self._confirm_kept_uninstalls(context, plan, config.plan, uninstall_failed)
        failed |= confirmed.unconfirmed
        offline.add_check(confirmed)
        return self._finish(context, plan, outcomes, failed, offline)

    def _decide_delete(
        self,
        context: Any,
        release: Release,
        plan: Plan,
        action: DeleteInstances,
        *,
        op_id: str,
        uninstall_failed: Set[Target],
    ) -> dict[str, Any]:
        """Which of a delete's targets to delete: those whose every node that can run the
        uninstall ran it. Targets whose uninstall failed or was not confirmed stay (and
        count as not restored); targets with nodes that went offline after their wave
        deployed stay too, their association keeping the uninstall for when the agents
        return (``kept``, restored as far as any reachable node goes)."""
        targets = action.targets()
        if self._operation(release, op_id):
            # Started whole by an earlier try: the decision was all of them.
            return _narrowing(targets, UninstallCheck())
        check = self.wait_for_uninstall(
            targets, action.wave, plan, self._deployed_at(context, action.wave)
        )
        blocked = (check.unconfirmed | (targets & uninstall_failed)) - set(check.kept)
        return _narrowing(
            targets - blocked - set(check.kept), replace(check, unconfirmed=frozenset(blocked))
        )

    def _run_narrowed(
        self,
        context: Any,
        release: Release,
        plan: Plan,
        action: DeleteInstances,
        *,
        index: int,
        to_delete: Set[Target],
    ) -> dict[str, Any]:
        """Run a delete on ``to_delete`` only, one operation per group of accounts sharing
        Regions (``narrowed``); one outcome for the action, ``lost`` naming what stayed."""
        kept = len(action.targets() - to_delete)
        if not to_delete:
            op_id = rollback_operation_id(context["run_id"], index)
            return {
                **_outcome(action, op_id, "skipped", f"kept all {kept} targets' instances"),
                "lost": [],
            }
        lost: set[Target] = set()
        summaries = []
        ids = []
        for number, part in enumerate(narrowed(action, to_delete), start=1):
            ids.append(rollback_operation_id(context["run_id"], index, narrowed=number))
            part_lost, summary = self._run_with_retries(
                context, release, plan, part, index, narrowed_part=number
            )
            lost |= part_lost
            summaries.append(summary)
        status = "failed" if lost else "succeeded"
        summary = "; ".join(summaries) + f"; {kept} targets' instances kept"
        return {
            **_outcome(action, ids[0], status, summary),
            "operation_ids": ids,
            "deleted": [str(target) for target in sorted(to_delete)],
            "lost": [str(target) for target in sorted(lost)],
        }

    def _deployed_at(self, context: Any, wave: str) -> float | None:
        """When the wave's deploy task started (epoch seconds), or None if unknown."""
        value = context["ti"].xcom_pull(
            task_ids=wave_task_id(wave, DEPLOY), key=STARTED_AT_XCOM_KEY
        )
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value).timestamp()
            except ValueError:
                return None
        return None

    def _recorded_narrowings(self, context: Any) -> Mapping[str, Any]:
        """Delete decisions this task already recorded: in this try (a resume after a
        deferral), or in an earlier try Airflow retried (not one a person cleared)."""
        store = state_store(context)
        stored = store.get(NARROWING_XCOM_KEY) if store is not None else None
        if isinstance(stored, Mapping) and continues(stored.get("max_tries"), max_tries(context)):
            decisions = stored.get("decisions")
            if isinstance(decisions, Mapping):
                return decisions
        recorded = context["ti"].xcom_pull(task_ids=self.task_id, key=NARROWING_XCOM_KEY)
        return recorded if isinstance(recorded, Mapping) else {}

    def _record_narrowings(self, context: Any, narrowings: Mapping[str, Any]) -> None:
        """Record the delete decisions before acting on them (see ``NARROWING_XCOM_KEY``)."""
        store = state_store(context)
        if store is not None:
            record = {"max_tries": max_tries(context), "decisions": dict(narrowings)}
            store.set(NARROWING_XCOM_KEY, record)
        context["ti"].xcom_push(key=NARROWING_XCOM_KEY, value=dict(narrowings))

    def _run_with_retries(
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
            if not any(self._operation(release, retry_id) for retry_id in retry_ids):
                # A short pause before trying again (not on a resume that already did).
                time.sleep(scaled_seconds(self.retry_pause))
            for part, retry_id in zip(parts, retry_ids, strict=True):
                retried = self._run_action(context, release, plan, part, retry_id)
                still |= unrestored(retried, part.targets())
            summary += f"; retry {attempt}: {len(lost) - len(still)} of {len(lost)} restored"
            lost = still
        return lost, summary

    def _confirm_kept_uninstalls(
        self, context: Any, plan: RollbackPlan, run_plan: Plan, already_failed: set[Target]
    ) -> UninstallCheck:
        """Targets uninstalled but not deleted (``uninstall`` mode's updated instances)
        count as restored only once their nodes that can run the uninstall ran it."""
        deleted = {
            target
            for action in plan.actions
            if isinstance(action, DeleteInstances)
            for target in action.targets()
        }
        unconfirmed: set[Target] = set()
        kept: dict[Target, int] = {}
        untouched: dict[Target, int] = {}
        for action in plan.actions:
            waiting_for = set(action.targets()) - deleted - already_failed
            if isinstance(action, UNINSTALL_ACTIONS) and waiting_for:
                check = self.wait_for_uninstall(
                    waiting_for, action.wave, run_plan, self._deployed_at(context, action.wave)
                )
                unconfirmed |= check.unconfirmed
                kept.update(check.kept)
                untouched.update(check.untouched)
        return UninstallCheck(frozenset(unconfirmed), kept, untouched)

    def _release_dict(self) -> Mapping[str, Any]:
        """``release`` as a mapping (a template may have rendered it to text)."""
        try:
            release = rendered_mapping(self.release)
        except TypeError:
            release = None
        if release is None:
            raise ConfigurationError(f"release must be a Release.to_dict() (got {self.release!r})")
        return release

    def _wave_results(self) -> list[Mapping[str, Any] | None]:
        """``wave_results`` as a list (a template may have rendered it to text)."""
        if not self.wave_results:
            return []
        results = rendered_list(self.wave_results)
        if results is None or not all(r is None or isinstance(r, Mapping) for r in results):
            raise ConfigurationError(
                "wave_results must be the deploy tasks' results in plan order, None where "
                f"there is none (got {self.wave_results!r})"
            )
        return results

    def _wave_changes(self, context: Any, release: Release, config: RunConfig) -> list[WaveChanges]:
        """The waves' records; a wave whose deploy task failed after starting an operation
        left none, so its record is rebuilt from this run's operations for it."""
        waves: list[WaveChanges] = []
        for index, result in enumerate(self._wave_results()):
            if result:
                waves.append(WaveChanges.from_dict(result["changes"]))
                continue
            spec = config.plan.waves[index] if index < len(config.plan.waves) else None
            if spec is None or not config.runs_wave(spec.name):
                continue
            recovered = self._recover(context["run_id"], release, spec.name)
            if recovered.changes:
                self.log.warning(
                    "Wave %s left no record; rebuilt from its operations: %d targets changed",
                    spec.name,
                    len(recovered.changes),
                )
                waves.append(recovered)
        return waves

    def _recover(self, run_id: str, release: Release, wave: str) -> WaveChanges:
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

    def _run_action(
        self, context: Any, release: Release, plan: Plan, action: RollbackAction, op_id: str
    ) -> OperationVerdict:
        """Start the action's operation once (after anyone else's), wait for it, judge it."""
        while (operation := self._operation(release, op_id)) is None:
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
            request = self.with_checked_template(
                {**action.api_request(), "OperationPreferences": preferences.to_aws()}
            )
            if action.api_call == "UpdateStackSet":
                described = self.describe_stack_set(release)
                request["Capabilities"] = list(described.get("Capabilities") or [])
            self.log.info("Rollback: %s (%s)", action.describe(), op_id)
            self.start(release, action.api_call, op_id, request)
        if operation["Status"] in ACTIVE_OPERATION_STATUSES:
            self.wait_for(context, release, [op_id])
            operation = self._operation(release, op_id) or operation
        results = self.hook.list_operation_results(
            release.stack_set_name, op_id, call_as=release.call_as
        )
        return judge_operation(
            operation["Status"],
            [InstanceResult.from_api(result) for result in results],
            FailureTolerance.from_preferences(operation.get("OperationPreferences")),
        )

    def _operation(self, release: Release, op_id: str) -> dict[str, Any] | None:
        return self.hook.describe_operation(release.stack_set_name, op_id, call_as=release.call_as)

    def _push_progress(
        self,
        context: Any,
        plan: RollbackPlan,
        outcomes: list[dict[str, Any]],
        offline: _OfflineRecord,
    ) -> None:
        """Push an unfinished record: the actions so far, the rest ``pending``, and every
        target of the plan counted as not restored until the rollback has finished."""
        pending = [
            _outcome(action, rollback_operation_id(context["run_id"], index), "pending", "")
            for index, action in enumerate(plan.actions)
            if index >= len(outcomes)
        ]
        record = {
            "mode": plan.mode,
            "note": plan.note,
            "actions": [*outcomes, *pending],
            "restored": [],
            "failed": [str(target) for target in sorted(plan.targets())],
            **offline.to_dict(),
            "complete": False,
        }
        context["ti"].xcom_push(key=ROLLBACK_XCOM_KEY, value=record)

    def _finish(
        self,
        context: Any,
        plan: RollbackPlan,
        outcomes: list[dict[str, Any]],
        failed: set[Target],
        offline: _OfflineRecord,
    ) -> dict[str, Any]:
        kept = set(offline.kept) - failed
        restored = sorted(plan.targets() - failed - kept)
        failed_names = [str(target) for target in sorted(failed)]
        result: dict[str, Any] = {
            "mode": plan.mode,
            "note": plan.note,
            "actions": outcomes,
            "restored": [str(target) for target in restored],
            "failed": failed_names,
            **offline.to_dict(exclude=failed),
            "complete": True,
        }
        context["ti"].xcom_push(key=ROLLBACK_XCOM_KEY, value=result)
        started = [outcome for outcome in outcomes if outcome["status"] != "skipped"]
        if started:
            StackSetOperationLink.persist(
                context=context,
                operator=self,
                region_name=self.region_name,
                aws_partition=self.hook.conn_partition,
                stack_set_name=Release.from_dict(self._release_dict()).stack_set_name,
                operation_id=started[-1]["operation_id"],
            )
        self.log.info(
            "Rollback (%s): %d targets restored, %d kept for offline nodes, %d failed",
            plan.mode,
            len(restored),
            len(kept),
            len(failed),
        )
        if failed:
            raise RollbackIncomplete(
                f"rollback ({plan.mode}) could not restore {len(failed)} targets: "
                + truncate_list(failed_names)
            )
        return result


class _OfflineRecord:
    """Offline nodes a rollback left alone: targets kept for nodes that may hold the
    package (their agent went offline after the deploy), and nodes never reached."""

    def __init__(self) -> None:
        self.kept: dict[Target, int] = {}
        self.untouched: dict[Target, int] = {}

    def add(self, decision: Mapping[str, Any]) -> None:
        """Add a delete decision's offline nodes (``_narrowing``'s shape)."""
        for item in decision.get("kept", []):
            self.kept[Target.parse(item["target"])] = int(item["offline_nodes"])
        for item in decision.get("untouched", []):
            self.untouched[Target.parse(item["target"])] = int(item["nodes"])

    def add_check(self, check: UninstallCheck) -> None:
        """Add an uninstall wait's offline nodes."""
        self.kept.update(check.kept)
        self.untouched.update(check.untouched)

    def to_dict(self, exclude: Set[Target] = frozenset()) -> dict[str, Any]:
        """``kept`` and ``untouched`` for the rollback record (targets in ``exclude``,
        the failed ones, are reported there instead)."""
        return {
            "kept": [
                {"target": str(target), "offline_nodes": nodes}
                for target, nodes in sorted(self.kept.items())
                if target not in exclude
            ],
            "untouched": [
                {"target": str(target), "nodes": nodes}
                for target, nodes in sorted(self.untouched.items())
            ],
        }


def _narrowing(delete: Set[Target], check: UninstallCheck) -> dict[str, Any]:
    """A delete decision as recorded (XCom): what to delete, what stays and why."""
    return {
        "delete": [str(target) for target in sorted(delete)],
        "unconfirmed": [str(target) for target in sorted(check.unconfirmed)],
        "kept": [
            {"target": str(target), "offline_nodes": nodes}
            for target, nodes in sorted(check.kept.items())
        ],
        "untouched": [
            {"target": str(target), "nodes": nodes}
            for target, nodes in sorted(check.untouched.items())
        ],
    }


def _targets(names: Sequence[str]) -> set[Target]:
    return {Target.parse(name) for name in names}


def _forward(plan: RollbackPlan, release: Release) -> RollbackPlan:
    """The plan with restores made forward-only (``core.rollback.forward_restore``) and
    uninstalls made stack set updates where the template allows (``uninstall_by_template``)."""
    actions = tuple(
        replace(action, template=forward_restore(action.template, release.template))
        if isinstance(action, RestoreTemplate)
        else uninstall_by_template(action, release.template)
        if isinstance(action, UninstallInstances)
        else action
        for action in plan.actions
    )
    return replace(plan, actions=actions)


def _outcome(action: RollbackAction, op_id: str, status: str, summary: str) -> dict[str, Any]:
    return {**action.to_dict(), "operation_id": op_id, "status": status, "summary": summary}
