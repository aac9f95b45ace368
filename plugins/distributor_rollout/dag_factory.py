"""One rollout DAG per plan: ``rollout_dag("examplepackage")`` in a thin file under dags/.

Parsing reads only local files (the plan and Airflow's configuration): no AWS, no
connections, no Variables. A plan with errors raises its validation report, so the
plan's DAG file shows it as its import error and the other plans' DAGs are unaffected.

The task graph, for a plan with waves canary → nonprod → prod (prod asks for approval)
(a package that already exists in Distributor has no build and no publish)::

    validate → build → check_deployed → publish → prepare
      → canary.deploy → canary.wait_operation → canary.wait_compliance
      → nonprod.deploy → …  → prod.wait_compliance → prod.approve
      → finalize (emits the package's Asset) → report
    any wave task failed → rollback → report

Trigger rules carry the run's outcomes:

- skips propagate (``all_success``) inside the chain, so a "nothing to do" check skips
  every step up to the report, and a wave the run does not deploy is skipped whole;
- each wave's deploy waits for ``prepare`` and the previous wave and runs when none of
  them failed and one succeeded (``none_failed_min_one_success``), so a skipped wave
  does not stop the next one, and a failed wave does;
- ``rollback`` runs as soon as one wave task fails (``one_failed``) and decides from
  the plan's rollback triggers whether to act;
- ``report`` always runs (``all_done``) and fails the run with the reason when the
  rollout did not succeed.
"""

from __future__ import annotations

import functools
import itertools
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, TaskGroup, TriggerRule
from airflow.sdk.bases.operator import BaseOperator

from distributor_rollout import settings
from distributor_rollout.core.plan import Plan, WaveSpec
from distributor_rollout.core.plan_validation import parse_plan, read_plan_bytes, resolve_plan
from distributor_rollout.core.steps import (
    APPROVE,
    BUILD,
    CHECK_DEPLOYED,
    DEPLOY,
    FINALIZE,
    PREPARE,
    PUBLISH,
    REPORT,
    ROLLBACK,
    VALIDATE,
    WAIT_COMPLIANCE,
    WAIT_OPERATION,
    wave_task_id,
)
from distributor_rollout.operators.approval import WaveApprovalOperator
from distributor_rollout.operators.package import PublishPackageOperator
from distributor_rollout.operators.package_build import BuildPackageOperator
from distributor_rollout.operators.report import RunReportOperator
from distributor_rollout.operators.rollout import (
    CheckDeployedOperator,
    FinalizeRolloutOperator,
    RolloutRollbackOperator,
    ValidateRunOperator,
)
from distributor_rollout.operators.stack_set_deploy import DeployWaveOperator
from distributor_rollout.operators.stack_set_prepare import PrepareStackSetOperator
from distributor_rollout.params_form import params_form
from distributor_rollout.sensors.compliance import AssociationComplianceSensor
from distributor_rollout.sensors.stack_set import StackSetOperationSensor
from distributor_rollout.settings import scaled_seconds

DAG_ID_PREFIX = "distributor_rollout__"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
AWS_POLL_SECONDS = 30.0
"""How often the stack set tasks poll AWS (StackSets operations take minutes)."""
RUN_PARAMS = "{{ params }}"
BUILD_RESULT = f"{{{{ ti.xcom_pull(task_ids='{BUILD}') }}}}"
RELEASE = f"{{{{ ti.xcom_pull(task_ids='{PREPARE}') }}}}"
"""The prepare task's ``Release``, which the deploy and rollback tasks act on."""


def dag_id_for(plan_name: str) -> str:
    """The DAG id of a plan: ``distributor_rollout__<plan name>``."""
    return f"{DAG_ID_PREFIX}{plan_name}"


def package_asset(plan: Plan) -> Asset:
    """The Asset a successful rollout of the plan's package updates."""
    name = plan.package.name
    return Asset(name=f"distributor-package/{name}", uri=f"x-distributor-rollout://{name}")


