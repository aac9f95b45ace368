"""DeployWaveOperator against awssim: creates, staged updates, adoption and foreign operations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from airflow_support import make_context, run_task
from stack_set_support import (
    CALL_AS,
    NONPROD,
    SANDBOX,
    STACK_SET,
    cfn,
    instance_targets,
    operation_calls,
    release,
    versions,
    write_plan,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.deployment import create_operation_id, update_operation_id
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks.errors import ConfigurationError, StackSetNotFound
from distributor_rollout.operators.stack_set_deploy import DeployWaveOperator

RUN = "manual__2026-11-27T08:00:00+00:00"


def deploy(
    plan: str, wave: str, rel: dict[str, Any], conn: str, *, deferrable: bool = False, **kw: Any
) -> DeployWaveOperator:
    """A deploy task polling fast enough for the 600x clock."""
    return DeployWaveOperator(
        task_id=f"deploy_{wave}",
        plan_path=plan,
        wave=wave,
        release=rel,
        aws_conn_id=conn,
        deferrable=deferrable,
        poll_interval=0.1,
        wait_timeout=60,
        **kw,
    )


def settle(sim: Simulator) -> None:
    """Let every operation finish (simulated time)."""
    sim.settle(horizon=3600)


def test_new_targets_are_created_and_recorded_as_created(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)

    result = run_task(deploy(plan, "canary", rel, aws_conn), make_context(run_id=RUN))

    assert result["operations"] == [create_operation_id(RUN, "canary", 0)]
    assert result["nothing_to_do"] is False
    changes = result["changes"]["changes"]
    assert {(c["target"]["account_id"], c["kind"]) for c in changes} == {
        (account, "created") for account in SANDBOX
    }
    assert operation_calls(fast_sim) == ["CreateStackInstances"]
    settle(fast_sim)
    expected = {Target(account, "us-east-1") for account in SANDBOX}
    assert versions(aws, expected) == dict.fromkeys(expected, "1.0.0")


def test_existing_targets_get_a_staged_update_then_new_ones_a_create(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    run_task(deploy(plan, "canary", first, aws_conn), make_context(run_id="run-1"))
    run_task(deploy(plan, "nonprod", first, aws_conn), make_context(run_id="run-1"))
    settle(fast_sim)
    fast_sim.ledger.clear()

    second = release(aws, "2.0.0", "1.0.0")
    # Sandbox already has instances; widen canary to a second Region, which has none.
    plan = write_plan(
        tmp_path,
        waves=[
            {"name": "canary", "ous": ["/Sandbox"], "regions": ["us-east-1", "eu-west-1"]},
            {"name": "nonprod", "ous": ["/NonProd"], "regions": ["us-east-1", "us-west-2"]},
        ],
    )
    # Deferred: the task waits for its update in the triggerer before creating.
    task = deploy(plan, "canary", second, aws_conn, deferrable=True)
    result = run_task(task, make_context(run_id=RUN))

    assert result["operations"] == [
        update_operation_id(RUN, "canary"),
        create_operation_id(RUN, "canary", 0),
    ]
    kinds = {
        (c["target"]["account_id"], c["target"]["region"]): c["kind"]
        for c in result["changes"]["changes"]
    }
    assert kinds == {
        **{(a, "us-east-1"): "updated" for a in SANDBOX},
        **{(a, "eu-west-1"): "created" for a in SANDBOX},
    }
    changes = WaveChanges.from_dict(result["changes"]).changes
    previous = {c.previous.parameters["Version"] for c in changes if c.previous is not None}
    assert previous == {"1.0.0"}
    assert len(result["changes"]["templates"]) == 1  # written once, not per target
    assert operation_calls(fast_sim) == ["UpdateStackSet", "CreateStackInstances"]
    settle(fast_sim)
    canary = {Target(a, r) for a in SANDBOX for r in ("us-east-1", "eu-west-1")}
    nonprod = {Target(a, r) for a in NONPROD for r in ("us-east-1", "us-west-2")}
    assert set(versions(aws, canary).values()) == {"2.0.0"}
    # The staged update left the other wave alone (OUTDATED, still on 1.0.0).
    assert set(versions(aws, nonprod).values()) == {"1.0.0"}


def test_a_wave_that_already_runs_the_release_starts_nothing(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    run_task(deploy(plan, "canary", rel, aws_conn), make_context(run_id="run-1"))
    settle(fast_sim)
    fast_sim.ledger.clear()

    result = run_task(deploy(plan, "canary", rel, aws_conn), make_context(run_id="run-2"))

    assert result == {
        "wave": "canary",
        "operations": [],
        "changes": {"wave": "canary", "templates": [], "changes": []},
        "nothing_to_do": True,
        "targets": ["300000000001/us-east-1", "300111111112/us-east-1"],
    }
    assert operation_calls(fast_sim) == []


def test_a_retry_adopts_its_operations_and_keeps_their_classification(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    task = deploy(plan, "canary", rel, aws_conn)
    first = run_task(task, make_context(run_id=RUN))
    settle(fast_sim)

    again = run_task(deploy(plan, "canary", rel, aws_conn), make_context(run_id=RUN))

    assert again == first
    assert operation_calls(fast_sim) == ["CreateStackInstances"]
    assert instance_targets(fast_sim) == {Target(a, "us-east-1") for a in SANDBOX}


def test_a_foreign_operation_is_waited_out_deferred(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    foreign = cfn(aws).create_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={"OrganizationalUnitIds": [fast_sim.org.ou_ids_by_path["/Prod/EU"]]},
        Regions=["us-east-1"],
        OperationPreferences={"MaxConcurrentCount": 1},
        CallAs=CALL_AS,
    )["OperationId"]

    result = run_task(
        deploy(plan, "canary", rel, aws_conn, deferrable=True), make_context(run_id=RUN)
    )

    foreign_op = cfn(aws).describe_stack_set_operation(
        StackSetName=STACK_SET, OperationId=foreign, CallAs=CALL_AS
    )["StackSetOperation"]
    assert foreign_op["Status"] == "SUCCEEDED"
    assert result["operations"] == [create_operation_id(RUN, "canary", 0)]
    assert [c for c in fast_sim.ledger.calls(service="cloudformation") if not c.ok] == []


def test_bad_configuration_fails_before_any_change(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    rel = release(aws, "1.0.0", None)
    plan = write_plan(tmp_path)
    with pytest.raises(StackSetNotFound):
        run_task(deploy(plan, "canary", rel, aws_conn), make_context(run_id=RUN))
    release(aws, "1.0.0", None, create=True)
    with pytest.raises(ConfigurationError, match="not in the plan"):
        run_task(deploy(plan, "nope", rel, aws_conn), make_context(run_id=RUN))
    missing_ou = write_plan(
        tmp_path,
        waves=[
            {"name": "canary", "ous": ["/Nowhere"], "regions": ["us-east-1"]},
            {"name": "rest", "ous": ["/Prod"], "regions": ["us-east-1", "us-west-2", "eu-west-1"]},
        ],
    )
    with pytest.raises(ValidationError, match="/Nowhere"):
        run_task(deploy(missing_ou, "canary", rel, aws_conn), make_context(run_id=RUN))
    assert operation_calls(sim) == []


def test_a_retry_while_its_first_operation_runs_adopts_it(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    run_task(deploy(plan, "canary", first, aws_conn), make_context(run_id="run-1"))
    sim.settle()
    second = release(aws, "2.0.0", "1.0.0")
    wider = write_plan(
        tmp_path,
        waves=[{"name": "canary", "ous": ["/Sandbox"], "regions": ["us-east-1", "eu-west-1"]}],
    )
    # The clock stands still: the first try defers on its running update, and its worker
    # dies there; the retry must wait for that update, not start another.
    with pytest.raises(TaskDeferred):
        deploy(wider, "canary", second, aws_conn, deferrable=True).execute(make_context(run_id=RUN))
    with pytest.raises(TaskDeferred) as deferred:
        deploy(wider, "canary", second, aws_conn, deferrable=True).execute(make_context(run_id=RUN))
    assert deferred.value.trigger.operation_ids == [update_operation_id(RUN, "canary")]
    assert operation_calls(sim)[1:] == ["UpdateStackSet"]

    sim.settle()
    result = run_task(deploy(wider, "canary", second, aws_conn), make_context(run_id=RUN))

    assert operation_calls(sim)[1:] == ["UpdateStackSet", "CreateStackInstances"]
    kinds = {(c["target"]["region"], c["kind"]) for c in result["changes"]["changes"]}
    assert kinds == {("us-east-1", "updated"), ("eu-west-1", "created")}


def test_an_operation_id_that_exists_is_adopted(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    rel = release(aws, "1.0.0", None, create=True)
    request = {
        "DeploymentTargets": {"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/Sandbox"]]},
        "Regions": ["us-east-1"],
    }
    task = deploy(write_plan(tmp_path), "canary", rel, aws_conn)
    loaded = task.load_release(rel)
    assert task.start(loaded, "CreateStackInstances", "dr-same-id", request)
    assert task.start(loaded, "CreateStackInstances", "dr-same-id", request)
    assert operation_calls(sim) == ["CreateStackInstances"]


def test_a_dry_run_starts_nothing(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    rel = release(aws, "1.0.0", None, create=True)
    task = deploy(write_plan(tmp_path), "canary", rel, aws_conn, run_params={"dry_run": True})

    result = run_task(task, make_context(run_id=RUN))

    assert result["dry_run"] is True
    assert result["operations"] == []
    assert operation_calls(sim) == []
