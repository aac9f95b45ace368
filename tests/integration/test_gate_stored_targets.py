"""The compliance gate reads a wave's stored target list (``core.stored_targets``) from the
artifacts bucket, checked against the digest its deploy result carries, and refuses a list
that is missing or altered before any member-account read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow_support import make_context, run_task
from compliance_support import SANDBOX, prepare, tagged_nodes, targets, write_plan

from awssim.pytest_plugin import AwsClients
from awssim.simulator import Simulator
from distributor_rollout.core.changes import WaveChanges
from distributor_rollout.core.stored_targets import stored_targets, targets_key
from distributor_rollout.core.wave_result import WaveResult
from distributor_rollout.hooks.errors import ArtifactDigestMismatch
from distributor_rollout.hooks.stored_targets import StoredTargetsMissing
from distributor_rollout.sensors.compliance import AssociationComplianceSensor

BUCKET = "distributor-rollout-artifacts"
CANARY = targets(SANDBOX, ["us-east-1", "us-west-2"])


def stored_result(aws: AwsClients, *, trimmed: bool = True) -> dict[str, Any]:
    """A deploy result for the canary whose list is in the bucket, one target inline (or,
    not ``trimmed``, all of them: a small wave's)."""
    listed = [str(target) for target in CANARY]
    key = targets_key("agents", "run-1", "canary")
    document, reference = stored_targets(listed, BUCKET, key)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=key, Body=document.encode())
    result = WaveResult("canary", WaveChanges("canary"), ("op-1",), targets=tuple(listed))
    recorded = result.storing_targets(reference).to_dict()
    if not trimmed:
        return recorded
    # Only a sample stays inline for a large wave: keep one, so the list must be read.
    return recorded | {"targets": listed[:1], "targets_total": reference.count}


def gate(plan: str, conn: str, deployed: dict[str, Any]) -> AssociationComplianceSensor:
    """The canary's gate, polling in the worker, fed the deploy result as the DAG does."""
    return AssociationComplianceSensor(
        task_id="canary.wait_compliance",
        plan_path=plan,
        wave="canary",
        deploy_result=deployed,
        aws_conn_id=conn,
        run_params={"gate_threshold_percent": 100},
        deferrable=False,
    )


def test_the_gate_reads_every_target_from_the_stored_list(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    prepare(aws, CANARY)
    deployed = stored_result(aws)
    assert len(deployed["targets"]) < deployed["targets_total"] == len(CANARY)

    decision = run_task(gate(write_plan(tmp_path), aws_conn, deployed), make_context())

    assert decision["state"] == "PASS"
    assert decision["totals"]["success"] == len(tagged_nodes(fast_sim, CANARY))
    assert fast_sim.ledger.counts()["ssm.ListAssociations"] >= len(CANARY)


def test_an_altered_list_fails_the_gate_before_any_member_read(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    # Every target is inline too (a small wave): the stored list is still what is gated.
    deployed = stored_result(aws, trimmed=False)
    reference = deployed["stored_targets"]
    aws.client("s3").put_object(Bucket=BUCKET, Key=reference["key"], Body=b'["a"]')
    fast_sim.ledger.clear()

    with pytest.raises(ArtifactDigestMismatch, match=reference["key"]):
        run_task(gate(write_plan(tmp_path), aws_conn, deployed), make_context())

    assert not [name for name in fast_sim.ledger.counts() if name.startswith("ssm.")]


def test_a_missing_list_fails_the_gate_and_says_which(
    fast_sim: Simulator, aws: AwsClients, aws_conn: str, tmp_path: Path
) -> None:
    deployed = stored_result(aws)
    aws.client("s3").delete_object(Bucket=BUCKET, Key=deployed["stored_targets"]["key"])

    with pytest.raises(StoredTargetsMissing, match="does not exist"):
        run_task(gate(write_plan(tmp_path), aws_conn, deployed), make_context())
