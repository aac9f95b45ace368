"""How a run's task states and records become the rollback decision, status and report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.gate import WORST_LIMIT
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import WAVE_TARGETS_SHOWN
from distributor_rollout.core.run_outcome import (
    RunFacts,
    WaveRecords,
    build_report,
    decide_rollback,
    first_failure,
    run_status,
)

STEPS = ("deploy", "wait_operation", "wait_compliance", "approve")
STATES = (None, "success", "failed", "upstream_failed", "skipped", "running")


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


def wave(name: str, gate: dict[str, Any] | None = None, **states: str | None) -> WaveRecords:
    return WaveRecords(name=name, states=states, gate=gate)


PASSED = {"deploy": "success", "wait_operation": "success", "wait_compliance": "success"}


@pytest.mark.parametrize(
    ("states", "gate", "trigger"),
    [
        ({"deploy": "failed"}, None, "operation_failed"),
        ({"deploy": "success", "wait_operation": "failed"}, None, "operation_failed"),
        (
            {**PASSED, "wait_compliance": "failed"},
            {"trigger": "compliance_timeout"},
            "compliance_timeout",
        ),
        (
            {**PASSED, "wait_compliance": "failed"},
            {"trigger": "compliance_failed"},
            "compliance_failed",
        ),
        # A sensor that failed without deciding (it could not read the fleet): not healthy.
        ({**PASSED, "wait_compliance": "failed"}, None, "compliance_failed"),
        ({**PASSED, "approve": "failed"}, None, "approval_rejected"),
        ({**PASSED, "approve": "success"}, None, None),
        # Only a task's own failure counts: upstream_failed is a consequence elsewhere.
        ({"deploy": "upstream_failed", "wait_operation": "upstream_failed"}, None, None),
    ],
)
def test_a_wave_failure_names_its_rollback_trigger(
    states: dict[str, str], gate: dict[str, Any] | None, trigger: str | None
) -> None:
    assert wave("w", gate, **states).failure() == trigger


@pytest.mark.parametrize(
    ("states", "decision"),
    [
        (PASSED, "passed"),
        ({**PASSED, "approve": "success"}, "approved"),
        ({**PASSED, "approve": "failed"}, "rejected"),
        ({"deploy": "success", "wait_operation": "failed"}, "failed"),
        ({"deploy": "skipped", "wait_operation": "skipped"}, "skipped"),
        (
            {"deploy": "success", "wait_operation": "success", "wait_compliance": "skipped"},
            "skipped",
        ),
        ({"deploy": "upstream_failed"}, "not_run"),
        ({}, "not_run"),
    ],
)
def test_each_wave_gets_a_decision_for_the_report(states: dict[str, str], decision: str) -> None:
    assert wave("w", **states).decision() == decision


def test_the_first_failed_wave_in_plan_order_is_the_one_that_counts() -> None:
    waves = [
        wave("canary", **PASSED),
        wave(
            "nonprod", {"trigger": "compliance_failed"}, **{**PASSED, "wait_compliance": "failed"}
        ),
        wave("prod", deploy="failed"),
    ]
    failure = first_failure(waves)
    assert failure is not None
    assert (failure.wave, failure.trigger) == ("nonprod", "compliance_failed")


def test_rollback_acts_only_on_a_listed_trigger_and_a_mode_that_acts(plan: Plan) -> None:
    failed = [wave("canary", deploy="success", wait_operation="failed")]
    acting = decide_rollback(plan, "previous_version", failed)
    assert acting.act
    assert acting.to_dict() == {
        "act": True,
        "reason": "wave canary failed (operation_failed): rolling back (previous_version)",
        "failure": {"wave": "canary", "trigger": "operation_failed"},
    }

    narrowed = plan.model_copy(
        update={"rollback": plan.rollback.model_copy(update={"triggers": ["compliance_failed"]})}
    )
    decision = decide_rollback(narrowed, "previous_version", failed)
    assert not decision.act
    assert "not a rollback trigger of the plan (compliance_failed)" in decision.reason

    decision = decide_rollback(plan, "none", failed)
    assert not decision.act
    assert "rollback mode is 'none'" in decision.reason

    decision = decide_rollback(plan, "previous_version", [wave("canary", deploy="upstream_failed")])
    assert not decision.act
    assert decision.failure is None


def facts(plan: Plan, **changes: Any) -> RunFacts:
    base: dict[str, Any] = {
        "run_id": "manual__1",
        "dag_id": "distributor_rollout__examplepackage",
        "plan": plan,
        "version": "1.0.2",
        "dry_run": False,
        "started_at": "2026-11-27T09:00:00+00:00",
        "finished_at": "2026-11-27T09:05:00+00:00",
        "waves": (wave("canary", **PASSED),),
    }
    return RunFacts(**{**base, **changes})


def test_run_status_follows_the_rollback_then_the_failures(plan: Plan) -> None:
    failed_wave = (wave("canary", deploy="success", wait_operation="failed"),)
    assert run_status(facts(plan)) == "succeeded"
    assert run_status(facts(plan, dry_run=True)) == "dry_run"
    assert run_status(facts(plan, waves=failed_wave)) == "failed"
    assert run_status(facts(plan, step_states={"publish": "failed"})) == "failed"
    done = {"actions": [{"kind": "restore"}], "restored": ["1/us-east-1"], "failed": []}
    assert run_status(facts(plan, waves=failed_wave, rollback=done, rollback_state="success")) == (
        "rolled_back"
    )
    partial = {**done, "failed": ["2/us-east-1"]}
    assert (
        run_status(facts(plan, waves=failed_wave, rollback=partial, rollback_state="failed"))
        == "rollback_failed"
    )
    assert run_status(facts(plan, waves=failed_wave, rollback_state="failed")) == "rollback_failed"


def counts(*, succeeded: int, failed: int) -> dict[str, int]:
    """One Region's counts as the operation sensor records them (``RegionCounts.to_dict``)."""
    return {
        "succeeded": succeeded,
        "failed": failed,
        "cancelled": 0,
        "total": succeeded + failed,
        "tolerance": 0,
    }


