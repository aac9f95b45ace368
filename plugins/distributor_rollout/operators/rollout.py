"""The tasks that frame a rollout DAG run: validate, check, approve, finalize, roll back.

The AWS work is in the package and stack set operators; these wire what they read (the
plan, the run's params, AWS, what the other tasks recorded) to the decisions in
``core.run_steps`` and ``core.run_outcome``. The approval task is ``operators.approval``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from distributor_rollout import settings
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.deployment import Instance, deployment_gap, holds_template
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.operation_ids import rollback_among
from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.preflight import render as render_preflight
from distributor_rollout.core.principals import runner_principal_arn
from distributor_rollout.core.recorded_run import RecordedPlan
from distributor_rollout.core.report import ValidationFailure
from distributor_rollout.core.run_outcome import decide_rollback, first_failure
from distributor_rollout.core.run_steps import (
    announcement_skipped,
    release_announcement,
    release_not_held,
    rolled_back_refusal,
    run_summary,
)
from distributor_rollout.core.steps import (
    PREFLIGHT_XCOM_KEY,
    ROLLBACK_DECISION_XCOM_KEY,
    RUN_PLAN_XCOM_KEY,
    VALIDATION_XCOM_KEY,
)
from distributor_rollout.core.waves import organization_scope, resolve_waves
from distributor_rollout.hooks.connection_guard import refuse_scaled_time_on_real_aws
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.hooks.preflight import run_preflight
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.operators.release_render import render_release
from distributor_rollout.operators.retire_guard import refuse_rollout_during_retire
from distributor_rollout.operators.run_facts import task_states, wave_records
from distributor_rollout.operators.stack_set_rollback import RollbackOperator
from distributor_rollout.run_config import PLAN_DIGEST_KEY, load_run_config


class ValidateRunOperator(BaseOperator):
    """Validate the plan and the run's params; log what the run will do.

    Every problem is reported at once, naming its field, before any AWS call, and recorded
    (field, what is wrong, got, expected) under the XCom key ``validation_problems`` before
    the task fails, so the run's report can name them. A valid plan and params are then
    checked against AWS, read-only, by the preflight (``core.preflight``; a dry run too):
    its table is logged, and a failed check fails the task the same way. Returns
    ``{"version", "waves", "dry_run", "skip_approvals", "overrides", "plan_digest"}``;
    later tasks refuse a plan file whose digest changed since (``run_config``).

    The plan the run runs (after its params; as written when the params are refused, as
    the report then reads it) is recorded under ``run_plan`` (``RecordedPlan``): the
    Rollout tab reads the run through it, on an API server that has no plan files.
    """

    template_fields: Sequence[str] = ("plan_path", "run_params")
    template_fields_renderers = {"run_params": "json"}  # noqa: RUF012 (Airflow's own shape)
    ui_color = "#f0e4a8"

    def __init__(
        self,
        *,
        plan_path: str,
        run_params: Mapping[str, Any] | None = None,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Raise the validation report (recorded first), or return the run's shape."""
        try:
            # A simulator's time scale against real AWS would cut every gate and bake.
            refuse_scaled_time_on_real_aws(self.aws_conn_id, settings.time_scale())
            config = load_run_config(self.plan_path, self.run_params, context=context)
            refuse_rollout_during_retire(context)  # a retire of the package is under way
        except ValidationError as error:
            record = ValidationFailure.from_error(error).to_dict()
            context["ti"].xcom_push(key=VALIDATION_XCOM_KEY, value=record)
            self._record_plan_as_written(context)
            raise
        ran = RecordedPlan(config.plan, dry_run=config.dry_run)
        context["ti"].xcom_push(key=RUN_PLAN_XCOM_KEY, value=ran.to_dict())
        preflight = run_preflight(config.plan, aws_conn_id=self.aws_conn_id)
        self.log.info("%s", render_preflight(preflight))
        context["ti"].xcom_push(key=PREFLIGHT_XCOM_KEY, value=preflight.to_dict())
        try:
            preflight.raise_for_failures()
        except ValidationError as error:
            record = ValidationFailure.from_error(error).to_dict()
            context["ti"].xcom_push(key=VALIDATION_XCOM_KEY, value=record)
            raise
        plan = config.plan
        self.log.info(
            "Plan %s: %s %s, waves %s%s%s",
            plan.name,
            plan.package.name,
            plan.package.version,
            ", ".join(config.waves),
            " (dry run: nothing will change)" if config.dry_run else "",
            f"; overridden by params: {', '.join(config.overrides)}" if config.overrides else "",
        )
        # The plan as written: every later task of the run checks it is still that plan.
        return {**run_summary(config), PLAN_DIGEST_KEY: config.plan_digest}

    def _record_plan_as_written(self, context: Any) -> None:
        """Record the plan alone when the run's params (or settings) were refused; nothing
        when the plan itself is what failed."""
        try:
            plan = load_plan(Path(self.plan_path))
        except ValidationError:
            return
        context["ti"].xcom_push(key=RUN_PLAN_XCOM_KEY, value=RecordedPlan(plan).to_dict())


