"""Duration parsing and formatting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90),
        ("45s", 45),
        ("30m", 1800),
        ("1h30m", 5400),
        ("2d", 172800),
        ("120", 120),
        (60.0, 60),
    ],
)
def test_parse(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30 minutes", "1.5h", -1, True, None, "m", "1m1h"])
def test_refuse(text: object) -> None:
    with pytest.raises(ValueError, match=r"duration \(got"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10 * 86_400))
def test_format_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