def test_the_report_condenses_operations_and_gates(plan: Plan) -> None:
    operation = {
        "outcome": "succeeded",
        "operations": {
            "op-update": {
                "status": "SUCCEEDED",
                "regions": {"us-east-1": counts(succeeded=2, failed=0)},
                "failed": [],
            },
            "op-create": {
                "status": "FAILED",
                "regions": {"us-east-1": counts(succeeded=1, failed=1)},
                "failed": [
                    {"target": {"account_id": "300000000001", "region": "us-east-1"}, "reason": "x"}
                ],
            },
        },
    }
    gate = {
        "decision": {
            "state": "FAIL",
            "reason": "compliance 50.0% can no longer reach 100%",
            "compliant_percent": 50.0,
            "totals": {"expected": 4, "success": 2, "failed": 2, "pending": 0, "unreported": 0},
            "passing_since": None,
        },
        "trigger": "compliance_failed",
        "decided_at": "2026-11-27T09:03:30+00:00",
    }
    canary = WaveRecords(
        name="canary",
        states={**PASSED, "wait_compliance": "failed"},
        deployed={"targets": ["300000000001/us-east-1", "300111111112/us-east-1"]},
        operation=operation,
        gate=gate,
        started_at="2026-11-27T09:01:00+00:00",
    )
    rollback = {"mode": "previous_version", "actions": [{}], "restored": ["a", "b"], "failed": []}
    report = build_report(facts(plan, waves=(canary,), rollback=rollback, rollback_state="success"))
    line = report.waves[0]
    assert (line.targets, line.decision, line.duration_seconds) == (2, "failed", 150.0)
    assert line.operation is not None
    assert (line.operation.status, line.operation.succeeded, line.operation.failed) == (
        "FAILED",
        3,
        1,
    )
    assert line.operation.failed_targets[0].target == "300000000001/us-east-1"
    assert line.compliance is not None
    assert line.compliance.percent == 50.0
    assert report.status == "rolled_back"
    assert report.rollback is not None
    assert report.rollback.restored_targets == 2
    assert "wave canary failed: compliance 50.0% can no longer reach 100%" in report.summary


