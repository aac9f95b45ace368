"""Every operator and sensor in sequence, with the shipped template, package and plan.

This is the rollout's whole AWS path on awssim: build, publish to a bucket per Region,
prepare the stack set, deploy a wave, wait for its operation and its compliance gate,
and roll back when the gate fails. Assertions are on awssim's ground truth — what each
node has installed — not on task results alone.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_support import make_context, run_task

from awssim.faults import CallDecision
from awssim.simulator import Simulator
from distributor_rollout.core.targets import Target
from distributor_rollout.operators.package import PublishPackageOperator
from distributor_rollout.operators.package_build import BuildPackageOperator
from distributor_rollout.operators.stack_set_deploy import DeployWaveOperator
from distributor_rollout.operators.stack_set_prepare import PrepareStackSetOperator
from distributor_rollout.operators.stack_set_rollback import RollbackIncomplete, RollbackOperator
from distributor_rollout.sensors.compliance import AssociationComplianceSensor, ComplianceGateFailed
from distributor_rollout.sensors.stack_set import StackSetOperationSensor

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "ExamplePackage"
SANDBOX = ("300000000001", "300111111112")


def write_plan(tmp_path: Path, max_errors: str | None = None) -> str:
    """The example plan, canary wave only, with a gate fast enough for a 600x clock."""
    plan = yaml.safe_load((REPO / "include" / "rollouts" / "examplepackage.yaml").read_text())
    if max_errors is not None:
        plan["association"]["max_errors"] = max_errors
    plan["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    plan["defaults"]["gate"] = {
        "threshold_percent": 90,
        "min_nodes": 3,
        "timeout": "60s",
        "bake": "2s",
        "poll_interval": "1s",
    }
    plan["waves"] = [w for w in plan["waves"] if w["name"] == "canary"]
    plan["defaults"]["operation"]["region_order"] = ["us-east-1"]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return str(path)


def some_installs_fail(tmp_path: Path) -> Path:
    """A scenario where a third of the canary nodes fail to install a new version, so some
    nodes change and some do not (MaxErrors 100% in the plan lets every node try)."""
    scenario = tmp_path / "some-installs-fail.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "some-installs-fail",
                "seed": 2,
                "package_failures": [{"ous": ["/Sandbox"], "fraction": 0.34}],
            }
        )
    )
    return scenario


def rollout(plan: str, conn: str, root: Path, run_id: str, version: str) -> dict[str, Any]:
    """Build, publish, prepare, deploy the canary and wait for its operation; the results."""
    params = {"version": version}
    common: dict[str, Any] = {"aws_conn_id": conn}
    build = run_task(
        BuildPackageOperator(
            task_id="build", plan_path=plan, run_params=params, build_root=str(root)
        ),
        make_context("build", run_id=run_id),
    )
    step = {"plan_path": plan, "run_params": params, **common}
    run_task(
        PublishPackageOperator(task_id="publish", build=build, build_root=str(root), **step),
        make_context("publish", run_id=run_id),
    )
    release = run_task(
        PrepareStackSetOperator(task_id="prepare", build=build, build_root=str(root), **step),
        make_context("prepare", run_id=run_id),
    )
    deployed = run_task(
        DeployWaveOperator(
            task_id="deploy", wave="canary", release=release, poll_interval=0.2, **step
        ),
        make_context("deploy", run_id=run_id),
    )
    run_task(
        StackSetOperationSensor(
            task_id="wait_operation",
            stack_set_name=release["stack_set_name"],
            operation_ids=deployed["operations"],
            poll_interval=0.2,
            **common,
        ),
        make_context("wait_operation", run_id=run_id),
    )
    return {"release": release, "deployed": deployed, "step": step}


def gate(run: dict[str, Any], run_id: str) -> Any:
    """The canary's compliance gate, deferred as in production."""
    sensor = AssociationComplianceSensor(
        task_id="wait_compliance",
        wave="canary",
        deploy_result=run["deployed"],
        **run["step"],
    )
    return run_task(sensor, make_context("wait_compliance", run_id=run_id))


def canary_nodes(sim: Simulator) -> list[Any]:
    """The nodes the canary's association targets (tagged, in /Sandbox, us-east-1)."""
    return [
        node
        for account in SANDBOX
        for node in sim.fleet.nodes(account, "us-east-1")
        if node.tags.get("Distributor") == "enabled"
    ]


