"""Roll back what this run's waves changed, and nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import replace
from typing import Any, ClassVar

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from distributor_rollout.core.artifacts import object_location
from distributor_rollout.core.operation_ids import rollback_operation_id
from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.release import Release, run_tag_value
from distributor_rollout.core.rollback import (
    forward_plan,
    plan_rollback,
    rollback_summary,
    uninstalls_to_confirm,
)
from distributor_rollout.core.rollback_actions import DeleteInstances, action_templates
from distributor_rollout.core.rollback_record import (
    ActionOutcome,
    DeleteDecision,
    RollbackProgress,
    RollbackRecord,
)
from distributor_rollout.core.steps import (
    DEPLOY,
    ROLLBACK_XCOM_KEY,
    STARTED_AT_XCOM_KEY,
    wave_task_id,
)
from distributor_rollout.core.stored_rollback import StoredRollback, rollback_key, stored_document
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import deployed_at_seconds, merged_checks
from distributor_rollout.hooks.errors import AwsRolloutError
from distributor_rollout.links.console import StackSetOperationLink
from distributor_rollout.operators.rollback_inputs import (
    read_standing,
    read_stored_changes,
    record_decisions,
    recorded_decisions,
    release_mapping,
    wave_changes,
    wave_results,
)
from distributor_rollout.operators.rollback_runner import RollbackActionRunner
from distributor_rollout.run_config import load_run_config


class RollbackIncomplete(AwsRolloutError, AirflowFailException):
    """Some changed targets could not be restored; the message names them. Not retried by
    Airflow: the task already tried again where it failed (``ROLLBACK_RETRIES``)."""


class RollbackOperator(RollbackActionRunner):
    """Undo this run's changes: ``core.rollback.plan_rollback`` over the waves' records,
    then each action in order, one StackSet operation each, waited for before the next.

    Each action's operation id is ``rollback_operation_id(run_id, index)``: a retried
    or resumed task adopts what it started. An action that fails is tried again where it
    failed (``RollbackActionRunner``), reported, and the rest still run, except that a
    ``DeleteInstances`` reaching a target whose uninstall failed is skipped: deleting the
    stack would remove the association and leave the package on the nodes with nothing
    to remove it.

    Returns (and pushes under ``rollback``) a bounded ``RollbackRecord.to_dict()``
    (``mode``, ``note``, ``actions`` with their ``operation_id``, ``status`` and
    ``summary``, ``restored``, ``failed``, ``kept``, ``untouched`` with their totals
    (``restored_total``, ``failed_total``, ``kept_total``, ``untouched_total``,
    ``untouched_nodes``), ``complete``, ``stack_set``: what the stack set holds once done
    and which instances are not CURRENT with it, read from StackSets,
    ``core.rollback_standing``, and ``stored``), and raises ``RollbackIncomplete`` at the
    end if any target could not be restored. Before each action it pushes the record
    unfinished (``RollbackProgress.unfinished``): a task that dies mid-rollback leaves the
    report an honest account of how far it got. Instances the run never changed are never
    deployed to, though the run's first ``UpdateStackSet`` left them OUTDATED: the record
    counts them, and the report says so.

    The lists grow with the rollout's targets and XCom must not: each push first stores
    the whole record in the artifacts bucket (``runs/<stack set>/<run tag>/rollback.json``,
    beside the waves' records; ``core.stored_rollback``), and the XCom keeps every count,
    the first ``SAMPLE_SIZE`` entries of each list, and ``stored``: ``{"bucket", "key",
    "sha256"}`` (``RollbackRecord.bounded``). Storing is not what the task is for: if the
    bucket refuses the record the rollback goes on, logs a warning (and, for the final
    record, every target not restored), and pushes the bounded record without ``stored``.
    Nothing reads the stored record back to act on it (a retry plans again and rewrites it).

    After an uninstall, the next action waits until every node of its targets has run it
    (``wait_for_uninstall``): deleting an instance deletes its association, so a node
    that had not uninstalled yet would keep the package. A target whose nodes failed or
    never reported counts as not restored and its delete is skipped; the delete's
    decision is recorded before it acts (``DeleteDecision``), so a retry acts on it.

    In a dry run nothing was deployed, so there is nothing to roll back: the task raises
    ``AirflowSkipException`` before any AWS call.

    :param plan_path: the rollout plan file.
    :param run_params: the DAG run's params (templated).
    :param release: the prepare step's ``Release.to_dict()`` (templated).
    :param wave_results: the deploy tasks' results (``WaveResult``), one per plan wave in
        plan order (templated; a rendered JSON or Python-literal list is accepted). A None
        entry for a wave this run deploys (its task failed after starting an operation) is
        rebuilt from this run's operations for that wave; None for a wave not run is
        ignored.
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.release = release
        self.wave_results = wave_results
        self.run_params = run_params
        self.mode = mode

    def execute(self, context: Any) -> dict[str, Any]:
        """Run (or resume) the rollback plan; its record."""
        return self._rollback(context)

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """Resume after a wait: pick up from what AWS reports now."""
        self.check_wait_event(event)
        return self._rollback(context)

    def _rollback(self, context: Any, config: RunConfig | None = None) -> dict[str, Any]:
        # Undoing must happen even if the plan file changed since the run validated it.
        config = config or load_run_config(self.plan_path, self.run_params, pinned=False)
        if config.dry_run:
            raise AirflowSkipException("dry run: nothing was deployed to roll back")
        release = self.load_release(release_mapping(self.release))
        mode = self.mode or config.plan.rollback.mode
        changes = wave_changes(
            wave_results(self.wave_results),
            config,
            lambda wave: self.recover(context["run_id"], release, wave),
            self.log,
            lambda stored: read_stored_changes(self.artifacts_hook(), stored, self.log),
        )
        plan = forward_plan(plan_rollback(changes, mode), release.template)
        self.log.info("%s", rollback_summary(plan))
        # Every template the actions restore, read back and checked before any of them runs.
        self.check_templates(action_templates(plan.actions))
        if plan.actions:
            self.describe_stack_set(release)
        run_id = str(context["run_id"])
        progress = RollbackProgress()
        decisions = recorded_decisions(context, self.task_id)
        for index, action in enumerate(plan.actions):
            # Recorded before each action: if the task dies here, the report still says
            # which actions ran and which targets may not be restored.
            self._push(context, release, progress.unfinished(plan, run_id))
            op_id = rollback_operation_id(run_id, index)
            if isinstance(action, DeleteInstances):
                if index not in decisions:
                    decisions[index] = self._decide_delete(
                        context,
                        release,
                        config.plan,
                        action,
                        op_id=op_id,
                        uninstall_failed=progress.uninstall_failed,
                    )
                    record_decisions(context, decisions)
                decision = decisions[index]
                progress = progress.decided(decision)
                if decision.narrows(action.targets()):
                    outcome, lost = self.run_narrowed(
                        context,
                        release,
                        config.plan,
                        action,
                        index=index,
                        to_delete=decision.delete,
                    )
                    progress = progress.ran(outcome, lost)
                    continue
            lost, summary = self.run_with_retries(context, release, config.plan, action, index)
            progress = progress.ran(ActionOutcome.ran(action, op_id, lost, summary), lost)
        self._push(context, release, progress.unfinished(plan, run_id))  # every action done
        checks = [
            self.wait_for_uninstall(
                waiting, action.wave, config.plan, self._deployed_at(context, action.wave)
            )
            for action, waiting in uninstalls_to_confirm(plan, progress.uninstall_failed)
        ]
        record = progress.confirmed(merged_checks(checks)).finished(plan)
        if plan.actions:
            failed = {Target.parse(name) for name in record.failed}
            standing = read_standing(
                self.hook, release, changed=plan.targets(), failed=failed, log=self.log
            )
            record = replace(record, stack_set=standing)
        return self._finish(context, release, record)

    def _decide_delete(
        self,
        context: Any,
        release: Release,
        plan: Plan,
        action: DeleteInstances,
        *,
        op_id: str,
        uninstall_failed: Set[Target],
    ) -> DeleteDecision:
        """Which of a delete's targets to delete (``DeleteDecision.after_wait``), after
        waiting on their uninstall."""
        if self.operation(release, op_id):
            # Started whole by an earlier try: the decision was all of them.
            return DeleteDecision.whole(action.targets())
        check = self.wait_for_uninstall(
            action.targets(), action.wave, plan, self._deployed_at(context, action.wave)
        )
        return DeleteDecision.after_wait(action.targets(), check, uninstall_failed)

    def _deployed_at(self, context: Any, wave: str) -> float | None:
        """When the wave's deploy task started (epoch seconds), or None if unknown."""
        started = context["ti"].xcom_pull(
            task_ids=wave_task_id(wave, DEPLOY), key=STARTED_AT_XCOM_KEY
        )
        return deployed_at_seconds(started)

    def _push(self, context: Any, release: Release, record: RollbackRecord) -> dict[str, Any]:
        """Store the whole record, push the bounded one; what was pushed."""
        bounded = record.bounded(self._stored(context, release, record)).to_dict()
        context["ti"].xcom_push(key=ROLLBACK_XCOM_KEY, value=bounded)
        return bounded

    def _stored(
        self, context: Any, release: Release, record: RollbackRecord
    ) -> StoredRollback | None:
        """Store the whole record in the artifacts bucket, beside the template the release
        deploys; where it is (None: a rollback with nothing to do, which lists nothing,
        or the bucket refused it, logged)."""
        if not record.actions:
            return None
        bucket, _ = object_location(release.template.template_url)
        key = rollback_key(release.stack_set_name, run_tag_value(str(context["run_id"])))
        document, reference = stored_document(record.to_dict(), bucket, key)
        try:
            self.artifacts_hook().put_text(bucket, key, document, content_type="application/json")
        except (AwsRolloutError, BotoCoreError, ClientError) as error:
            self.log.warning(
                "Could not store the rollback's record in s3://%s/%s (%s): its XCom lists "
                "only the first targets of each kind",
                bucket,
                key,
                error,
            )
            return None
        self.log.info(
            "Rollback record (%d restored, %d failed, %d kept) stored in s3://%s/%s",
            record.restored_count,
            record.failed_count,
            record.kept_count,
            bucket,
            key,
        )
        return reference

    def _finish(self, context: Any, release: Release, record: RollbackRecord) -> dict[str, Any]:
        result = self._push(context, release, record)
        if record.failed and "stored" not in result:
            # Nowhere else lists them all: the task log does.
            self.log.warning("Targets not restored: %s", ", ".join(record.failed))
        started = [outcome for outcome in record.actions if outcome.status != "skipped"]
        if started:
            StackSetOperationLink.persist(
                context=context,
                operator=self,
                region_name=self.region_name,
                aws_partition=self.hook.conn_partition,
                stack_set_name=release.stack_set_name,
                operation_id=started[-1].operation_id,
            )
        self.log.info(
            "Rollback (%s): %d targets restored, %d kept for offline nodes, %d failed",
            record.mode,
            record.restored_count,
            record.kept_count,
            record.failed_count,
        )
        incomplete = record.incomplete_message()
        if incomplete:
            raise RollbackIncomplete(incomplete)
        return result