class CheckDeployedOperator(AwsBaseOperator[StackSetHook]):
    """Skip the whole rollout when this release already runs on every target of the run.

    Reads only: the stack set holds this version's template and parameters, and every
    account × Region of the run's waves has a ``CURRENT`` instance. Then the task is
    skipped ("nothing to do"), and so is everything after it but the report. A scheduled
    run of a version that is out everywhere finishes in seconds without a single change.

    Returns ``{"deployed": False, "reason"}`` when there is work to do.
    """

    aws_hook_class = StackSetHook
    template_fields: Sequence[str] = aws_template_fields(
        "plan_path", "run_params", "build", "build_root"
    )
    ui_color = "#d9e8d0"

    def __init__(
        self,
        *,
        plan_path: str,
        build: Mapping[str, Any] | str | None = None,
        run_params: Mapping[str, Any] | None = None,
        build_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.build = build
        self.run_params = run_params
        self.build_root = build_root

    def execute(self, context: Any) -> dict[str, Any]:
        """Skip when there is nothing to do; otherwise say why there is."""
        config = load_run_config(self.plan_path, self.run_params)
        reason = self._work_to_do(config)
        if reason is None:
            raise AirflowSkipException(
                f"nothing to do: {config.plan.package.name} {config.plan.package.version_label} "
                f"already runs on every target of waves {', '.join(config.waves)}"
            )
        self.log.info("Rollout needed: %s", reason)
        return {"deployed": False, "reason": reason}

    def _work_to_do(self, config: RunConfig) -> str | None:
        plan = config.plan
        spec = plan.stack_set
        hook_parameters = {**self._hook_parameters, "region_name": spec.region}
        stack_sets = StackSetHook(**hook_parameters)
        described = stack_sets.describe_stack_set(spec.name, call_as=spec.call_as)
        if described is None:
            return f"stack set {spec.name} does not exist yet"
        identity = AccountIdentityHook(**hook_parameters)
        template_text, parameters = render_release(
            plan,
            self.build if isinstance(self.build, Mapping) else None,
            self.build_root,
            identity.caller_account_id(),
            runner_arn=runner_principal_arn(identity.caller_arn()),
        )
        if not holds_template(described, template_text, TemplateRef("", parameters)):
            return release_not_held(config, described)
        org = OrganizationsHook(
            aws_conn_id=self.aws_conn_id, verify=self.verify, config=self.botocore_config
        ).snapshot(organization_scope(plan))
        resolution = resolve_waves(plan, org)
        resolution.raise_for_problems("waves against the organization")
        wanted = [
            target
            for wave in resolution.waves
            if config.runs_wave(wave.name)
            for target in wave.targets
        ]
        instances = [
            Instance.from_api(summary)
            for summary in stack_sets.list_stack_instances(spec.name, call_as=spec.call_as)
        ]
        return deployment_gap(instances, wanted)


class FinalizeRolloutOperator(AwsBaseOperator[StackSetHook]):
    """Every wave passed: emit the package version's Asset event.

    The DAG declares the Asset as this task's outlet, so downstream DAGs can be scheduled
    on "a new version of this package reached the whole organization"; the event's extra
    carries the version, waves and run id. Skipped in a dry run and in a run of only some
    of the plan's waves (the version has not reached everything). Fails when this run was
    rolled back (a cleared approval or gate passed afterwards must not announce it).
    """

    aws_hook_class = StackSetHook
    template_fields: Sequence[str] = aws_template_fields("plan_path", "run_params")
    ui_color = "#b7e1a1"

    def __init__(
        self, *, plan_path: str, run_params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params

    def execute(self, context: Any) -> dict[str, Any]:
        """Record the release on the outlet Asset's event."""
        config = load_run_config(self.plan_path, self.run_params)
        skipped = announcement_skipped(config)
        if skipped:
            raise AirflowSkipException(skipped)
        self._refuse_rolled_back(config, str(context["run_id"]))
        extra = release_announcement(config, str(context["run_id"]))
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = extra
        self.log.info("Rollout of %s %s complete", extra["package"], extra["version"])
        return extra

    def _refuse_rolled_back(self, config: RunConfig, run_id: str) -> None:
        spec = config.plan.stack_set
        hook = StackSetHook(**{**self._hook_parameters, "region_name": spec.region})
        summaries = hook.list_operations(spec.name, call_as=spec.call_as)
        undone = rollback_among(run_id, (summary["OperationId"] for summary in summaries))
        if undone is not None:
            raise AirflowFailException(rolled_back_refusal(run_id, undone))


class RolloutRollbackOperator(RollbackOperator):
    """The DAG's rollback task: decide from the run's task states whether to roll back,
    then undo this run's changes (``RollbackOperator``).

    It runs when any wave task failed (trigger rule ``one_failed``). It acts only when
    the first failed wave's trigger is among the plan's ``rollback.triggers`` and the
    mode is not ``none``; otherwise it is skipped with the reason, recorded under the
    XCom key ``rollback_decision`` for the report.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        """Decide, then roll back (or skip, saying why)."""
        waves = wave_records(context, load_plan(Path(self.plan_path)), task_states(context))
        if first_failure(waves) is None:
            # Only a failure before the waves (e.g. invalid params in validate) gets here:
            # nothing was deployed, and the run's config may not even load.
            raise AirflowSkipException("no wave failed: nothing this run deployed to roll back")
        config = load_run_config(self.plan_path, self.run_params, pinned=False)
        mode = self.mode or config.plan.rollback.mode
        decision = decide_rollback(config.plan, mode, waves)
        context["ti"].xcom_push(key=ROLLBACK_DECISION_XCOM_KEY, value=decision.to_dict())
        self.log.info("%s", decision.reason)
        if not decision.act:
            raise AirflowSkipException(decision.reason)
        return self._rollback(context, config)
