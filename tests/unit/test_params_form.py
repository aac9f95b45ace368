"""The trigger form offers exactly the overridable params, and its defaults are the plan's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import ParamValidationError
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.params import PARAM_NAMES, apply_params
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.run_policy import ManualRunPolicy
from distributor_rollout.params_form import one_of, params_form


@pytest.fixture
def form(example_plan_path: Path) -> dict[str, Param]:
    """The example plan's form."""
    return params_form(load_plan(example_plan_path))


def test_the_form_has_one_field_per_param_the_plan_allows(form: dict[str, Param]) -> None:
    # The example plan keeps the default policy: approvals cannot be skipped.
    assert set(form) == set(PARAM_NAMES) - {"skip_approvals"}
    assert all(param.schema.get("section") for param in form.values())
    assert all(param.schema.get("title") for param in form.values())


def test_a_plan_that_allows_everything_gets_every_field(example_plan_path: Path) -> None:
    plan = load_plan(example_plan_path)
    policy = ManualRunPolicy(waves="any", gates="any", skip_approvals=True)
    form = params_form(plan.model_copy(update={"manual_runs": policy}))
    assert set(form) == set(PARAM_NAMES)
    assert form["gate_threshold_percent"].schema["minimum"] == 0


def test_a_locked_plan_offers_only_a_dry_run(
    example_plan_path: Path,
) -> None:
    plan = load_plan(example_plan_path)
    policy = ManualRunPolicy(version=False, source=False, waves="none", gates="none")
    form = params_form(
        plan.model_copy(update={"manual_runs": policy.model_copy(update={"rollback_modes": []})})
    )
    assert set(form) == {"dry_run"}


def test_the_defaults_run_the_plan_as_written(
    form: dict[str, Param], example_plan_path: Path
) -> None:
    plan = load_plan(example_plan_path)
    defaults: dict[str, Any] = ParamsDict(form).dump()
    config = apply_params(plan, defaults)
    assert config.waves == ("canary", "nonprod", "prod")
    assert config.plan.package.version == plan.package.version
    assert config.dry_run is False
    assert config.plan.rollback.mode == plan.rollback.mode


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("waves", ["canary", "qa"]),
        ("waves", []),
        ("waves", ["canar"]),  # the pattern matches whole names only
        ("waves", ["canary2"]),
        ("waves", ["xprod"]),
        ("gate_threshold_percent", 150),
        ("gate_threshold_percent", 99.5),  # canary's gate is 100%: a run may only tighten
        ("gate_timeout", "half an hour"),
        ("rollback_mode", "pray"),
        ("version", "1.0 beta"),
    ],
)
def test_the_form_refuses_what_core_would_refuse(
    form: dict[str, Param], name: str, value: object
) -> None:
    with pytest.raises(ParamValidationError):
        form[name].resolve(value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("waves", ["canary"]),
        ("gate_threshold_percent", 100),
        ("gate_timeout", "1h30m"),
        ("gate_bake", "300"),
        ("source", None),
    ],
)
def test_the_form_accepts_good_values(form: dict[str, Param], name: str, value: object) -> None:
    assert form[name].resolve(value) == value


WAVE_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,49}", fullmatch=True)


@given(st.lists(WAVE_NAMES, min_size=1, max_size=20, unique=True), WAVE_NAMES)
def test_the_waves_pattern_matches_exactly_the_plans_names(names: list[str], other: str) -> None:
    param = Param(names, type="array", items={"type": "string", "pattern": one_of(names)})
    assert param.resolve(list(reversed(names))) == list(reversed(names))
    if other not in names:
        with pytest.raises(ParamValidationError):
            param.resolve([other])
