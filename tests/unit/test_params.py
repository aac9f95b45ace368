"""Trigger params: the whitelisted overrides and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.params import PARAM_NAMES, apply_params
from distributor_rollout.core.plan import Plan, wave_gate
from distributor_rollout.core.plan_validation import load_plan


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


def _problems(plan: Plan, params: dict[str, object], base_dir: Path | None = None) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        apply_params(plan, params, base_dir=base_dir)
    assert raised.value.subject == "trigger params"
    return [str(problem) for problem in raised.value.problems]


def test_no_params_runs_the_plan_as_written(plan: Plan) -> None:
    for params in (None, {}, dict.fromkeys(("version", "source", "gate_timeout"), "")):
        run = apply_params(plan, params)
        assert run.plan == plan
        assert run.waves == ("canary", "nonprod", "prod")
        assert (run.dry_run, run.skip_approvals, run.overrides) == (False, False, ())


def test_overrides_apply(plan: Plan, example_plan_path: Path) -> None:
    run = apply_params(
        plan,
        {
            "version": "2.0.0",
            "source": "../packages/examplepackage",
            "waves": ["prod", "canary"],
            "dry_run": True,
            "gate_threshold_percent": 80,
            "gate_timeout": "10m",
            "gate_bake": 0,
            "skip_approvals": True,
            "rollback_mode": "uninstall",
        },
        base_dir=example_plan_path.parent,
    )
    assert run.plan.package.version == "2.0.0"
    assert Path(run.plan.package.source) == (
        example_plan_path.parent.parent / "packages" / "examplepackage"
    )
    assert run.waves == ("canary", "prod")  # plan order, whatever order the form gave
    assert run.dry_run
    assert run.skip_approvals
    assert run.plan.rollback.mode == "uninstall"
    for wave in run.plan.waves:  # params beat wave overrides (canary says 100%)
        gate = wave_gate(run.plan, wave)
        assert (gate.threshold_percent, gate.timeout_seconds, gate.bake_seconds) == (80.0, 600, 0)
        assert gate.min_nodes == 3
    assert set(run.overrides) == {
        "version",
        "source",
        "waves",
        "dry_run",
        "gate_threshold_percent",
        "gate_timeout",
        "gate_bake",
        "skip_approvals",
        "rollback_mode",
    }
    assert run.runs_wave("prod")
    assert not run.runs_wave("nonprod")
    assert plan.package.version == "1.0.2"  # the loaded plan is untouched


def test_every_bad_param_is_reported(plan: Plan, tmp_path: Path) -> None:
    problems = _problems(
        plan,
        {
            "version": "1.0 beta",
            "source": "missing-folder",
            "waves": ["canary", "qa"],
            "gate_threshold_percent": 120,
            "gate_timeout": "soon",
            "rollback_mode": "rewind",
            "region": "us-east-1",
        },
        base_dir=tmp_path,
    )
    assert problems == [
        "version: not a valid package version (got '1.0 beta'; expected 1-128 letters, "
        "digits, '_', '-' or '.')",
        "gate_threshold_percent: out of range (got 120; expected a value less than or equal "
        "to 100)",
        "gate_timeout: not a duration (got 'soon'; expected seconds as a number, or a duration "
        "like '45s', '30m', '1h30m', '2d')",
        "rollback_mode: not allowed (got 'rewind'; expected one of 'previous_version', "
        "'uninstall' or 'none')",
        "region: unknown key (got 'region'; expected one of: " + ", ".join(PARAM_NAMES) + ")",
        "waves[1]: not a wave of this plan (got 'qa'; expected one of canary, nonprod, prod)",
        f"source: not an existing folder (got 'missing-folder'; expected a package folder "
        f"({tmp_path / 'missing-folder'} does not exist))",
    ]


def test_types_are_checked(plan: Plan) -> None:
    assert _problems(plan, {"dry_run": "perhaps", "waves": "canary"}) == [
        "waves: wrong type (got 'canary'; expected names of the waves to run)",
        "dry_run: wrong type (got 'perhaps'; expected true or false)",
    ]
