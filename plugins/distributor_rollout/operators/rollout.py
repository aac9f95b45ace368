"""The tasks that frame a rollout DAG run: validate, check, approve, finalize, roll back.

The AWS work is in the package and stack set operators; these decide whether and how a
run goes on, from the plan, the run's params and what the other tasks recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.standard.exceptions import HITLRejectException, HITLTimeoutError
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk.execution_time.hitl import HITLUser

from distributor_rollout import settings
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.deployment import Instance, deployment_gap, holds_template
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.operation_ids import rollback_among
from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.principals import runner_principal_arn
from distributor_rollout.core.report import ValidationFailure
from distributor_rollout.core.run_outcome import decide_rollback, first_failure
from distributor_rollout.core.run_policy import approvers_for, refused_answer
from distributor_rollout.core.steps import ROLLBACK_DECISION_XCOM_KEY, VALIDATION_XCOM_KEY
from distributor_rollout.core.waves import resolve_waves
from distributor_rollout.hooks.connection_guard import refuse_scaled_time_on_real_aws
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.operators.run_facts import task_states, wave_facts
from distributor_rollout.operators.stack_set_prepare import render_release
from distributor_rollout.operators.stack_set_rollback import RollbackOperator
from distributor_rollout.run_config import PLAN_DIGEST_KEY, load_run_config, triggered_by

DEFAULT_APPROVAL_TIMEOUT = timedelta(hours=24)
"""How long an approval waits for an answer. No answer in time fails the approval task
(HITLTimeoutError), which the rollback treats like a rejection (``approval_rejected``)."""


class ValidateRunOperator(BaseOperator):
    """Validate the plan and the run's params; log what the run will do.

    Every problem is reported at once, naming its field, before any AWS call, and recorded
    (field, what is wrong, got, expected) under the XCom key ``validation_problems`` before
    the task fails, so the run's report can name them. Returns ``{"version", "waves",
    "dry_run", "skip_approvals", "overrides", "plan_digest"}``; later tasks refuse a plan
    file whose digest changed since (``run_config``).
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


def run_summary(config: RunConfig) -> dict[str, Any]:
    """The small dict ``validate`` returns (plus the plan file's digest)."""
    return {
        "version": config.plan.package.version,
        "waves": list(config.waves),
        "dry_run": config.dry_run,
        "skip_approvals": config.skip_approvals,
        "overrides": list(config.overrides),
    }


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
        build: Mapping[str, Any] | str,
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
                f"nothing to do: {config.plan.package.name} {config.plan.package.version} "
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
        if not isinstance(self.build, Mapping):
            raise TypeError(f"build must be the Build task's result (a dict), got {self.build!r}")
        identity = AccountIdentityHook(**hook_parameters)
        template_text, parameters = render_release(
            plan,
            self.build,
            self.build_root,
            identity.caller_account_id(),
            runner_arn=runner_principal_arn(identity.caller_arn()),
        )
        if not holds_template(described, template_text, TemplateRef("", parameters)):
            running = {
                p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])
            }
            return (
                f"stack set {spec.name} runs Version={running.get('Version', '?')}, not this "
                f"release ({plan.package.version} with the plan's settings)"
            )
        org = OrganizationsHook(
            aws_conn_id=self.aws_conn_id, verify=self.verify, config=self.botocore_config
        ).snapshot()
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


class ApprovalDeclined(AirflowFailException):
    """The approval was rejected, or not answered in time: final, never retried."""


