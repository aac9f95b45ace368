"""Retiring the example package through its retire DAG (``dag.test()``) against awssim.

Each test first rolls the package out for real, then retires it, and asserts awssim's
ground truth (what every node has installed, which stack instances, stack sets and
buckets exist, which calls changed something), not the report alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from airflow import settings as airflow_settings
from airflow.models.dagrun import DagRun
from airflow.sdk.exceptions import AirflowFailException
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from botocore.exceptions import ClientError
from sqlalchemy import update

from awssim.server import SimServer
from awssim.simulator import Simulator
from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.retire_steps import retire_dag_id
from distributor_rollout.core.waves import resolve_waves
from distributor_rollout.dag_factory import dag_id_for
from distributor_rollout.operators.retire_waves import RetireUninstallOperator
from rollout_demo import rehearsal

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "ExamplePackage"
STACK_SET = "distributor-examplepackage"
ACCOUNT = "222222222222"
BUCKETS = [
    *(
        f"s3-examplepackage-{ACCOUNT}-{region}"
        for region in ("us-east-1", "us-west-2", "eu-west-1")
    ),
    f"distributor-rollout-{ACCOUNT}-us-east-1",
]
WAVES = ["canary", "nonprod", "prod"]
Retire = Callable[..., Any]


PLAN = load_plan(REPO / "include" / "rollouts" / "examplepackage.yaml")


def wave_targets(names: list[str]) -> set[tuple[str, str]]:
    """(account, Region) of the named waves, resolved against the demo org's snapshot."""
    org = Organization.from_dict(json.loads((REPO / "include/orgs/example.json").read_text()))
    return {
        (target.account_id, target.region)
        for wave in resolve_waves(PLAN, org).waves
        if wave.name in names
        for target in wave.targets
    }


def targeted_nodes(sim: Simulator, targets: set[tuple[str, str]]) -> list[Any]:
    """The nodes the association reaches in those targets; never none."""
    nodes = [
        node
        for node in sim.fleet
        if (node.account_id, node.region) in targets and node.tags.get("Distributor") == "enabled"
    ]
    assert nodes, f"no targeted nodes in {sorted(targets)}"
    return nodes


def instances(sim: Simulator) -> set[tuple[str, str]]:
    """(account, Region) of every stack instance of the example's live stack set."""
    return {
        (instance["account"], instance["region"])
        for stack_set in sim.stacksets.state().values()
        if stack_set["name"] == STACK_SET and stack_set["status"] == "ACTIVE"
        for instance in stack_set["instances"]
    }


def mutations(sim: Simulator) -> list[str]:
    return [f"{call.service}:{call.operation}" for call in sim.ledger.calls()]


ROLLOUT = dag_id_for("retire-example")
RETIRE = retire_dag_id(ROLLOUT)
AGENT_ROLLOUT = dag_id_for("retire-agent")
AGENT = "AmazonCloudWatchAgent"
DAG_FILE = """\
# Airflow DAGs of the retire rehearsals' plans: each one's rollout and retire.
from pathlib import Path

from distributor_rollout.dag_factory import rollout_dag
from distributor_rollout.retire_factory import retire_dag

PLANS = Path({plans!r})
example = rollout_dag("retire-example", plans_dir=PLANS)
example_retire = retire_dag("retire-example", plans_dir=PLANS)
agent = rollout_dag("retire-agent", plans_dir=PLANS)
agent_retire = retire_dag("retire-agent", plans_dir=PLANS)
"""


@pytest.fixture(scope="session")
def retire_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DAGs folder whose one file builds the rollout and retire DAGs of two plans: the
    example package's and AWS's CloudWatch agent's (the shipped plans under names of their
    own, so these DAGs never stand for the project's, and one folder for the session, so
    each DAG is serialized once)."""
    root = tmp_path_factory.mktemp("retire")
    plans, dags = root / "plans", root / "dags"
    plans.mkdir()
    dags.mkdir()
    shipped = REPO / "include" / "rollouts"
    example = yaml.safe_load((shipped / "examplepackage.yaml").read_text())
    example["package"]["source"] = str(REPO / "include" / "packages" / "examplepackage")
    agent = yaml.safe_load((shipped / "examples" / "cloudwatch-agent.yaml").read_text())
    for name, plan in (("retire-example", example), ("retire-agent", agent)):
        (plans / f"{name}.yaml").write_text(yaml.safe_dump({**plan, "name": name}))
    (dags / "retire_rehearsals.py").write_text(DAG_FILE.format(plans=str(plans)))
    return dags


@pytest.fixture(autouse=True)
def dags_folder(rollout_sim: Simulator, retire_dags: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Airflow's DAGs folder is ``retire_dags`` for the test."""
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(retire_dags))
    # dag.test() parses the DAG bundle's folder, which Airflow read into its settings at
    # import: point it here too.
    monkeypatch.setattr(airflow_settings, "DAGS_FOLDER", str(retire_dags))
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR", str(retire_dags.parent / "plans"))
    monkeypatch.setenv(
        "AIRFLOW__DISTRIBUTOR_ROLLOUT__PACKAGES_ROOT", str(REPO / "include" / "packages")
    )
    return retire_dags


