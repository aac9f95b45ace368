"""RollbackOperator against awssim: exactly the changed targets, in order, and reported."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow_support import MemoryStateStore, make_context, run_task
from botocore.exceptions import ClientError
from compliance_support import count_calls
from stack_set_support import (
    NONPROD,
    SANDBOX,
    STACK_SET,
    instance_targets,
    operation_calls,
    release,
    versions,
    write_plan,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core import rollback_record
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.release import Release, run_tag_value
from distributor_rollout.core.rollback_record import RollbackRecord
from distributor_rollout.core.run_outcome import RunFacts, WaveRecords, build_report
from distributor_rollout.core.steps import ROLLBACK_XCOM_KEY
from distributor_rollout.core.stored_rollback import StoredRollback, read_document
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import UninstallCheck
from distributor_rollout.hooks.errors import (
    ArtifactDigestMismatch,
    AwsRolloutError,
    ConfigurationError,
)
from distributor_rollout.hooks.package_bucket import PackageBucketHook
from distributor_rollout.operators import rollback_runner, uninstall_wait
from distributor_rollout.operators.rollback_inputs import read_standing
from distributor_rollout.operators.rollback_runner import DEFAULT_UNINSTALL_TIMEOUT
from distributor_rollout.operators.rollout import FinalizeRolloutOperator
from distributor_rollout.operators.stack_set_deploy import DeployWaveOperator
from distributor_rollout.operators.stack_set_rollback import RollbackIncomplete, RollbackOperator

RUN = "manual__2026-11-27T10:00:00+00:00"
CANARY = {Target(account, "us-east-1") for account in SANDBOX}
NONPROD_TARGETS = {Target(a, r) for a in NONPROD for r in ("us-east-1", "us-west-2")}


def deploy(plan: str, wave: str, rel: dict[str, Any], conn: str, run_id: str) -> dict[str, Any]:
    """Deploy ``wave`` and let its operation finish."""
    task = DeployWaveOperator(
        task_id=f"deploy_{wave}",
        plan_path=plan,
        wave=wave,
        release=rel,
        aws_conn_id=conn,
        deferrable=False,
        poll_interval=0.1,
    )
    result: dict[str, Any] = run_task(task, make_context(run_id=run_id))
    return result


def rollback(
    plan: str, rel: dict[str, Any], results: list[Any], conn: str, **kwargs: Any
) -> RollbackOperator:
    """A rollback task polling fast enough for the 600x clock."""
    return RollbackOperator(
        task_id="rollback",
        plan_path=plan,
        release=rel,
        wave_results=results,
        aws_conn_id=conn,
        poll_interval=0.1,
        wait_timeout=60,
        retry_pause=0,
        **kwargs,
    )


def last_operations(sim: Simulator) -> dict[tuple[str, str], str]:
    """Ground truth: each instance's last operation."""
    return {
        (instance["account"], instance["region"]): instance["last_operation_id"]
        for stack_set in sim.stacksets.state().values()
        if stack_set["name"] == STACK_SET
        for instance in stack_set["instances"]
    }


def instance_states(sim: Simulator) -> dict[tuple[str, str], tuple[str, str]]:
    """Ground truth: each instance's status and the ``Version`` its stack runs."""
    return {
        (instance["account"], instance["region"]): (
            instance["status"],
            instance["parameters"]["Version"],
        )
        for stack_set in sim.stacksets.state().values()
        if stack_set["name"] == STACK_SET
        for instance in stack_set["instances"]
    }


