"""The tasks that finish a retire run after its waves: delete the stack set, delete the
buckets (when asked), and report.

The report is built last and kept in XCom and the task log; it is uploaded to the
artifacts bucket unless that bucket was just deleted (a report written there first would
have kept the bucket from being empty), the run is a dry run, or it stopped in validate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from distributor_rollout.core.deployment import Instance, account_ous
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.release import Release
from distributor_rollout.core.retire_buckets import (
    BucketFacts,
    BucketOutcome,
    RetiredBucket,
    bucket_decision,
    outcome,
    retired_buckets,
)
from distributor_rollout.core.retire_stack_set import (
    Remaining,
    StackSetOutcome,
    StackSetState,
    release_calls,
    remaining,
)
from distributor_rollout.core.retire_steps import DELETE_INSTANCES
from distributor_rollout.core.retire_waves import StackSetCall
from distributor_rollout.core.steps import DELETE_STACK_SET, wave_task_id
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import truncate_list
from distributor_rollout.hooks.errors import OperationInProgress
from distributor_rollout.hooks.identity import AccountIdentityHook
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.operators.retire_config import load_retire_config
from distributor_rollout.operators.retire_frame import skip
from distributor_rollout.operators.retire_waves import (
    RetireCallsOperator,
    resolved,
    stack_set_coordinates,
)


class RetireStackSetOperator(RetireCallsOperator):
    """Delete the stack set once no stack instance is left.

    First deletes the home-Region instances the waves held for the compliance-reader role
    (``core.retire_stack_set.remaining``: once nothing else of their account is left),
    then, when ``ListStackInstances`` is empty, ``DeleteStackSet``. Instances the waves
    kept, and any outside the plan's waves, keep the stack set: they are listed. A stack
    set that does not exist any more is success with nothing to do. Returns a
    ``StackSetOutcome.to_dict()``; in a dry run it only reads and logs.
    """

    def act(self, context: Any) -> dict[str, Any]:
        """Release held instances, then delete the stack set if it is empty."""
        config = load_retire_config(self.plan_path, self.run_params)
        plan = config.plan
        release = self.load_release(stack_set_coordinates(plan))
        name, call_as = release.stack_set_name, release.call_as
        if self.hook.describe_stack_set(name, call_as=call_as) is None:
            self.log.info("Stack set %s does not exist (already retired): nothing to do", name)
            return StackSetOutcome(name, "absent", "already deleted: nothing to do").to_dict()
        org, resolution = resolved(plan, self.organizations())
        summaries = self.hook.list_stack_instances(name, call_as=call_as)
        held = self._held(context, plan)
        home = plan.stack_set.compliance_home_region
        left = remaining(map(Instance.from_api, summaries), resolution.waves, held, home)
        if config.dry_run:
            return self._dry_run(name, left, len(summaries)).to_dict()
        ou_of: dict[str, str] = {}
        for wave in reversed(resolution.waves):
            ou_of.update(account_ous(org, wave))
        ou_of.update(
            {
                s["Account"]: s["OrganizationalUnitId"]
                for s in summaries
                if s.get("OrganizationalUnitId")
            }
        )
        released = len(left.release)
        if left.release:
            self.log.info(
                "Deleting %d home-Region instances held for the compliance-reader role: %s",
                released,
                truncate_list([str(target) for target in left.release]),
            )
            run_id = str(context["run_id"])
            self.run_calls(
                context,
                release,
                lambda: self._release_calls(run_id, plan, ou_of, held),
                wait_last=True,
            )
        live = [Instance.from_api(s) for s in self.hook.list_stack_instances(name, call_as=call_as)]
        if live:
            after = remaining(live, resolution.waves, (), home)
            kept = StackSetOutcome.kept(name, after, released)
            self.log.warning("%s", kept.line())
            return kept.to_dict()
        return self._delete(context, release, released).to_dict()

    def _held(self, context: Any, plan: Plan) -> set[Target]:
        """The home-Region instances the waves' delete tasks held."""
        held: set[Target] = set()
        for wave in plan.waves:
            record = context["ti"].xcom_pull(task_ids=wave_task_id(wave.name, DELETE_INSTANCES))
            if isinstance(record, Mapping):
                held |= {Target.parse(text) for text in record.get("held", ())}
        return held

    def _release_calls(
        self, run_id: str, plan: Plan, ou_of: Mapping[str, str], held: set[Target]
    ) -> list[StackSetCall]:
        """The deletes of what is still to release, decided from the instances left."""
        stack = plan.stack_set
        live = map(
            Instance.from_api, self.hook.list_stack_instances(stack.name, call_as=stack.call_as)
        )
        left = remaining(live, (), held, stack.compliance_home_region)
        return release_calls(run_id, left.release, ou_of)

    def _delete(self, context: Any, release: Release, released: int) -> StackSetOutcome:
        """``DeleteStackSet``, after anyone else's operation on it."""
        name, call_as = release.stack_set_name, release.call_as
        while True:
            try:
                result = self.hook.delete_stack_set(name, call_as=call_as)
            except OperationInProgress:
                active = self.hook.active_operations(name, call_as=call_as)
                self.wait_for(context, release, [s["OperationId"] for s in active])
                continue
            break
        if result == "not_empty":  # instances appeared since the look before
            live = map(Instance.from_api, self.hook.list_stack_instances(name, call_as=call_as))
            return StackSetOutcome.kept(name, remaining(live, (), (), ""), released)
        state: StackSetState = "deleted" if result == "deleted" else "absent"
        reason = "deleted" if result == "deleted" else "already deleted"
        if released:
            reason += f" after {released} held home-Region instances"
        self.log.info("Stack set %s: %s", name, reason)
        return StackSetOutcome(name, state, reason, released)

    def _dry_run(self, name: str, left: Remaining, instances: int) -> StackSetOutcome:
        """What a real run's last step would do (the waves have deleted nothing)."""
        if left.outside:
            reason = (
                f"would keep it: {len(left.outside)} instances outside the plan's waves "
                f"(e.g. {left.outside[0]})"
            )
        else:
            reason = f"would delete it once the waves delete its {instances} instances"
        self.log.info("Dry run: stack set %s: %s", name, reason)
        return StackSetOutcome(name, "dry_run", reason)


