"""A human approves the next wave, through Airflow's human-in-the-loop approval task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.standard.exceptions import HITLRejectException, HITLTimeoutError
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk.execution_time.hitl import HITLUser

from distributor_rollout.core.run_policy import approvers_for, refused_answer
from distributor_rollout.core.run_steps import approval_question
from distributor_rollout.operators.run_facts import task_states, wave_records
from distributor_rollout.run_config import load_run_config, triggered_by

DEFAULT_APPROVAL_TIMEOUT = timedelta(hours=24)
"""How long an approval waits for an answer. No answer in time fails the approval task
(HITLTimeoutError), which the rollback treats like a rejection (``approval_rejected``)."""


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
        question = approval_question(
            config, self.wave, wave_records(context, config.plan, task_states(context))
        )
        self.subject, self.body = question.subject, question.body
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
