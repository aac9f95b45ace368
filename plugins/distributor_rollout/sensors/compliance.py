"""Wait until a wave's fleet complies: the association compliance gate of one wave."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from distributor_rollout.core.compliance_poll import (
    FailureTrigger,
    elapsed_since,
    evaluate_poll,
    failure_message,
    failure_trigger,
)
from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.gate import GateDecision, GateSettings, next_poll_in
from distributor_rollout.core.gate_journal import JOURNAL_KEY, GateRecord, resumed
from distributor_rollout.core.gate_progress import waiting_poll
from distributor_rollout.core.gate_result import GateResult
from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.plan import ChangeFeed, wave_gate
from distributor_rollout.core.regions import partition_of
from distributor_rollout.core.steps import GATE_XCOM_KEY, LATEST_POLL_XCOM_KEY
from distributor_rollout.core.targets import Target
from distributor_rollout.core.wave_result import WaveResult
from distributor_rollout.hooks.association_status import AssociationStatusHook, StatusPoll
from distributor_rollout.hooks.compliance_feed import GatePoller, gate_poller, needs_full_read
from distributor_rollout.hooks.errors import AwsRolloutError, MemberAccessDenied
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.hooks.stored_targets import read_stored_targets
from distributor_rollout.links.console import AssociationLink
from distributor_rollout.run_config import load_run_config
from distributor_rollout.settings import time_scale
from distributor_rollout.task_store import max_tries, state_store
from distributor_rollout.templated import rendered_list, rendered_mapping
from distributor_rollout.triggers.compliance import AssociationComplianceTrigger, link_target
from distributor_rollout.triggers.deferral import fire_not_before

BACKSTOP_SLACK_SECONDS = 300.0
"""Real seconds Airflow's sensor timeout allows beyond the gate's own deadline, bake and
two poll intervals: time for the last polls' reads, which may be slow."""


class ComplianceGateFailed(AirflowFailException):
    """The gate failed: the wave's fleet did not comply (not retried: the decision stands).

    ``trigger`` is the rollback trigger it fires (``compliance_failed`` when failed nodes
    made the threshold unreachable, ``compliance_timeout`` otherwise).
    """

    def __init__(self, wave: str, decision: GateDecision, trigger: FailureTrigger) -> None:
        self.wave = wave
        self.decision = decision
        self.trigger = trigger
        super().__init__(failure_message(wave, decision))