TASK_DOCS: dict[str, str] = {
    VALIDATE: "Checks the plan, this run's params and what a manual run may change, then "
    "AWS's prerequisites (the preflight), read-only. Changes nothing; a failure names each "
    "bad field in the log and the report.",
    BUILD: "Builds the package version (one zip per platform and manifest.json) from its "
    "source folder or S3 prefix. Same source, same bytes.",
    CHECK_DEPLOYED: "Skips the rollout when this version already runs on every target of "
    "the run's waves (reads only).",
    PUBLISH: "Uploads the package to the package bucket of every Region the run reaches. A "
    "published version is never overwritten with other bytes.",
    PREPARE: "Stores this release's template and the record a rollback restores from, and "
    "creates the stack set on a first rollout (the waves deploy it).",
    DEPLOY: "Deploys this wave's OUs and Regions (new stack instances, or the stack set "
    "update restricted to them).",
    WAIT_OPERATION: "Waits for the wave's StackSets operations; fails when more accounts "
    "failed than the wave tolerates.",
    WAIT_COMPLIANCE: "Waits until enough of the wave's managed nodes report the package "
    "installed, then for the bake time; fails when the gate cannot pass or times out.",
    APPROVE: "A person approves the next wave on the Required Actions page; Reject rolls "
    "this run back.",
    FINALIZE: "Every wave passed: announces the version (the package's Asset event).",
    ROLLBACK: "A wave failed: restores what this run changed, as the plan's rollback mode "
    "says; targets the run never touched stay as they are.",
    REPORT: "Writes the run's report (table in the log, JSON in S3 and XCom) and its "
    "notification; fails a run that did not succeed, with the reason.",
}
"""What each task's page in the UI says: for the people running rollouts, not the code."""


def dag_plan(path: Path) -> Plan:
    """``load_plan`` for the DAG factories: a plan file builds two DAGs (its rollout and
    its retire DAG), so its YAML is parsed and validated once per file, not once per DAG.

    The file is read on every call and parsed again when its bytes changed (a long-lived
    process such as a test session or ``DagBag`` sees the edits); ``package.source`` is
    resolved, and checked to be a folder, on every call as ``load_plan`` does.
    """
    subject = str(path)
    return resolve_plan(_parsed_plan(read_plan_bytes(path), subject), path)


@functools.lru_cache(maxsize=4)  # a file builds its two DAGs one after the other
def _parsed_plan(data: bytes, subject: str) -> Plan:
    # A Plan is frozen, so the rollout and the retire DAG can share one. A plan with
    # problems raises, and lru_cache keeps no exception: it is reported on every parse.
    return parse_plan(data, subject)


def task_defaults(plan: Plan) -> dict[str, Any]:
    """Every task's defaults in a plan's DAGs, the rollout's and the retire's alike: the
    plan's owner, and two retries with a backoff (AWS throttling, a worker lost)."""
    return {
        "owner": plan.owner,
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
    }


def rollout_dag(plan_name: str, *, plans_dir: Path | None = None) -> DAG:
    """The rollout DAG of ``<plans_dir>/<plan_name>.yaml`` (raises its validation report);
    ``plans_dir`` defaults to the ``[distributor_rollout] plans_dir`` setting."""
    path = (plans_dir or settings.plans_dir()) / f"{plan_name}.yaml"
    plan = dag_plan(path)
    poll = max(scaled_seconds(AWS_POLL_SECONDS), 0.1)
    plan_path = str(path.resolve())
    common: dict[str, Any] = {"plan_path": plan_path, "run_params": RUN_PARAMS}
    with DAG(
        dag_id=dag_id_for(plan.name),
        description=plan.description or f"Roll out {plan.package.name} in waves",
        doc_md=_doc(plan, path),
        schedule=plan.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=sorted({"distributor-rollout", *plan.tags}),
        params=params_form(plan),
        render_template_as_native_obj=True,
        default_args=task_defaults(plan),
    ) as dag:
        validate = ValidateRunOperator(task_id=VALIDATE, retries=0, **common)
        if plan.package.is_existing:
            # A package that already exists in Distributor: nothing to build or publish.
            check = CheckDeployedOperator(task_id=CHECK_DEPLOYED, **common)
            prepare = PrepareStackSetOperator(task_id=PREPARE, **common)
            validate >> check >> prepare
        else:
            build = BuildPackageOperator(task_id=BUILD, **common)
            check = CheckDeployedOperator(task_id=CHECK_DEPLOYED, build=BUILD_RESULT, **common)
            publish = PublishPackageOperator(task_id=PUBLISH, build=BUILD_RESULT, **common)
            prepare = PrepareStackSetOperator(task_id=PREPARE, build=BUILD_RESULT, **common)
            validate >> build >> check >> publish >> prepare

        previous: BaseOperator | None = None
        wave_tasks: list[BaseOperator] = []
        wave_ends: list[BaseOperator] = []
        for wave in plan.waves:
            tasks = _wave_group(plan, wave, common, poll)
            tasks[0].trigger_rule = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
            prepare >> tasks[0]
            if previous is not None:
                previous >> tasks[0]
            previous = tasks[-1]
            wave_ends.append(previous)
            wave_tasks.extend(tasks)

        finalize = FinalizeRolloutOperator(
            task_id=FINALIZE,
            outlets=[package_asset(plan)],
            trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
            **common,
        )
        rollback = RolloutRollbackOperator(
            task_id=ROLLBACK,
            release=RELEASE,
            wave_results=_wave_results(plan),
            trigger_rule=TriggerRule.ONE_FAILED,
            poll_interval=poll,
            **common,
        )
        report = RunReportOperator(
            task_id=REPORT, trigger_rule=TriggerRule.ALL_DONE, retries=1, **common
        )
        for upstream in (prepare, *wave_ends):
            upstream >> finalize
        for upstream in wave_tasks:
            upstream >> rollback
        finalize >> report
        rollback >> report
        for task in dag.tasks:
            if isinstance(task, BaseOperator) and not task.doc_md:
                task.doc_md = TASK_DOCS[task.task_id.rsplit(".", 1)[-1]]
    return dag


