"""StackSet operation verdicts (and the Target they are keyed by)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.targets import Target
from distributor_rollout.core.verdict import (
    INSTANCE_STATUSES,
    OPERATION_STATUSES,
    FailureTolerance,
    InstanceResult,
    OperationVerdict,
    judge_operation,
    truncate_list,
)

pytestmark = pytest.mark.unit

EU, US = "eu-west-1", "us-east-1"


def account(number: int) -> str:
    return f"{number:012d}"


def result(number: int, region: str, status: str, reason: str = "") -> InstanceResult:
    return InstanceResult(Target(account(number), region), status, reason)


# --- Target -------------------------------------------------------------------------------


def test_target_str_parse_and_dict_round_trip() -> None:
    target = Target("123456789012", "eu-west-1")
    assert str(target) == "123456789012/eu-west-1"
    assert Target.parse(str(target)) == target
    assert Target.from_dict(json.loads(json.dumps(target.to_dict()))) == target
    assert {target, Target("123456789012", "eu-west-1")} == {target}


def test_targets_sort_by_account_then_region() -> None:
    targets = [Target(account(2), EU), Target(account(1), US), Target(account(1), EU)]
    assert [str(t) for t in sorted(targets)] == [
        "000000000001/eu-west-1",
        "000000000001/us-east-1",
        "000000000002/eu-west-1",
    ]


@pytest.mark.parametrize(
    ("account_id", "region", "field"),
    [
        ("12345678901", EU, "account_id"),
        ("1234567890123", EU, "account_id"),
        ("12345678901a", EU, "account_id"),
        ("123456789012", "Europe", "region"),
        ("123456789012", "", "region"),
    ],
)
def test_target_rejects_malformed_ids(account_id: str, region: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Target(account_id, region)
    assert caught.value.problems[0].path == field


def test_target_parse_needs_a_slash() -> None:
    with pytest.raises(ValidationError, match="123456789012/eu-west-1"):
        Target.parse("123456789012")


def test_target_accepts_regions_of_every_partition_shape() -> None:
    for region in ("us-gov-west-1", "cn-northwest-1", "eu-isoe-west-1", "us-isof-south-1"):
        assert Target(account(1), region).region == region


# --- failure tolerance --------------------------------------------------------------------


def test_tolerance_defaults_to_zero() -> None:
    assert FailureTolerance().for_region(100) == 0


def test_tolerance_count_is_per_region_as_given() -> None:
    assert FailureTolerance(count=2).for_region(1) == 2


@pytest.mark.parametrize(("accounts", "expected"), [(9, 0), (10, 1), (19, 1), (20, 2), (0, 0)])
def test_tolerance_percentage_rounds_down(accounts: int, expected: int) -> None:
    assert FailureTolerance(percentage=10).for_region(accounts) == expected


def test_tolerance_from_operation_preferences() -> None:
    preferences = {"FailureTolerancePercentage": 25, "MaxConcurrentCount": 5}
    assert FailureTolerance.from_preferences(preferences) == FailureTolerance(percentage=25)
    assert FailureTolerance.from_preferences(None) == FailureTolerance()


@pytest.mark.parametrize(
    "kwargs",
    [{"count": 1, "percentage": 10}, {"count": -1}, {"percentage": 101}, {"count": True}],
)
def test_tolerance_rejects_bad_values(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="failure tolerance"):
        FailureTolerance(**kwargs)


# --- verdict rules ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["QUEUED", "RUNNING", "STOPPING"])
def test_in_progress_statuses_are_running(status: str) -> None:
    verdict = judge_operation(status, [result(1, EU, "RUNNING"), result(2, EU, "FAILED", "x")])
    assert verdict.outcome == "running"
    assert not verdict.done
    assert "1 of 2 instances done" in verdict.summary


@pytest.mark.parametrize("status", ["FAILED", "STOPPED"])
def test_failed_and_stopped_fail_even_without_failed_instances(status: str) -> None:
    verdict = judge_operation(status, [result(1, EU, "SUCCEEDED"), result(2, EU, "CANCELLED")])
    assert verdict.outcome == "failed"
    assert verdict.cancelled == (Target(account(2), EU),)


def test_succeeded_with_failures_within_tolerance_lists_them() -> None:
    results = [result(n, EU, "SUCCEEDED") for n in range(1, 10)]
    results.append(result(10, EU, "FAILED", "Resource handler returned message: boom"))
    verdict = judge_operation("SUCCEEDED", results, FailureTolerance(percentage=10))
    assert verdict.outcome == "succeeded"
    assert [str(item) for item in verdict.failed] == [
        "000000000010/eu-west-1: Resource handler returned message: boom"
    ]
    assert verdict.regions[EU].to_dict() == {
        "succeeded": 9,
        "failed": 1,
        "cancelled": 0,
        "total": 10,
        "tolerance": 1,
    }
    assert "within tolerance" in verdict.summary


def test_succeeded_but_over_tolerance_is_failed() -> None:
    results = [result(1, EU, "FAILED", "boom"), result(2, US, "SUCCEEDED")]
    verdict = judge_operation("SUCCEEDED", results)
    assert verdict.outcome == "failed"
    assert verdict.regions_over_tolerance == (EU,)
    assert "exceed the failure tolerance" in verdict.summary
    assert "eu-west-1 (1 failed > 0)" in verdict.summary


def test_tolerance_is_counted_per_region() -> None:
    results = [
        result(1, EU, "FAILED", "a"),
        result(2, EU, "SUCCEEDED"),
        result(1, US, "FAILED", "b"),
        result(2, US, "FAILED", "c"),
    ]
    verdict = judge_operation("FAILED", results, FailureTolerance(count=1))
    assert verdict.regions_over_tolerance == (US,)
    assert verdict.regions[EU].tolerance == 1


def test_failed_targets_carry_reasons_and_account_gate() -> None:
    gated = InstanceResult(Target(account(3), EU), "FAILED", "gate said no", "FAILED")
    silent = result(4, EU, "FAILED")
    verdict = judge_operation("FAILED", [gated, silent])
    assert [item.reason for item in verdict.failed] == [
        "account gate failed: gate said no",
        "no reason given",
    ]


def test_summary_truncates_long_lists() -> None:
    results = [result(n, EU, "FAILED", f"reason {n}") for n in range(1, 26)]
    verdict = judge_operation("FAILED", results)
    assert verdict.summary.endswith("; and 15 more")
    assert "000000000010/eu-west-1: reason 10" in verdict.summary
    assert "000000000011/eu-west-1" not in verdict.summary
    assert verdict.summary.startswith("operation FAILED: 25 instances, 25 failed")


def test_truncate_list() -> None:
    assert truncate_list(["a", "b"], limit=2) == "a, b"
    assert truncate_list(["a", "b", "c"], limit=2) == "a, b, and 1 more"


def test_a_target_reported_twice_counts_once_by_its_last_entry() -> None:
    verdict = judge_operation(
        "SUCCEEDED", [result(1, EU, "FAILED", "x"), result(1, EU, "SUCCEEDED")]
    )
    assert verdict.outcome == "succeeded"
    assert verdict.regions[EU].total == 1


def test_no_results_and_succeeded_is_succeeded() -> None:
    verdict = judge_operation("SUCCEEDED", [])
    assert verdict.outcome == "succeeded"
    assert verdict.summary == "operation SUCCEEDED: 0 instances, 0 failed"


def test_unknown_statuses_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown operation status"):
        judge_operation("DONE", [])
    with pytest.raises(ValidationError, match="unknown status"):
        result(1, EU, "SKIPPED")


def test_instance_result_from_api_entry() -> None:
    entry = {
        "Account": "123456789012",
        "Region": "eu-west-1",
        "Status": "FAILED",
        "StatusReason": "Account gate check failed",
        "AccountGateResult": {"Status": "FAILED", "StatusReason": "fn returned FAILED"},
        "OrganizationalUnitId": "ou-ab12-cdef3456",
    }
    parsed = InstanceResult.from_api(entry)
    assert parsed == InstanceResult(
        Target("123456789012", EU), "FAILED", "Account gate check failed", "FAILED"
    )
    minimal = InstanceResult.from_api(
        {"Account": "123456789012", "Region": EU, "Status": "PENDING"}
    )
    assert minimal.reason == ""
    assert minimal.account_gate_status is None


# --- properties ---------------------------------------------------------------------------

_results = st.lists(
    st.builds(
        result,
        st.integers(1, 30),
        st.sampled_from([EU, US, "ap-south-1"]),
        st.sampled_from(INSTANCE_STATUSES),
        st.text(max_size=20),
    ),
    max_size=40,
)
_tolerances = st.one_of(
    st.builds(FailureTolerance),
    st.builds(FailureTolerance, count=st.integers(0, 5)),
    st.builds(FailureTolerance, percentage=st.integers(0, 100)),
)


@given(st.sampled_from(OPERATION_STATUSES), _results, _tolerances)
def test_verdict_properties(
    status: str, results: list[InstanceResult], tolerance: FailureTolerance
) -> None:
    verdict = judge_operation(status, results, tolerance)
    unique = {r.target: r for r in results}
    assert sum(c.total for c in verdict.regions.values()) == len(unique)
    assert len(verdict.failed) == sum(c.failed for c in verdict.regions.values())
    if verdict.outcome == "succeeded":
        assert status == "SUCCEEDED"
        assert all(c.failed <= c.tolerance for c in verdict.regions.values())
    if status in ("FAILED", "STOPPED"):
        assert verdict.outcome == "failed"
    assert OperationVerdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict
