"""A gate's record across tries: an Airflow retry resumes it, a clear starts anew."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.gate import ComplianceTotals, GateDecision
from distributor_rollout.core.gate_journal import GateRecord, resumed
from distributor_rollout.core.tries import continues

pytestmark = pytest.mark.unit

DECISION = GateDecision("PASS", "100.0% compliant", 100.0, ComplianceTotals(4, 4), 3.0)


def test_a_record_round_trips_through_json_shapes() -> None:
    record = GateRecord(1_700_000_000.5, 2).passing(3.0).decided(DECISION, "2026-12-06T09:00Z")

    assert GateRecord.from_dict(record.to_dict()) == record
    assert record.passing_since == 3.0


def test_an_airflow_retry_resumes_and_a_clear_starts_a_new_gate() -> None:
    stored = GateRecord(1_700_000_000.0, 2).passing(5.0).to_dict()

    retry = resumed(stored, max_tries=2)
    assert retry is not None
    assert (retry.opened_at, retry.passing_since) == (1_700_000_000.0, 5.0)
    # Clearing a task raises its max_tries: the person wants a new judgement.
    assert resumed(stored, max_tries=4) is None


def test_nothing_or_an_unreadable_record_starts_a_new_gate() -> None:
    assert resumed(None, 2) is None
    assert resumed({}, 2) is None
    assert resumed({"opened_at": "soon", "max_tries": 2}, 2) is None
    assert resumed({"opened_at": 1.0, "max_tries": 2, "decision": {"state": "MAYBE"}}, 2) is None


@given(max_tries=st.integers(0, 50), later=st.integers(0, 50))
def test_only_the_same_series_of_tries_resumes(max_tries: int, later: int) -> None:
    stored = GateRecord(1.0, max_tries).to_dict()
    assert (resumed(stored, later) is not None) == (later == max_tries)


def test_a_record_without_a_readable_series_never_continues() -> None:
    assert continues(2, 2)
    assert not continues(None, 0)
    assert not continues("2", 2)
    assert not continues(2, 3)