class RetireBucketsOperator(AwsBaseOperator[PackageBucketHook]):
    """Empty (every object version and delete marker) and delete the plan's buckets.

    Only when the run's ``delete_buckets`` param asks, and only once the stack set is
    gone: while instances are left, their associations may still need the package files
    (an uninstall waiting for an offline node downloads them). Which buckets go is
    ``core.retire_buckets``' decision: the package buckets of every Region of the plan's
    waves (none for an existing package) and the artifacts bucket, each only when it is
    the plan's alone; the others are kept and named. Returns ``{"buckets": [...]}``
    (``BucketOutcome.to_dict()``); in a dry run it only reads and logs.
    """

    aws_hook_class = PackageBucketHook
    template_fields: Sequence[str] = aws_template_fields("plan_path", "run_params")
    ui_color = "#e0c9c9"

    def __init__(
        self, *, plan_path: str, run_params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path
        self.run_params = run_params

    def execute(self, context: Any) -> dict[str, Any]:
        """Decide bucket by bucket; empty and delete those that go."""
        config = load_retire_config(self.plan_path, self.run_params)
        if not config.delete_buckets:
            raise skip(context, "kept: the run's delete_buckets param is false")
        record = context["ti"].xcom_pull(task_ids=DELETE_STACK_SET)
        stack_set = StackSetOutcome.from_dict(record) if isinstance(record, Mapping) else None
        if not config.dry_run and (stack_set is None or not stack_set.gone):
            raise skip(
                context,
                "kept: the stack set still has instances, whose associations may still need "
                "the package files",
            )
        spec = config.plan.stack_set
        account = AccountIdentityHook(
            **{**self._hook_parameters, "region_name": spec.region}
        ).caller_account_id()
        outcomes = [
            self._retire(bucket, account, dry_run=config.dry_run)
            for bucket in retired_buckets(config.plan, account)
        ]
        return {"buckets": [item.to_dict() for item in outcomes]}

    def _retire(self, bucket: RetiredBucket, account: str, *, dry_run: bool) -> BucketOutcome:
        """One bucket: read, decide, and (not in a dry run) empty and delete it."""
        s3 = PackageBucketHook(**{**self._hook_parameters, "region_name": bucket.region})
        head = s3.head_bucket(bucket.name, owner=account)
        versions: list[dict[str, str]] = []
        tags: dict[str, str] = {}
        if head.state == "exists":
            versions = s3.object_versions(bucket.name, owner=account)
            tags = s3.bucket_tags(bucket.name)
        facts = BucketFacts(head.state, tags, tuple(item["Key"] for item in versions))
        decision = bucket_decision(bucket, facts)
        if decision.delete and not dry_run:
            s3.delete_versions(bucket.name, versions, owner=account)
            s3.delete_bucket(bucket.name, owner=account)
        result = outcome(bucket, decision, dry_run=dry_run)
        self.log.info("%s%s", "Dry run: " if dry_run else "", result.line())
        return result
