"""Deploy one wave: this release's template to the wave's OUs × Regions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.deployment import (
    ACTIVE_OPERATION_STATUSES,
    Finished,
    Instance,
    OperationRecord,
    Start,
    WaveFacts,
    account_ous,
    candidate_operation_ids,
    holds_template,
    next_step,
    planned_calls,
)
from distributor_rollout.core.operation_ids import step_prefix
from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan import Plan, wave_operation
from distributor_rollout.core.release import Release
from distributor_rollout.core.verdict import InstanceResult
from distributor_rollout.core.waves import ResolvedWave, resolve_waves
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.links.console import StackSetOperationLink
from distributor_rollout.operators.config import load_run_config
from distributor_rollout.operators.stack_set_base import StackSetOperatorBase


class DeployWaveOperator(StackSetOperatorBase):
    """Deploy the release to one wave, starting each StackSet operation once.

    Existing instances among the wave's targets get ``UpdateStackSet`` restricted to the
    wave's ``DeploymentTargets`` and Regions; targets without one then get
    ``CreateStackInstances``. The decision is ``core.deployment``'s, recomputed from AWS on
    every start, retry or resume, so a retried task adopts its earlier operations. The task
    waits between its own calls and for anyone else's operation, but not for its last
    call: ``StackSetOperationSensor`` does that.

    Returns ``{"wave", "operations", "changes" (WaveChanges.to_dict()), "nothing_to_do",
    "targets"}`` (``targets``: every account/Region of the wave, ``"acct/region"``, what
    the compliance gate reads); in a dry run, nothing is started and ``"dry_run": True``
    is added.

    :param plan_path: the rollout plan file.
    :param run_params: the DAG run's params (templated).
    :param wave: the wave's name.
    :param release: the prepare step's ``Release.to_dict()`` (templated, from XCom).
    """

    template_fields: Sequence[str] = aws_template_fields(
        "plan_path", "run_params", "wave", "release"
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"run_params": "json", "release": "json"}
    operator_extra_links = (StackSetOperationLink(),)

    def __init__(
        self,
        *,
        plan_path: str,
        wave: str,
        release: Mapping[str, Any] | str,
        run_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.wave = wave
        self.release = release
        self.run_params = run_params

    def execute(self, context: Any) -> dict[str, Any]:
        """Decide, start or adopt, wait between calls; the wave's record."""
        return self._deploy(context)

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """Resume after a wait: decide again from what AWS reports now."""
        self.check_wait_event(event)
        return self._deploy(context)

    def _deploy(self, context: Any) -> dict[str, Any]:
        config = load_run_config(self.plan_path, self.run_params)
        if not isinstance(self.release, Mapping):
            raise ConfigurationError(f"release must be a Release.to_dict() (got {self.release!r})")
        release = self.load_release(self.release)
        try:
            spec = config.plan.wave(self.wave)
        except KeyError:
            known = ", ".join(wave.name for wave in config.plan.waves)
            raise ConfigurationError(f"wave {self.wave!r} is not in the plan ({known})") from None
        if not config.runs_wave(self.wave):
            self.log.info("Wave %s is not among this run's waves: nothing to do", self.wave)
            return {**Finished(self.wave, (), WaveChanges(self.wave)).to_dict(), "targets": []}
        self.describe_stack_set(release)
        org, wave = self._resolve(config.plan)
        template_body = self._template_body(release)
        base = WaveFacts(
            run_id=context["run_id"],
            wave=wave,
            ou_of=account_ous(org, wave),
            preferences=wave_operation(config.plan, spec),
            template=release.template,
            previous=release.previous,
            holds_release=False,
            instances=(),
        )
        while True:
            described = self.describe_stack_set(release)
            facts = self._facts(base, release, described, template_body)
            if config.dry_run:
                for call in planned_calls(facts):
                    self.log.info("Dry run: would start %s %s", call.api_call, dict(call.request))
                return {
                    **Finished(self.wave, (), WaveChanges(self.wave)).to_dict(),
                    "targets": [str(target) for target in wave.targets],
                    "dry_run": True,
                }
            step = next_step(facts)
            if isinstance(step, Finished):
                return {
                    **self._finish(context, release, step),
                    "targets": [str(target) for target in wave.targets],
                }
            if isinstance(step, Start):
                request = {**step.call.request}
                if step.call.kind == "update":
                    # An update replaces the acknowledged capabilities: keep the stack set's.
                    request["Capabilities"] = list(described.get("Capabilities") or [])
                self.start(release, step.call.api_call, step.call.operation_id, request)
            else:
                self.log.info("%s: waiting for %s", step.reason, ", ".join(step.operation_ids))
                self.wait_for(context, release, step.operation_ids)

    def _resolve(self, plan: Plan) -> tuple[Organization, ResolvedWave]:
        """The wave against the live organization; every plan problem fails here."""
        org = OrganizationsHook(
            aws_conn_id=self.aws_conn_id, verify=self.verify, config=self.botocore_config
        ).snapshot()
        resolution = resolve_waves(plan, org)
        for warning in resolution.warnings:
            self.log.warning("%s", warning)
        resolution.raise_for_problems("waves against the organization")
        wave = next(wave for wave in resolution.waves if wave.name == self.wave)
        self.log.info(
            "Wave %s: %d targets (%d accounts x %s)",
            wave.name,
            len(wave.targets),
            len(wave.accounts),
            ", ".join(wave.regions),
        )
        return org, wave

    def _template_body(self, release: Release) -> str:
        """This release's template text, to tell whether the stack set already holds it."""
        s3 = S3Hook(aws_conn_id=self.aws_conn_id, verify=self.verify, config=self.botocore_config)
        bucket, key = S3Hook.parse_s3_url(release.template.template_url)
        stored = s3.get_conn().get_object(Bucket=bucket, Key=key)
        return str(stored["Body"].read().decode("utf-8"))

    def _facts(
        self,
        base: WaveFacts,
        release: Release,
        described: Mapping[str, Any],
        template_body: str,
    ) -> WaveFacts:
        """What AWS reports now, for ``core.deployment.next_step``."""
        name, call_as = release.stack_set_name, release.call_as
        candidates = candidate_operation_ids(base.run_id, base.wave)
        ours: dict[str, OperationRecord] = {}
        foreign: list[str] = []
        rolled_back = step_prefix(base.run_id, "rollback")
        for summary in self.hook.list_operations(name, call_as=call_as):
            operation_id = summary["OperationId"]
            if operation_id.startswith(rolled_back):
                # Adopting this run's earlier operations would report a deployment the
                # rollback has undone: a cleared, rolled-back run must not pass silently.
                raise ConfigurationError(
                    f"run {base.run_id} was rolled back (operation {operation_id}); its "
                    "waves cannot be deployed again: start a new run"
                )
            if operation_id in candidates:
                results = self.hook.list_operation_results(name, operation_id, call_as=call_as)
                ours[operation_id] = OperationRecord(
                    operation_id,
                    summary["Status"],
                    tuple(InstanceResult.from_api(result) for result in results),
                )
            elif summary["Status"] in ACTIVE_OPERATION_STATUSES:
                foreign.append(operation_id)
        instances = tuple(
            Instance.from_api(summary)
            for summary in self.hook.list_stack_instances(name, call_as=call_as)
        )
        return WaveFacts(
            run_id=base.run_id,
            wave=base.wave,
            ou_of=base.ou_of,
            preferences=base.preferences,
            template=base.template,
            previous=base.previous,
            holds_release=holds_template(described, template_body, release.template),
            instances=instances,
            operations=ours,
            foreign_active=tuple(foreign),
        )

    def _finish(self, context: Any, release: Release, finished: Finished) -> dict[str, Any]:
        if finished.stopped_early:
            self.log.warning("Wave %s stopped early: %s", self.wave, finished.stopped_early)
        if finished.nothing_to_do:
            self.log.info("Wave %s already runs this release: nothing started", self.wave)
        else:
            StackSetOperationLink.persist(
                context=context,
                operator=self,
                region_name=self.region_name,
                aws_partition=self.hook.conn_partition,
                stack_set_name=release.stack_set_name,
                operation_id=finished.operations[-1],
            )
        counts = {"created": 0, "updated": 0}
        for change in finished.changes.changes:
            counts[change.kind] += 1
        self.log.info(
            "Wave %s: operations %s; %d instances updated, %d created",
            self.wave,
            ", ".join(finished.operations) or "none",
            counts["updated"],
            counts["created"],
        )
        return finished.to_dict()
