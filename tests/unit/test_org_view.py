"""The organization view: which version each wave runs, from the runs' reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.org_view import (
    RUNS_SHOWN,
    RunRow,
    dag_view,
    read_report,
    wave_versions,
)
from distributor_rollout.core.report import RunReport

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
WAVES = ("canary", "nonprod", "prod")
DECISIONS = ("passed", "approved", "failed", "rejected", "skipped", "not_run")
STATUSES = ("succeeded", "failed", "rolled_back", "rollback_failed", "dry_run")


def run(run_id: str, version: str, status: str, *decisions: str) -> RunRow:
    report = RunReport(
        run_id=run_id,
        dag_id="distributor_rollout__examplepackage",
        plan_name="examplepackage",
        plan_digest="0" * 64,
        package_name="ExamplePackage",
        package_version=version,
        started_at=None,
        status=status,  # type: ignore[arg-type]
        waves=tuple(
            {"name": name, "targets": 1, "decision": decision}  # type: ignore[misc]
            for name, decision in zip(WAVES, decisions, strict=True)
        ),
    )
    return RunRow(run_id, "success", NOW - timedelta(minutes=5), NOW, report)


def held(runs: list[RunRow]) -> list[tuple[str, str | None, str]]:
    return [(w["name"], w["version"], w["held"]) for w in wave_versions(runs)]


def test_a_rolled_back_run_leaves_each_wave_at_the_version_before() -> None:
    runs = [
        run("r3", "1.1.0", "rolled_back", "failed", "not_run", "not_run"),
        run("r2", "1.0.2", "succeeded", "passed", "passed", "approved"),
    ]
    assert held(runs) == [(name, "1.0.2", "current") for name in WAVES]


def test_a_failed_wave_without_rollback_is_partial_and_later_waves_keep_theirs() -> None:
    runs = [
        run("r3", "1.1.0", "failed", "passed", "failed", "not_run"),
        run("r2", "1.0.2", "succeeded", "passed", "passed", "approved"),
    ]
    assert held(runs) == [
        ("canary", "1.1.0", "current"),
        ("nonprod", "1.1.0", "partial"),
        ("prod", "1.0.2", "current"),
    ]


def test_nothing_to_do_means_everywhere_and_no_run_means_none() -> None:
    nothing = run("r2", "1.0.2", "succeeded", "skipped", "skipped", "skipped")
    assert held([nothing]) == [(name, "1.0.2", "current") for name in WAVES]
    dry = run("r1", "1.0.2", "dry_run", "skipped", "skipped", "skipped")
    assert held([dry]) == [(name, None, "none") for name in WAVES]
    assert wave_versions([RunRow("r0", "running")]) == []


@given(
    st.lists(
        st.tuples(
            st.sampled_from(STATUSES), st.lists(st.sampled_from(DECISIONS), min_size=3, max_size=3)
        ),
        max_size=6,
    )
)
def test_a_wave_is_at_the_version_of_a_run_that_changed_it(
    history: list[tuple[str, list[str]]],
) -> None:
    runs = [
        run(f"r{i}", f"1.0.{i}", status, *decisions)
        for i, (status, decisions) in enumerate(history)
    ]
    for entry in wave_versions(runs):
        if entry["held"] == "none":
            continue
        source = next(r for r in runs if r.run_id == entry["run_id"])
        assert source.report is not None
        assert source.report.status not in ("rolled_back", "dry_run")
        assert entry["version"] == source.report.package_version


def test_the_dag_entry_lists_the_newest_runs_with_their_duration() -> None:
    runs = [run(f"r{i}", "1.0.2", "succeeded", "passed", "passed", "approved") for i in range(12)]
    runs.append(RunRow("live", "running", NOW - timedelta(seconds=30)))
    entry = dag_view("d", [runs[-1], *runs[:-1]], NOW)
    assert len(entry["runs"]) == RUNS_SHOWN
    assert entry["runs"][0] == {
        "run_id": "live",
        "state": "running",
        "status": None,
        "version": None,
        "summary": "",
        "started_at": (NOW - timedelta(seconds=30)).isoformat(),
        "ended_at": None,
        "duration_seconds": 30.0,
    }
    assert entry["package"] == "ExamplePackage"


def test_an_unreadable_report_reads_as_none() -> None:
    damaged: dict[str, Any] = {"status": "maybe"}
    assert read_report(damaged) is None
    assert read_report(None) is None
