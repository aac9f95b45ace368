"""Roll back what this run's waves changed, and nothing else."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence, Set
from dataclasses import replace
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
    forward_restore,
    narrowed,
    uninstall_by_template,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import uninstall_progress
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
from distributor_rollout.operators.config import load_run_config
from distributor_rollout.operators.stack_set_base import StackSetOperatorBase
from distributor_rollout.settings import scaled_seconds, time_scale
from distributor_rollout.templated import rendered_list, rendered_mapping

DEFAULT_UNINSTALL_TIMEOUT = 1800.0
"""How long an uninstall of a wave no longer in the plan may take to reach its nodes (the
fleet's time: divided by the configured time scale, see ``settings``)."""
ROLLBACK_XCOM_KEY = "rollback"
"""The XCom key the result is also pushed under, so a report can read it even when the
task fails."""


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

    def wait_for_uninstall(self, targets: Set[Target], wave_name: str, plan: Plan) -> set[Target]:
        """Wait until every node of ``targets`` ran the uninstall; the targets where it
        failed or could not be confirmed in time. Reads only, so it is safe to repeat on
        every resume (the decision it guards is then made again from what AWS says)."""
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
                return set(ordered)
            progress = uninstall_progress(poll.compliances)
            left = progress.waiting | set(poll.unread)
            if not left or time.monotonic() >= deadline:
                unconfirmed = set(progress.failed) | left
                if unconfirmed:
                    self.log.warning(
                        "Uninstall not confirmed on %d targets: %s",
                        len(unconfirmed),
                        truncate_list([str(target) for target in sorted(unconfirmed)]),
                    )
                return unconfirmed
            time.sleep(interval)

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
        if plan.actions:
            self.describe_stack_set(release)
        outcomes: list[dict[str, Any]] = []
        failed: set[Target] = set()
        uninstall_failed: set[Target] = set()
        for index, action in enumerate(plan.actions):
            # Recorded before each action: if the task dies here, the report still says
            # which actions ran and which targets may not be restored.
            self._push_progress(context, plan, outcomes)
            op_id = rollback_operation_id(context["run_id"], index)
            if isinstance(action, DeleteInstances) and not self._operation(release, op_id):
                # Deleting an instance deletes its association: only once its nodes have
                # run the uninstall. Decided again on every resume, from AWS.
                unconfirmed = (
                    self.wait_for_uninstall(action.targets(), action.wave, config.plan)
                    - uninstall_failed
                )
                uninstall_failed |= unconfirmed
                failed |= unconfirmed
            if isinstance(action, DeleteInstances) and action.targets() & uninstall_failed:
                # All or nothing: a delete narrowed to the confirmed targets would need its
                # narrowing remembered across resumes, and a kept instance is harmless
                # (its association keeps uninstalling on nodes that come back).
                failed |= action.targets()
                outcomes.append(_outcome(action, op_id, "skipped", "its uninstall failed"))
                continue
            lost, summary = self._run_with_retries(context, release, config.plan, action, index)
            failed |= lost
            if isinstance(action, UNINSTALL_ACTIONS):
                uninstall_failed |= lost
            status = "failed" if lost else "succeeded"
            outcomes.append(_outcome(action, op_id, status, summary))
        self._push_progress(context, plan, outcomes)  # every action done; confirming next
        failed |= self._confirm_kept_uninstalls(plan, config.plan, uninstall_failed)
        return self._finish(context, plan, outcomes, failed)

    def _run_with_retries(
        self, context: Any, release: Release, plan: Plan, action: RollbackAction, index: int
    ) -> tuple[frozenset[Target], str]:
        """Run the action; try again, only where it failed, up to ``ROLLBACK_RETRIES``
        times (each retry its own deterministic operation). What stays lost, and a summary.

        StackSets failures in a rollback are mostly transient (throttled resource
        handlers, a member account busy): retrying just those targets usually restores
        them, and a target that keeps failing is reported, never hidden."""
        op_id = rollback_operation_id(context["run_id"], index)
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
                rollback_operation_id(context["run_id"], index, attempt, k)
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
        self, plan: RollbackPlan, run_plan: Plan, already_failed: set[Target]
    ) -> set[Target]:
        """Targets uninstalled but not deleted (``uninstall`` mode's updated instances)
        count as restored only once their nodes ran the uninstall."""
        deleted = {
            target
            for action in plan.actions
            if isinstance(action, DeleteInstances)
            for target in action.targets()
        }
        unconfirmed: set[Target] = set()
        for action in plan.actions:
            kept = set(action.targets()) - deleted - already_failed
            if isinstance(action, UNINSTALL_ACTIONS) and kept:
                unconfirmed |= self.wait_for_uninstall(kept, action.wave, run_plan)
        return unconfirmed

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
            request = {**action.api_request(), "OperationPreferences": preferences.to_aws()}
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
        self, context: Any, plan: RollbackPlan, outcomes: list[dict[str, Any]]
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
            "complete": False,
        }
        context["ti"].xcom_push(key=ROLLBACK_XCOM_KEY, value=record)

    def _finish(
        self,
        context: Any,
        plan: RollbackPlan,
        outcomes: list[dict[str, Any]],
        failed: set[Target],
    ) -> dict[str, Any]:
        restored = sorted(plan.targets() - failed)
        failed_names = [str(target) for target in sorted(failed)]
        result: dict[str, Any] = {
            "mode": plan.mode,
            "note": plan.note,
            "actions": outcomes,
            "restored": [str(target) for target in restored],
            "failed": failed_names,
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
            "Rollback (%s): %d targets restored, %d failed", plan.mode, len(restored), len(failed)
        )
        if failed:
            raise RollbackIncomplete(
                f"rollback ({plan.mode}) could not restore {len(failed)} targets: "
                + truncate_list(failed_names)
            )
        return result


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
