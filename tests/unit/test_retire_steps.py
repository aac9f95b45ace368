"""The retire DAG's names: its DAG id, its step names, its operation ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.deployment import update_operation_id
from distributor_rollout.core.operation_ids import is_operation_id, rollback_among
from distributor_rollout.core.retire_steps import (
    clashing_wave_names,
    retire_dag_id,
    retire_operation_id,
    rollout_dag_id,
    scope_digest,
)
from distributor_rollout.core.steps import RETIRE_RUN_STEPS
from distributor_rollout.core.targets import Target

wave_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,49}", fullmatch=True)


def test_the_retire_dag_sits_beside_the_rollout_dag() -> None:
    assert retire_dag_id("distributor_rollout__examplepackage") == (
        "distributor_rollout__examplepackage__retire"
    )
    assert rollout_dag_id(retire_dag_id("distributor_rollout__x")) == "distributor_rollout__x"
    with pytest.raises(ValueError, match="not a retire DAG id"):
        rollout_dag_id("distributor_rollout__x")


def test_a_wave_named_like_a_retire_step_is_named() -> None:
    assert clashing_wave_names(["canary", "approve", "delete_buckets"]) == [
        "approve",
        "delete_buckets",
    ]
    assert "validate" in RETIRE_RUN_STEPS


@given(st.text(min_size=1, max_size=80), wave_names, st.sampled_from(["uninstall", "delete"]))
def test_retire_ids_are_valid_deterministic_and_never_a_rollouts(
    run_id: str, wave: str, action: str
) -> None:
    retire = retire_operation_id(run_id, wave, action)
    assert is_operation_id(retire)
    assert retire == retire_operation_id(run_id, wave, action)
    assert retire != retire_operation_id(run_id, wave, action, "1")
    assert retire != update_operation_id(run_id, wave)
    assert rollback_among(run_id, [retire]) is None


def test_a_scope_digest_depends_on_the_targets_only() -> None:
    a, b = Target("300000000001", "us-east-1"), Target("300000000002", "us-east-1")
    assert scope_digest([a, b]) == scope_digest([b, a, a])
    assert scope_digest([a]) != scope_digest([b])