def others(sim: Simulator) -> list[Any]:
    """Every node outside the canary's targets."""
    inside = {node.instance_id for node in canary_nodes(sim)}
    return [node for node in sim.fleet if node.instance_id not in inside]


def test_happy_rollout_installs_exactly_the_canary(
    fast_sim: Simulator, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    run = rollout(plan, aws_conn, tmp_path / "builds", "run-1", "1.0.2")
    decision = gate(run, "run-1")
    assert decision["state"] == "PASS"
    assert run["deployed"]["targets"] == [str(Target(a, "us-east-1")) for a in SANDBOX]
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in canary_nodes(fast_sim))
    assert all(node.installed == {} for node in others(fast_sim))


def test_a_failed_update_rolls_every_touched_node_back_to_the_previous_version(
    fast_sim: Simulator, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path, max_errors="100%")
    builds = tmp_path / "builds"
    first = rollout(plan, aws_conn, builds, "run-1", "1.0.2")
    assert gate(first, "run-1")["state"] == "PASS"

    fast_sim.set_scenario(some_installs_fail(tmp_path))  # 1.1.0 is new: it fails on some
    second = rollout(plan, aws_conn, builds, "run-2", "1.1.0")
    fast_sim.settle(horizon=600)  # every node has run the update before the gate reads
    with pytest.raises(ComplianceGateFailed, match="compliance gate of wave 'canary' failed"):
        gate(second, "run-2")
    touched = [n for n in canary_nodes(fast_sim) if n.installed == {PACKAGE: "1.1.0"}]
    assert 0 < len(touched) < len(canary_nodes(fast_sim))

    result = run_task(
        RollbackOperator(
            task_id="rollback",
            release=second["release"],
            wave_results=[second["deployed"]],
            poll_interval=0.2,
            **second["step"],
        ),
        make_context("rollback", run_id="run-2"),
    )
    assert result["failed"] == []
    fast_sim.settle()
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in canary_nodes(fast_sim))
    assert all(node.installed == {} for node in others(fast_sim))


def test_a_failed_first_install_is_uninstalled_everywhere_it_reached(
    fast_sim: Simulator, aws_conn: str, tmp_path: Path
) -> None:
    # The nodes that do install must lose the package again.
    plan = write_plan(tmp_path, max_errors="100%")
    fast_sim.set_scenario(some_installs_fail(tmp_path))
    run = rollout(plan, aws_conn, tmp_path / "builds", "run-1", "1.0.2")
    fast_sim.settle(horizon=600)  # every node has run the install before the gate reads
    with pytest.raises(ComplianceGateFailed):
        gate(run, "run-1")
    installed = [node for node in canary_nodes(fast_sim) if node.installed]
    assert 0 < len(installed) < len(canary_nodes(fast_sim))

    result = run_task(
        RollbackOperator(
            task_id="rollback",
            release=run["release"],
            wave_results=[run["deployed"]],
            mode="uninstall",
            poll_interval=0.2,
            **run["step"],
        ),
        make_context("rollback", run_id="run-1"),
    )
    assert [action["kind"] for action in result["actions"]] == ["uninstall_by_template", "delete"]
    assert result["failed"] == []
    fast_sim.settle()
    assert all(node.installed == {} for node in fast_sim.fleet)
    state = fast_sim.stacksets.state()
    assert all(not stack_set["instances"] for stack_set in state.values())


def test_after_an_uninstall_rollback_the_next_rollout_installs_again(
    fast_sim: Simulator, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path, max_errors="100%")
    builds = tmp_path / "builds"
    first = rollout(plan, aws_conn, builds, "run-1", "1.0.2")
    assert gate(first, "run-1")["state"] == "PASS"
    fast_sim.set_scenario(some_installs_fail(tmp_path))
    second = rollout(plan, aws_conn, builds, "run-2", "1.1.0")
    fast_sim.settle(horizon=600)
    with pytest.raises(ComplianceGateFailed):
        gate(second, "run-2")
    run_task(
        RollbackOperator(
            task_id="rollback",
            release=second["release"],
            wave_results=[second["deployed"]],
            mode="uninstall",
            poll_interval=0.2,
            **second["step"],
        ),
        make_context("rollback", run_id="run-2"),
    )
    fast_sim.settle()
    assert all(node.installed == {} for node in fast_sim.fleet)

    # The uninstall left nothing behind that would uninstall the next version too.
    fast_sim.set_scenario("happy")
    third = rollout(plan, aws_conn, builds, "run-3", "1.2.0")
    assert gate(third, "run-3")["state"] == "PASS"
    assert all(node.installed == {PACKAGE: "1.2.0"} for node in canary_nodes(fast_sim))


