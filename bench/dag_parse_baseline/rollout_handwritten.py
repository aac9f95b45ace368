"""The parse-time baseline of bench/dag_parse.py: the example plan's two DAGs written by hand.

What a user would write without Distributor Rollout, with the amazon provider's operators
(S3, CloudFormation, Systems Manager, SNS) and the standard provider's approval: the same
shape as ``dags/rollout_examplepackage.py`` builds for ``include/rollouts/examplepackage.yaml``

- the rollout: 18 tasks, the waves canary, nonprod, prod as 3 task groups (prod with an
  approval), the same trigger rules, an Asset outlet, and a trigger form of 8 params;
- the retire: 20 tasks, the same 3 waves in reverse as task groups, a form of 2 params;

with the same DAG and task arguments (defaults, docs, templates pulling XComs). Every
value is written out; nothing is read at parse time. The benchmark copies this file under
other names, replacing ``PLAN = "examplepackage"``, and checks that its task, group and
param counts still match the shipped DAG file's.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from airflow.providers.amazon.aws.operators.cloud_formation import (
    CloudFormationCreateStackOperator,
    CloudFormationDeleteStackOperator,
)
from airflow.providers.amazon.aws.operators.s3 import (
    S3CopyObjectOperator,
    S3CreateObjectOperator,
    S3DeleteBucketOperator,
    S3ListOperator,
)
from airflow.providers.amazon.aws.operators.sns import SnsPublishOperator
from airflow.providers.amazon.aws.operators.ssm import (
    SsmGetCommandInvocationOperator,
    SsmRunCommandOperator,
)
from airflow.providers.amazon.aws.sensors.cloud_formation import (
    CloudFormationCreateStackSensor,
    CloudFormationDeleteStackSensor,
)
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.amazon.aws.sensors.ssm import SsmRunCommandCompletedSensor
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Asset, Param, TaskGroup, TriggerRule

PLAN = "examplepackage"
PACKAGE = "ExamplePackage"
VERSION = "1.0.2"
STACK_SET = "distributor-examplepackage"
ARTIFACTS = "distributor-rollout-111111111111-us-east-1"
TOPIC = "arn:aws:sns:us-east-1:111111111111:distributor-rollout"
WAVES = {
    "canary": (["/Sandbox"], ["us-east-1"], False),
    "nonprod": (["/NonProd"], ["us-east-1", "us-west-2"], False),
    "prod": (["/Prod"], ["us-east-1", "us-west-2", "eu-west-1"], True),
}
DURATION = r"^(\d+|(\d+d)?(\d+h)?(\d+m)?(\d+s)?)$"
DEFAULTS = {
    "owner": "platform-team",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
}
START = datetime(2026, 1, 1, tzinfo=UTC)
TASK_DOCS = {
    "validate": "Checks the plan, this run's params and AWS's prerequisites, read-only.",
    "build": "Builds the package version (one zip per platform and manifest.json).",
    "check_deployed": "Skips the rollout when this version already runs everywhere.",
    "publish": "Uploads the package to the package bucket of every Region.",
    "prepare": "Stores the release's template and creates the stack set on a first run.",
    "deploy": "Deploys this wave's OUs and Regions.",
    "wait_operation": "Waits for the wave's StackSets operations.",
    "wait_compliance": "Waits until enough of the wave's nodes report the package installed.",
    "approve": "A person approves the next wave on the Required Actions page.",
    "finalize": "Every wave passed: announces the version (the package's Asset event).",
    "rollback": "A wave failed: restores what this run changed.",
    "report": "Writes the run's report and its notification.",
    "uninstall": "Uninstalls the package from this wave's nodes.",
    "wait_uninstall": "Waits for the wave's uninstall command.",
    "wait_removed": "Waits until the wave's nodes report the package gone.",
    "delete_instances": "Deletes the wave's stack instances.",
    "wait_delete": "Waits for the wave's delete operations.",
    "delete_stack_set": "Deletes the stack set once no stack instance is left.",
    "delete_buckets": "When asked, empties and deletes the buckets of this plan.",
}
ROLLOUT_DOC = f"""# Rollout of {PACKAGE} ({PLAN})

