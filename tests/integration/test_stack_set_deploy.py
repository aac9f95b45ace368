"""DeployWaveOperator against awssim: creates, staged updates, adoption and foreign operations."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred
from airflow_support import RecordingTaskInstance, make_context, run_task
from compliance_support import count_calls
from stack_set_support import (
    CALL_AS,
    NONPROD,
    SANDBOX,
    STACK_SET,
    TEMPLATE,
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
from distributor_rollout.core.release import TEMPLATE_SHA256_KEY
from distributor_rollout.core.steps import STARTED_AT_XCOM_KEY
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


def sha256(text: str) -> str:
    """The digest a dry-run Prepare puts in its release."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def settle(sim: Simulator) -> None:
    """Let every operation finish (simulated time)."""
    sim.settle(horizon=3600)


def recorded_targets(aws: AwsClients, result: dict[str, Any]) -> list[str]:
    """The wave's target list as the deploy task stored it beside its change record (its
    bytes checked against the digest the result carries)."""
    reference = result["stored_targets"]
    assert reference["key"].endswith("/waves/canary/targets.json")
    stored = aws.client("s3").get_object(Bucket=reference["bucket"], Key=reference["key"])
    body = stored["Body"].read()
    assert hashlib.sha256(body).hexdigest() == reference["sha256"]
    listed: list[str] = json.loads(body)
    assert reference["count"] == len(listed)
    return listed


def recorded_changes(aws: AwsClients, result: dict[str, Any]) -> dict[str, Any]:
    """The wave's change record as the deploy task stored it in the artifacts bucket
    (its bytes checked against the digest the result carries): never inline in XCom."""
    assert "changes" not in result
    reference = result["stored_changes"]
    stored = aws.client("s3").get_object(Bucket=reference["bucket"], Key=reference["key"])
    body = stored["Body"].read()
    assert hashlib.sha256(body).hexdigest() == reference["sha256"]
    record: dict[str, Any] = json.loads(body)
    kinds = Counter(change["kind"] for change in record["changes"])
    assert (kinds["created"], kinds["updated"]) == (reference["created"], reference["updated"])
    return record