@pytest.fixture
def rehearse(rollout_sim: Simulator) -> Retire:
    """Roll the example package out for real; returns the Rehearsal."""

    def run(params: dict[str, Any] | None = None) -> Any:
        return rehearsal.rehearse(ROLLOUT, params)

    return run


@pytest.fixture
def retire(rollout_sim: Simulator) -> Retire:
    """Run the example plan's retire DAG for real; returns the Rehearsal."""

    def run(params: dict[str, Any] | None = None, decide: Any = rehearsal.approve_all) -> Any:
        return rehearsal.rehearse(RETIRE, params, decide=decide)

    return run


def live_stack_sets(sim: Simulator) -> list[str]:
    return [s["name"] for s in sim.stacksets.state().values() if s["status"] == "ACTIVE"]


def buckets_left(server: SimServer) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="awssim-admin",
        aws_secret_access_key="awssim",
    )
    left = []
    for bucket in BUCKETS:
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            continue
        left.append(bucket)
    return left


def successful(sim: Simulator, operation: str, since: int = 0) -> int:
    calls = sim.ledger.calls()[since:]
    return sum(1 for call in calls if call.operation == operation and call.ok)


def test_a_retire_after_a_full_rollout_leaves_no_package_instance_stack_set_or_bucket(
    rehearse: Any, retire: Retire, rollout_sim: Simulator, awssim_server: SimServer
) -> None:
    rollout = rehearse()
    assert rollout.succeeded, rollout.task_states
    nodes = targeted_nodes(rollout_sim, wave_targets(WAVES))
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in nodes)
    assert buckets_left(awssim_server) == BUCKETS
    before = len(rollout_sim.ledger.calls())

    result = retire({"delete_buckets": True})

    assert result.succeeded, (result.task_states, result.report and result.report["summary"])
    assert result.approvals == (("approve", "Approve"),)
    rollout_sim.settle()
    assert all(node.installed == {} for node in rollout_sim.fleet)
    assert instances(rollout_sim) == set()
    assert STACK_SET not in live_stack_sets(rollout_sim)
    assert buckets_left(awssim_server) == []
    # One uninstall and one delete per wave, one stack set deletion: nothing repeated.
    assert successful(rollout_sim, "UpdateStackSet", before) == 3
    assert successful(rollout_sim, "DeleteStackInstances", before) == 3
    assert successful(rollout_sim, "DeleteStackSet", before) == 1

    report = result.report
    assert report["status"] == "retired", report["summary"]
    assert [w["name"] for w in report["waves"]] == ["prod", "nonprod", "canary"]
    assert {w["outcome"] for w in report["waves"]} == {"retired"}
    by_wave = {w["name"]: w for w in report["waves"]}
    for name in WAVES:
        targets = wave_targets([name])
        wave = by_wave[name]
        assert wave["instances"] == wave["removed"] == wave["deleted"] + wave["held"]
        assert wave["instances"] == len(targets)
    assert report["stack_set"]["state"] == "deleted"
    assert {b["name"]: b["result"] for b in report["buckets"]} == dict.fromkeys(BUCKETS, "deleted")

    # Retiring again finds nothing: no approval asked, no call made.
    again = retire({"delete_buckets": True})
    assert again.succeeded, again.task_states
    assert again.approvals == ()
    assert again.task_states["prod.uninstall"] == "skipped"
    assert again.report["stack_set"]["state"] == "absent"
    assert successful(rollout_sim, "DeleteStackSet", before) == 1


def test_a_dry_run_retire_changes_nothing(
    rehearse: Any, retire: Retire, rollout_sim: Simulator, awssim_server: SimServer
) -> None:
    rollout = rehearse({"waves": ["canary", "nonprod"]})
    assert rollout.succeeded, rollout.task_states
    deployed = instances(rollout_sim)
    before = mutations(rollout_sim)

    result = retire({"dry_run": True, "delete_buckets": True})

    assert result.succeeded, result.task_states
    assert result.approvals == ()
    assert mutations(rollout_sim) == before
    rollout_sim.settle()
    nodes = targeted_nodes(rollout_sim, wave_targets(["canary", "nonprod"]))
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in nodes)
    assert instances(rollout_sim) == deployed
    # The two waves reach us-east-1 and us-west-2: no package bucket in eu-west-1.
    published = [bucket for bucket in BUCKETS if not bucket.endswith("eu-west-1")]
    assert buckets_left(awssim_server) == published
    report = result.report
    assert report["status"] == "dry_run"
    outcomes = {w["name"]: w["outcome"] for w in report["waves"]}
    assert outcomes == {"prod": "skipped", "nonprod": "dry_run", "canary": "dry_run"}
    assert {b["name"]: b["result"] for b in report["buckets"]} == {
        **dict.fromkeys(published, "would_delete"),
        f"s3-examplepackage-{ACCOUNT}-eu-west-1": "absent",
    }


