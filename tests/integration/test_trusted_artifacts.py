"""Stored templates are checked against their sha256 before any StackSets call uses them,
and reach StackSets as the checked text (TemplateBody)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow_support import make_context, run_task
from stack_set_support import (
    BUCKET,
    SANDBOX,
    STACK_SET,
    TEMPLATE,
    release,
    versions,
    write_plan,
)

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.artifacts import sha256_hex, template_key
from distributor_rollout.core.targets import Target
from distributor_rollout.hooks.errors import ArtifactDigestMismatch
from distributor_rollout.operators.stack_set_deploy import DeployWaveOperator
from distributor_rollout.operators.stack_set_rollback import RollbackOperator

RUN = "manual__2026-11-27T12:00:00+00:00"
CANARY = {Target(account, "us-east-1") for account in SANDBOX}
TAMPERED = TEMPLATE.replace("/rollout/test/version", "/rollout/test/evil")


def deploy(plan: str, wave: str, rel: dict[str, Any], conn: str, run_id: str) -> dict[str, Any]:
    """Deploy ``wave`` (polling) and return its record."""
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


def stack_set_calls_after(sim: Simulator, position: int) -> list[str]:
    """The StackSets mutations made after ``position`` in the ledger."""
    return [c.operation for c in sim.ledger.calls()[position:] if c.service == "cloudformation"]


def test_waves_pass_the_checked_template_text_not_its_url(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    deploy(plan, "canary", first, aws_conn, "run-1")
    fast_sim.settle()
    fast_sim.ledger.clear()

    deploy(plan, "canary", release(aws, "2.0.0", "1.0.0"), aws_conn, RUN)

    [update] = fast_sim.ledger.calls(operation="UpdateStackSet")
    assert update.params.get("TemplateBodySha256") == sha256_hex(TEMPLATE)
    assert "TemplateURL" not in update.params
    fast_sim.settle()
    assert set(versions(aws, CANARY).values()) == {"2.0.0"}


def test_a_changed_template_stops_the_wave_before_any_stack_set_call(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    rel = release(aws, "1.0.0", None, create=True)
    fast_sim.ledger.clear()
    key = template_key(STACK_SET, TEMPLATE)
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=TAMPERED.encode())
    after_tamper = len(fast_sim.ledger.calls())

    with pytest.raises(ArtifactDigestMismatch) as raised:
        deploy(plan, "canary", rel, aws_conn, RUN)

    message = str(raised.value)
    assert f"s3://{BUCKET}/{key}" in message
    assert sha256_hex(TEMPLATE) in message  # expected
    assert sha256_hex(TAMPERED) in message  # actual
    assert stack_set_calls_after(fast_sim, after_tamper) == []
    assert len(fast_sim.ledger.calls()) == after_tamper


def test_a_changed_previous_template_stops_the_rollback_before_any_stack_set_call(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path)
    first = release(aws, "1.0.0", None, create=True)
    deploy(plan, "canary", first, aws_conn, "run-1")
    second = release(aws, "2.0.0", "1.0.0")
    canary = deploy(plan, "canary", second, aws_conn, RUN)
    fast_sim.settle()
    key = template_key(STACK_SET, TEMPLATE)
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=TAMPERED.encode())
    after_tamper = len(fast_sim.ledger.calls())

    task = RollbackOperator(
        task_id="rollback",
        plan_path=plan,
        release=second,
        wave_results=[canary, None, None],
        aws_conn_id=aws_conn,
        poll_interval=0.1,
        wait_timeout=60,
        retry_pause=0,
    )
    with pytest.raises(ArtifactDigestMismatch, match=f"s3://{BUCKET}/{key}"):
        run_task(task, make_context("rollback", run_id=RUN))

    assert stack_set_calls_after(fast_sim, after_tamper) == []
    assert set(versions(aws, CANARY).values()) == {"2.0.0"}