def test_new_targets_are_created_and_recorded_as_created(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)

    result = run_task(deploy(plan, "canary", rel, aws_conn), make_context(run_id=RUN))

    assert result["operations"] == [create_operation_id(RUN, "canary", 0)]
    assert result["nothing_to_do"] is False
    changes = recorded_changes(aws, result)["changes"]
    assert {(c["target"]["account_id"], c["kind"]) for c in changes} == {
        (account, "created") for account in SANDBOX
    }
    assert operation_calls(fast_sim) == ["CreateStackInstances"]
    settle(fast_sim)
    expected = {Target(account, "us-east-1") for account in SANDBOX}
    assert versions(aws, expected) == dict.fromkeys(expected, "1.0.0")
    assert recorded_targets(aws, result) == sorted(str(target) for target in expected)


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
    record = recorded_changes(aws, result)
    kinds = {
        (c["target"]["account_id"], c["target"]["region"]): c["kind"] for c in record["changes"]
    }
    assert kinds == {
        **{(a, "us-east-1"): "updated" for a in SANDBOX},
        **{(a, "eu-west-1"): "created" for a in SANDBOX},
    }
    changes = WaveChanges.from_dict(record).changes
    previous = {c.previous.parameters["Version"] for c in changes if c.previous is not None}
    assert previous == {"1.0.0"}
    assert len(record["templates"]) == 1  # written once, not per target
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

    # The gate still waits on the wave's targets: their list is stored all the same.
    listed = ["300000000001/us-east-1", "300111111112/us-east-1"]
    assert recorded_targets(aws, result) == listed
    assert {key: value for key, value in result.items() if key != "stored_targets"} == {
        "wave": "canary",
        "operations": [],
        "changes": {"wave": "canary", "templates": [], "changes": []},
        "nothing_to_do": True,
        "targets": listed,
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
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    foreign = cfn(aws).create_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={"OrganizationalUnitIds": [sim.org.ou_ids_by_path["/Prod/EU"]]},
        Regions=["us-east-1"],
        OperationPreferences={"MaxConcurrentCount": 1},
        CallAs=CALL_AS,
    )["OperationId"]
    task = deploy(plan, "canary", rel, aws_conn, deferrable=True)
    context = make_context(run_id=RUN)

    # The foreign operation takes minutes of simulated time (real time here): the deploy
    # must defer on it rather than start its own operation.
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    assert deferred.value.trigger.operation_ids == [foreign]
    assert operation_calls(sim) == ["CreateStackInstances"]

    sim.settle()
    # Resumed on a fresh copy, as Airflow resumes a deferred task.
    resumed = deploy(plan, "canary", rel, aws_conn, deferrable=True)
    result = run_task(resumed, context, deferred=deferred.value)

    foreign_op = cfn(aws).describe_stack_set_operation(
        StackSetName=STACK_SET, OperationId=foreign, CallAs=CALL_AS
    )["StackSetOperation"]
    assert foreign_op["Status"] == "SUCCEEDED"
    assert result["operations"] == [create_operation_id(RUN, "canary", 0)]
    assert operation_calls(sim) == ["CreateStackInstances", "CreateStackInstances"]
    assert [c for c in sim.ledger.calls(service="cloudformation") if not c.ok] == []


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
    kinds = {(c["target"]["region"], c["kind"]) for c in recorded_changes(aws, result)["changes"]}
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
    sim.ledger.clear()
    task = deploy(write_plan(tmp_path), "canary", rel, aws_conn, run_params={"dry_run": True})

    result = run_task(task, make_context(run_id=RUN))

    assert result["dry_run"] is True
    assert result["operations"] == []
    assert operation_calls(sim) == []
    assert sim.ledger.calls() == []  # not a single mutating call
    assert result == {
        "wave": "canary",
        "operations": [],
        "changes": {"wave": "canary", "templates": [], "changes": []},
        "nothing_to_do": False,
        "targets": [f"{account}/us-east-1" for account in SANDBOX],
        "dry_run": True,
        "planned": [
            {
                "api_call": "CreateStackInstances",
                "operation_id": create_operation_id(RUN, "canary", 0),
                "targets": 2,
                "accounts": 2,
                "regions": ["us-east-1"],
                "organizational_units": [sim.org.ou_ids_by_path["/Sandbox"]],
            }
        ],
    }
    json.dumps(result)  # XCom


