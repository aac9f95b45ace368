"""The run report: JSON round trip, validation, summary line and the log table."""

from __future__ import annotations

import hashlib
import json

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.changes import TargetChange, WaveChanges
from distributor_rollout.core.errors import Problem, ValidationError, describe, wrong
from distributor_rollout.core.gate import GateSettings, TargetCompliance, evaluate_gate
from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.report import (
    FAILED_TARGETS_CAP,
    WAVE_TARGETS_SHOWN,
    ComplianceReport,
    FailedTargetEntry,
    OperationReport,
    RollbackReport,
    RunReport,
    StackSetStandingReport,
    ValidationFailure,
    ValidationProblemEntry,
    WaveReport,
    first_few,
    node_breakdown,
    preflight_entries,
    render_table,
    summarize,
    target_shortfall,
)
from distributor_rollout.core.rollback import plan_rollback
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import (
    INSTANCE_STATUSES,
    OPERATION_STATUSES,
    FailedTarget,
    InstanceResult,
    judge_operation,
)

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
            offline=30,
            expected=480,
            decision="FAIL",
            reason="threshold unreachable: 60 of 480 nodes failed, at most 87.5% can comply, "
            "need 95%",
        ),
        decision="failed",
        failed_targets=(
            FailedTargetEntry(target="000000000007/eu-west-1", reason="boom"),
            FailedTargetEntry(
                target="000000000008/eu-west-1", reason="0 of 4 nodes compliant, 4 failed"
            ),
        ),
        failed_targets_total=7,
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
wave          | targets | operation | failed | compliance % | nodes                                          | decision | duration
--------------+---------+-----------+--------+--------------+------------------------------------------------+----------+---------
canary        |       4 | SUCCEEDED |      0 |        100.0 | 12 compliant                                   | passed   |     7m5s
production-eu |     120 | SUCCEEDED |      1 |         81.2 | 390 compliant, 60 failed, 30 offline (counted) | failed   |  1h2m55s
production-us |     300 | -         |      - |            - | -                                              | not_run  |        -
wave production-eu failed: threshold unreachable: 60 of 480 nodes failed, at most 87.5% can comply, need 95%
wave production-eu failed targets: 000000000007/eu-west-1 (boom); 000000000008/eu-west-1 (0 of 4 nodes compliant, 4 failed) and 5 more
rollback (previous_version): succeeded, 3 actions, 124 targets restored, 0 failed"""  # noqa: E501


def test_golden_table() -> None:
    assert render_table(sample_report()) == GOLDEN_TABLE


def test_table_without_waves_or_rollback() -> None:
    report = sample_report().model_copy(update={"waves": (), "rollback": None, "status": "dry_run"})
    assert render_table(report).splitlines()[1:] == [
        "wave | targets | operation | failed | compliance % | nodes | decision | duration",
        "-----+---------+-----------+--------+--------------+-------+----------+---------",
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


def test_rollback_footer_names_offline_nodes_left_alone() -> None:
    rollback = RollbackReport(
        mode="uninstall",
        actions=2,
        restored_targets=3,
        status="succeeded",
        kept_targets=(FailedTargetEntry(target="000000000001/eu-west-1", reason="2 nodes"),),
        kept_targets_total=2,
        untouched_nodes=7,
    )
    report = sample_report().model_copy(update={"rollback": rollback})
    assert render_table(report).splitlines()[-1] == (
        "rollback (uninstall): succeeded, 2 actions, 3 targets restored, 0 failed; "
        "2 targets kept for offline nodes: 000000000001/eu-west-1 (2 nodes) (+1 not listed); "
        "7 nodes offline since before their wave deployed left as they were"
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


def test_operation_report_caps_failed_targets() -> None:
    results = [
        InstanceResult(Target(f"{n:012d}", "eu-west-1"), "FAILED", f"reason {n}")
        for n in range(1, 61)
    ]
    results.append(InstanceResult(Target("000000000099", "eu-west-1"), "SUCCEEDED"))
    verdicts = {"op-1": judge_operation("FAILED", results)}
    operation = OperationReport.from_summary(OperationsSummary.from_verdicts(verdicts))
    assert operation is not None
    assert (operation.succeeded, operation.failed) == (1, 60)
    assert len(operation.failed_targets) == FAILED_TARGETS_CAP
    assert operation.failed_targets_total == 60
    assert operation.failed_targets[0] == FailedTargetEntry(
        target="000000000001/eu-west-1", reason="reason 1"
    )


instance_results = st.lists(
    st.builds(
        InstanceResult,
        st.builds(
            Target,
            st.from_regex(r"[0-9]{12}", fullmatch=True),
            st.sampled_from(["eu-west-1", "us-east-1"]),
        ),
        st.sampled_from(INSTANCE_STATUSES),
        st.text(max_size=10),
    ),
    max_size=70,
)


@given(status=st.sampled_from(OPERATION_STATUSES), results=instance_results)
def test_one_operation_condenses_to_its_own_status_counts_and_failures(
    status: str, results: list[InstanceResult]
) -> None:
    verdict = judge_operation(status, results)
    report = OperationReport.from_summary(OperationsSummary.from_verdicts({"op-1": verdict}))
    assert report is not None
    assert (report.id, report.status) == ("op-1", status)
    assert report.succeeded == sum(counts.succeeded for counts in verdict.regions.values())
    assert report.failed == report.failed_targets_total == len(verdict.failed)
    shown = verdict.failed[:FAILED_TARGETS_CAP]
    assert report.failed_targets == tuple(
        FailedTargetEntry(target=str(item.target), reason=item.reason) for item in shown
    )


def test_a_waves_operations_condense_to_the_last_id_and_the_worst_status() -> None:
    failed = [InstanceResult(Target(f"{n:012d}", "eu-west-1"), "FAILED", "x") for n in range(70)]
    ok = [InstanceResult(Target("000000000099", "us-east-1"), "SUCCEEDED")]
    summary = OperationsSummary.from_verdicts(
        {
            "update": judge_operation("FAILED", failed[:35] + ok),
            "create": judge_operation("SUCCEEDED", failed[35:] + ok),
        }
    )
    report = OperationReport.from_summary(summary)
    assert report is not None
    assert (report.id, report.status, report.succeeded) == ("create", "FAILED", 2)
    assert (report.failed, report.failed_targets_total) == (70, 70)
    assert len(report.failed_targets) == FAILED_TARGETS_CAP
    assert OperationReport.from_summary(OperationsSummary()) is None


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
        # Kinds this gate did not see read as 0 (and as counted, once the gate counts them).
        "skipped": 0,
        "offline": 0,
        "excluded_offline": 0,
        "unreported": 0,
        "decision": "PASS",
        "reason": decision.reason,
    }


def test_summary_names_the_failed_wave_and_the_rollback() -> None:
    assert summarize(sample_report()) == (
        "demo-agent 1.4.0: rolled_back, 1 of 3 waves passed; wave production-eu failed: "
        "threshold unreachable: 60 of 480 nodes failed, at most 87.5% can comply, need 95%; "
        "failed targets: 000000000007/eu-west-1, 000000000008/eu-west-1 and 5 more; "
        "rollback succeeded (124 targets restored)"
    )


def _left_outdated(untouched: int, restored: int = 0) -> RunReport:
    names = [f"{n:012d}/eu-west-1" for n in range(1, untouched + restored + 1)]
    standing = StackSetStandingReport(
        holds="demo-agent 1.3.0 (package document at 1.4.0)",
        before="demo-agent 1.3.0",
        instances=124 + untouched,
        current=124 - restored,
        untouched_outdated=tuple(names[:untouched]),
        untouched_outdated_total=untouched,
        restored_outdated=tuple(names[untouched:]),
        restored_outdated_total=restored,
    )
    report = sample_report()
    assert report.rollback is not None
    rollback = report.rollback.model_copy(update={"stack_set": standing})
    return report.model_copy(update={"rollback": rollback})


def test_the_report_says_which_instances_a_rollback_left_outdated_and_why() -> None:
    report = _left_outdated(untouched=7)
    lines = render_table(report).splitlines()
    assert lines[-3] == GOLDEN_TABLE.splitlines()[-1]
    assert lines[-2] == (
        "stack set after the rollback: holds demo-agent 1.3.0 (package document at 1.4.0); "
        "124 of 131 stack instances CURRENT"
    )
    assert lines[-1] == (
        "left OUTDATED: 7 stack instances this run never changed (000000000001/eu-west-1, "
        "000000000002/eu-west-1, 000000000003/eu-west-1, 000000000004/eu-west-1, "
        "000000000005/eu-west-1 and 2 more), still running what they ran before the run "
        "(demo-agent 1.3.0); the stack set now says demo-agent 1.3.0 (package document at "
        "1.4.0). The run's first UpdateStackSet marked every instance OUTDATED and updated "
        "only its wave's, as StackSets do; the rollback does not deploy to instances the run "
        "never changed, so they turn CURRENT when a rollout next deploys to them"
    )
    assert summarize(report).endswith(
        "rollback succeeded (124 targets restored); 7 stack instances the run never changed "
        "left OUTDATED (still on demo-agent 1.3.0)"
    )
    assert RunReport.from_json(report.to_json()) == report


def test_the_report_names_restored_instances_that_are_not_current() -> None:
    report = _left_outdated(untouched=0, restored=1)
    lines = render_table(report).splitlines()
    assert lines[-2:] == [
        "stack set after the rollback: holds demo-agent 1.3.0 (package document at 1.4.0); "
        "123 of 124 stack instances CURRENT",
        "restored but not CURRENT: 1 stack instance (000000000001/eu-west-1): they run what "
        "the rollback restored them to, while the stack set now holds demo-agent 1.3.0 "
        "(package document at 1.4.0); a rollout that reaches them updates them",
    ]
    assert summarize(report).endswith(
        "rollback succeeded (124 targets restored); 1 stack instance restored, not CURRENT"
    )


def test_a_stack_set_standing_lists_no_more_than_the_cap_and_counts_no_fewer() -> None:
    names = tuple(f"{n:012d}/eu-west-1" for n in range(FAILED_TARGETS_CAP + 1))
    fields = {"holds": "x", "instances": 60, "current": 0}
    with pytest.raises(pydantic.ValidationError, match="at most"):
        StackSetStandingReport(**fields, untouched_outdated=names, untouched_outdated_total=60)
    with pytest.raises(pydantic.ValidationError, match="less than"):
        StackSetStandingReport(**fields, restored_outdated=names[:2], restored_outdated_total=1)
    with pytest.raises(pydantic.ValidationError, match="more than the instances"):
        StackSetStandingReport(holds="x", instances=1, current=2)


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


# --- Naming the first few of many ------------------------------------------------------------

NAME = st.text(alphabet="0123456789/abcdefghij-", min_size=1, max_size=24)


@given(
    names=st.lists(NAME, max_size=WAVE_TARGETS_SHOWN, unique=True),
    hidden=st.integers(min_value=0, max_value=10_000),
    at_least=st.booleans(),
)
def test_first_few_names_what_it_shows_and_counts_the_rest(
    names: list[str], hidden: int, at_least: bool
) -> None:
    text = first_few(names, len(names) + hidden, at_least=at_least)
    assert text.startswith(", ".join(names))
    tail = text.removeprefix(", ".join(names))
    if hidden:
        assert tail == f" and {'at least ' if at_least else ''}{hidden} more"
    elif at_least and names:
        assert tail == " and maybe more"
    else:
        assert tail == ""


@given(
    total=st.integers(min_value=0, max_value=200),
    cap_hit=st.booleans(),
    with_reasons=st.booleans(),
)
def test_a_wave_names_at_most_the_first_few_failed_targets(
    total: int, cap_hit: bool, with_reasons: bool
) -> None:
    entries = tuple(
        FailedTargetEntry(target=f"{n:012d}/eu-west-1", reason=f"reason {n}")
        for n in range(min(total, WAVE_TARGETS_SHOWN))
    )
    wave = WaveReport(
        name="w",
        targets=total,
        decision="failed",
        failed_targets=entries,
        failed_targets_total=total,
        failed_targets_total_is_minimum=cap_hit,
    )
    text = wave.failed_targets_text(reasons=with_reasons)
    for entry in entries:
        assert entry.target in text
        assert (entry.reason in text) == with_reasons
    hidden = total - len(entries)
    assert (f"{hidden} more" in text) == (hidden > 0)


def test_a_wave_lists_no_more_than_it_shows_and_counts_no_fewer() -> None:
    entry = FailedTargetEntry(target="000000000001/eu-west-1", reason="x")
    with pytest.raises(ValueError, match=f"at most {WAVE_TARGETS_SHOWN}"):
        WaveReport(
            name="w",
            targets=9,
            decision="failed",
            failed_targets=(entry,) * (WAVE_TARGETS_SHOWN + 1),
            failed_targets_total=9,
        )
    with pytest.raises(ValueError, match="less than"):
        WaveReport(name="w", targets=9, decision="failed", failed_targets=(entry,))


# --- The gate's breakdown --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "text"),
    [
        ({"success": 12}, "12 compliant"),
        (
            {"success": 36, "failed": 1, "pending": 1, "skipped": 1, "offline": 1},
            "36 compliant, 1 failed, 1 in progress, 1 skipped by MaxErrors, 1 offline",
        ),
        ({"success": 5, "offline": 3, "excluded_offline": 3}, "5 compliant, 3 offline (excluded)"),
        (
            {"success": 5, "offline": 3, "excluded_offline": 1},
            "5 compliant, 3 offline (1 excluded)",
        ),
        ({"success": 0, "unreported": 4}, "0 compliant, 4 never reported"),
    ],
)
def test_the_breakdown_names_each_kind_of_node_apart(counts: dict[str, int], text: str) -> None:
    assert node_breakdown(counts) == text


def test_the_compliance_report_reads_skipped_and_offline_nodes_from_the_gates_record() -> None:
    decision = evaluate_gate(
        [TargetCompliance(Target("000000000001", "eu-west-1"), 9, 4, 0, 0)],
        GateSettings(threshold_percent=40),
        elapsed=0,
    ).to_dict()
    # A gate that counts the new kinds records them in its totals: they are read as written.
    totals = {**decision["totals"], "skipped": 2, "offline": 3, "excluded_offline": 3}
    compliance = ComplianceReport.from_record({**decision, "totals": totals})
    assert (compliance.skipped, compliance.offline, compliance.excluded_offline) == (2, 3, 3)
    assert compliance.breakdown().startswith("4 compliant, 2 skipped by MaxErrors")
    assert compliance.breakdown().endswith("3 offline (excluded)")
    # A record from before the gate counted them reads them as 0.
    before = {key: decision["totals"][key] for key in ("expected", "success", "failed", "pending")}
    old = ComplianceReport.from_record({**decision, "totals": before})
    assert (old.skipped, old.offline, old.excluded_offline, old.unreported) == (0, 0, 0, 0)


def test_a_lagging_target_says_where_its_nodes_stand() -> None:
    item = TargetCompliance(Target("000000000001", "eu-west-1"), 6, 2, 3, 0)
    assert target_shortfall(item) == "2 of 6 nodes compliant, 3 failed, 1 never reported"
    assert target_shortfall(TargetCompliance(Target("000000000001", "eu-west-1"), 2, 2, 0, 0)) == (
        "2 of 2 nodes compliant"
    )


# --- Validation problems ---------------------------------------------------------------------

PART = st.text(min_size=1, max_size=30).filter(lambda t: "(got " not in t and "; expected" not in t)


@given(path=st.text(max_size=20), what=PART, got=st.text(max_size=30), expected=PART)
def test_a_problem_splits_into_field_what_got_and_expected(
    path: str, what: str, got: str, expected: str
) -> None:
    problem = wrong(path, what, got, expected)
    entry = ValidationProblemEntry.from_problem(problem)
    assert (entry.field, entry.what, entry.got, entry.expected) == (
        path,
        what,
        describe(got),
        expected,
    )
    assert str(entry) == str(problem)


@given(path=st.text(max_size=20), message=st.text(max_size=60))
def test_any_problem_reads_back_as_it_was_written(path: str, message: str) -> None:
    problem = Problem(path, message)
    assert str(ValidationProblemEntry.from_problem(problem)) == str(problem)


def test_a_run_that_failed_validation_names_its_problems_in_the_table_and_json() -> None:
    error = ValidationError(
        "run params",
        [
            wrong("source", "not a package folder", "does/not/exist", "a folder under packages/"),
            Problem("waves", "name at least one wave"),
        ],
    )
    validation = ValidationFailure.from_error(error)
    report = sample_report().model_copy(
        update={"waves": (), "rollback": None, "status": "failed", "validation": validation}
    )
    assert render_table(report).splitlines()[-3:] == [
        "validate: run params: 2 problems",
        "  - source: not a package folder (got 'does/not/exist'; expected a folder under "
        "packages/)",
        "  - waves: name at least one wave",
    ]
    data = json.loads(report.to_json())
    assert data["validation"]["problems"][0] == {
        "field": "source",
        "what": "not a package folder",
        "got": "'does/not/exist'",
        "expected": "a folder under packages/",
    }
    assert RunReport.from_json(report.to_json()) == report
    assert ValidationFailure.from_dict(validation.to_dict()) == validation
    with pytest.raises(ValidationError, match=r"problems\[0\]\.field"):
        ValidationFailure.from_dict({"subject": "x", "problems": [{"what": "y"}]})


def test_a_report_without_recorded_reasons_never_gives_an_operation_status_as_one() -> None:
    # A hand-built (or older) report: a failed wave whose gate did not FAIL and whose
    # operation had no failures has no reason to give but that.
    report = sample_report()
    wave = report.waves[0].model_copy(update={"decision": "failed"})
    quiet = report.model_copy(update={"waves": (wave,), "rollback": None})
    assert summarize(quiet).endswith("wave canary failed: no reason recorded")
    said = wave.model_copy(update={"reason": "task failed by Airflow after the gate passed"})
    assert summarize(quiet.model_copy(update={"waves": (said,)})).endswith(
        "wave canary failed: task failed by Airflow after the gate passed"
    )


def test_a_validation_record_counts_the_problems_an_error_did_not_keep() -> None:
    error = ValidationError("plan.yaml", (Problem(f"tags[{i}]", "bad") for i in range(70)))
    failure = ValidationFailure.from_error(error)
    assert (len(failure.problems), failure.count) == (50, 70)
    assert ValidationFailure.from_dict(failure.to_dict()).count == 70
    assert failure.summary().endswith("and 67 more")


PREFLIGHT = {
    "plan": "cloudwatch-agent",
    "caller": "arn:aws:iam::222222222222:role/runner",
    "call_as": "DELEGATED_ADMIN",
    "verdict": "warn",
    "checks": [
        {"name": "caller", "title": "StackSets administrator", "verdict": "pass",
         "found": "222222222222 is a delegated administrator", "todo": "", "problems": []},
        {"name": "regions", "title": "Regions", "verdict": "warn",
         "found": "af-south-1 not opted in", "todo": "opt in", "problems": []},
        {"name": "package", "title": "package", "verdict": "pass",
         "found": "AmazonCloudWatchAgent, default version by Region: us-east-1 1.300032.2",
         "todo": "", "problems": []},
    ],
}  # fmt: skip


def test_the_table_shows_preflight_warnings_and_which_version_an_existing_package_got() -> None:
    """A passed check goes without saying, except the package check of an existing package:
    it says which version each Region's default was, which an unpinned association installs."""
    checks = preflight_entries(PREFLIGHT)
    existing = sample_report().model_copy(
        update={"preflight": checks, "package_existing": "AmazonCloudWatchAgent"}
    )
    lines = render_table(existing).splitlines()
    assert [line for line in lines if line.startswith("preflight")] == [
        "preflight regions: warn: af-south-1 not opted in",
        "preflight package: pass: AmazonCloudWatchAgent, default version by Region: "
        "us-east-1 1.300032.2",
    ]
    built = existing.model_copy(update={"package_existing": None})
    assert [line for line in render_table(built).splitlines() if "preflight" in line] == [
        "preflight regions: warn: af-south-1 not opted in"
    ]
    assert RunReport.from_json(existing.to_json()) == existing


@pytest.mark.parametrize(
    "record",
    [
        None,
        {},
        {"checks": "x"},
        {"checks": [{"name": "a"}]},
        {"checks": [{"name": "a", "verdict": "maybe", "found": ""}]},
    ],
)
def test_an_odd_preflight_record_leaves_the_report_without_one(record: object) -> None:
    assert preflight_entries(record) == ()
