"""A compliance gate whose try Airflow failed from outside (the "state mismatch" race)
resumes on its retry from what it recorded in the task's state store: the same start, the
same bake, the same decision. A cleared task judges afresh. Against awssim over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import TaskDeferred
from airflow_support import MemoryStateStore, make_context, run_task
from compliance_support import SANDBOX, count_calls, prepare, targets, write_plan

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.gate_journal import JOURNAL_KEY
from distributor_rollout.core.steps import GATE_XCOM_KEY
from distributor_rollout.sensors.compliance import AssociationComplianceSensor, ComplianceGateFailed

CANARY = targets(SANDBOX, ["us-east-1", "us-west-2"])


def gate(plan: str, conn: str) -> AssociationComplianceSensor:
    """A fresh sensor, as every try of a task gets."""
    return AssociationComplianceSensor(
        task_id="canary.wait_compliance",
        plan_path=plan,
        wave="canary",
        targets=[str(target) for target in CANARY],
        aws_conn_id=conn,
    )


def test_a_passed_gate_retried_keeps_its_decision_without_asking_aws(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(aws, CANARY)
    plan = write_plan(tmp_path, bake="2s")
    store = MemoryStateStore()
    first = make_context("canary.wait_compliance", store=store)
    passed = run_task(gate(plan, aws_conn), first)
    assert passed["state"] == "PASS"
    # Airflow fails that try from outside; its retry starts over: no XCom, a new operator.
    calls = count_calls(fast_sim, monkeypatch)
    retry = make_context("canary.wait_compliance", store=store)

    again = gate(plan, aws_conn).execute(retry)

    assert again == passed
    assert retry["ti"].xcom[GATE_XCOM_KEY] == first["ti"].xcom[GATE_XCOM_KEY]
    assert sum(calls.values()) == 0


def test_a_failed_gate_retried_fails_the_same_way(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast_sim.set_scenario("canary-failure")
    prepare(aws, CANARY)
    plan = write_plan(tmp_path)
    store = MemoryStateStore()
    with pytest.raises(ComplianceGateFailed) as first:
        run_task(gate(plan, aws_conn), make_context("canary.wait_compliance", store=store))
    calls = count_calls(fast_sim, monkeypatch)

    with pytest.raises(ComplianceGateFailed) as again:
        gate(plan, aws_conn).execute(make_context("canary.wait_compliance", store=store))

    assert str(again.value) == str(first.value)
    assert again.value.trigger == first.value.trigger
    assert sum(calls.values()) == 0


def test_a_gate_retried_while_waiting_keeps_its_start_and_its_bake(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY)
    fast_sim.settle(horizon=600)  # passing from the first look on
    plan = write_plan(tmp_path, bake="1h")
    store = MemoryStateStore()
    with pytest.raises(TaskDeferred) as first:
        gate(plan, aws_conn).execute(make_context("canary.wait_compliance", store=store))

    with pytest.raises(TaskDeferred) as again:
        gate(plan, aws_conn).execute(make_context("canary.wait_compliance", store=store))

    assert again.value.trigger.opened_at == first.value.trigger.opened_at
    assert again.value.trigger.passing_since == first.value.trigger.passing_since is not None
    # The bake went on: the retry's look is judged later into the same gate.
    assert store.get(JOURNAL_KEY)["passing_since"] == first.value.trigger.passing_since


def test_a_cleared_gate_judges_afresh(
    fast_sim: Simulator,
    aws: AwsClients,
    aws_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast_sim.set_scenario("canary-failure")
    prepare(aws, CANARY)
    plan = write_plan(tmp_path)
    store = MemoryStateStore()
    with pytest.raises(ComplianceGateFailed):
        run_task(gate(plan, aws_conn), make_context("canary.wait_compliance", store=store))
    calls = count_calls(fast_sim, monkeypatch)

    # A person clears the task: Airflow raises its max_tries, and the gate polls again.
    with pytest.raises(ComplianceGateFailed):
        gate(plan, aws_conn).execute(
            make_context("canary.wait_compliance", store=store, max_tries=4)
        )

    assert calls["ssm.ListAssociations"] >= len(CANARY)
    assert store.get(JOURNAL_KEY)["max_tries"] == 4
