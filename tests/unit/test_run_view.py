"""The Rollout tab's JSON from a run's records: the report's wave rows, the live extras
(phase, gate progress, approval, matrix, rollback) and the records reader shared with the
report task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.errors import Problem, ValidationError
from distributor_rollout.core.gate import ComplianceTotals, GateDecision, GateSettings
from distributor_rollout.core.gate_journal import GateRecord
from distributor_rollout.core.gate_progress import LatestPoll, gate_progress
from distributor_rollout.core.gate_result import GateResult
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.recorded_run import (
    REJECT_OPTION,
    RETURN_VALUE,
    ApprovalRequest,
    RecordedPlan,
    run_facts,
)
from distributor_rollout.core.report import ValidationFailure
from distributor_rollout.core.run_outcome import WaveRecords, build_report
from distributor_rollout.core.run_view import planless_view, run_view
from distributor_rollout.core.wave_matrix import wave_matrix

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
STATES = (None, "success", "failed", "upstream_failed", "skipped", "running", "deferred")
A, B = "111111111111", "222222222222"


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


def decision(
    state: str, worst: list[dict[str, Any]] | None = None, **totals: int
) -> dict[str, Any]:
    counts = {"expected": 4, "success": 4, "failed": 0, "pending": 0, **totals}
    return {
        "state": state,
        "reason": f"gate {state}",
        "compliant_percent": 100.0 * counts["success"] / counts["expected"],
        "totals": counts,
        "passing_since": 0.0 if state == "PASS" else None,
        "worst": worst or [],
    }


def worst(account: str, region: str, success: int, failed: int) -> dict[str, Any]:
    return {
        "target": {"account_id": account, "region": region},
        "expected": 2,
        "success": success,
        "failed": failed,
        "pending": 2 - success - failed,
    }


def records(changes: dict[tuple[str, str], Any] | None = None) -> dict[tuple[str, str], Any]:
    """A canary wave that deployed to A and B in two Regions and passed its gate."""
    base: dict[tuple[str, str], Any] = {
        ("validate", RETURN_VALUE): {"plan_digest": "0" * 64},
        ("canary.deploy", RETURN_VALUE): {
            "wave": "canary",
            "operations": ["op-1"],
            "targets": [f"{a}/{r}" for a in (A, B) for r in ("us-east-1", "eu-west-1")],
        },
        ("canary.deploy", "started_at"): "2026-11-27T09:00:00+00:00",
        ("canary.wait_operation", "verdicts"): {
            "operations": {"op-1": {"status": "SUCCEEDED", "outcome": "succeeded"}}
        },
        ("canary.wait_compliance", "compliance_gate"): {
            "decision": decision("PASS"),
            "decided_at": "2026-11-27T09:10:00+00:00",
        },
    }
    base.update(changes or {})
    return base


CANARY_PASSED = {
    "validate": "success",
    "canary.deploy": "success",
    "canary.wait_operation": "success",
    "canary.wait_compliance": "success",
    "nonprod.deploy": "running",
}


def view(
    plan: Plan, states: dict[str, str | None], stored: dict[tuple[str, str], Any], **kw: Any
) -> dict[str, Any]:
    facts = run_facts(
        plan,
        states,
        lambda task_id, key: stored.get((task_id, key)),
        run_id="r1",
        dag_id="distributor_rollout__examplepackage",
        dry_run=False,
        started_at="2026-11-27T09:00:00+00:00",
        finished_at=None,
    )
    return run_view(facts, now=NOW, operation_url=lambda op: f"https://console/{op}", **kw)


@given(st.lists(st.sampled_from(STATES), min_size=12, max_size=12))
def test_the_wave_rows_are_the_reports_for_any_mix_of_states(states: list[str | None]) -> None:
    plan = load_plan(Path(__file__).resolve().parents[2] / "include/rollouts/examplepackage.yaml")
    task_ids = [
        f"{w.name}.{s}"
        for w in plan.waves
        for s in ("deploy", "wait_operation", "wait_compliance", "approve")
    ]
    by_task = dict(zip(task_ids, states, strict=True))
    stored = records()
    pull = lambda task_id, key: stored.get((task_id, key))  # noqa: E731
    facts = run_facts(
        plan,
        by_task,
        pull,
        run_id="r",
        dag_id="d",
        dry_run=False,
        started_at=None,
        finished_at=None,
    )
    shown = run_view(facts, run_state="failed", now=NOW)
    report = build_report(facts)
    assert [wave["row"] for wave in shown["waves"]] == [
        w.model_dump(mode="json") for w in report.waves
    ]
    assert (shown["status"], shown["summary"]) == (report.status, report.summary)


def test_a_running_run_says_so_and_shows_what_each_wave_is_doing(plan: Plan) -> None:
    shown = view(plan, CANARY_PASSED, records(), run_state="running")
    assert shown["status"] == "running"
    assert shown["summary"].startswith("ExamplePackage 1.0.2: running, 1 of 3 waves passed")
    assert shown["refresh_seconds"] == 5
    phases = [wave["phase"] for wave in shown["waves"]]
    assert phases == ["passed", "deploying", "not_run"]
    canary = shown["waves"][0]
    assert canary["ous"]
    assert canary["regions"]
    assert canary["operations"] == [
        {
            "id": "op-1",
            "status": "SUCCEEDED",
            "outcome": "succeeded",
            "summary": "",
            "succeeded": 0,
            "failed": 0,
            "url": "https://console/op-1",
        }
    ]
    assert canary["gate"]["state"] == "PASS"
    assert canary["matrix"]["cells_total"] == 4
    assert {cell["instance"] for cell in canary["matrix"]["cells"]} == {"SUCCEEDED"}
    assert shown["waves"][2]["approval"] == {
        "required": True,
        "state": "not_started",
        "by": None,
        "at": None,
        "waiting_for": [],
    }


def test_an_approval_shows_who_answered(plan: Plan) -> None:
    states = {
        **CANARY_PASSED,
        "nonprod.deploy": "success",
        "prod.deploy": "success",
        "prod.wait_compliance": "success",
        "prod.approve": "success",
    }
    stored = records(
        {
            ("prod.deploy", RETURN_VALUE): {"wave": "prod", "targets": []},
            ("prod.approve", RETURN_VALUE): {
                "responded_at": "2026-11-27T09:30:00+00:00",
                "responded_by_user": {"id": "7", "name": "Ada"},
            },
        }
    )
    approval = view(plan, states, stored, run_state="running")["waves"][2]["approval"]
    assert approval == {
        "required": True,
        "state": "approved",
        "by": "Ada",
        "at": "2026-11-27T09:30:00+00:00",
        "waiting_for": [],
    }
    waiting = {**states, "prod.approve": "awaiting_input"}
    assert (
        view(plan, waiting, stored, run_state="running")["waves"][2]["phase"] == "awaiting approval"
    )


AT = "2026-11-27T09:30:00+00:00"


def test_the_approval_questions_reach_the_tab(plan: Plan) -> None:
    states = {**CANARY_PASSED, "prod.deploy": "success", "prod.approve": "failed"}
    stored = records({("prod.deploy", RETURN_VALUE): {"wave": "prod", "targets": []}})
    rejected = ApprovalRequest(chosen=(REJECT_OPTION,), responded_by="Grace", responded_at=AT)
    shown = view(plan, states, stored, run_state="failed", approvals={"prod": rejected})
    assert shown["waves"][2]["approval"]["by"] == "Grace"
    assert shown["waves"][2]["row"]["decision"] == "rejected"


def test_the_tab_says_where_its_plan_came_from(plan: Plan) -> None:
    shown = view(plan, CANARY_PASSED, records(), run_state="running")
    assert shown["plan"] == {
        "name": "examplepackage",
        "digest": plan.digest(),
        "changed": False,
        "source": "recorded",
        "problem": None,
    }
    old = view(
        plan,
        CANARY_PASSED,
        records(),
        run_state="running",
        plan_source="plan_file",
        plan_changed=True,
    )
    assert (old["plan"]["source"], old["plan"]["changed"]) == ("plan_file", True)


PROBLEM = "this run recorded no plan and its plan file cannot be read here (gone)"


def test_a_run_without_a_plan_shows_its_state_and_validation_problems(plan: Plan) -> None:
    failure = ValidationFailure.from_error(
        ValidationError("trigger params", [Problem("source", "not a folder")])
    )
    base = {
        "dag_id": "distributor_rollout__examplepackage",
        "run_id": "r1",
        "started_at": "2026-11-27T09:00:00+00:00",
        "finished_at": "2026-11-27T09:01:00+00:00",
        "report": None,
        "problem": PROBLEM,
    }
    shown = planless_view(**base, run_state="failed", validation=failure.to_dict())
    assert (shown["status"], shown["summary"]) == (
        "failed",
        "stopped in validate: source: not a folder",
    )
    assert shown["validation"] == failure.to_dict()
    assert (shown["waves"], shown["rollback"], shown["finished"]) == ([], None, True)
    assert shown["plan"] == {
        "name": None,
        "digest": None,
        "changed": False,
        "source": None,
        "problem": PROBLEM,
    }
    assert shown["package"] == {"name": None, "version": None}
    running = planless_view(**base, run_state="running", validation=None)
    assert (running["status"], running["refresh_seconds"]) == ("running", 5)
    assert running["summary"] == f"running; {PROBLEM}"
    assert running["finished_at"] is None
    assert planless_view(**base, run_state="success", validation={"damaged": 1})["summary"] == (
        "run success"
    )
    # Same keys as a tab with its plan, so the page renders either.
    full = view(plan, CANARY_PASSED, records(), run_state="running")
    assert set(shown) == set(full)
    assert set(shown["plan"]) == set(full["plan"])


def test_a_run_without_a_plan_shows_its_report_once_written(plan: Plan) -> None:
    states = {**CANARY_PASSED, "nonprod.deploy": "success", "prod.deploy": "success"}
    facts = run_facts(
        plan,
        states,
        lambda task_id, key: records().get((task_id, key)),
        run_id="r1",
        dag_id="d",
        dry_run=False,
        started_at="2026-11-27T09:00:00+00:00",
        finished_at="2026-11-27T10:00:00+00:00",
    )
    report = build_report(facts)
    shown = planless_view(
        dag_id="d",
        run_id="r1",
        run_state="failed",
        started_at=None,
        finished_at=None,
        report=report.to_dict(),
        validation=None,
        problem=PROBLEM,
    )
    assert (shown["status"], shown["summary"]) == (report.status, report.summary)
    assert shown["package"] == {"name": "ExamplePackage", "version": "1.0.2"}
    assert (shown["plan"]["name"], shown["plan"]["digest"]) == ("examplepackage", plan.digest())


def test_a_recorded_plan_drives_the_tab_as_the_plan_file_did(plan: Plan) -> None:
    """The plan read back from validate's record builds the same tab."""
    back = RecordedPlan.from_dict(RecordedPlan(plan).to_dict()).plan
    assert view(back, CANARY_PASSED, records(), run_state="running") == view(
        plan, CANARY_PASSED, records(), run_state="running"
    )


