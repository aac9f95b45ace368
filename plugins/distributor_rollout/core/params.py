"""Trigger params: what a manual run may change about a plan, and how it is applied.

Only a whitelisted subset can be overridden from the trigger form: the version and its
source, which waves run, dry run, the gate's threshold, timeout and bake, skipping
approvals, and the rollback mode. Everything else is the plan's, reviewed in git, and the
plan's ``manual_runs`` section says how far a run may use each param
(``core.run_policy``). An empty form field means "as the plan says".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.fields import BakeTime, GateTimeout, Version
from distributor_rollout.core.plan import GateSettingsSpec, Plan, wave_gate
from distributor_rollout.core.plan_validation import model_problems
from distributor_rollout.core.run_policy import (
    GateFloor,
    RequestedChanges,
    RollbackMode,
    approver_problems,
    policy_problems,
)
from distributor_rollout.core.source_location import (
    S3Source,
    confine_folder,
    is_s3,
    parse_s3_source,
)

PARAMS_SUBJECT = "trigger params"


class RunParams(BaseModel):
    """The overridable subset; ``None`` (or an empty form field) keeps the plan's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Version | None = Field(None, description="a package version")
    source: str | None = Field(
        None,
        max_length=1024,
        description="a folder under the packages root, or s3://<bucket>/<prefix>/",
    )
    waves: list[str] | None = Field(None, description="names of the waves to run")
    dry_run: bool = Field(False, description="true or false")
    gate_threshold_percent: float | None = Field(None, ge=0, le=100, description="0-100")
    gate_timeout: GateTimeout | None = Field(None, description="a duration like '30m'")
    gate_bake: BakeTime | None = Field(None, description="a duration like '5m'")
    skip_approvals: bool = Field(False, description="true or false")
    rollback_mode: RollbackMode | None = Field(
        None, description="'previous_version', 'uninstall' or 'none'"
    )


PARAM_NAMES = tuple(RunParams.model_fields)


@dataclass(frozen=True)
class RunConfig:
    """The plan a run executes, after its params are applied."""

    plan: Plan
    waves: tuple[str, ...]
    dry_run: bool
    skip_approvals: bool
    overrides: tuple[str, ...]  # which params changed something, for the report
    plan_digest: str = ""
    """The digest of the plan as written, before the params: what a run is pinned to."""

    def runs_wave(self, name: str) -> bool:
        """Whether this run deploys the named wave."""
        return name in self.waves


def _blank_to_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if v in ("", []) else v) for k, v in params.items()}


def _resolve_source(
    plan: Plan, source: str, packages_root: Path | None
) -> tuple[str | None, Problem | None]:
    """The source a run's ``source`` param names: a confined folder or an allowed S3 prefix."""
    if is_s3(source):
        parsed = parse_s3_source("source", source, plan.package.source_buckets)
        return (parsed.url, None) if isinstance(parsed, S3Source) else (None, parsed)
    if packages_root is None:
        return None, wrong(
            "source", "a folder, but no packages root is configured", source, "an s3:// source"
        )
    folder = confine_folder("source", source, packages_root)
    return (str(folder), None) if isinstance(folder, Path) else (None, folder)


def gate_floor(plan: Plan, waves: tuple[str, ...]) -> GateFloor:
    """The strictest gate settings among ``waves``: what a tightening param must meet."""
    gates = [wave_gate(plan, plan.wave(name)) for name in waves]
    return GateFloor(
        threshold_percent=max(gate.threshold_percent for gate in gates),
        timeout_seconds=max(gate.timeout_seconds for gate in gates),
        bake_seconds=max(gate.bake_seconds for gate in gates),
    )


def _requested(plan: Plan, run: RunParams, source: str | None) -> RequestedChanges:
    """What the params change; a param equal to the plan's value changes nothing."""
    return RequestedChanges(
        version=run.version if run.version not in (None, plan.package.version) else None,
        source=source if source not in (None, plan.package.source) else None,
        waves=run.waves,
        gate_threshold_percent=run.gate_threshold_percent,
        gate_timeout=run.gate_timeout,
        gate_bake=run.gate_bake,
        skip_approvals=run.skip_approvals,
        rollback_mode=(
            run.rollback_mode if run.rollback_mode not in (None, plan.rollback.mode) else None
        ),
    )