Each run ships one version of the Distributor package **{PACKAGE}** to the managed nodes
of the organization through the stack set **{STACK_SET}** (us-east-1), wave by wave. A
wave deploys its stack instances, waits for the operation, then for the association's
compliance; a failed wave (or a rejected approval) rolls this run's changes back.

| wave | OUs | Regions | approval |
|---|---|---|---|
| canary | /Sandbox | us-east-1 | no |
| nonprod | /NonProd | us-east-1, us-west-2 | no |
| prod | /Prod | us-east-1, us-west-2, eu-west-1 | yes |
"""
RETIRE_DOC = f"""# Retire {PACKAGE} ({PLAN})

Removes the Distributor package **{PACKAGE}** from the organization, wave by wave in
reverse order, through the stack set **{STACK_SET}**: each wave uninstalls the package,
waits until its nodes report it gone, then deletes its stack instances.

| order | wave | OUs | Regions |
|---|---|---|---|
| 1 | prod | /Prod | us-east-1, us-west-2, eu-west-1 |
| 2 | nonprod | /NonProd | us-east-1, us-west-2 |
| 3 | canary | /Sandbox | us-east-1 |
"""
ROLLOUT_PARAMS = {
    "version": Param(
        VERSION,
        type="string",
        title="Package version",
        description="The version to build and roll out (the plan's by default).",
        minLength=1,
        maxLength=128,
        pattern=r"^[a-zA-Z0-9_\-.]+$",
        section="Package",
    ),
    "source": Param(
        None,
        type=["null", "string"],
        maxLength=1024,
        title="Package source",
        description="A folder under the packages root, or s3://<bucket>/<prefix>/.",
        section="Package",
    ),
    "waves": Param(
        list(WAVES),
        type="array",
        items={"type": "string", "enum": list(WAVES)},
        examples=list(WAVES),
        minItems=1,
        uniqueItems=True,
        title="Waves to run",
        description="Run only these waves, in the plan's order; canary must stay in.",
        section="Rollout",
    ),
    "dry_run": Param(
        False,
        type="boolean",
        title="Dry run",
        description="Show each wave's accounts, Regions and calls; change nothing in AWS.",
        section="Rollout",
    ),
    "gate_threshold_percent": Param(
        None,
        type=["null", "number"],
        minimum=100.0,
        maximum=100,
        title="Compliance threshold (%)",
        description="Nodes that must report the package installed; empty for the plan's.",
        section="Compliance gate",
    ),
    "gate_timeout": Param(
        None,
        type=["null", "string"],
        pattern=DURATION,
        title="Gate timeout",
        description="How long a wave may take to comply, e.g. 30m; at least 30m.",
        section="Compliance gate",
    ),
    "gate_bake": Param(
        None,
        type=["null", "string"],
        pattern=DURATION,
        title="Bake time",
        description="How long a wave must stay compliant before the next; at least 5m.",
        section="Compliance gate",
    ),
    "rollback_mode": Param(
        "previous_version",
        type="string",
        enum=["previous_version", "uninstall", "none"],
        values_display={
            "previous_version": "Restore the previous version (uninstall where it was new)",
            "uninstall": "Uninstall the package wherever this run changed it",
            "none": "Leave everything as it is",
        },
        title="Rollback mode",
        description="What a failed wave undoes.",
        section="Rollback",
    ),
}
RETIRE_PARAMS = {
    "dry_run": Param(False, type="boolean", title="Dry run", description="Change nothing."),
    "delete_buckets": Param(
        False,
        type="boolean",
        title="Delete the buckets",
        description="Once the stack set is deleted, empty and delete the plan's buckets.",
    ),
}


def pull(task_id: str, key: str = "") -> str:
    """A template pulling a task's XCom (or one key of it)."""
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}'){f'[{key!r}]' if key else ''} }}}}"


