"""The StackSets operation waiter: when a wait is done, which tolerance judges, the summary."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.operation_summary import OperationsSummary
from distributor_rollout.core.operation_wait import (
    OperationsWait,
    judge,
    tolerance_for,
)
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import (
    ACTIVE_OPERATION_STATUSES,
    INSTANCE_STATUSES,
    OPERATION_STATUSES,
    FailureTolerance,
    InstanceResult,
)

pytestmark = pytest.mark.unit

REGIONS = ("eu-west-1", "us-east-1")
FINAL = tuple(status for status in OPERATION_STATUSES if status not in ACTIVE_OPERATION_STATUSES)

targets = st.builds(
    Target, st.sampled_from([f"{n:012d}" for n in range(1, 7)]), st.sampled_from(REGIONS)
)
api_results = st.lists(
    st.tuples(targets, st.sampled_from(INSTANCE_STATUSES), st.text(max_size=20)), max_size=14
).map(
    lambda entries: [
        {"Account": t.account_id, "Region": t.region, "Status": status, "StatusReason": reason}
        for t, status, reason in entries
    ]
)
tolerances = st.one_of(
    st.none(),
    st.builds(FailureTolerance, count=st.integers(0, 4)),
    st.builds(FailureTolerance, percentage=st.integers(0, 100)),
)


def preferences(tolerance: FailureTolerance | None) -> dict[str, Any]:
    """``OperationPreferences`` as DescribeStackSetOperation describes that tolerance."""
    described: dict[str, Any] = {"MaxConcurrentCount": 1}
    if tolerance is not None and tolerance.count is not None:
        described["FailureToleranceCount"] = tolerance.count
    if tolerance is not None and tolerance.percentage is not None:
        described["FailureTolerancePercentage"] = tolerance.percentage
    return described


def described(status: str, tolerance: FailureTolerance | None = None) -> dict[str, Any]:
    return {"Status": status, "OperationPreferences": preferences(tolerance)}


def expected_outcome(
    status: str, results: list[Mapping[str, Any]], tolerance: FailureTolerance | None
) -> str:
    """The outcome worked out independently: a final status other than SUCCEEDED fails;
    SUCCEEDED fails only if a Region failed more (distinct) accounts than it tolerates."""
    if status != "SUCCEEDED":
        return "failed"
    latest = {(r["Account"], r["Region"]): r["Status"] for r in results}
    tolerance = tolerance or FailureTolerance()
    for region in REGIONS:
        statuses = [s for (_, where), s in latest.items() if where == region]
        if statuses.count("FAILED") > tolerance.for_region(len(statuses)):
            return "failed"
    return "succeeded"


# --- when the wait is done ------------------------------------------------------------------


@given(histories=st.lists(st.lists(st.sampled_from(OPERATION_STATUSES), min_size=1), max_size=4))
def test_the_wait_ends_when_every_operation_reached_a_final_status(
    histories: list[list[str]],
) -> None:
    """Each operation reports a series of statuses; the loops describe each pending one
    per poll (stopping at the first still running), as the hook, sensor and trigger do."""
    ids = [f"op-{index}" for index in range(len(histories))]
    wait = OperationsWait.of(ids)
    polls = dict.fromkeys(ids, 0)
    for _ in range(sum(len(history) for history in histories) + 1):
        for operation_id, history in zip(ids, histories, strict=True):
            if operation_id not in wait.pending:
                continue
            status = history[min(polls[operation_id], len(history) - 1)]
            polls[operation_id] += 1
            wait = wait.observe(operation_id, described(status))
            if operation_id in wait.pending:
                break
    ends = [next((s for s in history if s in FINAL), None) for history in histories]
    stuck = next((i for i, end in enumerate(ends) if end is None), len(ids))
    # Operations run one at a time: those after a never-ending one are never looked at.
    assert wait.statuses() == {ids[i]: ends[i] for i in range(stuck)}
    assert wait.done == (stuck == len(ids))
    assert wait.pending == tuple(ids[stuck:])


def test_no_operation_is_done_at_once_and_judged_empty() -> None:
    wait = OperationsWait.of([])
    assert wait.done
    assert wait.judged({}) == OperationsSummary()
    assert wait.judged({}).to_dict() == {"outcome": "succeeded", "operations": {}}


def test_ids_are_waited_for_once_in_order() -> None:
    wait = OperationsWait.of(["b", "a", "b"])
    assert wait.operation_ids == ("b", "a")
    wait = wait.observe("a", described("SUCCEEDED"))
    assert wait.pending == ("b",)
    assert wait.progress() == "1 of 2 operations done"
    wait = wait.observe("b", described("FAILED"))
    assert list(wait.statuses()) == ["b", "a"]


def test_misuse_is_refused() -> None:
    wait = OperationsWait.of(["a", "b"]).observe("a", described("SUCCEEDED"))
    with pytest.raises(ValueError, match="not pending"):
        wait.observe("a", described("SUCCEEDED"))
    with pytest.raises(ValueError, match="not pending"):
        wait.observe("z", described("SUCCEEDED"))
    with pytest.raises(ValueError, match="b have not ended"):
        wait.judged({})


# --- which tolerance judges -----------------------------------------------------------------


@given(own=tolerances, override=tolerances)
def test_the_given_tolerance_overrides_the_operations_own(
    own: FailureTolerance | None, override: FailureTolerance | None
) -> None:
    expected = override if override is not None else (own or FailureTolerance())
    assert tolerance_for(preferences(own), override) == expected
    wait = OperationsWait.of(["op"], override).observe("op", described("SUCCEEDED", own))
    assert wait.ended[0].tolerance == expected


def test_a_tolerance_argument_is_read_from_its_dict() -> None:
    wait = OperationsWait.of(["op"], {"count": 2, "percentage": None})
    assert wait.tolerance == FailureTolerance(count=2)
    assert tolerance_for(None) == FailureTolerance()


# --- the judged summary ---------------------------------------------------------------------


@given(
    status=st.sampled_from(FINAL),
    results=api_results,
    own=tolerances,
    override=tolerances,
)
def test_the_outcome_is_failure_beyond_tolerance_or_a_failed_status(
    status: str,
    results: list[dict[str, Any]],
    own: FailureTolerance | None,
    override: FailureTolerance | None,
) -> None:
    wait = OperationsWait.of(["op"], override).observe("op", described(status, own))

    summary = wait.judged({"op": results})

    tolerance = override if override is not None else own
    outcome = expected_outcome(status, results, tolerance)
    assert summary.outcome == outcome
    assert summary.operations["op"].outcome == outcome
    assert summary.operations["op"].status == status
    # The same verdict as judging the operation alone (what the deploy task does).
    instance_results = [InstanceResult.from_api(entry) for entry in results]
    alone = judge(status, instance_results, preferences(own), override)
    assert summary.operations["op"].summary == alone.summary
    assert summary.failures() == ([f"op: {alone.summary}"] if outcome == "failed" else [])


@given(
    statuses=st.lists(st.sampled_from(FINAL), min_size=1, max_size=3),
    results=st.lists(api_results, min_size=3, max_size=3),
    override=tolerances,
)
def test_the_summary_lists_every_failed_target_once_and_round_trips(
    statuses: list[str], results: list[list[dict[str, Any]]], override: FailureTolerance | None
) -> None:
    ids = [f"op-{index}" for index in range(len(statuses))]
    wait = OperationsWait.of(ids, override)
    for operation_id, status in zip(ids, statuses, strict=False):
        wait = wait.observe(operation_id, described(status))

    summary = wait.judged(dict(zip(ids, results, strict=False)))

    failed: list[Target] = []
    for entries in results[: len(ids)]:
        latest = {Target(r["Account"], r["Region"]): r["Status"] for r in entries}
        failed += sorted(target for target, status in latest.items() if status == "FAILED")
    assert summary.failed_targets() == list(dict.fromkeys(failed))
    assert summary.outcome == ("failed" if summary.failures() else "succeeded")
    record = json.loads(json.dumps(summary.to_dict()))
    assert OperationsSummary.from_dict(record) == summary
    assert list(record["operations"]) == ids


def test_an_operation_failed_by_its_tolerance_names_the_region_and_the_targets() -> None:
    results = [
        {"Account": f"{n:012d}", "Region": "eu-west-1", "Status": status, "StatusReason": "boom"}
        for n, status in enumerate(["FAILED", "FAILED", "SUCCEEDED", "CANCELLED"], start=1)
    ]
    wait = OperationsWait.of(["op"]).observe("op", described("FAILED", FailureTolerance(count=1)))

    summary = wait.judged({"op": results})

    operation = summary.operations["op"]
    assert summary.outcome == "failed"
    assert operation.cancelled == 1
    assert operation.regions["eu-west-1"].failed == 2
    assert operation.regions["eu-west-1"].tolerance == 1
    assert "over tolerance in eu-west-1 (2 failed > 1)" in operation.summary
    assert [str(t) for t in summary.failed_targets()] == [
        "000000000001/eu-west-1",
        "000000000002/eu-west-1",
    ]
