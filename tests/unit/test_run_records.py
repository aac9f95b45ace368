"""The gate's and the deploy task's records as they cross XCom, and the rollback decision."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.changes import TargetChange, TemplateRef, WaveChanges
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate import ComplianceTotals, GateDecision, TargetCompliance
from distributor_rollout.core.gate_result import GateResult
from distributor_rollout.core.run_outcome import Failure, RollbackDecision
from distributor_rollout.core.targets import Target
from distributor_rollout.core.uninstall import deployed_at_seconds
from distributor_rollout.core.wave_result import WaveResult

pytestmark = pytest.mark.unit

_totals = st.builds(ComplianceTotals, st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
_decisions = st.builds(
    GateDecision,
    state=st.sampled_from(["PASS", "WAIT", "FAIL"]),
    reason=st.text(max_size=20),
    compliant_percent=st.floats(0, 100),
    totals=_totals,
    passing_since=st.none() | st.floats(0, 1e6),
    worst=st.lists(
        st.builds(
            TargetCompliance,
            target=st.just(Target("000000000001", "us-east-1")),
            expected=st.just(4),
            success=st.integers(0, 2),
            failed=st.integers(0, 2),
            pending=st.integers(0, 2),
        ),
        max_size=2,
    ).map(tuple),
)
_gate_results = st.builds(
    GateResult,
    decision=st.none() | _decisions,
    decided_at=st.none() | st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    trigger=st.none() | st.sampled_from(["compliance_failed", "compliance_timeout"]),
)


@given(_gate_results)
def test_a_gate_result_round_trips_through_json(result: GateResult) -> None:
    assert GateResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_a_gate_result_keeps_the_sensor_shape_and_reads_damage_as_no_record() -> None:
    decision = GateDecision("PASS", "ok", 100.0, ComplianceTotals(4, 4), 3.0)
    passed = GateResult(decision, "2026-12-01T09:00:00+00:00")
    assert passed.to_dict() == {"decision": decision.to_dict(), "decided_at": passed.decided_at}
    assert passed.passed
    assert not passed.failed
    assert GateResult(None, trigger="compliance_timeout").failed

    assert GateResult.read(None) is None
    assert GateResult.read({}) is None
    assert GateResult.read({"decision": {"state": "MAYBE"}}) is None
    assert GateResult.read({"trigger": "compliance_failed"}) == GateResult(
        None, None, "compliance_failed"
    )
    with pytest.raises(ValidationError, match="unknown trigger"):
        GateResult.from_dict({"trigger": "operation_failed"})


_changes = st.builds(
    TargetChange,
    target=st.builds(Target, st.just("000000000001"), st.sampled_from(["us-east-1", "eu-west-1"])),
    ou_id=st.just("ou-ab12-cdef3456"),
    kind=st.just("updated"),
    previous=st.just(TemplateRef("s3://b/0.yaml", {"Version": "0"})),
)
_wave_results = st.builds(
    WaveResult,
    wave=st.sampled_from(["canary", "prod"]),
    changes=st.builds(
        WaveChanges,
        st.just("canary"),
        st.lists(_changes, max_size=2, unique_by=lambda c: c.target).map(tuple),
    ),
    operations=st.lists(st.text(max_size=8), max_size=2).map(tuple),
    nothing_to_do=st.booleans(),
    targets=st.lists(st.sampled_from(["000000000001/us-east-1", "000000000002/eu-west-1"])).map(
        tuple
    ),
    dry_run=st.booleans(),
    planned=st.lists(
        st.fixed_dictionaries({"api_call": st.text(max_size=5), "targets": st.integers(0, 9)}),
        max_size=2,
    ).map(tuple),
).filter(lambda result: result.dry_run or not result.planned)


@given(_wave_results)
def test_a_wave_result_round_trips_through_json(result: WaveResult) -> None:
    assert WaveResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_a_wave_result_reads_partial_records() -> None:
    only_targets = WaveResult.from_dict({"targets": ["000000000001/us-east-1"]})
    assert (only_targets.wave, only_targets.changes, only_targets.targets) == (
        "",
        WaveChanges(""),
        ("000000000001/us-east-1",),
    )
    with pytest.raises(ValidationError, match="not a list"):
        WaveResult.from_dict({"targets": "000000000001/us-east-1"})


@given(
    st.booleans(),
    st.text(max_size=20),
    st.none()
    | st.builds(
        Failure,
        st.sampled_from(["canary", "prod"]),
        st.sampled_from(
            [
                "operation_failed",
                "compliance_failed",
                "compliance_timeout",
                "approval_rejected",
                "task_failed",
            ]
        ),
    ),
)
def test_a_rollback_decision_round_trips_through_json(
    act: bool, reason: str, failure: Failure | None
) -> None:
    decision = RollbackDecision(act, reason, failure)
    data = json.loads(json.dumps(decision.to_dict()))
    assert RollbackDecision.from_dict(data) == decision
    assert RollbackDecision.read(data) == decision


def test_an_unreadable_rollback_decision_gives_no_reason() -> None:
    assert RollbackDecision.read(None) is None
    assert RollbackDecision.read({"reason": "no act"}) is None
    assert (
        RollbackDecision.read(
            {"act": True, "reason": "x", "failure": {"wave": "w", "trigger": "?"}}
        )
        is None
    )


def test_a_wave_start_reads_as_epoch_seconds() -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert deployed_at_seconds(start) == start.timestamp()
    assert deployed_at_seconds(start.isoformat()) == start.timestamp()
    assert deployed_at_seconds("yesterday") is None
    assert deployed_at_seconds(None) is None