def test_an_update_is_rolled_back_on_exactly_the_changed_targets(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    deploy(plan, "canary", first, aws_conn, "run-1")
    deploy(plan, "nonprod", first, aws_conn, "run-1")
    second = release(aws, "2.0.0", "1.0.0")
    canary = deploy(plan, "canary", second, aws_conn, RUN)
    fast_sim.settle()
    assert set(versions(aws, CANARY).values()) == {"2.0.0"}
    untouched = {key: op for key, op in last_operations(fast_sim).items() if key[0] in NONPROD}
    fast_sim.ledger.clear()

    task = rollback(plan, second, [canary, None, None], aws_conn)
    context = make_context("rollback", run_id=RUN)
    result = run_task(task, context)

    assert result["mode"] == "previous_version"
    assert [action["status"] for action in result["actions"]] == ["succeeded"]
    assert result["restored"] == sorted(str(t) for t in CANARY)
    assert result["failed"] == []
    assert context["ti"].xcom[ROLLBACK_XCOM_KEY] == result
    assert operation_calls(fast_sim) == ["UpdateStackSet"]
    assert set(versions(aws, CANARY).values()) == {"1.0.0"}
    assert set(versions(aws, NONPROD_TARGETS).values()) == {"1.0.0"}
    assert {k: op for k, op in last_operations(fast_sim).items() if k[0] in NONPROD} == untouched
    # The stack set holds 1.0.0 again, which the canary instances run: CURRENT. The nonprod
    # ones run 1.0.0 too, but the run's UpdateStackSet made them OUTDATED and nothing has
    # updated them since; the record says so.
    state = instance_states(fast_sim)
    assert {state[(t.account_id, t.region)] for t in CANARY} == {("CURRENT", "1.0.0")}
    assert {state[(t.account_id, t.region)] for t in NONPROD_TARGETS} == {("OUTDATED", "1.0.0")}
    assert result["stack_set"] == {
        "holds": "1.0.0",
        "before": "1.0.0",
        "instances": len(CANARY | NONPROD_TARGETS),
        "current": len(CANARY),
        "untouched_outdated": sorted(str(t) for t in NONPROD_TARGETS),
        "untouched_outdated_total": len(NONPROD_TARGETS),
        "restored_outdated": [],
        "restored_outdated_total": 0,
    }

    # A retry adopts the rollback's operation instead of starting another.
    assert run_task(task, make_context("rollback", run_id=RUN)) == result
    assert operation_calls(fast_sim) == ["UpdateStackSet"]


def test_a_stack_set_that_cannot_be_read_after_the_rollback_leaves_no_standing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The rollback is done by then: a failed read is a warning, not a failed rollback.
    class Unreachable:
        def describe_stack_set(self, name: str, *, call_as: str) -> None:
            raise ClientError({"Error": {"Code": "InternalFailure"}}, "DescribeStackSet")

    template = TemplateRef("https://b.s3.us-east-1.amazonaws.com/t")
    rel = Release(STACK_SET, "DELEGATED_ADMIN", "us-east-1", template, None, created=True)
    log = logging.getLogger("rollback-test")
    with caplog.at_level(logging.WARNING, logger="rollback-test"):
        standing = read_standing(Unreachable(), rel, changed=CANARY, failed=set(), log=log)  # type: ignore[arg-type]
    assert standing is None
    assert "Could not read the stack set's instances after the rollback" in caplog.text


def test_a_first_install_is_uninstalled_then_deleted(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    canary = deploy(plan, "canary", rel, aws_conn, RUN)
    fast_sim.settle()
    fast_sim.ledger.clear()
    seen: list[tuple[set[Target], dict[Target, str | None]]] = []

    class Recording(RollbackOperator):
        # The test template has no association to read: record the call, confirm all.
        def wait_for_uninstall(
            self, targets: Any, wave_name: str, plan: Any, deployed_at: Any = None
        ) -> UninstallCheck:
            seen.append((set(targets), versions(aws, set(targets), "action")))
            return UninstallCheck()

    task = Recording(
        task_id="rollback",
        plan_path=plan,
        release=rel,
        wave_results=[canary],
        aws_conn_id=aws_conn,
        poll_interval=0.1,
        deferrable=True,
    )
    result = run_task(task, make_context("rollback", run_id=RUN))

    assert [(a["kind"], a["status"]) for a in result["actions"]] == [
        ("uninstall", "succeeded"),
        ("delete", "succeeded"),
    ]
    assert operation_calls(fast_sim) == ["UpdateStackInstances", "DeleteStackInstances"]
    # The wait ran between the two, once the stacks had been told to uninstall.
    ((waited, actions),) = seen
    assert waited == CANARY
    assert set(actions.values()) == {"Uninstall"}
    assert instance_targets(fast_sim) == set()
    assert set(versions(aws, CANARY).values()) == {None}


def test_a_retried_rollback_acts_on_the_delete_decision_it_recorded(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    canary = deploy(plan, "canary", rel, aws_conn, RUN)
    fast_sim.settle()
    store = MemoryStateStore()
    kept = min(CANARY)

    class KeepsOne(RollbackOperator):
        # One target's nodes went offline holding the package: keep its instance.
        def wait_for_uninstall(
            self, targets: Any, wave_name: str, plan: Any, deployed_at: Any = None
        ) -> UninstallCheck:
            return UninstallCheck(kept={kept: 1})

    class MustNotDecideAgain(RollbackOperator):
        def wait_for_uninstall(
            self, targets: Any, wave_name: str, plan: Any, deployed_at: Any = None
        ) -> UninstallCheck:
            raise AssertionError("the retry decided the delete again")

    def task(cls: type[RollbackOperator]) -> RollbackOperator:
        return cls(
            task_id="rollback",
            plan_path=plan,
            release=rel,
            wave_results=[canary],
            aws_conn_id=aws_conn,
            poll_interval=0.1,
            deferrable=False,
        )

    first = run_task(task(KeepsOne), make_context("rollback", run_id=RUN, store=store))
    deletes = len(fast_sim.ledger.calls(operation="DeleteStackInstances", ok=True))
    # Airflow fails the task from outside and retries it: a new try, no XCom, same store.
    again = run_task(task(MustNotDecideAgain), make_context("rollback", run_id=RUN, store=store))

    assert again["kept"] == first["kept"] == [{"target": str(kept), "offline_nodes": 1}]
    assert again["restored"] == first["restored"]
    assert kept in instance_targets(fast_sim)
    assert len(fast_sim.ledger.calls(operation="DeleteStackInstances", ok=True)) == deletes


def test_a_rollback_that_dies_midway_leaves_a_record_of_how_far_it_got(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    canary = deploy(plan, "canary", rel, aws_conn, RUN)
    fast_sim.settle()
    fast_sim.ledger.clear()

    class WorkerLost(Exception):
        """The worker running the task goes away."""

    class DiesBeforeDeleting(RollbackOperator):
        # The uninstall has run on AWS; the task dies while waiting for the nodes.
        def wait_for_uninstall(
            self, targets: Any, wave_name: str, plan: Any, deployed_at: Any = None
        ) -> UninstallCheck:
            raise WorkerLost

    task = DiesBeforeDeleting(
        task_id="rollback",
        plan_path=plan,
        release=rel,
        wave_results=[canary],
        aws_conn_id=aws_conn,
        poll_interval=0.1,
        deferrable=False,
    )
    context = make_context("rollback", run_id=RUN)
    with pytest.raises(WorkerLost):
        run_task(task, context)

    record = context["ti"].xcom[ROLLBACK_XCOM_KEY]
    assert record["complete"] is False
    assert [(a["kind"], a["status"]) for a in record["actions"]] == [
        ("uninstall", "succeeded"),
        ("delete", "pending"),
    ]
    assert record["actions"][1]["operation_id"]
    assert record["restored"] == []
    assert record["failed"] == sorted(str(target) for target in CANARY)
    # Ground truth: the uninstall ran, the delete never started.
    assert operation_calls(fast_sim) == ["UpdateStackInstances"]
    assert instance_targets(fast_sim) == CANARY


def test_a_failed_uninstall_is_retried_reported_and_its_delete_skipped(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    canary = deploy(plan, "canary", rel, aws_conn, RUN)
    fast_sim.settle()
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
    context = make_context("rollback", run_id=RUN)

    with pytest.raises(RollbackIncomplete, match=f"{SANDBOX[0]}/us-east-1"):
        run_task(rollback(plan, rel, [canary], aws_conn, deferrable=False), context)

    result = context["ti"].xcom[ROLLBACK_XCOM_KEY]
    assert result["complete"] is True
    assert [(a["kind"], a["status"]) for a in result["actions"]] == [
        ("uninstall", "failed"),
        ("delete", "skipped"),
    ]
    assert f"{SANDBOX[0]}/us-east-1" in result["failed"]
    # The uninstall is tried again (twice) only where it failed. This template has no
    # reader role, so no uninstall can be confirmed and no instance is deleted.
    assert operation_calls(fast_sim) == ["UpdateStackInstances"] * 3
    assert instance_targets(fast_sim) == CANARY


def test_the_whole_record_is_stored_and_xcom_keeps_a_bounded_one(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every canary target's uninstall fails; the bounded record lists one of each kind
    # (the sample shrunk to 1 so the canary's 2 targets are more than it lists).
    monkeypatch.setattr(rollback_record, "SAMPLE_SIZE", 1)
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    canary = deploy(plan, "canary", rel, aws_conn, RUN)
    fast_sim.settle()
    scenario = tmp_path / "uninstall-fails.yaml"
    failing = {"accounts": SANDBOX, "regions": ["us-east-1"], "actions": ["UPDATE"]}
    scenario.write_text(
        yaml.safe_dump({"name": "all-fail", "seed": 1, "stack_instance_failures": [failing]})
    )
    fast_sim.set_scenario(scenario)
    context = make_context("rollback", run_id=RUN)

    with pytest.raises(RollbackIncomplete, match=r"could not restore 2 targets: ") as failure:
        run_task(rollback(plan, rel, [canary], aws_conn, deferrable=False), context)

    every = sorted(str(t) for t in CANARY)
    assert str(failure.value).endswith(", ".join(every))
    pushed = context["ti"].xcom[ROLLBACK_XCOM_KEY]
    assert (pushed["failed"], pushed["failed_total"]) == ([every[0]], 2)
    assert (pushed["restored"], pushed["restored_total"]) == ([], 0)
    (uninstall, _) = pushed["actions"]
    assert (uninstall["accounts"], uninstall["accounts_total"]) == ([SANDBOX[0]], 2)
    assert uninstall["description"].endswith("on 2 accounts x 1 Region (us-east-1)")
    stored = pushed["stored"]
    assert stored["key"] == f"runs/{STACK_SET}/{run_tag_value(RUN)}/rollback.json"

    # The whole record, read back by its digest: every target, and no reference to itself.
    s3 = PackageBucketHook(aws_conn_id=aws_conn, region_name="us-east-1")
    document = s3.get_checked_text(stored["bucket"], stored["key"], sha256=stored["sha256"])
    assert document is not None
    whole = RollbackRecord.from_dict(read_document(document, StoredRollback.from_dict(stored)))
    assert whole.failed == tuple(every)
    assert whole.stored is None
    assert whole.actions[0].action is not None
    assert whole.actions[0].action.accounts == tuple(SANDBOX)
    assert whole.bounded(StoredRollback.from_dict(stored)).to_dict() == pushed
    aws.client("s3").put_object(Bucket=stored["bucket"], Key=stored["key"], Body=b"{}")
    with pytest.raises(ArtifactDigestMismatch):
        s3.get_checked_text(stored["bucket"], stored["key"], sha256=stored["sha256"])

    # The report, built from the XCom, names the failed target it lists and counts both.
    facts = RunFacts(
        run_id=RUN,
        dag_id="distributor_rollout__test",
        plan=load_plan(Path(plan)),
        version="1.0.0",
        dry_run=False,
        started_at=None,
        finished_at=None,
        waves=(WaveRecords("canary", {"deploy": "success", "wait_operation": "failed"}),),
        rollback_state="failed",
        rollback=pushed,
    )
    report = build_report(facts).rollback
    assert report is not None
    assert (report.status, report.restored_targets, report.failed_targets_total) == (
        "failed",
        0,
        2,
    )
    assert [(f.target, f.reason) for f in report.failed_targets] == [(every[0], "not restored")]


def test_a_record_the_bucket_refuses_leaves_the_rollback_done_and_bounded(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    deploy(plan, "canary", first, aws_conn, "run-1")
    second = release(aws, "2.0.0", "1.0.0")
    canary = deploy(plan, "canary", second, aws_conn, RUN)
    fast_sim.settle()
    refused: list[str] = []

    def refuse(self: PackageBucketHook, bucket: str, key: str, text: str, **_: Any) -> str:
        refused.append(key)
        raise AwsRolloutError(f"s3://{bucket}/{key}: AccessDenied")

    monkeypatch.setattr(PackageBucketHook, "put_text", refuse)
    result = run_task(rollback(plan, second, [canary], aws_conn), make_context(run_id=RUN))

    # Restored all the same; XCom says so without a reference to a record never stored.
    # Refused before the action (each time the task resumed) and at the end.
    assert len(refused) >= 2
    assert set(refused) == {f"runs/{STACK_SET}/{run_tag_value(RUN)}/rollback.json"}
    assert result["restored"] == sorted(str(t) for t in CANARY)
    assert result["restored_total"] == len(CANARY)
    assert "stored" not in result
    assert set(versions(aws, CANARY).values()) == {"1.0.0"}


def test_mode_none_changes_nothing(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    canary = deploy(plan, "canary", rel, aws_conn, RUN)
    sim.ledger.clear()

    result = run_task(rollback(plan, rel, [canary], aws_conn, mode="none"))

    assert result["actions"] == []
    assert "stay as is" in result["note"]
    assert operation_calls(sim) == []


def test_a_rolled_back_run_refuses_to_deploy_again(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    deploy(plan, "canary", first, aws_conn, "run-1")
    second = release(aws, "2.0.0", "1.0.0")
    canary = deploy(plan, "canary", second, aws_conn, RUN)
    fast_sim.settle()
    run_task(rollback(plan, second, [canary], aws_conn), make_context("rollback", run_id=RUN))
    fast_sim.ledger.clear()

    # Clearing the run's tasks must not adopt the undone deployment and pass.
    with pytest.raises(ConfigurationError, match="was rolled back"):
        deploy(plan, "canary", second, aws_conn, RUN)
    # Nor may a cleared gate or approval that passes afterwards announce the release.
    finalize = FinalizeRolloutOperator(task_id="finalize", plan_path=plan, aws_conn_id=aws_conn)
    with pytest.raises(AirflowFailException, match="was rolled back"):
        finalize.execute(make_context("finalize", run_id=RUN))
    assert operation_calls(fast_sim) == []
    assert set(versions(aws, CANARY).values()) == {"1.0.0"}


def test_a_wave_whose_deploy_task_failed_is_rolled_back_from_its_operations(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    deploy(plan, "canary", first, aws_conn, "run-1")
    second = release(aws, "2.0.0", "1.0.0")
    deploy(plan, "canary", second, aws_conn, RUN)
    fast_sim.settle()
    assert set(versions(aws, CANARY).values()) == {"2.0.0"}

    # The canary's deploy task failed after starting its update: no record reached XCom.
    result = run_task(
        rollback(plan, second, [None, None], aws_conn), make_context("rollback", run_id=RUN)
    )

    assert result["restored"] == sorted(str(t) for t in CANARY)
    assert set(versions(aws, CANARY).values()) == {"1.0.0"}


@pytest.mark.parametrize("damage", ["altered", "deleted"])
def test_a_stored_change_record_that_cannot_be_trusted_is_rebuilt_from_operations(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, damage: str
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    deploy(plan, "canary", first, aws_conn, "run-1")
    second = release(aws, "2.0.0", "1.0.0")
    canary = deploy(plan, "canary", second, aws_conn, RUN)
    fast_sim.settle()
    # The deploy task kept its record in the artifacts bucket, only a reference in XCom.
    stored = canary["stored_changes"]
    assert "changes" not in canary
    assert (stored["updated"], stored["created"]) == (len(CANARY), 0)
    s3 = aws.client("s3")
    if damage == "altered":  # a record saying the wave changed nothing: not to be trusted
        empty = json.dumps({"wave": "canary", "templates": [], "changes": []})
        s3.put_object(Bucket=stored["bucket"], Key=stored["key"], Body=empty.encode())
    else:
        s3.delete_object(Bucket=stored["bucket"], Key=stored["key"])

    result = run_task(
        rollback(plan, second, [canary, None], aws_conn), make_context("rollback", run_id=RUN)
    )

    assert result["restored"] == sorted(str(t) for t in CANARY)
    assert set(versions(aws, CANARY).values()) == {"1.0.0"}


def test_waves_not_run_are_ignored_and_results_may_be_rendered_text(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    deploy(plan, "canary", first, aws_conn, "run-1")
    deploy(plan, "nonprod", first, aws_conn, "run-1")
    second = release(aws, "2.0.0", "1.0.0")
    only_canary = {"waves": ["canary"]}
    canary = deploy(plan, "canary", second, aws_conn, RUN)
    # The other waves' deploy tasks were skipped: their results are None.
    with pytest.raises(AirflowSkipException):
        run_task(
            DeployWaveOperator(
                task_id="deploy_nonprod",
                plan_path=plan,
                wave="nonprod",
                release=second,
                run_params=only_canary,
                aws_conn_id=aws_conn,
            ),
            make_context(run_id=RUN),
        )
    fast_sim.settle()
    fast_sim.ledger.clear()
    recovered: list[str] = []

    class Spying(RollbackOperator):
        def _recover(self, run_id: str, release: Any, wave: str) -> Any:
            recovered.append(wave)
            return super()._recover(run_id, release, wave)

    task = Spying(
        task_id="rollback",
        plan_path=plan,
        run_params=only_canary,
        release=json.dumps(second),
        wave_results=json.dumps([canary, None, None]),
        aws_conn_id=aws_conn,
        poll_interval=0.1,
        wait_timeout=60,
    )
    result = run_task(task, make_context("rollback", run_id=RUN))

    assert recovered == []
    assert result["restored"] == sorted(str(t) for t in CANARY)
    assert operation_calls(fast_sim) == ["UpdateStackSet"]
    assert set(versions(aws, CANARY | NONPROD_TARGETS).values()) == {"1.0.0"}


def test_a_dry_run_is_skipped_before_any_aws_call(
    sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    canary = deploy(plan, "canary", rel, aws_conn, RUN)
    calls = count_calls(sim, monkeypatch)
    task = rollback(plan, rel, [canary], aws_conn, run_params={"dry_run": True})
    context = make_context("rollback", run_id=RUN)

    with pytest.raises(AirflowSkipException, match="dry run: nothing was deployed to roll back"):
        run_task(task, context)

    assert sum(calls.values()) == 0
    assert ROLLBACK_XCOM_KEY not in context["ti"].xcom


class FakeClock:
    """``time`` for the uninstall wait: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class NeverReported:
    """An association status reader whose targets never answer (every poll unread)."""

    def __init__(self, **_: Any) -> None:
        pass

    def poll(self, targets: list[Target], association_name: str) -> Any:
        return SimpleNamespace(statuses=[], compliances=[], unread=list(targets))


@pytest.mark.parametrize(("scale", "fleet_wave"), [("1", True), ("60", True), ("60", False)])
def test_the_uninstall_wait_runs_on_the_time_scale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scale: str, fleet_wave: bool
) -> None:
    # The example plan's gate: timeout 30m, poll every 30s (fleet time).
    plan = load_plan(Path(write_plan(tmp_path)))
    clock = FakeClock()
    monkeypatch.setattr(uninstall_wait, "time", clock)
    monkeypatch.setattr(rollback_runner, "AssociationStatusHook", NeverReported)
    monkeypatch.setenv("AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE", scale)
    task = rollback(str(tmp_path / "plan.yaml"), {}, [], "aws_default")
    targets = {Target(SANDBOX[0], "us-east-1")}

    check = task.wait_for_uninstall(targets, "canary" if fleet_wave else "gone", plan)

    assert check.unconfirmed == targets
    factor = float(scale)
    timeout = (30 * 60 if fleet_wave else DEFAULT_UNINSTALL_TIMEOUT) / factor
    interval = 30 / factor if fleet_wave else task.poll_interval  # the operator's is real
    assert clock.now == pytest.approx(timeout, abs=interval)
    assert set(clock.sleeps) == {interval}
