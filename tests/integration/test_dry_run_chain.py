"""A dry run through the whole chain changes nothing in AWS: awssim's ledger of mutating
calls proves it, before anything was deployed and over a fleet that already runs a version.

Every task still reads what it would read and fails on what a real run would fail on;
what it would do is in its log and its (small) XCom.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import AirflowSkipException
from airflow_support import make_context, run_task

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.release import TEMPLATE_SHA256_KEY, Release
from distributor_rollout.core.stored_targets import SAMPLE_SIZE
from distributor_rollout.operators.package import PublishPackageOperator
from distributor_rollout.operators.package_build import BuildPackageOperator
from distributor_rollout.operators.stack_set_deploy import DeployWaveOperator
from distributor_rollout.operators.stack_set_prepare import PrepareStackSetOperator
from distributor_rollout.operators.stack_set_rollback import RollbackOperator
from distributor_rollout.sensors.compliance import AssociationComplianceSensor
from distributor_rollout.sensors.stack_set import StackSetOperationSensor

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "ExamplePackage"
WAVES = ("canary", "nonprod", "prod")
SANDBOX = ("300000000001", "300111111112")


def write_plan(tmp_path: Path) -> str:
    """The shipped example plan, its three waves, the package source made absolute."""
    plan = yaml.safe_load((REPO / "include" / "rollouts" / "examplepackage.yaml").read_text())
    plan["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return str(path)


def chain(plan: str, conn: str, root: Path, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Build, publish, prepare, then each wave's deploy and operation wait, as a DAG run
    would; the results by step (waves by name)."""
    step: dict[str, Any] = {"plan_path": plan, "run_params": params, "aws_conn_id": conn}
    build = run_task(
        BuildPackageOperator(
            task_id="build", plan_path=plan, run_params=params, build_root=str(root)
        ),
        make_context("build", run_id=run_id),
    )
    published = run_task(
        PublishPackageOperator(task_id="publish", build=build, build_root=str(root), **step),
        make_context("publish", run_id=run_id),
    )
    release = run_task(
        PrepareStackSetOperator(task_id="prepare", build=build, build_root=str(root), **step),
        make_context("prepare", run_id=run_id),
    )
    waves: dict[str, Any] = {}
    for wave in WAVES:
        try:
            deployed = run_task(
                DeployWaveOperator(
                    task_id=f"{wave}.deploy",
                    wave=wave,
                    release=release,
                    poll_interval=0.2,
                    **step,
                ),
                make_context(f"{wave}.deploy", run_id=run_id),
            )
        except AirflowSkipException:
            waves[wave] = None
            continue
        operation = run_task(
            StackSetOperationSensor(
                task_id=f"{wave}.wait_operation",
                stack_set_name=release["stack_set_name"],
                operation_ids=deployed["operations"],
                poll_interval=0.2,
                aws_conn_id=conn,
            ),
            make_context(f"{wave}.wait_operation", run_id=run_id),
        )
        waves[wave] = {"deploy": deployed, "operation": operation}
    return {"published": published, "release": release, "waves": waves, "step": step}


def gate_and_rollback_skip(run: dict[str, Any], run_id: str) -> None:
    """In a dry run the compliance gates and the rollback skip: nothing was deployed."""
    for wave, result in run["waves"].items():
        sensor = AssociationComplianceSensor(
            task_id=f"{wave}.wait_compliance",
            wave=wave,
            deploy_result=result["deploy"],
            operation_result=result["operation"],
            **run["step"],
        )
        with pytest.raises(AirflowSkipException, match="dry run: nothing was deployed to gate"):
            run_task(sensor, make_context(sensor.task_id, run_id=run_id))
    rollback = RollbackOperator(
        task_id="rollback",
        release=run["release"],
        wave_results=[run["waves"][wave] and run["waves"][wave]["deploy"] for wave in WAVES],
        **run["step"],
    )
    with pytest.raises(AirflowSkipException, match="dry run: nothing was deployed to roll back"):
        run_task(rollback, make_context("rollback", run_id=run_id))


def bucket_names(aws: AwsClients) -> set[str]:
    """Ground truth: every bucket of the delegated administrator."""
    return {bucket["Name"] for bucket in aws.client("s3").list_buckets()["Buckets"]}


def planned_calls(run: dict[str, Any], wave: str) -> list[str]:
    """The API calls a wave's dry-run deploy planned, in order."""
    return [call["api_call"] for call in run["waves"][wave]["deploy"]["planned"]]


def test_a_dry_run_of_a_first_rollout_changes_nothing(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)

    run = chain(plan, aws_conn, tmp_path / "builds", "dry-1", {"dry_run": True})
    gate_and_rollback_skip(run, "dry-1")

    assert fast_sim.ledger.calls() == []
    assert bucket_names(aws) == set()
    assert fast_sim.stacksets.state() == {}
    assert all(node.installed == {} for node in fast_sim.fleet)

    assert run["published"]["dry_run"] is True
    assert run["published"]["uploaded"] > 0
    release = Release.from_dict(run["release"])
    assert (release.created, release.previous) == (True, None)
    assert run["release"]["dry_run"] is True
    assert run["release"][TEMPLATE_SHA256_KEY]
    for wave in WAVES:
        deployed = run["waves"][wave]["deploy"]
        assert deployed["dry_run"] is True
        assert deployed["operations"] == []
        assert deployed["changes"]["changes"] == []
        # The stack set would be created holding this release: every target is created.
        assert planned_calls(run, wave) == ["CreateStackInstances"]
        # A dry run stores nothing: it lists the first targets and counts them all.
        total = deployed.get("targets_total", len(deployed["targets"]))
        assert deployed["planned"][0]["targets"] == total > 0
        assert len(deployed["targets"]) == min(total, SAMPLE_SIZE)
        assert run["waves"][wave]["operation"]["operations"] == {}


def test_a_dry_run_over_a_deployed_version_plans_the_update_and_changes_nothing(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    builds = tmp_path / "builds"
    chain(plan, aws_conn, builds, "run-1", {"waves": ["canary"]})
    fast_sim.settle(horizon=3600)
    canary_nodes = [
        node
        for account in SANDBOX
        for node in fast_sim.fleet.nodes(account, "us-east-1")
        if node.tags.get("Distributor") == "enabled"
    ]
    assert canary_nodes
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in canary_nodes)
    before = len(fast_sim.ledger.calls())
    stack_sets = fast_sim.stacksets.state()

    params = {"dry_run": True, "version": "1.1.0"}
    run = chain(plan, aws_conn, builds, "dry-2", params)
    gate_and_rollback_skip(run, "dry-2")

    assert len(fast_sim.ledger.calls()) == before
    assert fast_sim.stacksets.state() == stack_sets
    fast_sim.settle(horizon=600)
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in canary_nodes)

    release = Release.from_dict(run["release"])
    assert release.created is False
    assert release.previous is not None
    assert release.previous.parameters["Version"] == "1.0.2"
    assert release.template.parameters["Version"] == "1.1.0"
    # The canary has its instances: one staged update. The other waves have none yet: the
    # stack set gets this version first, then their instances are created.
    assert planned_calls(run, "canary") == ["UpdateStackSet"]
    assert planned_calls(run, "nonprod") == ["UpdateStackSet", "CreateStackInstances"]
    assert planned_calls(run, "prod") == ["UpdateStackSet", "CreateStackInstances"]
    assert run["waves"]["canary"]["deploy"]["planned"][0]["targets"] == len(SANDBOX)