class AssociationComplianceSensor(AwsBaseSensor[AssociationStatusHook]):
    """Wait for a wave's association compliance gate to pass; fail when it fails.

    The gate (threshold, minimum nodes, timeout, bake, poll interval) is the wave's in the
    plan, with the run's overrides; the association and the member role to read it
    through are the plan's. Its durations are the fleet's time: at run time they are
    divided by the deployment's ``[distributor_rollout] time_scale`` (``settings``; 1
    against real AWS), and the gate runs, times out and bakes in those real seconds.
    Deferrable by default: the sensor looks once (a gate already decided finishes without
    deferring), then the trigger polls and decides in the triggerer, and no worker slot is
    held while the wave bakes; its event never comes sooner than ``[distributor_rollout]
    min_deferral_seconds`` after the deferral (``triggers.deferral``). Poke and reschedule
    modes poll from the worker and decide the same way.

    Skipped (``AirflowSkipException``, before any AWS call) for a wave this run does not
    deploy, and for every wave of a dry run: nothing was deployed to gate.

    When the gate opened, so that its timeout and bake survive waiting: deferred, the
    trigger carries it; in poke mode the task keeps it; in reschedule mode it is the
    first reschedule of this try (what Airflow's own sensor timeout counts from), as
    Airflow clears a task's XComs every time it reschedules it. For the same reason,
    once the gate is passing a rescheduled sensor bakes in-process rather than losing
    the passing streak to a reschedule.

    Returns the decision (``GateDecision.to_dict()``) on PASS and records it under the
    XCom key ``compliance_gate`` as a ``core.gate_result.GateResult.to_dict()``:
    ``{"decision", "decided_at"}`` (ISO-8601 UTC; when the gate decided, in the
    triggerer when deferred), with ``"trigger"`` (the rollback trigger) added on FAIL.

    :param plan_path: the rollout plan file.
    :param run_params: the DAG run's params (templated).
    :param wave: the wave's name.
    :param deploy_result: the wave's ``DeployWaveOperator`` return value (templated; a
        ``core.wave_result.WaveResult.to_dict()``): the gate reads the wave's targets from
        it, from the list the deploy task stored in the artifacts bucket (checked against
        its sha256; a missing or altered list fails the gate, ``hooks.stored_targets``) or
        inline in a record written before targets were stored.
    :param targets: the wave's targets as ``"account/region"``, instead of
        ``deploy_result`` (templated; a JSON list string is accepted, as a template renders
        to one).
    :param failed_targets: targets whose stack instance failed to update within the
        operation's tolerance (the operation sensor's failed targets): they still run the
        previous version, so their nodes count as failed, whatever they report.
    :param operation_result: the wave's ``StackSetOperationSensor`` return value
        (templated; JSON or Python-literal text is accepted): the failed targets of its
        operations are added to ``failed_targets``. None (or a template that rendered
        ``None``) adds nothing.
    :param deferrable: wait in the triggerer (default) rather than poke or reschedule.
    :param concurrency: targets read at once per poll.
    """

    aws_hook_class = AssociationStatusHook
    template_fields: Sequence[str] = aws_template_fields(
        "plan_path",
        "run_params",
        "wave",
        "deploy_result",
        "targets",
        "failed_targets",
        "operation_result",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "run_params": "json",
        "deploy_result": "json",
        "targets": "json",
        "failed_targets": "json",
        "operation_result": "json",
    }
    operator_extra_links = (AssociationLink(),)
    # A poke-mode sensor's live poller (hooks, credential caches, a logger) is shared, not
    # copied, when Airflow copies the task.
    shallow_copy_attrs: Sequence[str] = ("_poller",)

    def __init__(
        self,
        *,
        plan_path: str,
        wave: str,
        deploy_result: Mapping[str, Any] | str | None = None,
        targets: Sequence[str] | str | None = None,
        failed_targets: Sequence[str] | str = (),
        operation_result: Mapping[str, Any] | str | None = None,
        run_params: Mapping[str, Any] | None = None,
        deferrable: bool = True,
        concurrency: int = 16,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params
        self.wave = wave
        self.deploy_result = deploy_result
        self.targets = targets
        self.failed_targets = failed_targets
        self.operation_result = operation_result
        self.deferrable = deferrable
        self.concurrency = concurrency
        self._role_name = ""
        self._association_name = ""
        self._feed: ChangeFeed | None = None
        self._artifacts_region: str | None = None
        self._poller: GatePoller | None = None
        self._resolved_targets: list[Target] | None = None
        self._gate: GateSettings | None = None
        self._fleet_gate: GateSettings | None = None
        self._opened_at = 0.0
        self._passing_since: float | None = None
        self._gate_record: GateRecord | None = None
        self._linked = False

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {**super()._hook_parameters, "role_name": self._role_name}

    def execute(self, context: Any) -> Any:
        """Open the gate, then defer to the trigger or poll."""
        gate = self._load()
        targets = self._targets()
        record = self._open(context)
        if record.decision is not None:
            # This gate decided in an earlier try that Airflow then failed from outside:
            # the decision stands (see core.gate_journal).
            self.log.warning(
                "Gate of wave %s decided %s at %s in an earlier try; keeping that decision",
                self.wave,
                record.decision.state,
                record.decided_at,
            )
            return self._finish(context, record.decision, gate, record.decided_at)
        # Airflow's sensor timeout is only a backstop: the gate fails itself in time. Its
        # last polls may start just before the deadline and read slowly (a throttled read
        # backs off in real time whatever the time scale), hence the slack.
        self.timeout = (
            gate.timeout_seconds
            + gate.bake_seconds
            + 2 * gate.poll_interval_seconds
            + BACKSTOP_SLACK_SECONDS
        )
        self.poke_interval = gate.poll_interval_seconds
        failed = self._failed_targets()
        self.log.info(
            "Gate of wave %s over %d targets: %s (association %s, role %s)",
            self.wave,
            len(targets),
            self._fleet_gate,
            self._association_name,
            self._role_name,
        )
        if gate != self._fleet_gate:
            self.log.info("Time scale %g: in real seconds the gate is %s", time_scale(), gate)
        if failed:
            self.log.info(
                "%d targets count as failed (their stack instance update failed): %s",
                len(failed),
                ", ".join(str(target) for target in failed),
            )
        if self.deferrable:
            # Look once before deferring: a gate already decided finishes here, and the
            # trigger's first look comes a poll interval later, never at once.
            decision, poll, pause = self._poll_once(context, gate, targets)
            if decision.state != "WAIT":
                self._warn_missing(len(poll.missing), [str(target) for target in poll.missing])
                return self._finish(context, decision, gate)
            self.log.info("%s; deferring, next poll in %.0fs", decision.reason, pause)
            self.defer(
                trigger=AssociationComplianceTrigger(
                    targets=[str(target) for target in targets],
                    failed_targets=[str(target) for target in failed],
                    change_feed=self._feed.model_dump() if self._feed else None,
                    time_scale=time_scale(),
                    association_name=self._association_name,
                    role_name=self._role_name,
                    gate=gate.to_dict(),
                    opened_at=self._opened_at,
                    passing_since=decision.passing_since,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    concurrency=self.concurrency,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                    first_poll_at=time.time() + pause,
                    not_before=fire_not_before(),
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout),
            )
        return super().execute(context)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Poll every target once and decide; in reschedule mode, keep polling while baking."""
        gate = self._gate or self._load()
        targets = self._targets()
        while True:
            decision, poll, pause = self._poll_once(context, gate, targets)
            if decision.state != "WAIT":
                self._warn_missing(len(poll.missing), [str(target) for target in poll.missing])
                return PokeReturnValue(True, self._finish(context, decision, gate))
            self.log.info("%s; next poll in %.0fs", decision.reason, pause)
            if not (self.reschedule and decision.passing_since is not None):
                self.poke_interval = pause
                return False
            time.sleep(pause)

    def _poll_once(
        self, context: Any, gate: GateSettings, targets: Sequence[Target]
    ) -> tuple[GateDecision, StatusPoll, float]:
        """Poll the targets once and judge the gate as of the poll's start (as the trigger
        does): the decision, the poll and the pause until the next poll. A poll through the
        change feed that would decide or start a bake is confirmed by reading every target,
        the gate acts on that, and a baking gate reads every target
        (``hooks.compliance_feed.needs_full_read``)."""
        poller = self._gate_poller(targets)
        failed = frozenset(self._failed_targets())

        def judged(full: bool) -> tuple[float, StatusPoll, GateDecision]:
            began = time.time()
            poll = poller.poll(full=full)
            elapsed = elapsed_since(self._opened_at, began)
            decision = evaluate_poll(
                poll.compliances,
                poll.unread,
                gate,
                elapsed,
                self._passing_since,
                failed_targets=failed,
            )
            return began, poll, decision

        # A baking gate reads every target: changes the feed cannot see (an agent going
        # offline, a node newly targeted) must end a bake as they would without it.
        began, poll, decision = judged(full=self._passing_since is not None)
        if needs_full_read(decision, poller):
            self.log.info("%s; confirming with a poll of every target", decision.reason)
            began, poll, decision = judged(full=True)
        elapsed = elapsed_since(self._opened_at, began)
        if decision.passing_since != self._passing_since:
            self._save(context, self._record(context).passing(decision.passing_since))
        self._passing_since = decision.passing_since
        self._persist_link(context, link_target(decision, poll))
        latest = waiting_poll(decision, began)
        if latest is not None:
            # For the Rollout tab: where the gate stands (deferred, the trigger records its
            # own polls the same way: triggers.poll_record).
            context["ti"].xcom_push(key=LATEST_POLL_XCOM_KEY, value=latest.to_dict())
        pause = next_poll_in(decision, gate, elapsed, polling_took=time.time() - began)
        return decision, poll, pause

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the decision on PASS, raise on anything else."""
        if not event or "status" not in event:
            raise AirflowException(f"compliance trigger sent no usable event: {event!r}")
        if event["status"] == "error":
            if event.get("account_id") and event.get("role_arn"):
                raise MemberAccessDenied(
                    str(event["account_id"]), str(event["role_arn"]), str(event.get("reason"))
                )
            raise AwsRolloutError(f"compliance gate of wave {self.wave!r}: {event['message']}")
        if event["status"] != "success" or "decision" not in event:
            raise AirflowException(f"compliance trigger sent an unknown event: {event!r}")
        gate = self._load()
        decision = GateDecision.from_dict(event["decision"])
        self._persist_link(context, event.get("association"))
        self._warn_missing(
            int(event.get("missing_count", 0)), list(event.get("missing_associations", []))
        )
        return self._finish(context, decision, gate, event.get("decided_at"))

    # --- helpers ------------------------------------------------------------------------
    def _load(self) -> GateSettings:
        """The wave's gate from the run's plan, in real seconds under the configured time
        scale; sets the role and association it reads. Skips a wave not run and a dry run."""
        config = load_run_config(self.plan_path, self.run_params)
        plan = config.plan
        try:
            wave = plan.wave(self.wave)
        except KeyError:
            names = ", ".join(wave.name for wave in plan.waves)
            raise ValidationError(
                "compliance sensor", [wrong("wave", "not a wave of the plan", self.wave, names)]
            ) from None
        if not config.runs_wave(self.wave):
            # The deploy step did nothing for this wave: there is no gate to hold.
            raise AirflowSkipException(f"wave {self.wave!r} is not among this run's waves")
        if config.dry_run:
            raise AirflowSkipException("dry run: nothing was deployed to gate")
        self._role_name = plan.stack_set.compliance_reader.role_name
        self._association_name = plan.association.name
        self._feed = plan.stack_set.compliance_reader.change_feed
        self._artifacts_region = plan.stack_set.region  # where the artifacts bucket is
        self._fleet_gate = wave_gate(plan, wave)
        # At run time, never at parse: the time scale is the deployment's, not the DAG's.
        self._gate = self._fleet_gate.scaled(time_scale())
        return self._gate

    def _gate_poller(self, targets: Sequence[Target]) -> GatePoller:
        """This task's poller (kept across pokes in poke mode: the feed's state with it)."""
        if self._poller is None:
            self._poller = gate_poller(
                self.hook,
                self._feed,
                targets,
                association_name=self._association_name,
                concurrency=self.concurrency,
                aws_conn_id=self.aws_conn_id,
                verify=self.verify,
                botocore_config=self.botocore_config,
                time_scale=time_scale(),
                log=self.log,
            )
        return self._poller

    def _targets(self) -> list[Target]:
        """The wave's targets, from ``deploy_result`` or ``targets`` (read once per task
        run); an empty wave is an error now rather than a timeout later."""
        if self._resolved_targets is not None:
            return self._resolved_targets
        if self.targets is None:
            targets = self._deployed_targets()
        else:
            targets = [Target.parse(str(item)) for item in rendered_list(self.targets) or []]
        if not targets:
            given = self.targets if self.targets is not None else self.deploy_result
            raise ValidationError(
                "compliance sensor",
                [wrong("targets", "no targets to gate", given, "'account/region' items")],
            )
        self._resolved_targets = targets
        return targets

    def _deployed_targets(self) -> list[Target]:
        """The targets ``deploy_result`` stores (read back and checked, even when the few
        inline are all of them: the gate waits on what the deploy task recorded), or lists
        inline in a record written before lists were stored."""
        try:
            recorded = rendered_mapping(self.deploy_result)
            if recorded is None:
                raise TypeError("nothing was given")
            result = WaveResult.from_dict(recorded)
        except (TypeError, ValidationError) as error:
            expected = "the DeployWaveOperator's return value (a dict)"
            problem = wrong(
                "deploy_result", f"not a deploy result ({error})", self.deploy_result, expected
            )
            raise ValidationError("compliance sensor", [problem]) from None
        if result.stored_targets is None:
            if result.complete:  # a record written before target lists were stored
                return [Target.parse(text) for text in result.targets]
            problem = wrong(
                "deploy_result.stored_targets",
                "missing where the result lists only some targets",
                f"{len(result.targets)} of {result.target_count} listed",
                "the stored list's location, or every target inline",
            )
            raise ValidationError("compliance sensor", [problem])
        s3 = PackageBucketHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self._artifacts_region or self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )
        return list(read_stored_targets(s3, result.stored_targets))

    def _failed_targets(self) -> list[Target]:
        """``failed_targets`` and the operation result's failed targets, parsed, each once
        (may be empty)."""
        given = [Target.parse(str(item)) for item in rendered_list(self.failed_targets) or []]
        from_operations = operation_failed_targets(self.operation_result)
        return list(dict.fromkeys([*given, *from_operations]))

    def _open(self, context: Any) -> GateRecord:
        """Open the gate, or resume the one an earlier try of this task recorded (an
        Airflow retry, not a clear: ``core.gate_journal``); records it."""
        record = self._recorded(context)
        if record is None:
            record = GateRecord(self._gate_opened_at(context), max_tries(context))
        elif record.decision is None:
            self.log.warning(
                "Resuming the gate an earlier try opened at %s (passing since %s)",
                datetime.fromtimestamp(record.opened_at, UTC).isoformat(),
                record.passing_since,
            )
        self._opened_at = record.opened_at
        self._passing_since = record.passing_since
        self._save(context, record)
        return record

    def _record(self, context: Any) -> GateRecord:
        """The gate's record as this task knows it (a resumed deferral rebuilds it)."""
        if self._gate_record is None:
            self._gate_record = self._recorded(context) or GateRecord(
                self._opened_at or time.time(), max_tries(context)
            )
        return self._gate_record

    @staticmethod
    def _recorded(context: Any) -> GateRecord | None:
        """What an earlier try of this series recorded (``core.gate_journal``), if any."""
        store = state_store(context)
        return resumed(store.get(JOURNAL_KEY) if store else None, max_tries(context))

    def _save(self, context: Any, record: GateRecord) -> None:
        """Keep the record where the next try of this task finds it (if the task has a
        state store: Airflow gives every task one; bare test contexts may not)."""
        self._gate_record = record
        store = state_store(context)
        if store is not None:
            store.set(JOURNAL_KEY, record.to_dict())

    def _gate_opened_at(self, context: Any) -> float:
        """Now, or for a rescheduled sensor the first reschedule of this try (see class)."""
        if self.reschedule and not self.deferrable and context.get("task_reschedule_count"):
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return float(first.timestamp())
        return time.time()

    def _warn_missing(self, count: int, shown: Sequence[str]) -> None:
        """Targets without the association count as no nodes: say so, it may be a surprise."""
        if count:
            self.log.warning(
                "%d targets have no association %s: %s",
                count,
                self._association_name,
                ", ".join(shown),
            )

    def _finish(
        self,
        context: Any,
        decision: GateDecision,
        gate: GateSettings,
        decided_at: str | None = None,
    ) -> dict[str, Any]:
        """Record the decision and when it was made (``decided_at``, default now); return
        it on PASS, raise ``ComplianceGateFailed`` on FAIL."""
        decided_at = decided_at or datetime.now(UTC).isoformat()
        # First of all: a try failed from outside after this resumes to the same decision.
        self._save(context, self._record(context).decided(decision, decided_at))
        if decision.state == "PASS":
            result = GateResult(decision, decided_at)
            context["ti"].xcom_push(key=GATE_XCOM_KEY, value=result.to_dict())
            self.log.info("Gate of wave %s passed: %s", self.wave, decision.reason)
            return decision.to_dict()
        trigger = failure_trigger(decision, gate)
        result = GateResult(decision, decided_at, trigger)
        context["ti"].xcom_push(key=GATE_XCOM_KEY, value=result.to_dict())
        raise ComplianceGateFailed(self.wave, decision, trigger)

    def _persist_link(self, context: Any, association: Mapping[str, str] | None) -> None:
        """The console link to one association of the wave (once per task run)."""
        if not association or self._linked:
            return
        self._linked = True
        region = Target.parse(association["target"]).region
        AssociationLink.persist(
            context=context,
            operator=self,
            region_name=region,
            aws_partition=partition_of(region) or "aws",
            association_id=association["association_id"],
        )


def operation_failed_targets(value: Any) -> list[Target]:
    """The failed targets of the ``operation_result`` argument: a ``StackSetOperationSensor``
    result (``core.operation_summary``), perhaps rendered to text by a template; None adds
    nothing. ``ValidationError`` names the argument and the bad field."""
    try:
        result = rendered_mapping(value)
        return [] if result is None else OperationsSummary.from_dict(result).failed_targets()
    except TypeError:
        expected = "the StackSetOperationSensor's return value (a dict)"
        problem = wrong("operation_result", "not an operation sensor result", value, expected)
        raise ValidationError("compliance sensor", [problem]) from None
    except ValidationError as error:
        problems = [Problem(f"operation_result.{p.path}", p.message) for p in error.problems]
        raise ValidationError("compliance sensor", problems) from None
