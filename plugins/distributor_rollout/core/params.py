"""Trigger params: what a manual run may change about a plan, and how it is applied.

Only a whitelisted subset can be overridden from the trigger form: the version and its
source folder, which waves run, dry run, the gate's threshold, timeout and bake, skipping
approvals, and the rollback mode. Everything else is the plan's, reviewed in git.
An empty form field means "as the plan says".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.fields import BakeTime, GateTimeout, Version
from distributor_rollout.core.plan import GateSettingsSpec, Plan, RollbackMode
from distributor_rollout.core.plan_validation import model_problems

PARAMS_SUBJECT = "trigger params"


class RunParams(BaseModel):
    """The overridable subset; ``None`` (or an empty form field) keeps the plan's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Version | None = Field(None, description="a package version")
    source: str | None = Field(None, description="a package source folder")
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


def _source_problem(source: str, base_dir: Path | None) -> tuple[str, Problem | None]:
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    resolved = path.resolve()
    if resolved.is_dir():
        return str(resolved), None
    return str(resolved), wrong(
        "source", "not an existing folder", source, f"a package folder ({resolved} does not exist)"
    )


def apply_params(
    plan: Plan, params: Mapping[str, Any] | None, *, base_dir: Path | None = None
) -> RunConfig:
    """Validate trigger params and apply them to a plan; every problem is reported at once.

    ``base_dir`` resolves a relative ``source`` (the plan file's folder).
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
    if isinstance(source, str):
        resolved_source, problem = _source_problem(source, base_dir)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise ValidationError(PARAMS_SUBJECT, problems)
    run = RunParams.model_validate(raw)
    return _apply(plan, run, resolved_source)


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
