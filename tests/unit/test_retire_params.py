"""A retire run's params: what a run may ask, checked before any AWS call."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.retire_params import RETIRE_PARAM_NAMES, apply_retire_params
from distributor_rollout.core.run_policy import ApprovalPolicy


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


def test_no_params_retire_every_wave_last_first_with_an_approval(plan: Plan) -> None:
    config = apply_retire_params(plan, {})
    assert (config.dry_run, config.delete_buckets, config.skip_approval) == (False, False, False)
    assert config.asks_approval
    assert [wave.name for wave in config.waves] == ["prod", "nonprod", "canary"]
    assert config.summary() == {
        "waves": ["prod", "nonprod", "canary"],
        "dry_run": False,
        "delete_buckets": False,
        "skip_approval": False,
        "plan_digest": plan.digest(),
    }
    assert RETIRE_PARAM_NAMES == ("dry_run", "delete_buckets", "skip_approval")


def test_a_dry_run_asks_no_approval(plan: Plan) -> None:
    config = apply_retire_params(plan, {"dry_run": True, "delete_buckets": True})
    assert config.delete_buckets
    assert not config.asks_approval


def test_every_bad_param_is_named(plan: Plan) -> None:
    with pytest.raises(ValidationError) as raised:
        apply_retire_params(plan, {"dry_run": "maybe", "waves": ["prod"]})
    paths = sorted(problem.path for problem in raised.value.problems)
    assert paths == ["dry_run", "waves"]


def test_skipping_the_approval_needs_the_plans_leave(plan: Plan) -> None:
    with pytest.raises(ValidationError, match=r"manual_runs\.skip_approvals is false"):
        apply_retire_params(plan, {"skip_approval": True})
    lenient = plan.model_copy(
        update={"manual_runs": plan.manual_runs.model_copy(update={"skip_approvals": True})}
    )
    config = apply_retire_params(lenient, {"skip_approval": True})
    assert not config.asks_approval


def test_a_run_whose_only_approver_triggered_it_is_refused(plan: Plan) -> None:
    alone = plan.model_copy(update={"approvals": ApprovalPolicy(approvers=["alice"])})
    with pytest.raises(ValidationError, match=r"approvals\.approvers"):
        apply_retire_params(alone, {}, triggered_by="alice")
    assert apply_retire_params(alone, {"dry_run": True}, triggered_by="alice").dry_run
    assert apply_retire_params(alone, {}, triggered_by="bob").asks_approval


def test_empty_form_fields_read_as_their_defaults(plan: Plan) -> None:
    config = apply_retire_params(plan, {"dry_run": "", "delete_buckets": None})
    assert (config.dry_run, config.delete_buckets) == (False, False)
