"""The retire report: per wave, the stack set, the buckets, the status and where it goes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from distributor_rollout.core.errors import Problem, ValidationError
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.report import ValidationFailure
from distributor_rollout.core.retire_buckets import BucketOutcome
from distributor_rollout.core.retire_report import (
    SKIP_REASON_XCOM_KEY,
    build_retire_report,
    render_retire_table,
    retire_delivery,
    retire_report_key,
)
from distributor_rollout.core.retire_stack_set import StackSetOutcome
from distributor_rollout.core.retire_steps import REMOVAL_XCOM_KEY, RETIRE_WAVE_STEPS
from distributor_rollout.core.retire_waves import RemovalCheck
from distributor_rollout.core.steps import VALIDATION_XCOM_KEY, wave_task_id
from distributor_rollout.core.targets import Target

RETURN = "return_value"
T1, T2 = Target("300000000001", "us-east-1"), Target("300000000002", "us-east-1")


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


def retired_wave(name: str, *, kept: bool = False) -> dict[tuple[str, str], Any]:
    """The XComs of a wave that ran whole."""
    removal = RemovalCheck(
        name,
        removed=(T1,) if kept else (T1, T2),
        kept={T2: 2} if kept else {},
        untouched={T1: 1},
    )
    return {
        (wave_task_id(name, "uninstall"), RETURN): {
            "wave": name,
            "operations": ["op-u"],
            "targets": [str(T1), str(T2)],
        },
        (wave_task_id(name, "wait_removed"), REMOVAL_XCOM_KEY): removal.to_dict(),
        (wave_task_id(name, "delete_instances"), RETURN): {
            "operations": ["op-d"],
            "deleting": [str(T1)] if kept else [str(T1), str(T2)],
            "held": [],
        },
    }


def report_of(
    plan: Plan,
    states: Mapping[str, str | None],
    xcoms: Mapping[tuple[str, str], Any],
    *,
    dry_run: bool = False,
) -> Any:
    return build_retire_report(
        plan,
        run_id="run-1",
        dag_id="distributor_rollout__examplepackage__retire",
        dry_run=dry_run,
        delete_buckets=True,
        states=states,
        pull=lambda task_id, key: xcoms.get((task_id, key)),
    )


def all_states(plan: Plan, state: str = "success") -> dict[str, str | None]:
    states: dict[str, str | None] = {"validate": "success", "approve": "success"}
    for wave in plan.waves:
        states |= {wave_task_id(wave.name, step): state for step in RETIRE_WAVE_STEPS}
    return states | {"delete_stack_set": "success", "delete_buckets": "success"}


def test_a_whole_retire_reads_retired_wave_by_wave_last_first(plan: Plan) -> None:
    xcoms: dict[tuple[str, str], Any] = {}
    for wave in plan.waves:
        xcoms |= retired_wave(wave.name)
    xcoms[("delete_stack_set", RETURN)] = StackSetOutcome("ss", "deleted", "deleted").to_dict()
    buckets = [BucketOutcome("artifacts", "art", "us-east-1", "deleted", "3 versions", 3)]
    xcoms[("delete_buckets", RETURN)] = {"buckets": [b.to_dict() for b in buckets]}
    report = report_of(plan, all_states(plan), xcoms)
    assert report.status == "retired"
    assert report.succeeded
    assert [wave.name for wave in report.waves] == ["prod", "nonprod", "canary"]
    assert {wave.outcome for wave in report.waves} == {"retired"}
    assert report.waves[0].deleted == 2
    assert report.waves[0].untouched_nodes == 1
    assert report.summary.startswith("ExamplePackage retired: 6 stack instances deleted")
    assert retire_delivery(report, all_states(plan)).upload is False  # the bucket is gone
    table = render_retire_table(report)
    assert "stack set ss: deleted" in table
    assert "artifacts bucket art (us-east-1): deleted" in table
    assert report.to_dict()["kind"] == "retire"


def test_kept_targets_leave_the_retire_incomplete(plan: Plan) -> None:
    xcoms: dict[tuple[str, str], Any] = {}
    for wave in plan.waves:
        xcoms |= retired_wave(wave.name, kept=wave.name == "nonprod")
    left = StackSetOutcome("ss", "kept", "1 instance stays", in_waves=(str(T2),), in_waves_total=1)
    xcoms[("delete_stack_set", RETURN)] = left.to_dict()
    xcoms[("delete_buckets", SKIP_REASON_XCOM_KEY)] = "kept: the stack set still has instances"
    states = all_states(plan) | {"delete_buckets": "skipped"}
    report = report_of(plan, states, xcoms)
    assert report.status == "incomplete"
    assert not report.succeeded
    nonprod = report.waves[1]
    assert (nonprod.outcome, nonprod.kept, nonprod.offline_nodes) == ("kept", (str(T2),), 2)
    assert report.buckets_note.startswith("kept")
    delivery = retire_delivery(report, states)
    assert delivery.upload


def test_a_wave_that_stops_fails_the_retire_with_its_reason(plan: Plan) -> None:
    xcoms = retired_wave("prod")
    stopped = RemovalCheck("nonprod", removed=(T1,), unconfirmed=(T2,))
    xcoms[(wave_task_id("nonprod", "wait_removed"), REMOVAL_XCOM_KEY)] = stopped.to_dict()
    states = all_states(plan, "upstream_failed") | {
        wave_task_id("prod", step): "success" for step in RETIRE_WAVE_STEPS
    }
    states |= {
        wave_task_id("nonprod", "uninstall"): "success",
        wave_task_id("nonprod", "wait_uninstall"): "success",
        wave_task_id("nonprod", "wait_removed"): "failed",
        "delete_stack_set": "upstream_failed",
        "delete_buckets": "upstream_failed",
    }
    report = report_of(plan, states, xcoms)
    assert report.status == "failed"
    assert [wave.outcome for wave in report.waves] == ["retired", "failed", "not_run"]
    assert "stopped at wave nonprod" in report.summary
    assert str(T2) in report.summary


def test_refused_in_validate_names_the_problem_and_is_not_uploaded(plan: Plan) -> None:
    error = ValidationError("concurrent runs", [Problem("", "the rollout is running")])
    xcoms = {("validate", VALIDATION_XCOM_KEY): ValidationFailure.from_error(error).to_dict()}
    states = {"validate": "failed"}
    report = report_of(plan, states, xcoms)
    assert report.status == "failed"
    assert "the rollout is running" in report.summary
    assert not retire_delivery(report, states).upload


def test_a_dry_run_says_what_it_would_remove_and_is_not_uploaded(plan: Plan) -> None:
    would = {"operations": [], "targets": [str(T1), str(T2)], "dry_run": True}
    xcoms = {
        (wave_task_id("nonprod", "uninstall"), RETURN): would,
        (wave_task_id("canary", "uninstall"), RETURN): would,
        (wave_task_id("prod", "uninstall"), SKIP_REASON_XCOM_KEY): "no stack instance",
    }
    states = all_states(plan) | {
        wave_task_id("prod", step): "skipped" for step in RETIRE_WAVE_STEPS
    }
    report = report_of(plan, states, xcoms, dry_run=True)
    assert report.status == "dry_run"
    assert [wave.outcome for wave in report.waves] == ["skipped", "dry_run", "dry_run"]
    assert report.waves[0].reason == "no stack instance"
    assert not retire_delivery(report, states).upload
    assert retire_report_key("P", "run") == "retirements/P/run.json"