def test_a_dry_run_plans_an_update_of_existing_instances_then_creates(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    run_task(deploy(plan, "canary", first, aws_conn), make_context(run_id="run-1"))
    settle(fast_sim)
    wider = write_plan(
        tmp_path,
        waves=[{"name": "canary", "ous": ["/Sandbox"], "regions": ["us-east-1", "eu-west-1"]}],
    )
    second = release(aws, "2.0.0", "1.0.0")
    fast_sim.ledger.clear()

    result = run_task(
        deploy(wider, "canary", second, aws_conn, run_params={"dry_run": True}),
        make_context(run_id=RUN),
    )

    assert fast_sim.ledger.calls() == []
    sandbox = fast_sim.org.ou_ids_by_path["/Sandbox"]
    assert result["planned"] == [
        {
            "api_call": "UpdateStackSet",
            "operation_id": update_operation_id(RUN, "canary"),
            "targets": 2,
            "accounts": 2,
            "regions": ["us-east-1", "eu-west-1"],
            "organizational_units": [sandbox],
        },
        {
            "api_call": "CreateStackInstances",
            "operation_id": create_operation_id(RUN, "canary", 0),
            "targets": 2,
            "accounts": 2,
            "regions": ["eu-west-1"],
            "organizational_units": [sandbox],
        },
    ]
    assert (result["operations"], result["nothing_to_do"]) == ([], False)
    assert set(versions(aws, {Target(a, "us-east-1") for a in SANDBOX}).values()) == {"1.0.0"}


def test_a_dry_run_before_the_stack_set_exists_plans_every_target_as_created(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    rel = release(aws, "1.0.0", None)  # the stack set was never created
    sim.ledger.clear()
    task = deploy(write_plan(tmp_path), "nonprod", rel, aws_conn, run_params={"dry_run": True})

    result = run_task(task, make_context(run_id=RUN))

    assert sim.ledger.calls() == []
    assert result["planned"] == [
        {
            "api_call": "CreateStackInstances",
            "operation_id": create_operation_id(RUN, "nonprod", 0),
            "targets": 8,
            "accounts": 4,
            "regions": ["us-east-1", "us-west-2"],
            "organizational_units": [sim.org.ou_ids_by_path["/NonProd"]],
        }
    ]
    assert result["targets"] == [f"{a}/{r}" for r in ("us-east-1", "us-west-2") for a in NONPROD]
    assert result["nothing_to_do"] is False


def test_a_dry_run_release_is_compared_by_its_template_digest_not_read_from_s3(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    rel = release(aws, "1.0.0", None, create=True)
    # What a dry-run Prepare returns: a template URL where nothing was stored, and the
    # digest of the text it would have stored there.
    unstored = {
        **rel,
        "template": {**rel["template"], "template_url": rel["template"]["template_url"] + "x"},
        "dry_run": True,
    }
    plan = write_plan(tmp_path)
    dry = {"dry_run": True}
    sim.ledger.clear()

    same = run_task(
        deploy(
            plan,
            "canary",
            {**unstored, TEMPLATE_SHA256_KEY: sha256(TEMPLATE)},
            aws_conn,
            run_params=dry,
        ),
        make_context(run_id=RUN),
    )
    other = run_task(
        deploy(
            plan,
            "canary",
            {**unstored, TEMPLATE_SHA256_KEY: sha256(TEMPLATE + " ")},
            aws_conn,
            run_params=dry,
        ),
        make_context(run_id=RUN),
    )

    assert sim.ledger.calls() == []
    # The stack set holds that text: the new targets only need creating.
    assert [call["api_call"] for call in same["planned"]] == ["CreateStackInstances"]
    # Another text: it is set first (a create deploys whatever the stack set holds).
    assert [call["api_call"] for call in other["planned"]] == [
        "UpdateStackSet",
        "CreateStackInstances",
    ]


def test_a_wave_this_run_does_not_deploy_is_skipped_before_any_aws_call(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = release(aws, "1.0.0", None, create=True)
    calls = count_calls(sim, monkeypatch)
    task = deploy(write_plan(tmp_path), "nonprod", rel, aws_conn, run_params={"waves": ["canary"]})
    context = make_context(run_id=RUN)

    with pytest.raises(AirflowSkipException, match="wave 'nonprod' is not among this run's waves"):
        run_task(task, context)

    assert sum(calls.values()) == 0
    assert context["ti"].xcom == {}


@dataclass
class PushLog(RecordingTaskInstance):
    """A task instance that logs every push with how many AWS calls awssim had served."""

    calls: Counter[str] = field(default_factory=Counter)
    pushes: list[tuple[str, Any, int]] = field(default_factory=list)

    def xcom_push(self, key: str, value: Any, **kw: Any) -> None:
        """Record the push and the AWS calls made before it."""
        self.pushes.append((key, value, sum(self.calls.values())))
        super().xcom_push(key, value, **kw)


def test_started_at_is_pushed_once_before_any_aws_call_and_not_on_resume(
    sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
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
    ti = PushLog(task_id="deploy_canary", run_id=RUN, calls=count_calls(sim, monkeypatch))
    context = {"ti": ti, "task_instance": ti, "run_id": RUN}

    before = datetime.now(UTC)
    # Deferred between its update and its create (the update takes minutes of simulated
    # time, real time here): it resumes in execute_complete.
    task = deploy(wider, "canary", second, aws_conn, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    sim.settle()
    resumed = deploy(wider, "canary", second, aws_conn, deferrable=True)
    result = run_task(resumed, context, deferred=deferred.value)

    assert len(result["operations"]) == 2
    started = [(value, calls) for key, value, calls in ti.pushes if key == STARTED_AT_XCOM_KEY]
    assert len(started) == 1
    value, calls_before = started[0]
    assert calls_before == 0
    started_at = datetime.fromisoformat(value)
    assert started_at.utcoffset() == timedelta(0)
    assert before <= started_at <= datetime.now(UTC)
