"""How a run's task states and records become the rollback decision, status and report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.run_outcome import (
    RunFacts,
    WaveFacts,
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


def wave(name: str, gate: dict[str, Any] | None = None, **states: str | None) -> WaveFacts:
    return WaveFacts(name=name, states=states, gate=gate)


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


def test_the_report_condenses_operations_and_gates(plan: Plan) -> None:
    operation = {
        "outcome": "succeeded",
        "operations": {
            "op-update": {
                "status": "SUCCEEDED",
                "regions": {"us-east-1": {"succeeded": 2, "failed": 0}},
                "failed": [],
            },
            "op-create": {
                "status": "FAILED",
                "regions": {"us-east-1": {"succeeded": 1, "failed": 1}},
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
    canary = WaveFacts(
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
    planned = WaveFacts(
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
