"""Operation ids: deterministic, distinct per step, always acceptable to StackSets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core import rules
from distributor_rollout.core.deployment import create_operation_id, update_operation_id
from distributor_rollout.core.operation_ids import (
    MAX_LENGTH,
    is_operation_id,
    operation_id,
    rollback_among,
    rollback_operation_id,
    step_prefix,
)

RUN = "manual__2026-11-27T06:52:35.123456+00:00"


def test_same_step_same_id_and_it_reads_well() -> None:
    first = operation_id(RUN, "canary", "update")
    assert first == operation_id(RUN, "canary", "update")
    assert first.startswith("dr-")
    assert "-canary-update-" in first


def test_different_steps_or_runs_get_different_ids() -> None:
    ids = {
        operation_id(RUN, "canary", "update"),
        operation_id(RUN, "canary", "create"),
        operation_id(RUN, "prod", "update"),
        operation_id(RUN + "x", "canary", "update"),
        operation_id(RUN, "rollback", "1"),
    }
    assert len(ids) == 5


@given(
    run=st.text(min_size=1, max_size=300),
    parts=st.lists(st.text(max_size=200), min_size=1, max_size=4),
)
def test_every_id_is_valid_for_stacksets(run: str, parts: list[str]) -> None:
    value = operation_id(run, *parts)
    assert is_operation_id(value)
    assert len(value) <= MAX_LENGTH


def test_long_names_are_truncated_but_stay_distinct() -> None:
    long = "w" * 200
    assert operation_id(RUN, long, "update") != operation_id(RUN, long, "create")


def test_an_id_needs_a_run_and_a_part() -> None:
    with pytest.raises(ValueError, match="run id"):
        operation_id("", "x")
    with pytest.raises(ValueError, match="part"):
        operation_id(RUN)


def test_a_steps_prefix_matches_its_ids_only() -> None:
    prefix = step_prefix(RUN, "rollback")
    assert operation_id(RUN, "rollback", "0").startswith(prefix)
    assert operation_id(RUN, "rollback", "12").startswith(prefix)
    assert not operation_id(RUN, "canary", "update").startswith(prefix)
    assert not operation_id(RUN + "x", "rollback", "0").startswith(prefix)


_WAVE_NAMES = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,49}", fullmatch=True),
    st.from_regex(r"rollback[A-Za-z0-9_-]{0,42}", fullmatch=True),
)


@given(wave=_WAVE_NAMES, run=st.text(min_size=1, max_size=80))
def test_no_valid_wave_name_makes_ids_that_read_as_the_rollbacks(wave: str, run: str) -> None:
    # The deploy and finalize tasks take an operation starting with the rollback's prefix
    # as "this run was rolled back": a wave's own ids must never start that way.
    prefix = step_prefix(run, "rollback")
    ids = [update_operation_id(run, wave), *(create_operation_id(run, wave, i) for i in (0, 1))]
    collides = any(value.startswith(prefix) for value in ids)
    assert not (collides and rules.wave_name(wave) is None)


def test_the_wave_names_that_would_collide_are_refused() -> None:
    for wave in ("rollback", "rollback-eu", "rollback_1"):
        assert update_operation_id(RUN, wave).startswith(step_prefix(RUN, "rollback"))
        assert rules.wave_name(wave) is not None
    assert rules.wave_name("rollbacks") is None


def test_a_run_is_rolled_back_once_any_of_its_rollback_operations_exists() -> None:
    first, retry = rollback_operation_id(RUN, 0), rollback_operation_id(RUN, 1, 2, 0)
    assert first != retry
    assert rollback_operation_id(RUN, 1, 2, 0) != rollback_operation_id(RUN, 1, 2, 1)
    others = [update_operation_id(RUN, "canary"), rollback_operation_id(RUN + "x", 0)]
    assert rollback_among(RUN, others) is None
    assert rollback_among(RUN, [*others, retry, first]) == retry


def test_narrowed_rollback_parts_and_their_retries_have_ids_of_their_own() -> None:
    ids = [
        rollback_operation_id(RUN, 3),
        *(rollback_operation_id(RUN, 3, narrowed=n) for n in (1, 2)),
        *(rollback_operation_id(RUN, 3, 1, k, narrowed=n) for n in (0, 1, 2) for k in (0, 1)),
    ]
    assert len(set(ids)) == len(ids)
    assert all(is_operation_id(value) for value in ids)
    assert all(rollback_among(RUN, [value]) == value for value in ids)