def test_failed_cells_come_first_with_the_reports_reasons(plan: Plan) -> None:
    states = {
        **CANARY_PASSED,
        "canary.wait_operation": "failed",
        "nonprod.deploy": "upstream_failed",
    }
    stored = records(
        {
            ("canary.wait_operation", "verdicts"): {
                "operations": {
                    "op-1": {
                        "status": "FAILED",
                        "outcome": "failed",
                        "failed": [{"target": f"{B}/eu-west-1", "reason": "Internal Failure"}],
                    }
                }
            },
            ("canary.wait_compliance", "compliance_gate"): None,
        }
    )
    shown = view(plan, states, stored, run_state="failed")
    matrix = shown["waves"][0]["matrix"]
    first = matrix["cells"][0]
    assert (first["target"], first["instance"], first["reason"]) == (
        f"{B}/eu-west-1",
        "FAILED",
        "Internal Failure",
    )
    assert first["url"] == "https://console/op-1"
    assert matrix["accounts"] == [B, A]
    assert matrix["failed"] == 1
    assert shown["waves"][0]["row"]["failed_targets"][0]["reason"] == "Internal Failure"


def test_a_failed_gate_colours_its_least_compliant_targets() -> None:
    gate = GateDecision.from_dict(
        decision(
            "FAIL", [worst(A, "us-east-1", 0, 2), worst(B, "us-east-1", 2, 0)], success=2, failed=2
        )
    )
    wave = WaveRecords(
        name="canary",
        states={"deploy": "success", "wait_operation": "success", "wait_compliance": "failed"},
        deployed={
            "wave": "canary",
            "operations": ["op-1"],
            "targets": [f"{A}/us-east-1", f"{B}/us-east-1"],
        },
        operation={"operations": {"op-1": {"status": "SUCCEEDED"}}},
        gate={
            "decision": gate.to_dict(),
            "decided_at": NOW.isoformat(),
            "trigger": "compliance_failed",
        },
    )
    cells = {
        cell["target"]: cell
        for cell in wave_matrix(wave, gate, operation_url=lambda _: None)["cells"]
    }
    assert cells[f"{A}/us-east-1"]["compliance"] == "failed"
    assert cells[f"{A}/us-east-1"]["reason"] == "0 of 2 nodes compliant, 2 failed"
    assert cells[f"{B}/us-east-1"]["compliance"] == "compliant"
    assert cells[f"{B}/us-east-1"]["counts"]["compliant"] == 2


