"""Retire one wave: uninstall through the association, wait until the nodes report the
package gone, delete the wave's stack instances (``core.retire_waves`` decides each).

The StackSets steps start each call once under its deterministic id and adopt it on a
retry or resume; between their own calls they wait deferred (``StackSetOperatorBase``),
and ``StackSetOperationSensor`` waits for their last one. The wait on the nodes polls
from the worker, as the rollback's uninstall wait does (``operators.uninstall_wait``): it
reuses that decision and is bounded by the wave gate's timeout; a retire is rare and
attended, and its waits are short next to a rollout's bake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowFailException

from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.deployment import Instance, account_ous
from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan import Plan, wave_gate, wave_operation
from distributor_rollout.core.planned_calls import loggable_request
from distributor_rollout.core.release import Release, stack_set_parameters
from distributor_rollout.core.retire_steps import REMOVAL_XCOM_KEY, UNINSTALL, WAIT_REMOVED
from distributor_rollout.core.retire_waves import (
    Done,
    RemovalCheck,
    StackSetCall,
    Start,
    delete_calls,
    first_created,
    held_for_role,
    next_call,
    reached_targets,
    removal_check,
    uninstall_call,
    wave_instances,
)
from distributor_rollout.core.steps import wave_task_id
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import (
    UninstallCheck,
    split_offline,
    unconfirmed_everywhere,
    uninstall_check,
    uninstall_progress,
)
from distributor_rollout.core.verdict import (
    ACTIVE_OPERATION_STATUSES,
    InstanceResult,
    truncate_list,
)
from distributor_rollout.core.waves import (
    Resolution,
    ResolvedWave,
    organization_scope,
    resolve_waves,
)
from distributor_rollout.hooks.association_status import AssociationStatusHook
from distributor_rollout.hooks.errors import AwsRolloutError, ConfigurationError, MemberAccessDenied
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.hooks.stack_set import StackSetHook
from distributor_rollout.links.console import StackSetOperationLink
from distributor_rollout.operators.retire_config import load_retire_config
from distributor_rollout.operators.retire_frame import skip
from distributor_rollout.operators.stack_set_base import StackSetOperatorBase
from distributor_rollout.settings import time_scale


def stack_set_coordinates(plan: Plan) -> Release:
    """The stack set as ``StackSetOperatorBase``'s waits and starts name it. A retire has
    no release: they read only its name, ``CallAs`` and Region."""
    spec = plan.stack_set
    return Release(spec.name, spec.call_as, spec.region, TemplateRef(""), None, created=False)


def resolved(plan: Plan, organizations: OrganizationsHook) -> tuple[Organization, Resolution]:
    """The plan's waves against the live organization (a plan problem fails here)."""
    org = organizations.snapshot(organization_scope(plan))
    resolution = resolve_waves(plan, org)
    resolution.raise_for_problems("waves against the organization")
    return org, resolution


def wave_of(resolution: Resolution, name: str) -> ResolvedWave:
    """The resolved wave called ``name`` (``ConfigurationError`` if the plan lacks it)."""
    for wave in resolution.waves:
        if wave.name == name:
            return wave
    raise ConfigurationError(f"wave {name!r} is not in the plan")


