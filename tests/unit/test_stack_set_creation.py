"""core.stack_set_creation: which existing stack set a rollout accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.stack_set_creation import PERMISSION_MODEL, unusable_stack_set


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    """The shipped example plan."""
    return load_plan(example_plan_path)


def test_only_a_service_managed_stack_set_is_used(plan: Plan) -> None:
    assert unusable_stack_set(plan, None) is None
    assert unusable_stack_set(plan, {"PermissionModel": PERMISSION_MODEL}) is None
    refusal = unusable_stack_set(plan, {"PermissionModel": "SELF_MANAGED"})
    assert refusal is not None
    assert plan.stack_set.name in refusal
    assert "SELF_MANAGED, not SERVICE_MANAGED" in refusal
