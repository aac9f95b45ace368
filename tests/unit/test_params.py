"""Trigger params: the whitelisted overrides and their validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.params import PARAM_NAMES, apply_params
from distributor_rollout.core.plan import Plan, wave_gate
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.run_policy import ApprovalPolicy, ManualRunPolicy


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


@pytest.fixture(scope="module")
def permissive(plan: Plan) -> Plan:
    """The example plan with a ``manual_runs`` section that allows every override."""
    policy = ManualRunPolicy(
        waves="any",
        gates="any",
        skip_approvals=True,
        rollback_modes=["previous_version", "uninstall", "none"],
    )
    return plan.model_copy(update={"manual_runs": policy})


@pytest.fixture(scope="module")
def packages_root(example_plan_path: Path) -> Path:
    return example_plan_path.parent.parent / "packages"


def _problems(
    plan: Plan, params: dict[str, object], packages_root: Path | None = None, **kwargs: Any
) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        apply_params(plan, params, packages_root=packages_root, **kwargs)
    assert raised.value.subject == "trigger params"
    return [str(problem) for problem in raised.value.problems]


def test_no_params_runs_the_plan_as_written(plan: Plan) -> None:
    for params in (None, {}, dict.fromkeys(("version", "source", "gate_timeout"), "")):
        run = apply_params(plan, params)
        assert run.plan == plan
        assert run.waves == ("canary", "nonprod", "prod")
        assert (run.dry_run, run.skip_approvals, run.overrides) == (False, False, ())


def test_overrides_apply(plan: Plan, permissive: Plan, packages_root: Path) -> None:
    run = apply_params(
        permissive,
        {
            "version": "2.0.0",
            "source": "examplepackage",
            "waves": ["prod", "canary"],
            "dry_run": True,
            "gate_threshold_percent": 80,
            "gate_timeout": "10m",
            "gate_bake": 0,
            "skip_approvals": True,
            "rollback_mode": "uninstall",
        },
        packages_root=packages_root,
    )
    assert run.plan.package.version == "2.0.0"
    assert Path(run.plan.package.source) == (packages_root / "examplepackage").resolve()
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
        packages_root=tmp_path,
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
        f"source: not an existing folder (got 'missing-folder'; expected a package folder under "
        f"the packages root {tmp_path} ({tmp_path.resolve() / 'missing-folder'} does not exist))",
    ]


def test_types_are_checked(plan: Plan) -> None:
    assert _problems(plan, {"dry_run": "perhaps", "waves": "canary"}) == [
        "waves: wrong type (got 'canary'; expected names of the waves to run)",
        "dry_run: wrong type (got 'perhaps'; expected true or false)",
    ]


# The plan's manual_runs policy: what a user who may only trigger the DAG may change.


def test_by_default_a_run_may_pick_a_version_and_source_and_tighten(
    plan: Plan, packages_root: Path
) -> None:
    run = apply_params(
        plan,
        {
            "version": "2.0.0",
            "source": "examplepackage",
            "waves": ["canary", "nonprod"],
            "gate_threshold_percent": 100,  # canary's own gate is 100%
            "gate_timeout": "2h",
            "gate_bake": "10m",
            "rollback_mode": "uninstall",
        },
        packages_root=packages_root,
    )
    assert run.plan.package.version == "2.0.0"
    assert run.waves == ("canary", "nonprod")


def test_params_equal_to_the_plan_are_no_change_whatever_the_policy(plan: Plan) -> None:
    locked = plan.model_copy(
        update={
            "manual_runs": ManualRunPolicy(
                version=False, source=False, waves="none", gates="none", rollback_modes=[]
            )
        }
    )
    run = apply_params(
        locked,
        {
            "version": plan.package.version,
            "waves": ["canary", "nonprod", "prod"],
            "rollback_mode": plan.rollback.mode,
            "dry_run": True,
        },
    )
    assert run.dry_run


def test_by_default_a_run_may_not_loosen_skip_or_turn_rollback_off(plan: Plan) -> None:
    problems = _problems(
        plan,
        {
            "waves": ["nonprod", "prod"],
            "gate_threshold_percent": 80,
            "gate_timeout": "10m",
            "gate_bake": "1m",
            "skip_approvals": True,
            "rollback_mode": "none",
        },
    )
    assert problems == [
        "waves: not allowed for a manual run of this plan (got ['nonprod', 'prod']; expected "
        "a subset that includes the first wave 'canary' (manual_runs.waves))",
        "gate_threshold_percent: looser than the plan's gate (got '80%'; expected at least 90%, "
        "the strictest of the run's waves: a manual run may only tighten gates "
        "(manual_runs.gates))",
        "gate_timeout: looser than the plan's gate (got '10m'; expected at least 30m, the "
        "strictest of the run's waves: a manual run may only tighten gates (manual_runs.gates))",
        "gate_bake: looser than the plan's gate (got '1m'; expected at least 5m, the strictest "
        "of the run's waves: a manual run may only tighten gates (manual_runs.gates))",
        "skip_approvals: not allowed for a manual run of this plan (got True; expected false: "
        "approvals are kept (manual_runs.skip_approvals))",
    ]


def test_tightening_is_measured_against_the_strictest_wave_of_the_run(plan: Plan) -> None:
    # canary's gate wants 100%: with canary in the run, 95% would loosen it.
    assert _problems(plan, {"gate_threshold_percent": 95})[0].startswith(
        "gate_threshold_percent: looser than the plan's gate (got '95%'; expected at least 100%"
    )


def test_the_plan_can_forbid_versions_and_sources(plan: Plan, tmp_path: Path) -> None:
    locked = plan.model_copy(
        update={"manual_runs": ManualRunPolicy(version=False, source=False, gates="none")}
    )
    (tmp_path / "other").mkdir()
    problems = _problems(
        locked, {"version": "9.9.9", "source": "other", "gate_bake": "1h"}, tmp_path
    )
    assert [problem.split(":")[0] for problem in problems] == ["version", "source", "gate_bake"]
    assert all("not allowed for a manual run of this plan" in problem for problem in problems)


def test_rollback_none_only_where_the_plan_allows_it(plan: Plan) -> None:
    locked = plan.model_copy(update={"manual_runs": ManualRunPolicy()})
    assert _problems(locked, {"rollback_mode": "none"}) == [
        "rollback_mode: not allowed for a manual run of this plan (got 'none'; expected the "
        "plan's mode or one of 'previous_version', 'uninstall' (manual_runs.rollback_modes))"
    ]
    assert apply_params(plan, {"rollback_mode": "none"}).plan.rollback.mode == "none"


def test_a_source_must_stay_under_the_packages_root(
    plan: Plan, packages_root: Path, tmp_path: Path
) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "escape").symlink_to("/etc")
    for source, what in (
        ("/etc", "an absolute path"),
        ("../rollouts", "not a confined path (a path segment '..')"),
        ("pkg/../../x", "not a confined path (a path segment '..')"),
        ("escape", "leads out of the packages root (through a symlink)"),
        (".", "the packages root itself"),
    ):
        [problem] = _problems(plan, {"source": source}, tmp_path)
        assert problem.startswith(f"source: {what} (got {source!r}"), problem
    run = apply_params(plan, {"source": "pkg"}, packages_root=tmp_path)
    assert run.plan.package.source == str((tmp_path / "pkg").resolve())


def test_s3_sources_come_only_from_buckets_the_plan_lists(plan: Plan) -> None:
    listed = plan.model_copy(
        update={"package": plan.package.model_copy(update={"source_buckets": ["ci-builds"]})}
    )
    run = apply_params(listed, {"source": "s3://ci-builds/example/1.1.0"})
    assert run.plan.package.source == "s3://ci-builds/example/1.1.0/"
    [problem] = _problems(listed, {"source": "s3://attacker-bucket/x/"})
    assert problem == (
        "source: not a bucket the plan allows sources from (got 'attacker-bucket'; expected "
        "s3://<bucket>/<prefix>/ in one of package.source_buckets (ci-builds))"
    )
    [problem] = _problems(listed, {"source": "s3://ci-builds/a/../b/"})
    assert problem.startswith("source: not a safe S3 prefix (a path segment '..')")


def test_a_run_whose_only_approver_triggered_it_is_refused(plan: Plan) -> None:
    guarded = plan.model_copy(update={"approvals": ApprovalPolicy(approvers=["alice"])})
    assert _problems(guarded, {}, triggered_by="alice") == [
        "approvals.approvers: no one but the user who triggered this run may approve its "
        "waves (got ['alice']; expected another approver, a run triggered by someone else, or "
        "approvals.allow_self_approval: true)"
    ]
    apply_params(guarded, {}, triggered_by="bob")
    apply_params(guarded, {"waves": ["canary", "nonprod"]}, triggered_by="alice")  # no approval
