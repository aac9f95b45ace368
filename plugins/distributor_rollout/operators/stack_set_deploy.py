"""Deploy one wave: this release's template to the wave's OUs × Regions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowSkipException

from distributor_rollout.core.artifacts import object_location, with_template_body
from distributor_rollout.core.deployment import (
    Finished,
    Start,
    WaveSnapshot,
    next_step,
    planned_calls,
)
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.planned_calls import dry_run_wave, loggable_request
from distributor_rollout.core.release import Release, dry_run_template_sha256, run_tag_value
from distributor_rollout.core.steps import STARTED_AT_XCOM_KEY
from distributor_rollout.core.stored_changes import changes_key, stored
from distributor_rollout.core.stored_targets import stored_targets, targets_key
from distributor_rollout.core.verdict import truncate_list
from distributor_rollout.core.wave_result import WaveResult
from distributor_rollout.hooks.errors import ConfigurationError
from distributor_rollout.hooks.organizations import OrganizationsHook
from distributor_rollout.links.console import StackSetOperationLink
from distributor_rollout.operators.stack_set_base import StackSetOperatorBase
from distributor_rollout.operators.wave_facts import read_facts, start_facts
from distributor_rollout.run_config import load_run_config


class DeployWaveOperator(StackSetOperatorBase):
    """Deploy the release to one wave, starting each StackSet operation once.

    Existing instances among the wave's targets get ``UpdateStackSet`` restricted to the
    wave's ``DeploymentTargets`` and Regions; targets without one then get
    ``CreateStackInstances``. The decision is ``core.deployment``'s, recomputed from AWS on
    every start, retry or resume, so a retried task adopts its earlier operations. The task
    waits between its own calls and for anyone else's operation, but not for its last
    call: ``StackSetOperationSensor`` does that.

    Returns a ``core.wave_result.WaveResult.to_dict()``: ``{"wave", "operations",
    "stored_changes", "nothing_to_do", "stored_targets", "targets", "targets_total"}``
    (``stored_targets``: where every account/Region of the wave is listed, what the
    compliance gate reads, with the list's sha256 and length; ``targets``: the first
    ``core.stored_targets.SAMPLE_SIZE`` of them, ``"acct/region"``; ``stored_changes``:
    where the instances it created or updated are recorded, with the record's sha256 and
    counts; a wave that changed nothing has ``"changes"``, empty, instead). Both records
    are in the artifacts bucket beside the release's template: they grow with the wave's
    accounts, and the XCom must not.
    Pushes ``started_at`` (ISO-8601 UTC) to XCom once per try, in ``execute`` before any
    AWS call (not again when it resumes after a wait).

    A wave this run does not deploy (the run's ``waves`` param) raises
    ``AirflowSkipException`` before any AWS call, so the rest of the wave's group is
    skipped too.

    In a dry run (the run's ``dry_run`` param) the task only reads: it logs the wave's
    accounts × Regions and every call it would start, and returns the same shape with
    ``"operations": []``, no changes, ``"nothing_to_do"`` true only when no call would be
    needed, ``"dry_run": True`` and ``"planned": [{"api_call", "operation_id",
    "targets", "accounts", "regions", "organizational_units"}]`` (counts of targets and
    accounts, the Region and OU lists; small for XCom). A stack set that does not exist
    yet is planned as the dry-run prepare step would have created it: holding this
    release, with no instances, so every target would be created. Whether an existing
    stack set holds this release's template is judged from the release's
    ``template_sha256`` when it has one (a dry-run release, whose template was never
    stored), otherwise from the stored template.

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
        """Record when the wave started; decide, start or adopt, wait between calls; the
        wave's record."""
        return self._deploy(context, starting=True)

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """Resume after a wait: decide again from what AWS reports now."""
        self.check_wait_event(event)
        return self._deploy(context)

    def _deploy(self, context: Any, *, starting: bool = False) -> dict[str, Any]:
        config = load_run_config(self.plan_path, self.run_params)
        if not isinstance(self.release, Mapping):
            raise ConfigurationError(f"release must be a Release.to_dict() (got {self.release!r})")
        release = self.load_release(self.release)
        try:
            config.plan.wave(self.wave)
        except KeyError:
            known = ", ".join(wave.name for wave in config.plan.waves)
            raise ConfigurationError(f"wave {self.wave!r} is not in the plan ({known})") from None
        if not config.runs_wave(self.wave):
            raise AirflowSkipException(
                f"wave {self.wave!r} is not among this run's waves "
                f"({', '.join(config.waves)}): not deployed"
            )
        if starting:
            context["ti"].xcom_push(key=STARTED_AT_XCOM_KEY, value=datetime.now(UTC).isoformat())
        if config.dry_run:
            return self._dry_run(context, config.plan, release)
        # Checked before any StackSets call: a changed template stops the wave here.
        template_body = self._template_body(release)
        self.describe_stack_set(release)
        base = self._start_facts(context, config.plan, release)
        while True:
            described = self.describe_stack_set(release)
            facts = read_facts(self.hook, base, release, described, template_body)
            step = next_step(facts)
            if isinstance(step, Finished):
                self._finish(context, release, step)
                return self._stored(context, release, step.result(base.wave.targets)).to_dict()
            if isinstance(step, Start):
                # The checked text, not the URL: the object cannot change under the call.
                request = with_template_body(
                    {**step.call.request}, {release.template.template_url: template_body}
                )
                if step.call.kind == "update":
                    # An update replaces the acknowledged capabilities: keep the stack set's.
                    request["Capabilities"] = list(described.get("Capabilities") or [])
                self.start(release, step.call.api_call, step.call.operation_id, request)
            else:
                self.log.info("%s: waiting for %s", step.reason, ", ".join(step.operation_ids))
                self.wait_for(context, release, step.operation_ids)

    def _dry_run(self, context: Any, plan: Plan, release: Release) -> dict[str, Any]:
        """Read what a real run would read, log the wave and every call it would start;
        start nothing. A missing stack set is planned as the prepare step would create it."""
        described = self.hook.describe_stack_set(release.stack_set_name, call_as=release.call_as)
        base = replace(self._start_facts(context, plan, release), holds_release=True)
        wave = base.wave
        if described is None:
            self.log.info(
                "Dry run: stack set %s does not exist (the prepare step would create it "
                "holding this release): every target of the wave would be created",
                release.stack_set_name,
            )
            facts = base
        else:
            digest = (
                dry_run_template_sha256(self.release) if isinstance(self.release, Mapping) else None
            )
            body = None if digest else self._template_body(release)
            facts = read_facts(self.hook, base, release, described, body, template_sha256=digest)
        calls = planned_calls(facts)
        self.log.info(
            "Dry run: wave %s is %d accounts x %d Regions (%s) = %d targets; accounts: %s",
            wave.name,
            len(wave.accounts),
            len(wave.regions),
            ", ".join(wave.regions),
            len(wave.targets),
            truncate_list(list(wave.accounts), limit=50),
        )
        if not calls:
            self.log.info("Dry run: wave %s already runs this release: no call needed", wave.name)
        for call in calls:
            self.log.info(
                "Dry run: would start %s %s on %d targets (%s): %s",
                call.api_call,
                call.operation_id,
                len(call.targets),
                truncate_list([str(target) for target in call.targets], limit=50),
                loggable_request(call.request),
            )
        return dry_run_wave(self.wave, calls, wave.targets).to_dict()

    def _start_facts(self, context: Any, plan: Plan, release: Release) -> WaveSnapshot:
        """The wave against the live organization (``wave_facts.start_facts``)."""
        organizations = OrganizationsHook(
            aws_conn_id=self.aws_conn_id, verify=self.verify, config=self.botocore_config
        )
        return start_facts(
            plan,
            self.wave,
            release,
            run_id=context["run_id"],
            organizations=organizations,
            log=self.log,
        )

    def _template_body(self, release: Release) -> str:
        """This release's template text (checked against its sha256), to tell whether the
        stack set already holds it and to pass as ``TemplateBody``."""
        return self.stored_template(release.template)

    def _stored(self, context: Any, release: Release, result: WaveResult) -> WaveResult:
        """``result`` with its target list and its changes stored in the artifacts bucket
        (beside the release's template) and only their references kept: both grow with
        the wave's accounts, the XCom must not (``core.stored_targets``,
        ``core.stored_changes``). A wave that changed nothing keeps its empty change record
        inline."""
        bucket, _ = object_location(release.template.template_url)
        run_tag = run_tag_value(str(context["run_id"]))
        s3 = self.artifacts_hook()
        key = targets_key(release.stack_set_name, run_tag, self.wave)
        document, listed = stored_targets(result.targets, bucket, key)
        s3.put_text(bucket, key, document, content_type="application/json")
        self.log.info(
            "Wave %s: its %d targets listed in s3://%s/%s", self.wave, listed.count, bucket, key
        )
        result = result.storing_targets(listed)
        if not result.changes.changes:
            return result
        key = changes_key(release.stack_set_name, run_tag, self.wave)
        document, reference = stored(result.changes, bucket, key)
        s3.put_text(bucket, key, document, content_type="application/json")
        self.log.info(
            "Wave %s: its %d changed instances recorded in s3://%s/%s",
            self.wave,
            reference.changed,
            bucket,
            key,
        )
        return result.storing(reference)

    def _finish(self, context: Any, release: Release, finished: Finished) -> None:
        """Log how the wave ended and link its last operation."""
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