@contextmanager
def marked_running(run: Any) -> Iterator[str]:
    """A finished run marked running again, as if it were still going; then put back."""

    def mark(state: DagRunState) -> None:
        with create_session() as session:
            session.execute(
                update(DagRun)
                .where(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id)
                .values(state=state)
            )

    mark(DagRunState.RUNNING)
    try:
        yield run.run_id
    finally:
        mark(DagRunState.SUCCESS)


@pytest.fixture
def rollout_marked_running(rehearse: Any) -> Iterator[str]:
    """A finished (dry-run) rollout run marked running again."""
    with marked_running(rehearse({"dry_run": True})) as run_id:
        yield run_id


def test_a_retire_refuses_to_start_while_the_rollout_runs(
    retire: Retire, rollout_sim: Simulator, rollout_marked_running: str
) -> None:
    before = mutations(rollout_sim)
    result = retire()
    assert not result.succeeded
    assert result.task_states["validate"] == "failed"
    assert result.task_states["prod.uninstall"] == "upstream_failed"
    [problem] = result.report["validation"]["problems"]
    assert f"{ROLLOUT} has 1 running run" in problem["what"]
    assert result.report["status"] == "failed"
    assert mutations(rollout_sim) == before


@pytest.fixture
def retire_marked_running(retire: Retire) -> Iterator[str]:
    """A finished (dry-run) retire run marked running again."""
    with marked_running(retire({"dry_run": True})) as run_id:
        yield run_id


def test_a_rollout_refuses_to_start_while_the_retire_runs(
    rehearse: Any, rollout_sim: Simulator, retire_marked_running: str
) -> None:
    before = mutations(rollout_sim)
    result = rehearse()
    assert not result.succeeded
    assert result.task_states["validate"] == "failed"
    [problem] = result.report["validation"]["problems"]
    assert f"{RETIRE} has 1 running run" in problem["what"]
    assert result.report["status"] == "failed"
    assert mutations(rollout_sim) == before


