"""The rollout DAG's task ids (the run's own steps and each wave's steps) and the XCom keys
its tasks record their results under.

One place, because several parts find each other's results by these names (the report
reads the rollback's XCom, every task reads validate's plan digest) and a name that
drifted would read as "no result" rather than fail.
"""

from __future__ import annotations

VALIDATE = "validate"
BUILD = "build"
CHECK_DEPLOYED = "check_deployed"
PUBLISH = "publish"
PREPARE = "prepare"
FINALIZE = "finalize"
ROLLBACK = "rollback"
REPORT = "report"

STEPS_BEFORE_WAVES = (VALIDATE, BUILD, CHECK_DEPLOYED, PUBLISH, PREPARE)
RUN_STEPS = (*STEPS_BEFORE_WAVES, FINALIZE, ROLLBACK, REPORT)
"""Every task id outside the waves' TaskGroups (a wave may not take one as its name)."""

DEPLOY, WAIT_OPERATION, WAIT_COMPLIANCE, APPROVE = (
    "deploy",
    "wait_operation",
    "wait_compliance",
    "approve",
)
WAVE_STEPS = (DEPLOY, WAIT_OPERATION, WAIT_COMPLIANCE, APPROVE)
"""The task ids inside each wave's TaskGroup, in order (``approve`` only where asked)."""


RETIRE_DAG_SUFFIX = "__retire"
"""A plan's retire DAG id is its rollout DAG id with this suffix."""
DELETE_STACK_SET, DELETE_BUCKETS = "delete_stack_set", "delete_buckets"
RETIRE_RUN_STEPS = (VALIDATE, APPROVE, DELETE_STACK_SET, DELETE_BUCKETS, REPORT)
"""The retire DAG's task ids outside the waves' TaskGroups (``core.retire_steps`` names
the rest): a wave may not take one as its name either, since every plan has both DAGs."""


def wave_task_id(wave: str, step: str) -> str:
    """The task id of a wave's step: ``<wave>.<step>`` (the TaskGroup prefixes it)."""
    return f"{wave}.{step}"


# XCom keys besides each task's return value: what a task records for the others.
VALIDATION_XCOM_KEY = "validation_problems"
"""``validate``: the problems it failed on, for the report."""
PREFLIGHT_XCOM_KEY = "preflight"
"""``validate``: the preflight of the AWS prerequisites (``core.preflight.Preflight``), for
the report (for an existing package it says which version each Region's default was)."""
RUN_PLAN_XCOM_KEY = "run_plan"
"""``validate``: the plan the run runs, after its params, and whether it is a dry run
(``core.recorded_run.RecordedPlan``), so the Rollout tab needs no plan file."""
STARTED_AT_XCOM_KEY = "started_at"
"""``<wave>.deploy``: when the wave started."""
VERDICTS_XCOM_KEY = "verdicts"
"""``<wave>.wait_operation``: the StackSets operations' per-target verdicts."""
GATE_XCOM_KEY = "compliance_gate"
"""``<wave>.wait_compliance``: the gate's decision, when it decided (and on FAIL, why)."""
LATEST_POLL_XCOM_KEY = "compliance_poll"
"""``<wave>.wait_compliance``: the gate's latest poll while it waits
(``core.gate_progress.LatestPoll``), for the Rollout tab."""
ROLLBACK_DECISION_XCOM_KEY = "rollback_decision"
"""``rollback``: whether it acted, and why."""
ROLLBACK_XCOM_KEY = "rollback"
"""``rollback``: its actions and their outcome."""
NARROWING_XCOM_KEY = "rollback_narrowing"
"""``rollback``: the delete decisions it recorded before its first call."""
REPORT_XCOM_KEY = "report"
"""``report``: the run's JSON report."""
