"""The run report: JSON round trip, validation, summary line and the log table."""

from __future__ import annotations

import hashlib
import json

import pytest

from distributor_rollout.core.changes import TargetChange, WaveChanges
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.gate import GateSettings, TargetCompliance, evaluate_gate
from distributor_rollout.core.report import (
    FAILED_TARGETS_CAP,
    ComplianceReport,
    FailedTargetEntry,
    OperationReport,
    RollbackReport,
    RunReport,
    WaveReport,
    render_table,
    summarize,
)
from distributor_rollout.core.rollback import plan_rollback
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import FailedTarget, InstanceResult, judge_operation

pytestmark = pytest.mark.unit

DIGEST = hashlib.sha256(b"plan").hexdigest()


def sample_report() -> RunReport:
    canary = WaveReport(
        name="canary",
        targets=4,
        operation=OperationReport(
            id="run1-canary-deploy", status="SUCCEEDED", succeeded=4, failed=0
        ),
        compliance=ComplianceReport(
            percent=100.0,
            success=12,
            failed=0,
            pending=0,
            expected=12,
            decision="PASS",
            reason="100.0% compliant (need 95%), 12 nodes reported, passing for 300s",
        ),
        decision="passed",
        started_at="2025-03-01T10:00:00+00:00",
        finished_at="2025-03-01T10:07:05+00:00",
        duration_seconds=425,
    )
    prod = WaveReport(
        name="production-eu",
        targets=120,
        skipped=2,
        operation=OperationReport(
            id="run1-production-eu-deploy",
            status="SUCCEEDED",
            succeeded=117,
            failed=1,
            failed_targets=(FailedTargetEntry(target="000000000007/eu-west-1", reason="boom"),),
            failed_targets_total=1,
        ),
        compliance=ComplianceReport(
            percent=81.25,
            success=390,
            failed=60,
            pending=0,
            expected=480,
            decision="FAIL",
            reason="threshold unreachable: 60 of 480 nodes failed, at most 87.5% can comply, "
            "need 95%",
        ),
        decision="failed",
        started_at="2025-03-01T10:07:05+00:00",
        finished_at="2025-03-01T11:10:00+00:00",
        duration_seconds=3775,
    )
    last = WaveReport(name="production-us", targets=300, decision="not_run")
    return RunReport(
        run_id="manual__2025-03-01T10:00:00+00:00",
        dag_id="rollout_demo_agent",
        plan_name="demo-agent",
        plan_digest=DIGEST,
        package_name="demo-agent",
        package_version="1.4.0",
        started_at="2025-03-01T10:00:00+00:00",
        finished_at="2025-03-01T11:20:00Z",
        status="rolled_back",
        waves=(canary, prod, last),
        rollback=RollbackReport(
            mode="previous_version", actions=3, restored_targets=124, status="succeeded"
        ),
        summary="demo-agent 1.4.0 rolled back",
    )


GOLDEN_TABLE = """\
package demo-agent 1.4.0 | run manual__2025-03-01T10:00:00+00:00 | status rolled_back
wave          | targets | operation | failed | compliance % | decision | duration
--------------+---------+-----------+--------+--------------+----------+---------
canary        |       4 | SUCCEEDED |      0 |        100.0 | passed   |     7m5s
production-eu |     120 | SUCCEEDED |      1 |         81.2 | failed   |  1h2m55s
production-us |     300 | -         |      - |            - | not_run  |        -
rollback (previous_version): succeeded, 3 actions, 124 targets restored, 0 failed"""


def test_golden_table() -> None:
    assert render_table(sample_report()) == GOLDEN_TABLE


def test_table_without_waves_or_rollback() -> None:
    report = sample_report().model_copy(update={"waves": (), "rollback": None, "status": "dry_run"})
    assert render_table(report).splitlines()[1:] == [
        "wave | targets | operation | failed | compliance % | decision | duration",
        "-----+---------+-----------+--------+--------------+----------+---------",
    ]


def test_rollback_footer_names_failed_targets() -> None:
    rollback = RollbackReport(
        mode="uninstall",
        actions=2,
        restored_targets=3,
        status="failed",
        failed_targets=(FailedTargetEntry(target="000000000001/eu-west-1", reason="denied"),),
        failed_targets_total=4,
    )
    report = sample_report().model_copy(update={"rollback": rollback})
    assert render_table(report).splitlines()[-1] == (
        "rollback (uninstall): failed, 2 actions, 3 targets restored, 4 failed: "
        "000000000001/eu-west-1 (denied) (+3 not listed)"
    )


