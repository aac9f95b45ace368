"""One retire DAG per plan: ``retire_dag("examplepackage")`` beside the plan's rollout DAG.

The reference solution's "Cleanup" (delete the stack instances, the stack set, the
package buckets) as a staged, gated, reported run. Manual only. Parsing reads only local
files, as for the rollout DAG.

The task graph, for a plan with waves canary → nonprod → prod::

    validate → approve
      → prod.uninstall → prod.wait_uninstall → prod.wait_removed
          → prod.delete_instances → prod.wait_delete
      → nonprod.… → canary.…
      → delete_stack_set → delete_buckets → report

- the waves run in reverse plan order: the widest, last-deployed wave goes first and the
  canary last, so the package leaves production before it leaves the canary;
- skips propagate inside a wave (a wave with nothing left skips whole), and each wave's
  first task, ``delete_stack_set`` and ``delete_buckets`` run unless something before
  them failed (``none_failed``): a skipped wave or approval (dry run) does not stop the
  next, a failed one does;
- ``report`` always runs (``all_done``) and fails the run unless the package is retired.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, TaskGroup, TriggerRule
from airflow.sdk.bases.operator import BaseOperator

from distributor_rollout import settings
from distributor_rollout.core.errors import Problem, ValidationError
from distributor_rollout.core.plan import Plan, WaveSpec
from distributor_rollout.core.retire_steps import (
    DELETE_INSTANCES,
    UNINSTALL,
    WAIT_DELETE,
    WAIT_REMOVED,
    WAIT_UNINSTALL,
    clashing_wave_names,
    retire_dag_id,
)
from distributor_rollout.core.steps import (
    APPROVE,
    DELETE_BUCKETS,
    DELETE_STACK_SET,
    REPORT,
    VALIDATE,
    wave_task_id,
)
from distributor_rollout.dag_factory import (
    AWS_POLL_SECONDS,
    RUN_PARAMS,
    START_DATE,
    dag_id_for,
    dag_plan,
    task_defaults,
)
from distributor_rollout.operators.retire_finish import (
    RetireBucketsOperator,
    RetireStackSetOperator,
)
from distributor_rollout.operators.retire_frame import (
    RetireApprovalOperator,
    ValidateRetireOperator,
)
from distributor_rollout.operators.retire_report import RetireReportOperator
from distributor_rollout.operators.retire_waves import (
    RetireDeleteInstancesOperator,
    RetireUninstallOperator,
    RetireWaitRemovedOperator,
)
from distributor_rollout.sensors.stack_set import StackSetOperationSensor
from distributor_rollout.settings import scaled_seconds

RETIRE_TASK_DOCS: dict[str, str] = {
    VALIDATE: "Checks the plan and this run's params; refuses while the plan's rollout DAG "
    "has a running run. Changes nothing.",
    APPROVE: "A person approves the retire on the Required Actions page, seeing each wave's "
    "stack instances and the buckets to delete; Reject stops the run before any change.",
    UNINSTALL: "Uninstalls the package from this wave's nodes: the stack set update with "
    "Action=Uninstall, restricted to the wave's OUs and Regions.",
    WAIT_UNINSTALL: "Waits for the wave's uninstall operation.",
    WAIT_REMOVED: "Waits until the wave's reachable nodes report the package gone; targets "
    "with nodes offline since it reached them keep their instance (and the uninstall).",
    DELETE_INSTANCES: "Deletes the wave's stack instances whose nodes report the package gone.",
    WAIT_DELETE: "Waits for the wave's delete operations.",
    DELETE_STACK_SET: "Deletes the stack set once no stack instance is left; lists any that are.",
    DELETE_BUCKETS: "When asked, empties and deletes the package buckets and the artifacts "
    "bucket that hold only this plan's objects.",
    REPORT: "Writes the retire report (table in the log, JSON in XCom, and in S3 unless the "
    "artifacts bucket is gone); fails a run that did not retire the package.",
}
"""What each task's page in the UI says."""


def retire_params_form(plan: Plan) -> dict[str, Param]:
    """The retire DAG's trigger form (``core.retire_params`` is the authoritative check)."""
    bucket_note = (
        "the artifacts bucket (an existing package has no package bucket)"
        if plan.package.is_existing
        else "the package buckets and the artifacts bucket"
    )
    form = {
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Read and log what each step would remove; change nothing.",
        ),
        "delete_buckets": Param(
            False,
            type="boolean",
            title="Delete the buckets",
            description=f"Once the stack set is deleted, empty and delete {bucket_note} "
            "where they hold only this plan's objects.",
        ),
    }
    if plan.manual_runs.skip_approvals:
        form["skip_approval"] = Param(
            False,
            type="boolean",
            title="Skip the approval",
            description="Start the first wave without asking for an approval.",
        )
    return form