with DAG(
    dag_id=f"handwritten__{PLAN}",
    description=f"Roll out {PACKAGE} in waves",
    doc_md=ROLLOUT_DOC,
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["distributor", "distributor-rollout", PLAN],
    params=ROLLOUT_PARAMS,
    render_template_as_native_obj=True,
    default_args=DEFAULTS,
) as rollout:
    validate = S3ListOperator(task_id="validate", bucket=ARTIFACTS, prefix=f"{PLAN}/", retries=0)
    build = S3CreateObjectOperator(
        task_id="build",
        s3_bucket=ARTIFACTS,
        s3_key=f"{PLAN}/{{{{ params.version }}}}/manifest.json",
        data="{{ params | tojson }}",
        replace=True,
    )
    check = S3KeySensor(
        task_id="check_deployed",
        bucket_name=ARTIFACTS,
        bucket_key=f"{PLAN}/{{{{ params.version }}}}/deployed.json",
        timeout=60,
        soft_fail=True,
    )
    publish = S3CopyObjectOperator(
        task_id="publish",
        source_bucket_name=ARTIFACTS,
        source_bucket_key=f"{PLAN}/{{{{ params.version }}}}/manifest.json",
        dest_bucket_name=f"s3-{PLAN}-111111111111-us-east-1",
        dest_bucket_key=f"{PLAN}/{{{{ params.version }}}}/manifest.json",
    )
    prepare = CloudFormationCreateStackOperator(
        task_id="prepare",
        stack_name=STACK_SET,
        cloudformation_parameters={
            "TemplateURL": pull("build"),
            "Capabilities": ["CAPABILITY_IAM"],
        },
    )
    validate >> build >> check >> publish >> prepare
    previous = None
    wave_tasks, wave_ends = [], []
    for wave, (ous, regions, approval) in WAVES.items():
        with TaskGroup(group_id=wave, tooltip=f"{', '.join(ous)} × {', '.join(regions)}"):
            deploy = CloudFormationCreateStackOperator(
                task_id="deploy",
                stack_name=f"{STACK_SET}-{wave}",
                cloudformation_parameters={
                    "TemplateURL": pull("prepare"),
                    "Parameters": [{"ParameterKey": "OUs", "ParameterValue": ",".join(ous)}],
                },
                trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
            )
            wait_operation = CloudFormationCreateStackSensor(
                task_id="wait_operation", stack_name=f"{STACK_SET}-{wave}", poke_interval=30
            )
            wait_compliance = SsmRunCommandCompletedSensor(
                task_id="wait_compliance",
                command_id=pull(f"{wave}.deploy", "operations"),
                poke_interval=30,
            )
            tasks = [deploy, wait_operation, wait_compliance]
            if approval:
                tasks.append(
                    ApprovalOperator(
                        task_id="approve",
                        subject=f"Approve the rollout to wave {wave}?",
                        fail_on_reject=True,
                        response_timeout=timedelta(hours=24),
                        retries=1,
                    )
                )
            for upstream, downstream in itertools.pairwise(tasks):
                upstream >> downstream
        prepare >> tasks[0]
        if previous is not None:
            previous >> tasks[0]
        previous = tasks[-1]
        wave_ends.append(previous)
        wave_tasks.extend(tasks)
    finalize = S3CreateObjectOperator(
        task_id="finalize",
        s3_bucket=ARTIFACTS,
        s3_key=f"{PLAN}/{{{{ params.version }}}}/released.json",
        data="{{ params | tojson }}",
        outlets=[Asset(name=f"distributor-package/{PACKAGE}", uri=f"x-rollout://{PACKAGE}")],
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )
    rollback = CloudFormationDeleteStackOperator(
        task_id="rollback",
        stack_name=f"{STACK_SET}-{{{{ run_id }}}}",
        cloudformation_parameters={"RetainStacks": False},
        trigger_rule=TriggerRule.ONE_FAILED,
    )
    report = SnsPublishOperator(
        task_id="report",
        target_arn=TOPIC,
        subject=f"Rollout of {PACKAGE}",
        message="{{ ti.xcom_pull(task_ids='finalize') }}",
        trigger_rule=TriggerRule.ALL_DONE,
        retries=1,
    )
    for upstream in (prepare, *wave_ends):
        upstream >> finalize
    for upstream in wave_tasks:
        upstream >> rollback
    finalize >> report
    rollback >> report
    for task in rollout.tasks:
        task.doc_md = TASK_DOCS[task.task_id.rsplit(".", 1)[-1]]