def apply_params(
    plan: Plan,
    params: Mapping[str, Any] | None,
    *,
    packages_root: Path | None = None,
    triggered_by: str | None = None,
) -> RunConfig:
    """Validate trigger params against the plan and its ``manual_runs`` policy, and apply
    them; every problem is reported at once.

    ``packages_root`` confines a folder ``source`` (the ``[distributor_rollout]
    packages_root`` setting); ``triggered_by`` is the user who triggered the run, who may
    not be its only approver.
    """
    raw = _blank_to_none(params or {})
    problems = model_problems(RunParams, raw)
    known_waves = [wave.name for wave in plan.waves]
    requested = raw.get("waves")
    if isinstance(requested, list):
        for index, name in enumerate(requested):
            if name not in known_waves:
                problems.append(
                    wrong(
                        f"waves[{index}]",
                        "not a wave of this plan",
                        name,
                        "one of " + ", ".join(known_waves),
                    )
                )
    source = raw.get("source")
    resolved_source = None
    if isinstance(source, str) and plan.package.existing is not None:
        problems.append(
            wrong(
                "source",
                f"not used by this plan: {plan.package.existing} already exists in "
                "Distributor, nothing is built",
                source,
                "no source (a version param pins the existing package's version)",
            )
        )
    elif isinstance(source, str):
        resolved_source, problem = _resolve_source(plan, source, packages_root)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise ValidationError(PARAMS_SUBJECT, problems)
    run = RunParams.model_validate(raw)
    config = _apply(plan, run, resolved_source)
    problems.extend(
        policy_problems(
            plan.manual_runs,
            _requested(plan, run, resolved_source),
            plan_waves=known_waves,
            floor=gate_floor(plan, config.waves),
        )
    )
    if _asks_approval(config):
        problems.extend(approver_problems(plan.approvals, triggered_by))
    if problems:
        raise ValidationError(PARAMS_SUBJECT, problems)
    return config


def _asks_approval(config: RunConfig) -> bool:
    if config.dry_run or config.skip_approvals:
        return False
    return any(wave.approval for wave in config.plan.waves if config.runs_wave(wave.name))


def _apply(plan: Plan, run: RunParams, source: str | None) -> RunConfig:
    overrides: list[str] = []
    package_update: dict[str, Any] = {}
    if run.version is not None:
        package_update["version"] = run.version
        overrides.append("version")
    if source is not None:
        package_update["source"] = source
        overrides.append("source")
    gate_params = {
        "gate_threshold_percent": ("threshold_percent", run.gate_threshold_percent),
        "gate_timeout": ("timeout", run.gate_timeout),
        "gate_bake": ("bake", run.gate_bake),
    }
    gate_update = {key: value for key, value in gate_params.values() if value is not None}
    overrides.extend(name for name, (_, value) in gate_params.items() if value is not None)
    # A gate param is the operator's word for this run: it beats wave overrides too.
    waves = [
        wave.model_copy(update={"gate": wave.gate.model_copy(update=gate_update)})
        for wave in plan.waves
    ]
    update: dict[str, Any] = {"waves": waves}
    if package_update:
        update["package"] = plan.package.model_copy(update=package_update)
    if gate_update:
        update["defaults"] = plan.defaults.model_copy(
            update={
                "gate": GateSettingsSpec.model_validate(
                    {**plan.defaults.gate.model_dump(), **gate_update}
                )
            }
        )
    if run.rollback_mode is not None:
        update["rollback"] = plan.rollback.model_copy(update={"mode": run.rollback_mode})
        overrides.append("rollback_mode")
    selected = tuple(run.waves) if run.waves else tuple(wave.name for wave in plan.waves)
    if run.waves:
        overrides.append("waves")
    if run.dry_run:
        overrides.append("dry_run")
    if run.skip_approvals:
        overrides.append("skip_approvals")
    ordered = tuple(wave.name for wave in plan.waves if wave.name in selected)
    return RunConfig(
        plan=plan.model_copy(update=update),
        waves=ordered,
        dry_run=run.dry_run,
        skip_approvals=run.skip_approvals,
        overrides=tuple(overrides),
        plan_digest=plan.digest(),
    )
