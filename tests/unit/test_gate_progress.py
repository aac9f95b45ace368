"""core.gate_progress.waiting_poll: which polls the sensor and its trigger record for the tab."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.gate import ComplianceTotals, GateDecision
from distributor_rollout.core.gate_progress import LatestPoll, waiting_poll

_decisions = st.builds(
    GateDecision,
    state=st.sampled_from(["PASS", "WAIT", "FAIL"]),
    reason=st.text(max_size=10),
    compliant_percent=st.floats(0, 100),
    totals=st.builds(ComplianceTotals, st.integers(0, 9), st.integers(0, 9)),
    passing_since=st.none() | st.floats(0, 1e6),
)
_epochs = st.floats(0, 4e9)


@given(_decisions, _epochs)
def test_only_a_waiting_gate_records_its_poll(decision: GateDecision, began: float) -> None:
    latest = waiting_poll(decision, began)
    if decision.state != "WAIT":
        assert latest is None, "a decided gate records its decision, not a poll"
        return
    assert latest is not None
    assert latest.decision == decision
    assert latest.polled_at is not None
    polled_at = datetime.fromisoformat(latest.polled_at)
    assert polled_at.utcoffset() == timedelta(0)
    assert abs(polled_at.timestamp() - began) < 1e-3
    assert LatestPoll.read(latest.to_dict()) == latest


def test_a_poll_is_dated_by_when_it_began() -> None:
    decision = GateDecision("WAIT", "waiting", 50.0, ComplianceTotals(4, 2), None)
    began = datetime(2026, 11, 27, 8, 5, tzinfo=UTC).timestamp()

    latest = waiting_poll(decision, began)

    assert latest == LatestPoll(decision, "2026-11-27T08:05:00+00:00")