class RetireCallsOperator(StackSetOperatorBase):
    """Base of the retire steps that start StackSets operations: run a list of calls one
    after another, each started once under its id (adopted when it exists), waiting for
    anyone else's operation first.

    :param plan_path: the rollout plan file.
    :param run_params: the retire run's params (templated).
    :param wave: the wave (for the wave steps).
    """

    template_fields: Sequence[str] = aws_template_fields("plan_path", "run_params", "wave")
    template_fields_renderers: ClassVar[dict[str, str]] = {"run_params": "json"}
    operator_extra_links = (StackSetOperationLink(),)

    def __init__(
        self,
        *,
        plan_path: str,
        run_params: Mapping[str, Any] | None = None,
        wave: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params
        self.wave = wave

    def execute(self, context: Any) -> Any:
        """Decide from AWS, start or adopt, wait between calls."""
        return self.act(context)

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """Resume after a wait: decide again from what AWS reports now."""
        self.check_wait_event(event)
        return self.act(context)

    def act(self, context: Any) -> Any:
        """The step (each subclass's)."""
        raise NotImplementedError

    def organizations(self) -> OrganizationsHook:
        """The Organizations hook on this task's connection."""
        return OrganizationsHook(
            aws_conn_id=self.aws_conn_id, verify=self.verify, config=self.botocore_config
        )

    def run_calls(
        self,
        context: Any,
        release: Release,
        plan_calls: Callable[[], Sequence[StackSetCall]],
        *,
        wait_last: bool = False,
    ) -> tuple[str, ...]:
        """Start every call ``plan_calls`` decides (asked again after each wait), one after
        another; the ids of those it decided last. The last one is waited for only with
        ``wait_last`` (otherwise a sensor does)."""
        name, call_as = release.stack_set_name, release.call_as
        while True:
            calls = plan_calls()
            ours = {call.operation_id for call in calls}
            statuses = {
                call.operation_id: operation["Status"]
                for call in calls
                if (
                    operation := self.hook.describe_operation(
                        name, call.operation_id, call_as=call_as
                    )
                )
            }
            foreign: list[str] = []
            if len(statuses) < len(calls):
                foreign = [
                    summary["OperationId"]
                    for summary in self.hook.active_operations(name, call_as=call_as)
                    if summary["OperationId"] not in ours
                ]
            step = next_call(calls, statuses, foreign, wait_last=wait_last)
            if isinstance(step, Done):
                if step.operation_ids:
                    StackSetOperationLink.persist(
                        context=context,
                        operator=self,
                        region_name=self.region_name,
                        aws_partition=self.hook.conn_partition,
                        stack_set_name=name,
                        operation_id=step.operation_ids[-1],
                    )
                return step.operation_ids
            if isinstance(step, Start):
                call = step.call
                self.log.info(
                    "%s %s on %d targets: %s",
                    call.api_call,
                    call.operation_id,
                    len(call.targets),
                    loggable_request(call.request),
                )
                self.start(release, call.api_call, call.operation_id, dict(call.request))
            else:
                self.log.info("%s: waiting for %s", step.reason, ", ".join(step.operation_ids))
                self.wait_for(context, release, step.operation_ids)

    def log_dry_run(self, calls: Sequence[StackSetCall]) -> None:
        """Log each call a real run would start."""
        for call in calls:
            self.log.info(
                "Dry run: would start %s %s on %d targets (%s): %s",
                call.api_call,
                call.operation_id,
                len(call.targets),
                truncate_list([str(target) for target in call.targets], limit=50),
                loggable_request(call.request),
            )


class RetireUninstallOperator(RetireCallsOperator):
    """Uninstall the package from one wave's nodes through its association.

    One ``UpdateStackSet`` over the wave's OUs and the Regions where it still has stack
    instances: the stack set's own template, every parameter kept but ``Action=Uninstall``
    (``core.retire_waves.uninstall_call``). Skipped (with the reason, for the report) when
    the stack set does not exist (already retired) or the wave has no instance left.
    Returns ``{"wave", "operations", "targets"}`` (``targets``: the wave's instances,
    ``"acct/region"``); in a dry run it only logs the call and returns ``"operations": []``
    and ``"dry_run": true``.
    """

    def act(self, context: Any) -> dict[str, Any]:
        """Decide, start or adopt the uninstall; the wave's record."""
        config = load_retire_config(self.plan_path, self.run_params)
        plan = config.plan
        release = self.load_release(stack_set_coordinates(plan))
        name, call_as = release.stack_set_name, release.call_as
        if self.hook.describe_stack_set(name, call_as=call_as) is None:
            raise skip(context, f"stack set {name} does not exist (already retired): nothing to do")
        _, resolution = resolved(plan, self.organizations())
        wave = wave_of(resolution, self.wave)
        instances = [
            Instance.from_api(summary)
            for summary in self.hook.list_stack_instances(name, call_as=call_as)
        ]
        mine = wave_instances(wave, instances)
        if not mine:
            raise skip(
                context, f"wave {self.wave} has no stack instance (never deployed, or retired)"
            )
        self.log.info(
            "Wave %s: %d stack instances (%s)",
            self.wave,
            len(mine),
            truncate_list([str(instance.target) for instance in mine], limit=20),
        )

        def plan_calls() -> list[StackSetCall]:
            described = self.describe_stack_set(release)
            return [
                uninstall_call(
                    str(context["run_id"]),
                    wave,
                    mine,
                    parameters=stack_set_parameters(described),
                    preferences=wave_operation(plan, plan.wave(self.wave)),
                    capabilities=described.get("Capabilities") or [],
                )
            ]

        targets = [str(instance.target) for instance in mine]
        if config.dry_run:
            self.log_dry_run(plan_calls())
            return {"wave": self.wave, "operations": [], "targets": targets, "dry_run": True}
        operations = self.run_calls(context, release, plan_calls)
        return {"wave": self.wave, "operations": list(operations), "targets": targets}


class RemovalNotConfirmed(AwsRolloutError, AirflowFailException):
    """Some of the wave's targets still (may) hold the package: the wave stops (not
    retried; clear the task to look again once the cause is fixed)."""


class RetireWaitRemovedOperator(AwsBaseOperator[StackSetHook]):
    """Wait until the wave's reachable nodes report the package gone.

    Reads the uninstall operation's results (a target it did not reach cannot be
    confirmed), then polls the association on the targets it reached, every gate poll
    interval up to the wave gate's timeout (the fleet's time, divided by the time scale),
    and decides with ``core.uninstall``: nodes offline since before their target's stack
    instance was first created (``core.retire_waves.first_created``, from the stack set's
    ``CREATE`` operations) never got the package and are left alone; nodes offline since
    then may hold it, so their target keeps its instance (and the association keeps the
    uninstall for when the agent returns). Records the finding under ``removal`` and
    returns it (``RemovalCheck.to_dict()``); fails (``RemovalNotConfirmed``) when some
    target's uninstall failed or was not confirmed in time.
    """

    aws_hook_class = StackSetHook
    template_fields: Sequence[str] = aws_template_fields("plan_path", "run_params", "wave")
    ui_color = "#e8d6c4"

    def __init__(
        self,
        *,
        plan_path: str,
        wave: str,
        run_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.wave = wave
        self.run_params = run_params

    def execute(self, context: Any) -> dict[str, Any]:
        """Wait, record, and fail on what could not be confirmed."""
        config = load_retire_config(self.plan_path, self.run_params)
        plan = config.plan
        spec = plan.stack_set
        uninstall = context["ti"].xcom_pull(task_ids=wave_task_id(self.wave, UNINSTALL))
        if not isinstance(uninstall, Mapping):
            raise ConfigurationError(f"wave {self.wave}: the uninstall task recorded nothing")
        targets = [Target.parse(text) for text in uninstall.get("targets", ())]
        if uninstall.get("dry_run"):
            self.log.info(
                "Dry run: would wait until the nodes of %d targets report the package gone",
                len(targets),
            )
            return {"wave": self.wave, "dry_run": True}
        results = [
            InstanceResult.from_api(entry)
            for operation_id in uninstall.get("operations", ())
            for entry in self.hook.list_operation_results(
                spec.name, operation_id, call_as=spec.call_as
            )
        ]
        reached, not_reached = reached_targets(targets, results)
        check = self._wait(plan, reached, self._created(spec.name, spec.call_as))
        removal = removal_check(self.wave, reached, not_reached, check)
        context["ti"].xcom_push(key=REMOVAL_XCOM_KEY, value=removal.to_dict())
        self._log(removal)
        failure = removal.failure()
        if failure:
            raise RemovalNotConfirmed(failure)
        return removal.to_dict()

    def _created(self, stack_set: str, call_as: str) -> dict[Target, float]:
        """When each target's instance was first created (from the ``CREATE`` operations)."""
        creates = []
        for summary in self.hook.list_operations(stack_set, call_as=call_as):
            if summary.get("Action") != "CREATE":
                continue
            if summary.get("Status") in ACTIVE_OPERATION_STATUSES:
                continue
            started = summary.get("CreationTimestamp")
            if started is None:
                continue
            results = self.hook.list_operation_results(
                stack_set, summary["OperationId"], call_as=call_as
            )
            creates.append((started.timestamp(), [InstanceResult.from_api(r) for r in results]))
        return first_created(creates)

    def _wait(
        self, plan: Plan, targets: Collection[Target], created: Mapping[Target, float]
    ) -> UninstallCheck:
        """Poll the association on ``targets`` until the decision is made or time is up."""
        if not targets:
            return UninstallCheck()
        gate = wave_gate(plan, plan.wave(self.wave)).scaled(time_scale())
        reader = AssociationStatusHook(
            role_name=plan.stack_set.compliance_reader.role_name,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )
        self.log.info(
            "Waiting up to %.0fs for the nodes of %d targets to report the package gone, "
            "polling every %.1fs (time scale %g)",
            gate.timeout_seconds,
            len(targets),
            gate.poll_interval_seconds,
            time_scale(),
        )
        ordered = sorted(targets)
        deadline = time.monotonic() + gate.timeout_seconds
        while True:
            try:
                poll = reader.poll(ordered, plan.association.name)
            except MemberAccessDenied as error:
                self.log.warning("Cannot read the association: %s", error)
                return unconfirmed_everywhere(frozenset(targets))
            splits = {
                status.target: split_offline(
                    [node.last_ping for node in status.offline_nodes], created.get(status.target)
                )
                for status in poll.statuses
                if status.offline_nodes
            }
            progress = uninstall_progress(poll.compliances, splits)
            check = uninstall_check(progress, poll.unread, timed_out=time.monotonic() >= deadline)
            if check is not None:
                return check
            self.log.info(
                "%d targets done, %d waiting for their nodes",
                len(progress.done),
                len(progress.waiting),
            )
            time.sleep(gate.poll_interval_seconds)

    def _log(self, removal: RemovalCheck) -> None:
        self.log.info(
            "Wave %s: the package is gone from %d targets", self.wave, len(removal.removed)
        )
        if removal.kept:
            self.log.warning(
                "Wave %s: %d targets keep their instance (and the uninstall): nodes went "
                "offline after the package reached them: %s",
                self.wave,
                len(removal.kept),
                truncate_list([f"{t} ({n} offline)" for t, n in sorted(removal.kept.items())]),
            )
        if removal.untouched:
            self.log.info(
                "%d nodes were offline since before their target's instance existed: they "
                "never got the package",
                sum(removal.untouched.values()),
            )


class RetireDeleteInstancesOperator(RetireCallsOperator):
    """Delete the wave's stack instances whose nodes report the package gone.

    Reads the wave's ``wait_removed`` record; keeps the home-Region instances the
    account's compliance-reader role is still needed from (``held_for_role``: the last
    step deletes them) and deletes the rest (``DeleteStackInstances``, ``RetainStacks``
    false), one call per group of accounts sharing Regions, numbered: the decision comes
    from the record, so a retry names the same calls and adopts them. Returns ``{"wave",
    "operations", "deleting", "held"}``; in a dry run it only logs.
    """

    def act(self, context: Any) -> dict[str, Any]:
        """Decide from the wait's record; start or adopt the deletes."""
        config = load_retire_config(self.plan_path, self.run_params)
        plan = config.plan
        release = self.load_release(stack_set_coordinates(plan))
        record = context["ti"].xcom_pull(task_ids=wave_task_id(self.wave, WAIT_REMOVED))
        if not isinstance(record, Mapping):
            raise ConfigurationError(f"wave {self.wave}: the wait task recorded nothing")
        if record.get("dry_run"):
            self.log.info(
                "Dry run: would delete the wave's stack instances whose nodes report the "
                "package gone"
            )
            return {
                "wave": self.wave,
                "operations": [],
                "deleting": [],
                "held": [],
                "dry_run": True,
            }
        removal = RemovalCheck.from_dict(record)
        org, resolution = resolved(plan, self.organizations())
        wave = wave_of(resolution, self.wave)
        held = held_for_role(plan, resolution.waves, self.wave, removal)
        deleting = sorted(set(removal.removed) - held)
        if held:
            self.log.info(
                "Keeping %d home-Region instances for now (the account's compliance-reader "
                "role is needed to retire its other Regions): %s",
                len(held),
                truncate_list([str(target) for target in sorted(held)]),
            )
        calls = delete_calls(
            str(context["run_id"]),
            self.wave,
            deleting,
            account_ous(org, wave),
            wave_operation(plan, plan.wave(self.wave)),
        )
        operations = self.run_calls(context, release, lambda: calls) if calls else ()
        return {
            "wave": self.wave,
            "operations": list(operations),
            "deleting": [str(target) for target in deleting],
            "held": [str(target) for target in sorted(held)],
        }