def test_json_round_trip_is_exact_and_deterministic() -> None:
    report = sample_report()
    text = report.to_json()
    assert RunReport.from_json(text) == report
    assert RunReport.from_json(text).to_json() == text
    assert RunReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    data = json.loads(text)
    assert data["schema_version"] == 1
    assert list(data) == sorted(data)


def test_unknown_fields_and_versions_are_refused_with_their_path() -> None:
    data = sample_report().to_dict()
    data["waves"][1]["operation"]["raw_response"] = {}
    data["schema_version"] = 2
    with pytest.raises(ValidationError) as caught:
        RunReport.from_dict(data)
    paths = {problem.path for problem in caught.value.problems}
    assert paths == {"schema_version", "waves[1].operation.raw_response"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plan_digest", "abc"),
        ("started_at", "yesterday"),
        ("status", "exploded"),
    ],
)
def test_fields_are_validated(field: str, value: str) -> None:
    data = sample_report().to_dict()
    data[field] = value
    with pytest.raises(ValidationError, match=field):
        RunReport.from_json(json.dumps(data))


def test_operation_report_from_verdict_caps_failed_targets() -> None:
    results = [
        InstanceResult(Target(f"{n:012d}", "eu-west-1"), "FAILED", f"reason {n}")
        for n in range(1, 61)
    ]
    results.append(InstanceResult(Target("000000000099", "eu-west-1"), "SUCCEEDED"))
    operation = OperationReport.from_verdict("op-1", judge_operation("FAILED", results))
    assert (operation.succeeded, operation.failed) == (1, 60)
    assert len(operation.failed_targets) == FAILED_TARGETS_CAP
    assert operation.failed_targets_total == 60
    assert operation.failed_targets[0] == FailedTargetEntry(
        target="000000000001/eu-west-1", reason="reason 1"
    )


def test_failure_lists_must_respect_the_cap() -> None:
    entry = FailedTargetEntry(target="000000000001/eu-west-1", reason="x")
    with pytest.raises(ValueError, match="at most 50"):
        OperationReport(
            id="op",
            status="FAILED",
            succeeded=0,
            failed=51,
            failed_targets=(entry,) * 51,
            failed_targets_total=51,
        )
    with pytest.raises(ValueError, match="less than"):
        OperationReport(
            id="op", status="FAILED", succeeded=0, failed=2, failed_targets=(entry, entry)
        )


def test_compliance_report_from_decision() -> None:
    counts = TargetCompliance(Target("000000000001", "eu-west-1"), 3, 2, 0, 1)
    decision = evaluate_gate([counts], GateSettings(threshold_percent=50, min_nodes=1), elapsed=0)
    compliance = ComplianceReport.from_decision(decision)
    assert compliance.model_dump() == {
        "percent": 66.67,
        "success": 2,
        "failed": 0,
        "pending": 1,
        "expected": 3,
        "decision": "PASS",
        "reason": decision.reason,
    }


def test_summary_names_the_failed_wave_and_the_rollback() -> None:
    assert summarize(sample_report()) == (
        "demo-agent 1.4.0: rolled_back, 1 of 3 waves passed; wave production-eu failed: "
        "threshold unreachable: 60 of 480 nodes failed, at most 87.5% can comply, need 95%; "
        "rollback succeeded (124 targets restored)"
    )


def test_summary_of_a_clean_run() -> None:
    report = sample_report()
    waves = tuple(w.model_copy(update={"decision": "passed"}) for w in report.waves)
    clean = report.model_copy(update={"waves": waves, "rollback": None, "status": "succeeded"})
    assert summarize(clean) == "demo-agent 1.4.0: succeeded, 3 of 3 waves passed"


def test_rollback_report_from_plan() -> None:
    changes = tuple(
        TargetChange(Target(f"{n:012d}", "eu-west-1"), "ou-ab12-cdef3456", "created")
        for n in (1, 2, 3)
    )
    plan = plan_rollback([WaveChanges("canary", changes)], "uninstall")
    failed = [FailedTarget(Target("000000000002", "eu-west-1"), "uninstall failed")]
    rollback = RollbackReport.from_plan(plan, "failed", failed)
    assert (rollback.mode, rollback.actions, rollback.restored_targets) == ("uninstall", 2, 2)
    assert rollback.failed_targets == (
        FailedTargetEntry(target="000000000002/eu-west-1", reason="uninstall failed"),
    )