with DAG(
    dag_id=f"handwritten__{PLAN}__retire",
    description=f"Retire {PACKAGE} from the organization, wave by wave",
    doc_md=RETIRE_DOC,
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    tags=["distributor", "distributor-rollout", "retire", PLAN],
    params=RETIRE_PARAMS,
    render_template_as_native_obj=True,
    default_args=DEFAULTS,
) as retire:
    validate = S3ListOperator(task_id="validate", bucket=ARTIFACTS, prefix=f"{PLAN}/", retries=0)
    approve = ApprovalOperator(
        task_id="approve",
        subject=f"Retire {PACKAGE} from the organization?",
        fail_on_reject=True,
        retries=1,
    )
    validate >> approve
    last = approve
    for wave, (ous, regions, _) in reversed(WAVES.items()):
        with TaskGroup(group_id=wave, tooltip=f"retire {', '.join(ous)} × {', '.join(regions)}"):
            uninstall = SsmRunCommandOperator(
                task_id="uninstall",
                document_name="AWS-ConfigureAWSPackage",
                run_command_kwargs={
                    "Parameters": {"action": ["Uninstall"], "name": [PACKAGE]},
                    "Targets": [{"Key": "tag:Distributor", "Values": ["enabled"]}],
                },
                wait_for_completion=False,
                trigger_rule=TriggerRule.NONE_FAILED,
            )
            wait_uninstall = SsmRunCommandCompletedSensor(
                task_id="wait_uninstall", command_id=pull(f"{wave}.uninstall"), poke_interval=30
            )
            wait_removed = SsmGetCommandInvocationOperator(
                task_id="wait_removed", command_id=pull(f"{wave}.uninstall")
            )
            delete = CloudFormationDeleteStackOperator(
                task_id="delete_instances", stack_name=f"{STACK_SET}-{wave}"
            )
            wait_delete = CloudFormationDeleteStackSensor(
                task_id="wait_delete", stack_name=f"{STACK_SET}-{wave}", poke_interval=30
            )
            uninstall >> wait_uninstall >> wait_removed >> delete >> wait_delete
        last >> uninstall
        last = wait_delete
    delete_stack_set = CloudFormationDeleteStackOperator(
        task_id="delete_stack_set", stack_name=STACK_SET, trigger_rule=TriggerRule.NONE_FAILED
    )
    delete_buckets = S3DeleteBucketOperator(
        task_id="delete_buckets",
        bucket_name=ARTIFACTS,
        force_delete=True,
        trigger_rule=TriggerRule.NONE_FAILED,
    )
    retire_report = SnsPublishOperator(
        task_id="report",
        target_arn=TOPIC,
        subject=f"Retire of {PACKAGE}",
        message="{{ ti.xcom_pull(task_ids='delete_buckets') }}",
        trigger_rule=TriggerRule.ALL_DONE,
        retries=1,
    )
    last >> delete_stack_set >> delete_buckets >> retire_report
    for task in retire.tasks:
        task.doc_md = TASK_DOCS[task.task_id.rsplit(".", 1)[-1]]
