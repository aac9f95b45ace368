"""Whole rollouts through real DAG runs (``dag.test()``) against awssim, one per scenario.

Each test asserts the fleet's ground truth from awssim — which version every node runs,
which stack instances exist, which calls changed something — not task states alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from awssim.server import SimServer
from awssim.simulator import Simulator
from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import RunReport, render_table
from distributor_rollout.core.waves import resolve_waves
from rollout_demo import rehearsal

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "ExamplePackage"
STACK_SET = "distributor-examplepackage"
Rehearse = Callable[..., Any]


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(REPO / "include" / "rollouts" / "examplepackage.yaml")


def wave_targets(plan: Plan, names: Iterable[str]) -> set[tuple[str, str]]:
    """(account, Region) of the named waves, resolved against the demo org's snapshot."""
    org = Organization.from_dict(json.loads((REPO / "include/orgs/example.json").read_text()))
    wanted = set(names)
    return {
        (target.account_id, target.region)
        for wave in resolve_waves(plan, org).waves
        if wave.name in wanted
        for target in wave.targets
    }


def targeted_nodes(sim: Simulator, targets: set[tuple[str, str]]) -> list[Any]:
    """The nodes the association reaches in those targets (tagged Distributor=enabled);
    never none, so assertions over all of them cannot pass vacuously."""
    nodes = [
        node
        for node in sim.fleet
        if (node.account_id, node.region) in targets and node.tags.get("Distributor") == "enabled"
    ]
    assert nodes, f"no targeted nodes in {sorted(targets)}"
    return nodes


def others(sim: Simulator, nodes: list[Any]) -> list[Any]:
    inside = {node.instance_id for node in nodes}
    return [node for node in sim.fleet if node.instance_id not in inside]


def instances(sim: Simulator) -> set[tuple[str, str]]:
    """(account, Region) of every stack instance of the rollout's stack set."""
    state = sim.stacksets.state()
    return {
        (instance["account"], instance["region"])
        for stack_set in state.values()
        if stack_set["name"] == STACK_SET and stack_set["status"] == "ACTIVE"
        for instance in stack_set["instances"]
    }


def stack_set_truth(sim: Simulator) -> tuple[dict[str, str], dict[tuple[str, str], Any]]:
    """Ground truth of the rollout's stack set: its parameters (what DescribeStackSet and
    the console show), and per (account, Region) the instance's status, detailed status
    and the package parameters its stack runs."""
    state = sim.stacksets.state().values()
    (stack_set,) = (s for s in state if s["name"] == STACK_SET and s["status"] == "ACTIVE")
    keys = ("Version", "AssociationVersion", "Action")
    return stack_set["parameters"], {
        (i["account"], i["region"]): (
            i["status"],
            i["detailed_status"],
            {key: i["parameters"][key] for key in keys},
        )
        for i in stack_set["instances"]
    }


def mutations(sim: Simulator) -> list[str]:
    return [f"{call.service}:{call.operation}" for call in sim.ledger.calls()]


def report_in_s3(server: SimServer, run_id: str) -> dict[str, Any]:
    s3 = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="awssim-admin",
        aws_secret_access_key="awssim",
    )
    body = s3.get_object(
        Bucket="distributor-rollout-222222222222-us-east-1",
        Key=f"rollouts/{PACKAGE}/{run_id}.json",
    )["Body"].read()
    return dict(json.loads(body))


def test_happy_rollout_reaches_every_targeted_node_and_only_those(
    rehearse: Rehearse, rollout_sim: Simulator, awssim_server: SimServer, plan: Plan
) -> None:
    result = rehearse()
    assert result.succeeded, result.task_states
    assert result.approvals == (("prod.approve", "Approve"),)
    targets = wave_targets(plan, ["canary", "nonprod", "prod"])
    nodes = targeted_nodes(rollout_sim, targets)
    assert nodes
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in nodes)
    assert all(node.installed == {} for node in others(rollout_sim, nodes))
    assert instances(rollout_sim) == targets

    report = result.report
    assert report["status"] == "succeeded"
    assert [w["decision"] for w in report["waves"]] == ["passed", "passed", "approved"]
    assert report_in_s3(awssim_server, result.run_id) == report
    assert all(w["duration_seconds"] is not None for w in report["waves"])

    # The same version again (a scheduled run): nothing to do, nothing changed.
    before = mutations(rollout_sim)
    again = rehearse()
    assert again.succeeded
    assert again.task_states["check_deployed"] == "skipped"
    assert again.task_states["canary.deploy"] == "skipped"
    assert "nothing to do" in again.report["summary"]
    assert mutations(rollout_sim) == before


