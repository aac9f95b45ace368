"""The compliance gate's change feed, pure side: the query, rows, dedupe, reads and merges."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.compliance_feed import (
    ChangeRow,
    FeedCadence,
    FeedState,
    aggregator_name,
    capture_time_text,
    changed_after_read,
    changes_expression,
    merge_poll,
    parse_row,
    parse_rows,
    targets_to_read,
)
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.targets import Target

pytestmark = pytest.mark.unit

HERE = Target("111122223333", "eu-west-1")
THERE = Target("444455556666", "us-east-1")
ELSEWHERE = Target("777788889999", "ap-south-1")
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()
CADENCE = FeedCadence(full_read_seconds=1800, lookback_seconds=900)

targets = st.builds(
    Target,
    st.sampled_from(["111122223333", "444455556666", "777788889999", "123456789012"]),
    st.sampled_from(["us-east-1", "eu-west-1", "ap-south-1"]),
)
rows = st.builds(
    ChangeRow,
    targets,
    st.sampled_from(["i-0aaa", "i-0bbb", "mi-0ccc"]),
    st.integers(0, 20).map(lambda minute: NOON + 60.0 * minute),
)


def _row(target: Target, resource: str = "i-0123", at: float = NOON) -> dict[str, str]:
    return {
        "accountId": target.account_id,
        "awsRegion": target.region,
        "resourceId": resource,
        "configurationItemCaptureTime": capture_time_text(at),
    }


# --- the query -------------------------------------------------------------------------


def test_expression_is_the_contracts_form() -> None:
    since = datetime(2026, 12, 7, 4, 0, tzinfo=UTC).timestamp()

    assert changes_expression(since) == (
        "SELECT accountId, awsRegion, resourceId, configurationItemCaptureTime "
        "WHERE resourceType = 'AWS::SSM::AssociationCompliance' "
        "AND configurationItemCaptureTime >= '2026-12-07T04:00:00.000Z'"
    )
    assert changes_expression(None) == (
        "SELECT accountId, awsRegion, resourceId, configurationItemCaptureTime "
        "WHERE resourceType = 'AWS::SSM::AssociationCompliance'"
    )


def test_capture_time_keeps_milliseconds_and_rounds_down() -> None:
    assert capture_time_text(NOON + 1.2349) == "2026-12-07T12:00:01.234Z"
    assert capture_time_text(NOON - 0.0001) == "2026-12-07T11:59:59.999Z"


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_capture_time_never_passes_the_instant_it_names(epoch: float) -> None:
    text = capture_time_text(epoch)
    named = datetime.fromisoformat(text).timestamp()

    assert text.endswith("Z")
    assert len(text) == len("2026-12-07T04:00:00.000Z")
    assert epoch - 0.001 - 1e-6 <= named <= epoch + 1e-6


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("org-association-compliance", True),
        ("Org_Aggregator-2", True),
        ("a" * 256, True),
        ("a" * 257, False),
        ("", False),
        ("with space", False),
        ("dotted.name", False),
        ("naïve", False),  # Config's \w is ASCII
        ("x'; DROP", False),
    ],
)
def test_aggregator_name(name: str, valid: bool) -> None:
    problem = aggregator_name(name)
    assert (problem is None) == valid
    if not valid:
        assert "expected 1-256 letters, digits, '_' or '-'" in str(problem)


# --- rows ------------------------------------------------------------------------------


def test_a_row_is_read_from_its_json_text_or_its_object() -> None:
    row = _row(HERE, "i-0abc", NOON + 0.5)

    expected = ChangeRow(HERE, "i-0abc", NOON + 0.5)
    assert parse_row(json.dumps(row)) == expected
    assert parse_row(row) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[1, 2]",
        "null",
        json.dumps({"accountId": "111122223333", "awsRegion": "eu-west-1", "resourceId": "i-1"}),
        {**_row(HERE), "accountId": "1111"},
        {**_row(HERE), "accountId": 111122223333},
        {**_row(HERE), "awsRegion": "Europe"},
        {**_row(HERE), "resourceId": ""},
        {**_row(HERE), "resourceId": "i" * 769},
        {**_row(HERE), "configurationItemCaptureTime": "yesterday"},
        {**_row(HERE), "configurationItemCaptureTime": "2026-12-07T04:00:00"},  # no zone
        {**_row(HERE), "configurationItemCaptureTime": 1765080000},
        "[" * 100_000,
        42,
    ],
)
def test_a_bad_row_is_none(bad: object) -> None:
    assert parse_row(bad) is None


def test_bad_rows_are_skipped_and_counted() -> None:
    parsed = parse_rows([json.dumps(_row(HERE)), "garbage", _row(THERE), {"accountId": 1}])

    assert [row.target for row in parsed.rows] == [HERE, THERE]
    assert parsed.skipped == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=30), inner),
    max_leaves=12,
)


@given(st.lists(json_values | st.text(max_size=60) | st.builds(_row, targets), max_size=12))
def test_parsing_never_fails_and_accounts_for_every_result(results: list[object]) -> None:
    parsed = parse_rows(results)

    assert len(parsed.rows) + parsed.skipped == len(results)


# --- cadence and state -----------------------------------------------------------------


def test_cadence_is_the_plans_minutes_in_real_seconds() -> None:
    assert FeedCadence.of(30, 15) == FeedCadence(1800, 900)
    assert FeedCadence.of(30, 15, time_scale=60) == FeedCadence(30, 15)
    assert FeedCadence.of(1, 0, time_scale=0.5) == FeedCadence(120, 0)


@pytest.mark.parametrize(
    ("full", "lookback", "scale"), [(0, 15, 1), (30, -1, 1), (30, 15, 0), (30, 15, -2)]
)
def test_cadence_refuses_what_is_not_a_duration(full: int, lookback: int, scale: float) -> None:
    with pytest.raises(ValidationError):
        FeedCadence.of(full, lookback, scale)


def test_the_first_poll_is_full_and_later_ones_every_interval() -> None:
    state = FeedState()
    assert state.full_due(NOON, CADENCE)
    assert state.since(CADENCE) is None

    state = state.after_full(NOON)
    assert not state.full_due(NOON + 1799, CADENCE)
    assert state.full_due(NOON + 1800, CADENCE)
    assert state.full_due(NOON - 5, CADENCE)  # the clock stepped back: read everything
    assert state.since(CADENCE) == NOON - 900


def test_a_query_looks_back_from_the_previous_polls_start() -> None:
    state = FeedState().after_full(NOON)
    since = state.since(CADENCE)

    state, fresh = state.after_query(NOON + 30, since, [ChangeRow(HERE, "i-1", NOON + 10)])

    assert fresh == (ChangeRow(HERE, "i-1", NOON + 10),)
    assert state.since(CADENCE) == NOON + 30 - 900
    assert state.last_full_at == NOON  # a partial poll is not a full one


def test_a_row_seen_before_is_not_fresh_again_and_old_ones_are_forgotten() -> None:
    seen = ChangeRow(HERE, "i-1", NOON + 10)
    later = ChangeRow(THERE, "i-2", NOON + 40)
    state = FeedState().after_full(NOON)

    state, fresh = state.after_query(NOON + 30, NOON - 900, [seen, seen])
    assert fresh == (seen,)
    state, fresh = state.after_query(NOON + 60, NOON - 870, [seen, later])
    assert fresh == (later,)
    # The next query asks from after ``seen`` was captured: no need to remember it.
    state, fresh = state.after_query(NOON + 2000, NOON + 20, [later])
    assert fresh == ()
    assert state.seen == frozenset({later})


@given(st.lists(st.lists(rows, max_size=8), max_size=8))
def test_a_seen_row_never_causes_a_second_read(answers: list[list[ChangeRow]]) -> None:
    """Queries return overlapping rows (late delivery, lookback): each row is fresh once."""
    state = FeedState().after_full(NOON - 3600)
    fresh_rows: list[ChangeRow] = []
    for poll, answer in enumerate(answers):
        # Every row the queries return lies after every since-time asked, as Config's do.
        state, fresh = state.after_query(NOON + poll, NOON - 3600, answer)
        fresh_rows.extend(fresh)

    assert len(fresh_rows) == len(set(fresh_rows))
    assert set(fresh_rows) == {row for answer in answers for row in answer}


# --- which targets to read, and the merge ----------------------------------------------


def test_changed_targets_and_those_without_a_status_are_read_in_wave_order() -> None:
    wave = [HERE, THERE, ELSEWHERE]

    to_read = targets_to_read(wave, changed=[ELSEWHERE, HERE], known={HERE, ELSEWHERE})

    assert to_read == (HERE, THERE, ELSEWHERE)
    assert targets_to_read(wave, changed=[], known=set(wave)) == ()


@given(
    wave=st.lists(targets, unique=True, max_size=8),
    changed=st.lists(rows, max_size=10),
    known=st.lists(targets, max_size=8),
)
def test_a_row_outside_the_wave_never_causes_a_read(
    wave: list[Target], changed: list[ChangeRow], known: list[Target]
) -> None:
    to_read = targets_to_read(wave, changed_after_read(changed, {}, 0.0), set(known))

    assert set(to_read) <= set(wave)
    assert len(to_read) == len(set(to_read))
    # Every changed wave target is read; so is every wave target with no status to keep.
    assert {row.target for row in changed} & set(wave) <= set(to_read)
    assert set(wave) - set(known) <= set(to_read)


@given(
    changed=st.lists(rows, max_size=10),
    read_at=st.dictionaries(targets, st.floats(NOON - 7200, NOON + 7200), max_size=8),
    margin=st.floats(0, 600),
)
def test_a_change_captured_before_its_targets_last_read_causes_no_read(
    changed: list[ChangeRow], read_at: dict[Target, float], margin: float
) -> None:
    changed_targets = changed_after_read(changed, read_at, margin)

    for row in changed:
        read = read_at.get(row.target)
        if read is None or row.captured_at >= read - margin:
            assert row.target in changed_targets  # after the read (or never read): read it
    for target in changed_targets:
        assert any(
            row.target == target
            and (target not in read_at or row.captured_at >= read_at[target] - margin)
            for row in changed
        )


def test_merge_keeps_statuses_takes_fresh_ones_and_forgets_unread_ones() -> None:
    wave = [HERE, THERE, ELSEWHERE]
    kept = {HERE: "here-old", THERE: "there-old"}

    merged = merge_poll(wave, kept, fresh={HERE: "here-new"}, unread={THERE})

    assert merged.statuses == ("here-new",)
    assert merged.unread == (THERE, ELSEWHERE)  # never read before: unread, not dropped
    assert dict(merged.known) == {HERE: "here-new"}


@given(
    wave=st.lists(targets, max_size=10),
    kept=st.dictionaries(targets, st.integers(0, 9), max_size=10),
    fresh=st.dictionaries(targets, st.integers(10, 19), max_size=10),
    unread=st.sets(targets, max_size=10),
)
def test_merge_covers_every_wave_target_exactly_once(
    wave: list[Target],
    kept: dict[Target, int],
    fresh: dict[Target, int],
    unread: set[Target],
) -> None:
    merged = merge_poll(wave, kept, fresh, unread - set(fresh))
    read = list(merged.known)

    assert len(merged.statuses) == len(read)
    assert sorted([*read, *merged.unread]) == sorted(set(wave))
    assert not set(read) & set(merged.unread)
    for target in read:
        assert merged.known[target] == fresh.get(target, kept.get(target))