def test_a_rollback_that_died_midway_names_every_target_as_unfinished(plan: Plan) -> None:
    failed_wave = (wave("canary", deploy="success", wait_operation="failed"),)
    unfinished = {
        "mode": "uninstall",
        "actions": [{"status": "succeeded"}, {"status": "pending"}],
        "restored": [],
        "failed": ["300000000001/us-east-1", "300111111112/us-east-1"],
        "complete": False,
    }
    report = build_report(
        facts(plan, waves=failed_wave, rollback=unfinished, rollback_state="failed")
    )

    assert report.status == "rollback_failed"
    assert report.rollback is not None
    assert (report.rollback.status, report.rollback.actions) == ("failed", 1)  # 1 ran
    assert report.rollback.restored_targets == 0
    assert [(f.target, f.reason) for f in report.rollback.failed_targets] == [
        ("300000000001/us-east-1", "rollback did not finish"),
        ("300111111112/us-east-1", "rollback did not finish"),
    ]
    finished = {**unfinished, "restored": [], "complete": True}
    report = build_report(
        facts(plan, waves=failed_wave, rollback=finished, rollback_state="failed")
    )
    assert report.rollback is not None
    assert {f.reason for f in report.rollback.failed_targets} == {"not restored"}


def test_nothing_to_do_and_early_failures_say_so(plan: Plan) -> None:
    skipped = (wave("canary", deploy="skipped"),)
    report = build_report(facts(plan, waves=skipped, nothing_to_do=True))
    assert report.status == "succeeded"
    assert "nothing to do" in report.summary

    early = build_report(
        facts(
            plan, waves=(wave("canary", deploy="upstream_failed"),), step_states={"build": "failed"}
        )
    )
    assert early.status == "failed"
    assert "failed before the waves: build" in early.summary


@given(st.lists(st.tuples(*(st.sampled_from(STATES) for _ in range(4))), min_size=1, max_size=4))
def test_any_mix_of_states_gives_a_valid_report(states: list[tuple[str | None, ...]]) -> None:
    plan = load_plan(Path(__file__).resolve().parents[2] / "include/rollouts/examplepackage.yaml")
    waves = tuple(wave(f"w{i}", **dict(zip(STEPS, s, strict=True))) for i, s in enumerate(states))
    report = build_report(facts(plan, waves=waves))
    # Independent of how the module decides: a wave failed iff one of its own tasks did.
    failed = ["failed" in s for s in states]
    assert (report.status == "failed") == any(failed)
    assert [w.decision in ("failed", "rejected") for w in report.waves] == failed
    assert all(
        (w.decision == "rejected") == (s[3] == "failed" and "failed" not in s[:3])
        for w, s in zip(report.waves, states, strict=True)
    )


def test_a_dry_run_and_a_rejection_say_what_happened(plan: Plan) -> None:
    planned = WaveRecords(
        name="canary",
        states={"deploy": "success", "wait_operation": "success", "wait_compliance": "skipped"},
        deployed={"targets": ["300000000001/us-east-1", "300111111112/us-east-1"]},
    )
    dry = build_report(facts(plan, dry_run=True, waves=(planned,)))
    assert dry.status == "dry_run"
    assert "dry run, nothing changed; 1 waves would deploy to 2 account/Region targets" in (
        dry.summary
    )

    rejected = build_report(facts(plan, waves=(wave("prod", **{**PASSED, "approve": "failed"}),)))
    assert "wave prod rejected: its approval was rejected or timed out" in rejected.summary


# --- Reasons come only from recorded decisions -----------------------------------------------


def gate_record(state: str, reason: str = "", trigger: str | None = None) -> dict[str, Any]:
    """A ``compliance_gate`` XCom as the sensor records it."""
    record: dict[str, Any] = {
        "decision": {
            "state": state,
            "reason": reason or f"gate {state}",
            "compliant_percent": 100.0 if state == "PASS" else 40.0,
            "totals": {"expected": 5, "success": 5, "failed": 0, "pending": 0, "unreported": 0},
            "passing_since": 0.0 if state == "PASS" else None,
            "worst": [],
        },
        "decided_at": "2026-11-27T09:03:30+00:00",
    }
    if trigger is not None:
        record["trigger"] = trigger
    return record


def operation_record(outcome: str, failed: int = 0) -> dict[str, Any]:
    """A ``verdicts`` XCom as the operation sensor records it."""
    status = "SUCCEEDED" if outcome == "succeeded" else "FAILED"
    return {
        "outcome": outcome,
        "operations": {
            "op-1": {
                "status": status,
                "outcome": outcome,
                "regions": {"us-east-1": counts(succeeded=2, failed=failed)},
                "failed": [
                    {
                        "target": {"account_id": f"{n:012d}", "region": "us-east-1"},
                        "reason": "ResourceLogicalId:Association, Internal Failure",
                    }
                    for n in range(1, failed + 1)
                ],
                "summary": f"operation {status}",
            }
        },
    }


GATE_RECORDS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "pass": gate_record("PASS"),
    "fail": gate_record("FAIL", "threshold unreachable: 3 of 5 nodes failed", "compliance_failed"),
    "timeout": gate_record("FAIL", "timed out after 6s: 2 nodes offline", "compliance_timeout"),
    "wait": gate_record("WAIT", "waiting"),
}
OPERATION_RECORDS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "succeeded": operation_record("succeeded"),
    "failed": operation_record("failed", failed=2),
}


@pytest.mark.parametrize(
    ("failed_step", "gate", "operation", "cause", "reason"),
    [
        # The issue's case: the gate passed, then Airflow failed the task.
        (
            "wait_compliance",
            "pass",
            "succeeded",
            "task_failed",
            "task failed by Airflow after the gate passed (state mismatch)",
        ),
        (
            "wait_compliance",
            "fail",
            "succeeded",
            "compliance_failed",
            "threshold unreachable: 3 of 5 nodes failed",
        ),
        (
            "wait_compliance",
            "timeout",
            "succeeded",
            "compliance_timeout",
            "timed out after 6s: 2 nodes offline",
        ),
        (
            "wait_compliance",
            "none",
            "succeeded",
            "compliance_failed",
            "task w.wait_compliance failed before it decided (see its log)",
        ),
        (
            "wait_compliance",
            "wait",
            "succeeded",
            "compliance_failed",
            "task w.wait_compliance failed before it decided (see its log)",
        ),
        (
            "wait_operation",
            "none",
            "succeeded",
            "task_failed",
            "task failed by Airflow after the operation succeeded (state mismatch)",
        ),
        (
            "wait_operation",
            "none",
            "failed",
            "operation_failed",
            "operation FAILED, 2 targets failed",
        ),
        (
            "wait_operation",
            "none",
            "none",
            "operation_failed",
            "task w.wait_operation failed before it decided (see its log)",
        ),
        (
            "deploy",
            "none",
            "none",
            "operation_failed",
            "task w.deploy failed before it decided (see its log)",
        ),
    ],
)
def test_a_failed_wave_task_reads_as_what_it_recorded(
    failed_step: str, gate: str, operation: str, cause: str, reason: str
) -> None:
    order = ("deploy", "wait_operation", "wait_compliance")
    states = dict.fromkeys(order[: order.index(failed_step)], "success")
    states[failed_step] = "failed"
    recorded = WaveRecords(
        name="w", states=states, gate=GATE_RECORDS[gate], operation=OPERATION_RECORDS[operation]
    )
    failed = recorded.failed_step()
    assert failed is not None
    assert (failed.step, failed.cause, failed.reason) == (failed_step, cause, reason)
    assert recorded.failure() == cause
    assert recorded.decision() == "failed"


