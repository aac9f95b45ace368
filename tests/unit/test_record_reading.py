"""core.record_reading: a record a reader cannot use reads as none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.errors import ValidationError, wrong
from distributor_rollout.core.record_reading import read_or_none

pytestmark = pytest.mark.unit


def count_of(data: Mapping[str, Any]) -> int:
    count = data["count"]
    if not isinstance(count, int):
        raise ValidationError("record", [wrong("count", "not a count", count, "an integer")])
    return count


@given(count=st.integers())
def test_a_readable_record_reads_as_from_dict_reads_it(count: int) -> None:
    assert read_or_none(count_of, {"count": count}) == count


@pytest.mark.parametrize(
    "value",
    [None, {}, [], "count", {"other": 1}, {"count": "many"}, {"count": None}],
)
def test_no_record_or_one_from_dict_refuses_reads_as_none(value: object) -> None:
    assert read_or_none(count_of, value) is None