def test_a_wave_not_deployed_yet_has_an_empty_matrix() -> None:
    wave = WaveRecords(name="prod", states={})
    assert wave_matrix(wave, None, operation_url=lambda _: None) == {
        "accounts": [],
        "regions": [],
        "cells": [],
        "cells_total": 0,
        "failed": 0,
    }


SETTINGS = GateSettings(threshold_percent=90.0, timeout_seconds=600.0, bake_seconds=120.0)


def test_an_open_gate_counts_down_its_bake_and_its_timeout() -> None:
    journal = GateRecord(
        opened_at=(NOW - timedelta(seconds=100)).timestamp(), max_tries=1, passing_since=40.0
    )
    progress = gate_progress(SETTINGS, result=None, journal=journal, poll=None, now=NOW)
    assert (progress.bake_seconds_left, progress.timeout_seconds_left) == (60.0, 500.0)
    assert progress.passing
    assert progress.source is None
    assert progress.opened_at == (NOW - timedelta(seconds=100)).isoformat()


def test_a_latest_poll_gives_the_counts_and_a_decision_wins_over_it() -> None:
    journal = GateRecord(opened_at=(NOW - timedelta(seconds=700)).timestamp(), max_tries=1)
    poll = LatestPoll(
        GateDecision.from_dict(decision("WAIT", success=3, pending=1)), NOW.isoformat()
    )
    waiting = gate_progress(SETTINGS, result=None, journal=journal, poll=poll, now=NOW)
    assert (waiting.source, waiting.state, waiting.percent) == ("poll", "WAIT", 75.0)
    assert waiting.counts is not None
    assert waiting.counts["in_progress"] == 1
    assert (waiting.bake_seconds_left, waiting.timeout_seconds_left) == (None, 0.0)
    result = GateResult.read({"decision": decision("PASS"), "decided_at": "x"})
    decided = gate_progress(SETTINGS, result=result, journal=journal, poll=poll, now=NOW)
    assert (decided.source, decided.state, decided.timeout_seconds_left) == (
        "decision",
        "PASS",
        None,
    )


_polls = st.builds(
    LatestPoll,
    decision=st.builds(
        GateDecision,
        state=st.sampled_from(["PASS", "WAIT", "FAIL"]),
        reason=st.text(max_size=10),
        compliant_percent=st.floats(0, 100),
        totals=st.builds(ComplianceTotals, st.integers(0, 9), st.integers(0, 9)),
        passing_since=st.none() | st.floats(0, 1e6),
    ),
    polled_at=st.none() | st.just(NOW.isoformat()),
)


@given(_polls)
def test_a_latest_poll_round_trips(poll: LatestPoll) -> None:
    assert LatestPoll.from_dict(poll.to_dict()) == poll
    assert LatestPoll.read({"decision": "damaged"}) is None