def test_a_failed_operation_wait_is_judged_by_the_outcome_its_record_stored() -> None:
    """Not by ``OperationsSummary``'s recomputed one (see ``WaveRecords._judge``)."""
    states = {"deploy": "success", "wait_operation": "failed"}
    failed_operations = operation_record("failed", failed=2)
    # No stored outcome: the sensor never decided, though the operations read as failed.
    unstored = {"operations": failed_operations["operations"]}
    # An earlier record that stored "succeeded" over a failed operation.
    earlier = {**failed_operations, "outcome": "succeeded"}
    # A stored failure whose operations cannot be read still fails the wave, with no counts.
    unreadable = {"outcome": "failed", "operations": {"op-1": {"failed": [7]}}}
    judged = {
        name: WaveRecords(name="w", states=states, operation=record).failed_step()
        for name, record in (("unstored", unstored), ("earlier", earlier), ("bad", unreadable))
    }
    assert {name: (step.cause, step.reason) for name, step in judged.items() if step} == {
        "unstored": (
            "operation_failed",
            "task w.wait_operation failed before it decided (see its log)",
        ),
        "earlier": (
            "task_failed",
            "task failed by Airflow after the operation succeeded (state mismatch)",
        ),
        "bad": ("operation_failed", "operation failed"),
    }


def test_a_record_naming_failed_targets_as_text_is_reported(plan: Plan) -> None:
    record = operation_record("failed")
    record["operations"]["op-1"]["failed"] = [{"target": "000000000007/us-east-1", "reason": "r"}]
    wave = WaveRecords(
        name="canary", states={"deploy": "success", "wait_operation": "failed"}, operation=record
    )
    line = build_report(facts(plan, waves=(wave,))).waves[0]
    assert line.operation is not None
    assert (line.operation.status, line.operation.failed) == ("FAILED", 1)
    assert [(e.target, e.reason) for e in line.failed_targets] == [("000000000007/us-east-1", "r")]


def test_an_approval_that_was_given_but_failed_is_not_a_rejection() -> None:
    approved = WaveRecords(
        name="prod", states={**PASSED, "approve": "failed"}, approved_at="2026-11-27T09:04:00"
    )
    assert approved.failure() == "task_failed"
    assert approved.decision() == "failed"
    failed = approved.failed_step()
    assert failed is not None
    assert failed.reason == "task failed by Airflow after it was approved (state mismatch)"
    rejected = WaveRecords(name="prod", states={**PASSED, "approve": "failed"})
    assert (rejected.failure(), rejected.decision()) == ("approval_rejected", "rejected")


@given(
    states=st.tuples(*(st.sampled_from(STATES) for _ in range(4))),
    gate=st.sampled_from(sorted(GATE_RECORDS)),
    operation=st.sampled_from(sorted(OPERATION_RECORDS)),
    approved=st.booleans(),
)
def test_every_state_and_record_gives_a_reason_from_its_own_step(
    plan: Plan,
    states: tuple[str | None, ...],
    gate: str,
    operation: str,
    approved: bool,
) -> None:
    recorded = WaveRecords(
        name="w",
        states=dict(zip(STEPS, states, strict=True)),
        gate=GATE_RECORDS[gate],
        operation=OPERATION_RECORDS[operation],
        approved_at="2026-11-27T09:04:00+00:00" if approved else None,
    )
    failed = recorded.failed_step()
    own = [step for step, state in zip(STEPS, states, strict=True) if state == "failed"]
    # A reason iff one of the wave's own tasks failed, and it is the first one's.
    assert (failed is None) == (not own)
    if failed is None:
        return
    assert failed.step == own[0]
    recorded_pass = {
        "wait_compliance": gate == "pass",
        "wait_operation": operation == "succeeded",
        "approve": approved,
        "deploy": False,
    }[failed.step]
    # A recorded success that Airflow failed anyway is never a gate or operation failure.
    assert (failed.cause == "task_failed") == recorded_pass
    if failed.step == "wait_compliance":
        # Never an operation status as the reason of a compliance failure.
        assert "operation" not in failed.reason
        if gate in ("fail", "timeout"):
            assert failed.reason == GATE_RECORDS[gate]["decision"]["reason"]  # type: ignore[index]
            assert failed.cause == (
                "compliance_timeout" if gate == "timeout" else "compliance_failed"
            )
        elif gate in ("none", "wait"):
            assert failed.reason == "task w.wait_compliance failed before it decided (see its log)"
    if failed.cause == "task_failed":
        assert "failed by Airflow after" in failed.reason
        decision = decide_rollback(plan, "previous_version", [recorded])
        assert not decision.act
        assert decision.failure is not None
        assert decision.failure.trigger == "task_failed"


