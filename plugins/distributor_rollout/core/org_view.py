"""The organization view, as JSON: per rollout DAG (one plan, one package), which version
each wave's targets run as of its latest runs, and its last runs with their outcome.

Read from the runs' reports (``RunReport``, the report task's XCom) and the DAG runs'
states and dates only. A wave's version is that of the newest run that left it changed:

- a run that rolled back, a dry run, a run with no report yet (still running) and a wave
  the run skipped or never reached changed nothing there: look at the run before;
- a wave that passed (or was approved) runs the run's version (``current``);
- a wave that failed or was rejected without a rollback may run it on some targets only
  (``partial``), and after a failed rollback nobody knows (``unknown``);
- a run that found everything already deployed (every wave skipped, run succeeded) means
  every wave runs its version.

No run that changed the wave among those given: ``none`` (never deployed by a run shown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from distributor_rollout.core.errors import RolloutError
from distributor_rollout.core.report import RunReport

RUNS_SHOWN = 10
"""Runs listed per DAG (the newest)."""

Held = Literal["current", "partial", "unknown", "none"]


@dataclass(frozen=True, slots=True)
class RunRow:
    """One DAG run: its Airflow state, dates (timezone-aware) and report (None: none yet,
    or unreadable)."""

    run_id: str
    state: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    report: RunReport | None = None

    def duration_seconds(self, now: datetime) -> float | None:
        """How long it ran (still running: until ``now``); None before it started."""
        if self.started_at is None:
            return None
        end = self.ended_at or now
        return round(max(0.0, (end - self.started_at).total_seconds()), 1)


def read_report(value: object) -> RunReport | None:
    """A report XCom as stored, or None when there is none this code can read."""
    if not isinstance(value, Mapping) or not value:
        return None
    try:
        return RunReport.from_dict(value)
    except RolloutError:
        return None


def wave_versions(runs: Sequence[RunRow]) -> list[dict[str, Any]]:
    """Each wave's version (see the module), waves in the newest report's order; ``runs``
    newest first."""
    names = next((_names(run.report) for run in runs if run.report and run.report.waves), [])
    return [_held(name, runs) for name in names]


def _names(report: RunReport) -> list[str]:
    return [wave.name for wave in report.waves]


def _held(name: str, runs: Sequence[RunRow]) -> dict[str, Any]:
    for run in runs:
        report = run.report
        if report is None or report.status in ("dry_run", "rolled_back"):
            continue
        wave = next((wave for wave in report.waves if wave.name == name), None)
        if wave is None:
            continue
        changed = wave.decision in ("passed", "approved", "failed", "rejected")
        if changed and report.status == "rollback_failed":
            return _entry(name, report, "unknown")
        if wave.decision in ("passed", "approved"):
            return _entry(name, report, "current")
        if changed:
            return _entry(name, report, "partial")
        if report.status == "succeeded" and all(w.decision == "skipped" for w in report.waves):
            return _entry(name, report, "current")  # nothing to do: already deployed
    return {"name": name, "version": None, "run_id": None, "held": "none"}


def _entry(name: str, report: RunReport, held: Held) -> dict[str, Any]:
    return {"name": name, "version": report.package_version, "run_id": report.run_id, "held": held}


def dag_view(dag_id: str, runs: Sequence[RunRow], now: datetime) -> dict[str, Any]:
    """One DAG's entry: its package, each wave's version, and its last runs (``runs``
    newest first; the first ``RUNS_SHOWN`` are listed)."""
    latest = next((run.report for run in runs if run.report is not None), None)
    return {
        "dag_id": dag_id,
        "package": latest.package_name if latest else None,
        "plan": latest.plan_name if latest else None,
        "waves": wave_versions(runs),
        "runs": [_run(run, now) for run in runs[:RUNS_SHOWN]],
    }


def _run(run: RunRow, now: datetime) -> dict[str, Any]:
    report = run.report
    return {
        "run_id": run.run_id,
        "state": run.state,
        "status": report.status if report else None,
        "version": report.package_version if report else None,
        "summary": report.summary if report else "",
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "duration_seconds": run.duration_seconds(now),
    }


def org_view(dags: Mapping[str, Sequence[RunRow]], now: datetime) -> dict[str, Any]:
    """Every readable rollout DAG's entry, by package then DAG id."""
    entries = [dag_view(dag_id, runs, now) for dag_id, runs in dags.items()]
    entries.sort(key=lambda entry: (entry["package"] or "", entry["dag_id"]))
    return {"dags": entries, "generated_at": now.isoformat()}