def _wave_group(
    plan: Plan, wave: WaveSpec, common: dict[str, Any], poll: float
) -> list[BaseOperator]:
    """A wave's TaskGroup: deploy → wait operation → wait compliance → [approve]."""
    deploy_id = wave_task_id(wave.name, DEPLOY)
    spec = plan.stack_set
    regions = ", ".join(wave.regions)
    with TaskGroup(group_id=wave.name, tooltip=f"{', '.join(wave.ous)} × {regions}"):
        deploy = DeployWaveOperator(
            task_id=DEPLOY,
            wave=wave.name,
            release=RELEASE,
            poll_interval=poll,
            **common,
        )
        wait_operation = StackSetOperationSensor(
            task_id=WAIT_OPERATION,
            stack_set_name=spec.name,
            operation_ids=f"{{{{ ti.xcom_pull(task_ids='{deploy_id}')['operations'] }}}}",
            call_as=spec.call_as,
            region_name=spec.region,
            poll_interval=poll,
        )
        wait_compliance = AssociationComplianceSensor(
            task_id=WAIT_COMPLIANCE,
            wave=wave.name,
            deploy_result=f"{{{{ ti.xcom_pull(task_ids='{deploy_id}') }}}}",
            operation_result=(
                f"{{{{ ti.xcom_pull(task_ids='{wave_task_id(wave.name, WAIT_OPERATION)}') }}}}"
            ),
            **common,
        )
        tasks: list[BaseOperator] = [deploy, wait_operation, wait_compliance]
        if wave.approval:
            # One retry: an approval Airflow lost to its deferral race is asked again
            # (a rejection or timeout is final, see WaveApprovalOperator).
            tasks.append(WaveApprovalOperator(task_id=APPROVE, wave=wave.name, retries=1, **common))
        for upstream, downstream in itertools.pairwise(tasks):
            upstream >> downstream
    return tasks


def _wave_results(plan: Plan) -> str:
    """A template rendering to the deploy results in plan order (None where none)."""
    pulls = ", ".join(
        f"ti.xcom_pull(task_ids='{wave_task_id(wave.name, DEPLOY)}')" for wave in plan.waves
    )
    return f"{{{{ [{pulls}] }}}}"


def _doc(plan: Plan, path: Path) -> str:
    """The DAG's documentation: what a run does, the waves, and the plan itself."""
    rows = "\n".join(
        f"| {wave.name} | {', '.join(wave.ous)} | {', '.join(wave.regions)} | "
        f"{'yes' if wave.approval else 'no'} |"
        for wave in plan.waves
    )
    return (
        textwrap.dedent(
            f"""\
        # Rollout of {plan.package.name} ({plan.name})

        {plan.description}

        Each run ships one version of the Distributor package **{plan.package.name}** to
        the managed nodes of the organization through the service-managed stack set
        **{plan.stack_set.name}** ({plan.stack_set.region}), wave by wave. A wave deploys
        its stack instances, waits for the StackSet operation, then for the State Manager
        association's compliance gate; a failed wave (or a rejected approval) rolls this
        run's changes back ({plan.rollback.mode}). The **report** task logs the table and
        stores the JSON report next to the templates.

        Trigger with **params** to change what the plan's `manual_runs` allows: by
        default the version and its source, a subset of waves that keeps the first,
        stricter gates and the rollback mode (not `none`); always a dry run.

        | wave | OUs | Regions | approval |
        |---|---|---|---|
        """
        )
        + rows
        + f"\n\nPlan file: `{path.name}` (owner {plan.owner}).\n"
    )