class WaveApprovalOperator(ApprovalOperator):
    """A human approves the next wave (Airflow's Required Actions page), or rejects it.

    Reject fails the task, and the rollback treats it as ``approval_rejected``. No answer
    within ``response_timeout`` (default 24 h) fails it the same way: a rollout does not go
    on unattended. Both are final (``ApprovalDeclined``, never retried). The task is
    skipped in a dry run, with ``skip_approvals``, or when the run does not deploy the wave.

    An answer given within a second or two of the question (an approval bot) can meet
    Airflow 3.3's deferral race: the answer resumes the task before the scheduler has
    handled the worker's exit, and the scheduler fails the task from outside. The DAG gives
    this task one retry, which asks again, so a lost approval costs a second answer
    rather than a rolled-back healthy rollout.
    """

    template_fields: Sequence[str] = (*ApprovalOperator.template_fields, "plan_path", "run_params")

    def __init__(
        self,
        *,
        plan_path: str,
        wave: str,
        run_params: Mapping[str, Any] | None = None,
        response_timeout: timedelta | None = DEFAULT_APPROVAL_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("subject", f"Approve the rollout to wave {wave}?")
        super().__init__(fail_on_reject=True, response_timeout=response_timeout, **kwargs)
        self.plan_path = plan_path
        self.wave = wave
        self.run_params = run_params

    def execute(self, context: Any) -> Any:
        """Skip when the run needs no approval; otherwise ask, with the waves so far."""
        config = load_run_config(self.plan_path, self.run_params, context=context)
        if config.dry_run:
            raise AirflowSkipException("dry run: no approval needed")
        if config.skip_approvals:
            raise AirflowSkipException("approvals skipped by the run's skip_approvals param")
        if not config.runs_wave(self.wave):
            raise AirflowSkipException(f"wave {self.wave!r} is not among this run's waves")
        package = config.plan.package
        self.subject = f"Approve {package.name} {package.version} for wave {self.wave}?"
        self.body = self._body(context, config)
        approvers = approvers_for(config.plan.approvals, triggered_by(context))
        self.assigned_users = [HITLUser(id=user, name=user) for user in approvers] or None
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """The answer: Approve goes on; Reject or no answer in time fails for good.

        An approval from someone the plan does not let approve (the run's own trigger user,
        or a user outside ``approvals.approvers`` where Airflow's all-admins mode let them
        answer) does not count: it is logged and the question is asked again.
        """
        try:
            answer = super().execute_complete(context, event)
        except (HITLRejectException, HITLTimeoutError) as declined:
            raise ApprovalDeclined(f"wave {self.wave!r} was not approved: {declined}") from declined
        responder = (event.get("responded_by_user") or {}).get("id")
        policy = load_run_config(self.plan_path, self.run_params, context=context).plan.approvals
        refused = refused_answer(
            policy, approved=True, responder=responder, triggered_by=triggered_by(context)
        )
        if refused is None:
            self.log.info("Wave %s approved by %s", self.wave, responder)
            return answer
        self.log.warning("Approval of wave %s not counted: %s; asking again", self.wave, refused)
        return self.execute(context)

    def _body(self, context: Any, config: RunConfig) -> str:
        waves = wave_facts(context, config.plan, task_states(context))
        lines = [
            f"Wave **{self.wave}** of plan `{config.plan.name}` passed its compliance gate.",
            "",
            "| wave | decision | compliance |",
            "|---|---|---|",
        ]
        for wave in waves:
            decision = (wave.gate or {}).get("decision") or {}
            percent = decision.get("compliant_percent")
            shown = f"{percent:.1f}%" if isinstance(percent, int | float) else "-"
            lines.append(f"| {wave.name} | {wave.decision()} | {shown} |")
        lines += ["", "Approve to go on; Reject rolls back this run's changes."]
        return "\n".join(lines)


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
        if config.dry_run:
            raise AirflowSkipException("dry run: no release to announce")
        skipped = [wave.name for wave in config.plan.waves if not config.runs_wave(wave.name)]
        if skipped:
            raise AirflowSkipException(
                f"waves {', '.join(skipped)} were not in this run: no release to announce"
            )
        self._refuse_rolled_back(config, str(context["run_id"]))
        extra = {
            "package": config.plan.package.name,
            "version": config.plan.package.version,
            "waves": list(config.waves),
            "run_id": str(context["run_id"]),
        }
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
            raise AirflowFailException(
                f"run {run_id} was rolled back (operation {undone}): its release is not "
                "out; start a new run"
            )


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
        waves = wave_facts(context, load_plan(Path(self.plan_path)), task_states(context))
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