def test_the_issues_report_a_passed_gate_failed_by_airflow_reads_as_such(plan: Plan) -> None:
    # nonprod.wait_compliance logged "Gate PASS 100%", then Airflow's scheduler failed it.
    canary = WaveRecords(
        name="canary",
        states=PASSED,
        operation=operation_record("succeeded"),
        gate=gate_record("PASS"),
    )
    nonprod = WaveRecords(
        name="nonprod",
        states={**PASSED, "wait_compliance": "failed"},
        operation=operation_record("succeeded"),
        gate=gate_record("PASS", "100.0% compliant (need 100%), 5 nodes reported"),
    )
    prod = WaveRecords(name="prod", states={"deploy": "upstream_failed"})
    waves = (canary, nonprod, prod)

    decision = decide_rollback(plan, "previous_version", waves)
    assert not decision.act
    assert decision.to_dict()["failure"] == {"wave": "nonprod", "trigger": "task_failed"}
    assert "clear the failed task to resume the run" in decision.reason

    report = build_report(facts(plan, waves=waves, rollback_reason=decision.reason))
    assert report.status == "failed"
    line = report.waves[1]
    assert line.decision == "failed"
    assert line.reason == "task failed by Airflow after the gate passed (state mismatch)"
    assert line.compliance is not None
    assert (line.compliance.decision, line.compliance.percent) == ("PASS", 100.0)
    assert "wave nonprod failed: task failed by Airflow after the gate passed (state mismatch)" in (
        report.summary
    )
    assert "operation SUCCEEDED" not in report.summary


def test_a_plan_that_lists_task_failed_would_roll_back_for_it(plan: Plan) -> None:
    # The plan model does not accept the trigger today; if it ever does, it is honoured.
    waves = [
        WaveRecords(
            name="canary", states={**PASSED, "wait_compliance": "failed"}, gate=gate_record("PASS")
        )
    ]
    listing = plan.rollback.model_copy(update={"triggers": ["task_failed"]})
    decision = decide_rollback(plan.model_copy(update={"rollback": listing}), "uninstall", waves)
    assert decision.act


# --- Failed accounts and Regions per wave -----------------------------------------------------


def worst_item(
    account: str, expected: int, success: int, failed: int, pending: int = 0
) -> dict[str, Any]:
    return {
        "target": {"account_id": account, "region": "eu-west-1"},
        "expected": expected,
        "success": success,
        "failed": failed,
        "pending": pending,
    }


def test_a_failed_gate_names_its_least_compliant_targets_after_the_failed_instances(
    plan: Plan,
) -> None:
    gate = gate_record("FAIL", "timed out after 6s", "compliance_timeout")
    gate["decision"]["worst"] = [
        worst_item("000000000011", 5, 0, 5),
        worst_item("000000000012", 4, 1, 0, pending=3),
        worst_item("000000000001", 1, 0, 0),  # also a failed instance: named once
    ]
    wave = WaveRecords(
        name="canary",
        states={**PASSED, "wait_compliance": "failed"},
        operation=operation_record("succeeded", failed=1),
        gate=gate,
    )
    found = wave.failed_targets()
    assert [(e.target, e.reason) for e in found.entries] == [
        ("000000000001/us-east-1", "ResourceLogicalId:Association, Internal Failure"),
        ("000000000011/eu-west-1", "0 of 5 nodes compliant, 5 failed"),
        ("000000000012/eu-west-1", "1 of 4 nodes compliant, 3 in progress"),
        ("000000000001/eu-west-1", "0 of 1 nodes compliant, 1 never reported"),
    ]
    assert not found.more_unlisted
    line = build_report(facts(plan, waves=(wave,))).waves[0]
    assert line.failed_targets_total == 4
    assert [e.target for e in line.failed_targets][:2] == [
        "000000000001/us-east-1",
        "000000000011/eu-west-1",
    ]


