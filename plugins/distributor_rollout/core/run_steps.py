"""What the tasks that frame a rollout run decide around the waves: the run's shape as
validate returns it, why the stack set does not hold the release yet, the approval's
question, and whether (and with what) finalize announces the release.

The operators in ``operators.rollout`` and ``operators.approval`` read AWS and Airflow and
hand the facts to these functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from distributor_rollout.core.params import RunConfig
from distributor_rollout.core.run_outcome import WaveRecords


def run_summary(config: RunConfig) -> dict[str, Any]:
    """The small dict ``validate`` returns (before the plan file's digest is added)."""
    return {
        "version": config.plan.package.version,
        "waves": list(config.waves),
        "dry_run": config.dry_run,
        "skip_approvals": config.skip_approvals,
        "overrides": list(config.overrides),
    }


def release_not_held(config: RunConfig, described: Mapping[str, Any]) -> str:
    """Why a stack set (its ``DescribeStackSet`` answer) that does not hold this release's
    template and parameters needs the rollout: the version it runs instead."""
    running = {p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])}
    return (
        f"stack set {config.plan.stack_set.name} runs Version={running.get('Version', '?')}, "
        f"not this release ({config.plan.package.version_label} with the plan's settings)"
    )


@dataclass(frozen=True, slots=True)
class ApprovalQuestion:
    """What a wave's approval asks, as Airflow's Required Actions page shows it (the body
    is Markdown)."""

    subject: str
    body: str


def approval_question(
    config: RunConfig, wave: str, waves: Sequence[WaveRecords]
) -> ApprovalQuestion:
    """The question for ``wave``: the package and version, then each wave's decision and
    compliance so far."""
    package = config.plan.package
    lines = [
        f"Wave **{wave}** of plan `{config.plan.name}` passed its compliance gate.",
        "",
        "| wave | decision | compliance |",
        "|---|---|---|",
    ]
    for record in waves:
        gate = record.gate_result
        decision = gate.decision if gate else None
        shown = f"{decision.compliant_percent:.1f}%" if decision else "-"
        lines.append(f"| {record.name} | {record.decision()} | {shown} |")
    lines += ["", "Approve to go on; Reject rolls back this run's changes."]
    return ApprovalQuestion(
        subject=f"Approve {package.name} {package.version_label} for wave {wave}?",
        body="\n".join(lines),
    )


def announcement_skipped(config: RunConfig) -> str | None:
    """Why finalize announces no release (a dry run, or a run of only some of the plan's
    waves: the version has not reached everything), or None when it does."""
    if config.dry_run:
        return "dry run: no release to announce"
    skipped = [wave.name for wave in config.plan.waves if not config.runs_wave(wave.name)]
    if skipped:
        return f"waves {', '.join(skipped)} were not in this run: no release to announce"
    return None


def release_announcement(config: RunConfig, run_id: str) -> dict[str, Any]:
    """The extra of the release's Asset event: package, version, waves and run id."""
    return {
        "package": config.plan.package.name,
        "version": config.plan.package.version,
        "waves": list(config.waves),
        "run_id": run_id,
    }


def rolled_back_refusal(run_id: str, rollback_operation: str) -> str:
    """Why finalize refuses a run that was rolled back (an approval or gate cleared and
    passed afterwards must not announce it)."""
    return (
        f"run {run_id} was rolled back (operation {rollback_operation}): its release is not "
        "out; start a new run"
    )