def test_an_interrupted_retire_resumes_without_starting_an_operation_twice(
    rehearse: Any,
    retire: Retire,
    rollout_sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rollout = rehearse()
    assert rollout.succeeded, rollout.task_states
    before = len(rollout_sim.ledger.calls())

    # The nonprod uninstall task dies right after StackSets accepted its call, as a lost
    # worker would: its operation runs on, and the task is failed.
    started = RetireUninstallOperator.start

    def start_then_die(self: Any, *args: Any, **kwargs: Any) -> bool:
        accepted = started(self, *args, **kwargs)
        if self.wave == "nonprod":
            monkeypatch.setattr(RetireUninstallOperator, "start", started)
            raise AirflowFailException("worker lost after starting the uninstall")
        return accepted

    monkeypatch.setattr(RetireUninstallOperator, "start", start_then_die)
    stopped = retire()
    assert not stopped.succeeded
    assert stopped.task_states["prod.wait_delete"] == "success"
    assert stopped.task_states["nonprod.uninstall"] == "failed"
    assert stopped.report["status"] == "failed"
    assert [w["outcome"] for w in stopped.report["waves"]] == ["retired", "failed", "not_run"]
    assert not instances(rollout_sim) & wave_targets(["prod"])

    resumed = rehearsal.resume(stopped.dag_id, stopped.run_id)

    assert resumed.succeeded, (resumed.task_states, resumed.report and resumed.report["summary"])
    assert resumed.tries["prod.uninstall"] == stopped.tries["prod.uninstall"]
    # The nonprod uninstall was adopted, not started again.
    assert successful(rollout_sim, "UpdateStackSet", before) == 3
    assert successful(rollout_sim, "DeleteStackInstances", before) == 3
    assert successful(rollout_sim, "DeleteStackSet", before) == 1
    rollout_sim.settle()
    assert all(node.installed == {} for node in rollout_sim.fleet)
    assert instances(rollout_sim) == set()
    assert STACK_SET not in live_stack_sets(rollout_sim)
    assert resumed.report["status"] == "retired"


OFFLINE_SCENARIO = """\
name: retire-offline
description: >-
  Some NonProd agents are offline for good: a tenth since before the rollout (they never
  get the package), a few from a simulated minute after their first install (they keep it).
seed: 11
offline_nodes:
  - ous: [/NonProd]
    fraction: 0.1
  - ous: [/NonProd]
    fraction: 0.08
    after_install: 1m
"""


@pytest.fixture
def offline_nodes(rollout_sim: Simulator, tmp_path: Path) -> None:
    """The scenario above, loaded before the rollout."""
    scenario = tmp_path / "retire-offline.yaml"
    scenario.write_text(OFFLINE_SCENARIO, encoding="utf-8")
    rollout_sim.set_scenario(scenario)


def test_nodes_offline_since_the_package_reached_them_keep_their_instance_and_the_stack_set(
    rehearse: Any,
    retire: Retire,
    rollout_sim: Simulator,
    awssim_server: SimServer,
    offline_nodes: None,
) -> None:
    rollout = rehearse({"waves": ["canary", "nonprod"]})
    assert rollout.succeeded, rollout.task_states

    result = retire({"delete_buckets": True})

    assert not result.succeeded
    report = result.report
    assert report["status"] == "incomplete", report["summary"]
    rollout_sim.settle()
    nodes = targeted_nodes(rollout_sim, wave_targets(["canary", "nonprod"]))
    now = rollout_sim.now()
    reachable = [node for node in nodes if node.online_at(now)]
    holding = [node for node in nodes if not node.online_at(now) and node.installed]
    never = [node for node in nodes if not node.online_at(now) and not node.installed]
    assert reachable
    assert holding
    assert never
    # Every node that can run the uninstall did; the others are as they were.
    assert all(node.installed == {} for node in reachable)
    assert all(node.installed == {PACKAGE: "1.0.2"} for node in holding)
    # Only the targets of nodes that went away holding the package keep their instance,
    # which runs the uninstall for when the agents return; the stack set stays.
    kept = {(node.account_id, node.region) for node in holding}
    # An account that keeps an instance keeps its home-Region one too (us-east-1 creates
    # its compliance-reader role, through which a later retire reads the kept targets).
    held = {(account, "us-east-1") for account, _ in kept} & wave_targets(["nonprod"]) - kept
    assert instances(rollout_sim) == kept | held
    assert STACK_SET in live_stack_sets(rollout_sim)
    (stack_set,) = (s for s in rollout_sim.stacksets.state().values() if s["status"] == "ACTIVE")
    assert {i["parameters"]["Action"] for i in stack_set["instances"]} == {"Uninstall"}
    nonprod = next(w for w in report["waves"] if w["name"] == "nonprod")
    assert nonprod["outcome"] == "kept"
    assert nonprod["kept_total"] == len(kept)
    assert nonprod["held"] == len(held)
    assert nonprod["offline_nodes"] == len(holding)
    assert nonprod["untouched_nodes"] == len(never)
    assert report["stack_set"]["state"] == "kept"
    assert report["stack_set"]["in_waves_total"] == len(kept | held)
    # The package files stay for the kept associations' uninstall: no bucket is deleted.
    assert report["buckets"] == []
    assert "stack set still has instances" in report["buckets_note"]
    assert buckets_left(awssim_server) == [b for b in BUCKETS if not b.endswith("eu-west-1")]


def test_retiring_an_existing_package_deletes_no_package_bucket_and_uninstalls_it(
    rollout_sim: Simulator, awssim_server: SimServer
) -> None:
    rollout = rehearsal.rehearse(AGENT_ROLLOUT, {"waves": ["canary", "nonprod"]})
    assert rollout.succeeded, rollout.task_states
    nodes = targeted_nodes(rollout_sim, wave_targets(["canary", "nonprod"]))
    assert all(set(node.installed) == {AGENT} for node in nodes)
    before = len(rollout_sim.ledger.calls())

    result = rehearsal.rehearse(retire_dag_id(AGENT_ROLLOUT), {"delete_buckets": True})

    assert result.succeeded, (result.task_states, result.report and result.report["summary"])
    rollout_sim.settle()
    assert all(node.installed == {} for node in rollout_sim.fleet)
    assert "distributor-cloudwatch-agent" not in live_stack_sets(rollout_sim)
    assert successful(rollout_sim, "DeleteStackSet", before) == 1
    # Nothing was built, so no package bucket was ever made or looked for; the artifacts
    # bucket held only this plan's objects and is gone.
    assert [b["kind"] for b in result.report["buckets"]] == ["artifacts"]
    assert result.report["buckets"][0]["result"] == "deleted"
    assert buckets_left(awssim_server) == []