def retire_dag(plan_name: str, *, plans_dir: Path | None = None) -> DAG:
    """The retire DAG of ``<plans_dir>/<plan_name>.yaml`` (raises its validation report);
    ``plans_dir`` defaults to the ``[distributor_rollout] plans_dir`` setting."""
    path = (plans_dir or settings.plans_dir()) / f"{plan_name}.yaml"
    plan = dag_plan(path)
    clashes = clashing_wave_names(wave.name for wave in plan.waves)
    if clashes:
        raise ValidationError(
            f"retire DAG of plan {plan.name}",
            [Problem("waves", f"wave {name!r} is named like a retire step") for name in clashes],
        )
    poll = max(scaled_seconds(AWS_POLL_SECONDS), 0.1)
    spec = plan.stack_set
    common: dict[str, Any] = {"plan_path": str(path.resolve()), "run_params": RUN_PARAMS}
    with DAG(
        dag_id=retire_dag_id(dag_id_for(plan.name)),
        description=f"Retire {plan.package.name} from the organization, wave by wave",
        doc_md=_doc(plan, path),
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=sorted({"distributor-rollout", "retire", *plan.tags}),
        params=retire_params_form(plan),
        render_template_as_native_obj=True,
        default_args=task_defaults(plan),
    ) as dag:
        validate = ValidateRetireOperator(task_id=VALIDATE, retries=0, **common)
        # One retry: an approval Airflow lost to its deferral race is asked again.
        approve = RetireApprovalOperator(task_id=APPROVE, retries=1, **common)
        validate >> approve
        previous: BaseOperator = approve
        for wave in reversed(plan.waves):
            tasks = _wave_group(plan, wave, common, poll)
            tasks[0].trigger_rule = TriggerRule.NONE_FAILED
            previous >> tasks[0]
            previous = tasks[-1]
        delete_stack_set = RetireStackSetOperator(
            task_id=DELETE_STACK_SET,
            trigger_rule=TriggerRule.NONE_FAILED,
            region_name=spec.region,
            poll_interval=poll,
            **common,
        )
        delete_buckets = RetireBucketsOperator(
            task_id=DELETE_BUCKETS, trigger_rule=TriggerRule.NONE_FAILED, **common
        )
        report = RetireReportOperator(
            task_id=REPORT, trigger_rule=TriggerRule.ALL_DONE, retries=1, **common
        )
        previous >> delete_stack_set >> delete_buckets >> report
        for task in dag.tasks:
            if isinstance(task, BaseOperator) and not task.doc_md:
                task.doc_md = RETIRE_TASK_DOCS[task.task_id.rsplit(".", 1)[-1]]
    return dag


def _wave_group(
    plan: Plan, wave: WaveSpec, common: dict[str, Any], poll: float
) -> list[BaseOperator]:
    """A wave's TaskGroup: uninstall → wait → wait removed → delete → wait."""
    spec = plan.stack_set
    stack_set: dict[str, Any] = {
        "stack_set_name": spec.name,
        "call_as": spec.call_as,
        "region_name": spec.region,
    }
    regions = ", ".join(wave.regions)
    with TaskGroup(group_id=wave.name, tooltip=f"retire {', '.join(wave.ous)} × {regions}"):
        uninstall = RetireUninstallOperator(
            task_id=UNINSTALL,
            wave=wave.name,
            region_name=spec.region,
            poll_interval=poll,
            **common,
        )
        wait_uninstall = StackSetOperationSensor(
            task_id=WAIT_UNINSTALL,
            operation_ids=_operations_of(wave_task_id(wave.name, UNINSTALL)),
            poll_interval=poll,
            **stack_set,
        )
        wait_removed = RetireWaitRemovedOperator(
            task_id=WAIT_REMOVED, wave=wave.name, region_name=spec.region, **common
        )
        delete = RetireDeleteInstancesOperator(
            task_id=DELETE_INSTANCES,
            wave=wave.name,
            region_name=spec.region,
            poll_interval=poll,
            **common,
        )
        wait_delete = StackSetOperationSensor(
            task_id=WAIT_DELETE,
            operation_ids=_operations_of(wave_task_id(wave.name, DELETE_INSTANCES)),
            poll_interval=poll,
            **stack_set,
        )
        tasks: list[BaseOperator] = [uninstall, wait_uninstall, wait_removed, delete, wait_delete]
        uninstall >> wait_uninstall >> wait_removed >> delete >> wait_delete
    return tasks


def _operations_of(task_id: str) -> str:
    """A template rendering to the operation ids a task returned."""
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}')['operations'] }}}}"


def _doc(plan: Plan, path: Path) -> str:
    """The DAG's documentation: what a run does, and the waves in retire order."""
    rows = "\n".join(
        f"| {order} | {wave.name} | {', '.join(wave.ous)} | {', '.join(wave.regions)} |"
        for order, wave in enumerate(reversed(plan.waves), start=1)
    )
    return (
        textwrap.dedent(
            f"""\
        # Retire {plan.package.name} ({plan.name})

        Removes the Distributor package **{plan.package.name}** from the organization,
        wave by wave in reverse order, through the stack set **{plan.stack_set.name}**
        ({plan.stack_set.region}): each wave uninstalls the package through the
        association (Action=Uninstall), waits until its reachable nodes report it gone,
        then deletes its stack instances. One approval comes first. Then the stack set
        is deleted once no instance is left and, with **delete_buckets**, the buckets
        that hold only this plan's objects. A rollout and a retire of this plan never
        run at the same time.

        Trigger with **dry_run** to see what each step would remove.

        | order | wave | OUs | Regions |
        |---|---|---|---|
        """
        )
        + rows
        + f"\n\nPlan file: `{path.name}` (owner {plan.owner}).\n"
    )