def test_a_passed_gate_names_only_targets_with_failed_nodes() -> None:
    gate = gate_record("PASS")
    gate["decision"]["worst"] = [
        worst_item("000000000011", 5, 4, 1),
        worst_item("000000000012", 5, 4, 0, pending=1),  # still installing: not a failure
    ]
    wave = WaveRecords(name="canary", states=PASSED, gate=gate)
    assert [e.target for e in wave.failed_targets().entries] == ["000000000011/eu-west-1"]


@given(
    instances=st.integers(min_value=0, max_value=80),
    worst=st.integers(min_value=0, max_value=WORST_LIMIT),
)
def test_a_wave_shows_the_first_few_failed_targets_and_counts_them_all(
    plan: Plan, instances: int, worst: int
) -> None:
    gate = gate_record("FAIL", "threshold unreachable", "compliance_failed")
    gate["decision"]["worst"] = [worst_item(f"{900 + n:012d}", 4, 0, 4) for n in range(worst)]
    wave = WaveRecords(
        name="canary",
        states={**PASSED, "wait_compliance": "failed"},
        operation=operation_record("succeeded", failed=instances),
        gate=gate,
    )
    line = build_report(facts(plan, waves=(wave,))).waves[0]
    assert line.failed_targets_total == instances + worst
    assert len(line.failed_targets) == min(instances + worst, WAVE_TARGETS_SHOWN)
    # The gate records only its least compliant few: a full list may hide more.
    assert line.failed_targets_total_is_minimum == (worst == WORST_LIMIT)
    hidden = instances + worst - len(line.failed_targets)
    assert (f"{hidden} more" in line.failed_targets_text()) == (hidden > 0)


# --- A run that failed in validate -------------------------------------------------------------


def test_a_run_that_failed_in_validate_names_its_problems(plan: Plan) -> None:
    record = {
        "subject": "run params",
        "problems": [
            {
                "field": "source",
                "what": "not a package folder",
                "got": "'does/not/exist'",
                "expected": "a folder with package.yaml",
            }
        ],
    }
    not_run = (wave("canary", deploy="upstream_failed"),)
    report = build_report(
        facts(plan, waves=not_run, step_states={"validate": "failed"}, validation=record)
    )
    assert report.status == "failed"
    assert report.validation is not None
    assert str(report.validation.problems[0]) == (
        "source: not a package folder (got 'does/not/exist'; expected a folder with package.yaml)"
    )
    assert report.summary.endswith(
        "failed before the waves: validate (run params: source: not a package folder "
        "(got 'does/not/exist'; expected a folder with package.yaml))"
    )
    # A record from an earlier try of a run that has validated since is not news; an
    # unreadable one leaves the summary as it was.
    passed = build_report(facts(plan, step_states={"validate": "success"}, validation=record))
    assert passed.validation is None
    broken = build_report(
        facts(plan, waves=not_run, step_states={"validate": "failed"}, validation={"x": 1})
    )
    assert broken.validation is None
    assert broken.summary.endswith("failed before the waves: validate")


def test_offline_nodes_a_rollback_left_alone_are_named_but_not_failures(plan: Plan) -> None:
    failed_wave = (wave("canary", deploy="success", wait_operation="failed"),)
    record = {
        "mode": "uninstall",
        "actions": [{"status": "succeeded"}, {"status": "succeeded"}],
        "restored": ["300000000001/us-east-1"],
        "failed": [],
        "kept": [{"target": "300111111112/us-east-1", "offline_nodes": 1}],
        "untouched": [
            {"target": "300000000001/us-east-1", "nodes": 3},
            {"target": "300111111112/us-east-1", "nodes": 2},
        ],
        "complete": True,
    }
    report = build_report(facts(plan, waves=failed_wave, rollback=record, rollback_state="success"))

    assert report.status == "rolled_back"
    assert report.rollback is not None
    assert report.rollback.status == "succeeded"
    assert report.rollback.untouched_nodes == 5
    assert report.rollback.kept_targets_total == 1
    assert [(k.target, k.reason) for k in report.rollback.kept_targets] == [
        (
            "300111111112/us-east-1",
            "1 node went offline after the deploy: instance kept with the uninstall for "
            "when they return",
        )
    ]
