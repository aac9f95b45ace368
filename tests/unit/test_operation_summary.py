"""The operation sensor's XCom record: round trips, earlier shapes, refused shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.operation_summary import OperationsSummary, OperationSummary
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import (
    FailedTarget,
    FailureTolerance,
    InstanceResult,
    RegionCounts,
    judge_operation,
)

pytestmark = pytest.mark.unit

HERE = Target("111122223333", "eu-west-1")
THERE = Target("444455556666", "us-east-1")

targets = st.builds(
    Target,
    st.from_regex(r"[0-9]{12}", fullmatch=True),
    st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-2"]),
)
counts = st.builds(
    RegionCounts,
    succeeded=st.integers(0, 10**5),
    failed=st.integers(0, 10**5),
    cancelled=st.integers(0, 10**5),
    total=st.integers(0, 10**5),
    tolerance=st.integers(0, 10**5),
)
operations = st.builds(
    OperationSummary,
    status=st.sampled_from(["SUCCEEDED", "FAILED", "STOPPED"]),
    outcome=st.sampled_from(["succeeded", "failed"]),
    regions=st.dictionaries(st.sampled_from(["eu-west-1", "us-east-1"]), counts),
    failed=st.lists(st.builds(FailedTarget, targets, st.text(max_size=30)), max_size=5).map(tuple),
    cancelled=st.integers(0, 10**5),
    summary=st.text(max_size=60),
)
summaries = st.builds(
    OperationsSummary, st.dictionaries(st.text(min_size=1, max_size=20), operations, max_size=4)
)


@given(summary=summaries)
def test_from_dict_reads_what_to_dict_wrote_through_json(summary: OperationsSummary) -> None:
    record = json.loads(json.dumps(summary.to_dict()))

    assert OperationsSummary.from_dict(record) == summary
    assert record["outcome"] == summary.outcome
    assert summary.outcome == (
        "failed"
        if any(op.outcome == "failed" for op in summary.operations.values())
        else "succeeded"
    )


def verdict_record() -> dict[str, Any]:
    results = [
        InstanceResult(HERE, "FAILED", "Stack update failed"),
        InstanceResult(THERE, "CANCELLED"),
    ]
    return judge_operation("FAILED", results, FailureTolerance()).to_dict()


def test_an_earlier_trigger_event_of_verdicts_is_read() -> None:
    """Before the summary, the trigger sent ``{id: OperationVerdict.to_dict()}``."""
    summary = OperationsSummary.from_dict(
        {"status": "success", "operations": {"dr-op": verdict_record()}}
    )

    operation = summary.operations["dr-op"]
    assert operation.cancelled == 1  # the verdict listed it
    assert operation.failed == (FailedTarget(HERE, "Stack update failed"),)
    assert summary.outcome == "failed"


def test_the_outcome_is_recomputed_not_trusted() -> None:
    """Records from before the sensor stored ``failed`` said ``succeeded`` either way."""
    record = {"outcome": "succeeded", "operations": {"dr-op": {"outcome": "failed"}}}
    assert OperationsSummary.from_dict(record).outcome == "failed"


def test_partial_and_textual_records_are_read() -> None:
    record = {
        "operations": {
            "a": {"failed": [{"target": str(THERE), "reason": "r"}, str(HERE)]},
            "b": {"status": "STOPPED"},
            "c": {"failed": [{"target": HERE.to_dict()}]},
        }
    }

    summary = OperationsSummary.from_dict(record)

    assert summary.failed_targets() == [THERE, HERE]
    assert summary.operations["a"].status == "UNKNOWN"
    assert summary.operations["a"].outcome == "succeeded"
    assert summary.operations["b"].outcome == "failed"
    assert summary.operations["c"].failed == (FailedTarget(HERE, ""),)
    assert OperationsSummary.from_dict({}) == OperationsSummary()


@pytest.mark.parametrize(
    ("record", "path"),
    [
        ({"operations": [1, 2]}, "operations"),
        ({"operations": {"x": 7}}, "operations.x"),
        ({"operations": {"x": {"failed": [7]}}}, r"operations.x.failed\[0\]"),
        ({"operations": {"x": {"failed": "all"}}}, "operations.x.failed"),
        ({"operations": {"x": {"failed": ["nope/eu-west-1"]}}}, r"operations.x.failed\[0\]"),
        ({"operations": {"x": {"failed": [{"target": {"region": "eu-west-1"}}]}}}, "failed"),
        ({"operations": {"x": {"regions": {"eu-west-1": {"failed": 1}}}}}, "regions.eu-west-1"),
        ({"operations": {"x": {"cancelled": -1}}}, "operations.x.cancelled"),
        ({"operations": {"x": {"outcome": "fine"}}}, "operations.x.outcome"),
        ({"operations": {"x": {"status": 3}}}, "operations.x.status"),
    ],
)
def test_a_bad_record_is_refused_naming_the_field(record: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError, match=path):
        OperationsSummary.from_dict(record)


@pytest.mark.parametrize("record", [None, {}, "verdicts", {"operations": {"x": {"failed": [7]}}}])
def test_read_gives_none_for_no_record_or_one_it_cannot_read(record: object) -> None:
    assert OperationsSummary.read(record) is None


@given(summary=summaries)
def test_read_gives_what_from_dict_gives(summary: OperationsSummary) -> None:
    assert OperationsSummary.read(summary.to_dict()) == summary


def test_every_bad_operation_is_named_at_once() -> None:
    record = {"operations": {"x": {"failed": [7]}, "y": {"cancelled": "some"}}}
    with pytest.raises(ValidationError) as refused:
        OperationsSummary.from_dict(record)
    assert [problem.path for problem in refused.value.problems] == [
        "operations.x.failed[0]",
        "operations.y.cancelled",
    ]