def test_the_whole_chain_rides_out_a_throttling_storm(
    fast_sim: Simulator, aws_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(tmp_path)
    fast_sim.set_scenario("throttling")  # 30% of SSM and CloudFormation reads throttled
    throttled: Counter[str] = Counter()
    decide = fast_sim.faults.for_call

    def recording(service: str, operation: str) -> CallDecision:
        decision = decide(service, operation)
        if decision.error is not None:
            throttled[f"{service}.{operation}"] += 1
        return decision

    monkeypatch.setattr(fast_sim.faults, "for_call", recording)
    run = rollout(plan, aws_conn, tmp_path / "builds", "run-1", "1.0.2")
    assert gate(run, "run-1")["state"] == "PASS"
    nodes = canary_nodes(fast_sim)
    assert nodes
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in nodes)
    assert throttled  # the storm was real: some reads were throttled, and retried


def test_an_uninstall_that_keeps_failing_is_retried_then_reported(
    fast_sim: Simulator, aws_conn: str, tmp_path: Path
) -> None:
    # A first install, rolled back by uninstalling; the uninstall (a stack set update)
    # fails every time in one sandbox account. The rollback tries again there only, then
    # keeps that target's instance (deleting it would delete the association that still
    # has to uninstall), deletes the others' and names what it could not restore.
    plan = write_plan(tmp_path)
    run = rollout(plan, aws_conn, tmp_path / "builds", "run-1", "1.0.2")
    assert gate(run, "run-1")["state"] == "PASS"
    scenario = tmp_path / "uninstall-fails.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "uninstall-fails",
                "seed": 1,
                "stack_instance_failures": [
                    {"accounts": [SANDBOX[0]], "regions": ["us-east-1"], "actions": ["UPDATE"]}
                ],
            }
        )
    )
    fast_sim.set_scenario(scenario)
    fast_sim.ledger.clear()
    context = make_context("rollback", run_id="run-1")
    with pytest.raises(RollbackIncomplete, match=f"{SANDBOX[0]}/us-east-1"):
        run_task(
            RollbackOperator(
                task_id="rollback",
                release=run["release"],
                wave_results=[run["deployed"]],
                mode="uninstall",
                poll_interval=0.2,
                retry_pause=0,
                **run["step"],
            ),
            context,
        )
    result = context["ti"].xcom["rollback"]
    assert [(a["kind"], a["status"]) for a in result["actions"]] == [
        ("uninstall_by_template", "failed"),
        ("delete", "succeeded"),
    ]
    assert "retry 2: 0 of 1 restored" in result["actions"][0]["summary"]
    assert f"{SANDBOX[0]}/us-east-1" in result["failed"]
    # The delete is narrowed to the targets whose uninstall ran (recorded before it acts).
    failing = f"{SANDBOX[0]}/us-east-1"
    (decision,) = context["ti"].xcom["rollback_narrowing"].values()
    assert failing in decision["unconfirmed"]
    assert failing not in decision["delete"]
    assert decision["delete"] == result["actions"][1]["deleted"]
    assert decision["delete"]
    deletes = [c for c in fast_sim.ledger.calls(operation="DeleteStackInstances") if c.ok]
    assert len(deletes) == 1
    # One update on both targets, then one more on the failing target per retry.
    updates = [c for c in fast_sim.ledger.calls(operation="UpdateStackSet") if c.ok]
    assert len(updates) == 3
    fast_sim.settle()
    # Where the update ran, the nodes uninstalled; the failing account's nodes still have it.
    assert all(
        node.installed == ({PACKAGE: "1.0.2"} if node.account_id == SANDBOX[0] else {})
        for node in canary_nodes(fast_sim)
    )