def test_an_upgrade_through_every_wave_leaves_every_instance_current(
    rehearse: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    # Canary's UpdateStackSet sets 1.1.0 and marks every instance OUTDATED; the later
    # waves update what the stack set then holds. Had they named it by value again, each
    # would mark the earlier waves' instances OUTDATED (API reference, UpdateStackSet,
    # Regions), and a finished rollout would read as unfinished.
    first = rehearse()
    assert first.succeeded, first.task_states
    result = rehearse({"version": "1.1.0"})
    assert result.succeeded, result.task_states
    assert [w["decision"] for w in result.report["waves"]] == ["passed", "passed", "approved"]
    targets = wave_targets(plan, ["canary", "nonprod", "prod"])
    assert all(
        node.installed == {PACKAGE: "1.1.0"} for node in targeted_nodes(rollout_sim, targets)
    )
    parameters, truth = stack_set_truth(rollout_sim)
    assert parameters["Version"] == "1.1.0"
    assert set(truth) == targets
    assert {(status, detail, ran["Version"]) for status, detail, ran in truth.values()} == {
        ("CURRENT", "SUCCEEDED", "1.1.0")
    }

    # So the same version again finds nothing to do.
    before = mutations(rollout_sim)
    again = rehearse({"version": "1.1.0"})
    assert again.succeeded
    assert again.task_states["check_deployed"] == "skipped"
    assert mutations(rollout_sim) == before


def test_a_dry_run_changes_nothing(rehearse: Rehearse, rollout_sim: Simulator) -> None:
    result = rehearse({"dry_run": True})
    assert result.succeeded, result.task_states
    assert result.report["status"] == "dry_run"
    assert mutations(rollout_sim) == []
    assert all(node.installed == {} for node in rollout_sim.fleet)
    assert result.task_states["prod.approve"] == "skipped"
    assert result.approvals == ()


def test_a_failing_canary_is_rolled_back_and_later_waves_never_deploy(
    rehearse: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    first = rehearse({"waves": ["canary", "nonprod"]})
    assert first.succeeded, first.task_states
    rollout_sim.set_scenario("canary-failure")  # 1.1.0 is new: it fails on canary nodes

    result = rehearse({"version": "1.1.0"})
    assert not result.succeeded
    assert result.task_states["canary.wait_compliance"] == "failed"
    why = rehearsal.failure_reason(result.dag_id, result.run_id, "canary.wait_compliance")
    assert why is not None
    assert why.startswith("threshold unreachable")
    assert result.task_states["rollback"] == "success"
    assert result.task_states["nonprod.deploy"] == "upstream_failed"
    assert result.report["status"] == "rolled_back"
    # The report says why, in the gate's words, and names where: the canary account/Regions
    # whose nodes failed the new version, with their node counts.
    canary = result.report["waves"][0]
    assert (canary["name"], canary["decision"], canary["reason"]) == ("canary", "failed", why)
    named = {entry["target"]: entry["reason"] for entry in canary["failed_targets"]}
    assert 0 < len(named) <= 5
    assert canary["failed_targets_total"] >= len(named)
    assert set(named) <= {f"{a}/{r}" for a, r in wave_targets(plan, ["canary"])}
    assert any(", " in reason and " failed" in reason for reason in named.values()), named
    assert canary["compliance"]["failed"] > 0
    table = render_table(RunReport.from_dict(result.report))
    assert f"wave canary failed: {why}" in table
    assert all(target in table for target in named)
    assert f"failed targets: {next(iter(named))}" in result.report["summary"]
    rollout_sim.settle()
    before = targeted_nodes(rollout_sim, wave_targets(plan, ["canary", "nonprod"]))
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in before)
    prod = targeted_nodes(rollout_sim, wave_targets(plan, ["prod"]))
    assert all(node.installed == {} for node in prod)
    assert not instances(rollout_sim) & wave_targets(plan, ["prod"])

    # The stack set reads as the forward restore: 1.1.0 stays the package document's
    # newest version, the association is pinned back to 1.0.2; canary's instances run
    # exactly that and read CURRENT.
    parameters, truth = stack_set_truth(rollout_sim)
    restored = {"Version": "1.1.0", "AssociationVersion": "1.0.2", "Action": "Install"}
    assert {key: parameters[key] for key in restored} == restored
    canary_targets = wave_targets(plan, ["canary"])
    nonprod_targets = wave_targets(plan, ["nonprod"])
    assert set(truth) == canary_targets | nonprod_targets
    assert {key: truth[key] for key in canary_targets} == dict.fromkeys(
        canary_targets, ("CURRENT", "SUCCEEDED", restored)
    )
    # NonProd's instances were never changed by this run: they still run 1.0.2, and are
    # OUTDATED since canary's UpdateStackSet (AWS shows them PENDING); the report says so.
    ran_before = {"Version": "1.0.2", "AssociationVersion": "", "Action": "Install"}
    assert {key: truth[key] for key in nonprod_targets} == dict.fromkeys(
        nonprod_targets, ("OUTDATED", "PENDING", ran_before)
    )
    untouched = sorted(f"{account}/{region}" for account, region in nonprod_targets)
    assert result.report["rollback"]["stack_set"] == {
        "holds": "ExamplePackage 1.0.2 (package document at 1.1.0)",
        "before": "ExamplePackage 1.0.2",
        "instances": len(truth),
        "current": len(canary_targets),
        "untouched_outdated": untouched,
        "untouched_outdated_total": len(nonprod_targets),
        "restored_outdated": [],
        "restored_outdated_total": 0,
    }
    assert result.report["summary"].endswith(
        f"; {len(untouched)} stack instances the run never changed left OUTDATED "
        "(still on ExamplePackage 1.0.2)"
    )
    assert (
        f"left OUTDATED: {len(untouched)} stack instances this run never changed "
        f"({untouched[0]}, " in table
    )
    assert "the stack set now says ExamplePackage 1.0.2 (package document at 1.1.0)" in table


def test_a_failed_stack_set_operation_rolls_back_what_the_run_touched(
    rehearse: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    rollout_sim.set_scenario("stackset-failure")
    result = rehearse()
    assert not result.succeeded
    assert result.task_states["nonprod.wait_operation"] == "failed"
    why = rehearsal.failure_reason(result.dag_id, result.run_id, "nonprod.wait_operation")
    assert why is not None
    assert "FAILED" in why
    assert result.task_states["prod.deploy"] == "upstream_failed"
    assert result.report["status"] == "rolled_back", result.report["summary"]
    # The failed stack instances are named: NonProd accounts in us-west-2, with AWS's reason.
    nonprod = result.report["waves"][1]
    assert nonprod["reason"].startswith("operation FAILED, ")
    assert nonprod["failed_targets"]
    assert all(entry["target"].endswith("/us-west-2") for entry in nonprod["failed_targets"])
    assert all(entry["reason"] for entry in nonprod["failed_targets"])
    assert nonprod["failed_targets_total"] == nonprod["operation"]["failed"]
    rollout_sim.settle()
    # A first install rolls back to nothing: no node keeps the package, no instance stays.
    assert all(node.installed == {} for node in rollout_sim.fleet)
    assert instances(rollout_sim) == set()


def test_a_throttling_storm_is_ridden_out(
    rehearse: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    rollout_sim.set_scenario("throttling")
    result = rehearse({"waves": ["canary", "nonprod"]})
    assert result.succeeded, result.task_states
    nodes = targeted_nodes(rollout_sim, wave_targets(plan, ["canary", "nonprod"]))
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in nodes)
    # (tests/integration/awssim/test_faults.py proves the scenario throttles ~30% of reads)


def test_a_rejected_approval_rolls_the_run_back(
    rehearse: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    first = rehearse({"waves": ["canary", "prod"]})
    assert first.succeeded, first.task_states
    result = rehearse({"version": "1.1.0", "waves": ["canary", "prod"]}, decide=lambda task: False)
    assert not result.succeeded
    assert result.approvals == (("prod.approve", "Reject"),)
    assert result.task_states["prod.approve"] == "failed"
    assert result.tries["prod.approve"] == 1  # a rejection is final: never asked again
    assert result.report["status"] == "rolled_back"
    assert result.report["waves"][2]["decision"] == "rejected"
    rollout_sim.settle()
    nodes = targeted_nodes(rollout_sim, wave_targets(plan, ["canary", "prod"]))
    assert nodes
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in nodes)
    # Both waves restored (one UpdateStackSet each, to the same forward restore): every
    # instance reads CURRENT with what the stack set holds, none is left OUTDATED.
    parameters, truth = stack_set_truth(rollout_sim)
    restored = {"Version": "1.1.0", "AssociationVersion": "1.0.2", "Action": "Install"}
    assert {key: parameters[key] for key in restored} == restored
    assert set(truth) == wave_targets(plan, ["canary", "prod"])
    assert truth == dict.fromkeys(truth, ("CURRENT", "SUCCEEDED", restored))
    standing = result.report["rollback"]["stack_set"]
    assert (standing["instances"], standing["current"]) == (len(truth), len(truth))
    assert standing["untouched_outdated_total"] == standing["restored_outdated_total"] == 0
    assert "left OUTDATED" not in result.report["summary"]


def test_invalid_params_fail_the_run_in_validate_before_any_change(
    rehearse: Rehearse, rollout_sim: Simulator, awssim_server: SimServer
) -> None:
    result = rehearse({"source": "does/not/exist"})
    assert not result.succeeded
    assert result.task_states["validate"] == "failed"
    assert result.task_states["rollback"] == "skipped"
    assert result.report["status"] == "failed"
    assert "failed before the waves: validate" in result.report["summary"]
    # The report names the problem, field by field; it is in XCom, not uploaded.
    [problem] = result.report["validation"]["problems"]
    assert (problem["field"], problem["what"], problem["got"]) == (
        "source",
        "not an existing folder",
        "'does/not/exist'",
    )
    assert "source: not an existing folder (got 'does/not/exist'" in result.report["summary"]
    with pytest.raises(ClientError):
        report_in_s3(awssim_server, result.run_id)
    assert mutations(rollout_sim) == []


def test_running_a_failed_runs_tasks_again_continues_without_duplicate_operations(
    rehearse: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    # The nonprod gate times out (a third of its nodes are offline) and the run stops
    # without rolling back; the nodes come back, and the same run is run again.
    when = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    rollout_sim.set_scenario("unmanaged-nodes")
    stopped = rehearse({"rollback_mode": "none"}, when=when)
    assert not stopped.succeeded
    assert stopped.task_states["nonprod.wait_compliance"] == "failed"
    assert stopped.task_states["rollback"] == "skipped"

    rollout_sim.set_scenario("happy")
    resumed = rehearse({"rollback_mode": "none"}, when=when)
    assert resumed.run_id == stopped.run_id
    assert resumed.succeeded, resumed.task_states
    creates = [c for c in rollout_sim.ledger.calls(operation="CreateStackInstances") if c.ok]
    assert len(creates) == 3  # canary, nonprod, prod: each started once, then adopted
    assert len(rollout_sim.ledger.calls(operation="CreateStackSet", ok=True)) == 1
    nodes = targeted_nodes(rollout_sim, wave_targets(plan, ["canary", "nonprod", "prod"]))
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in nodes)


def test_clearing_only_the_failed_tasks_continues_from_there(
    rehearse: Rehearse, resume: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    # As above, but only the failed gate and what follows it run again (the UI's "Clear"
    # with "Downstream" on the failed task): the tasks that succeeded keep their states and
    # XComs, and are not run again.
    when = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    rollout_sim.set_scenario("unmanaged-nodes")
    stopped = rehearse({"rollback_mode": "none"}, when=when)
    assert stopped.task_states["nonprod.wait_compliance"] == "failed"
    succeeded = {task for task, state in stopped.task_states.items() if state == "success"}
    assert {"prepare", "canary.wait_compliance", "nonprod.deploy"} <= succeeded
    before = len(mutations(rollout_sim))

    rollout_sim.set_scenario("happy")
    resumed = resume(stopped)

    assert resumed.run_id == stopped.run_id
    assert resumed.succeeded, resumed.task_states
    # Not run again: their tries are the first run's; the failed gate ran once more.
    assert {task: resumed.tries[task] for task in succeeded} == {
        task: stopped.tries[task] for task in succeeded
    }
    assert all(resumed.task_states[task] == "success" for task in succeeded)
    gate = "nonprod.wait_compliance"
    assert resumed.tries[gate] == stopped.tries[gate] + 1
    later = mutations(rollout_sim)[before:]
    # Prod's instances, and no other change to the stack set or the package.
    assert [m for m in later if m.startswith(("cloudformation:", "ssm:"))] == [
        "cloudformation:CreateStackInstances"
    ]
    assert resumed.report is not None
    assert [wave["decision"] for wave in resumed.report["waves"]] == [
        "passed",
        "passed",
        "approved",
    ]
    nodes = targeted_nodes(rollout_sim, wave_targets(plan, ["canary", "nonprod", "prod"]))
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in nodes)


def test_a_first_install_rolled_back_past_offline_agents_leaves_them_as_they_were(
    rehearse: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    # A third of NonProd's agents are offline for the whole run: more than the gate's 20%
    # cap, so it times out; the rollback must not wait on agents that can never answer.
    rollout_sim.set_scenario("unmanaged-nodes")
    result = rehearse()

    assert result.task_states["nonprod.wait_compliance"] == "failed"
    assert result.task_states["rollback"] == "success"
    assert result.report["status"] == "rolled_back", result.report["summary"]
    nonprod = result.report["waves"][1]
    assert "of nodes offline, above the 20% cap" in nonprod["reason"]
    rollback = result.report["rollback"]
    rollout_sim.settle()
    nodes = targeted_nodes(rollout_sim, wave_targets(plan, ["canary", "nonprod"]))
    offline = [node for node in nodes if not node.online_at(rollout_sim.now())]
    assert offline
    assert rollback["untouched_nodes"] == len(offline)
    assert rollback["kept_targets_total"] == 0
    # Ground truth: every node is back as before the run (a first install: nothing), the
    # offline ones because they never received it; no instance of the run is left.
    assert all(node.installed == {} for node in nodes)
    assert not instances(rollout_sim) & wave_targets(plan, ["canary", "nonprod"])


def test_nodes_that_went_offline_holding_the_package_keep_their_instance(
    rehearse: Rehearse, rollout_sim: Simulator, plan: Plan
) -> None:
    # The nonprod gate fails; some NonProd agents were offline all along, others went
    # offline right after installing the new version.
    rollout_sim.set_scenario("offline-rollback")
    result = rehearse()

    assert result.report["status"] == "rolled_back", result.report["summary"]
    rollout_sim.settle()
    nonprod = wave_targets(plan, ["nonprod"])
    nodes = targeted_nodes(rollout_sim, wave_targets(plan, ["canary", "nonprod"]))
    now = rollout_sim.now()
    reachable = [node for node in nodes if node.online_at(now)]
    stranded = [node for node in nodes if not node.online_at(now) and node.installed]
    assert reachable
    assert stranded
    # Every reachable node is back to its previous state (nothing: a first install).
    assert all(node.installed == {} for node in reachable)
    # The targets of nodes that went away holding the package keep their instance (and so
    # the uninstall association, for when the agents return); the rest are deleted.
    holding = {(node.account_id, node.region) for node in stranded}
    assert instances(rollout_sim) & nonprod == holding
    rollback = result.report["rollback"]
    assert rollback["kept_targets_total"] == len(holding)
    assert {entry["target"] for entry in rollback["kept_targets"]} <= {
        f"{account}/{region}" for account, region in holding
    }
    # The kept instances run the uninstall the stack set now holds: CURRENT.
    parameters, truth = stack_set_truth(rollout_sim)
    assert (parameters["Version"], parameters["Action"]) == ("1.0.2", "Uninstall")
    assert {status for status, _, ran in truth.values()} == {"CURRENT"}
    assert {ran["Action"] for _, _, ran in truth.values()} == {"Uninstall"}
    assert rollback["stack_set"]["holds"] == (
        "the uninstall of ExamplePackage (package document at 1.0.2)"
    )
    assert rollback["stack_set"]["current"] == rollback["stack_set"]["instances"] == len(holding)
    assert rollback["untouched_nodes"] > 0
    assert rollback["failed_targets_total"] == 0
