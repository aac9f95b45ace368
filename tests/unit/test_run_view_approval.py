"""The Rollout tab's approval cell: who approved or rejected a wave and when, or whom it
waits for, from the approval task's record and its question as Airflow keeps it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.recorded_run import APPROVE_OPTION, REJECT_OPTION, ApprovalRequest
from distributor_rollout.core.run_outcome import WaveRecords
from distributor_rollout.core.run_view import ACTIVE_TASK_STATES, approval_view

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[2] / "include/rollouts/examplepackage.yaml"
STATES = (None, "success", "failed", "upstream_failed", "skipped", *ACTIVE_TASK_STATES)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(EXAMPLE)


AT = "2026-11-27T09:30:00+00:00"
APPROVED_RESULT = {"responded_at": AT, "responded_by_user": {"id": "7", "name": "Ada"}}


def prod_approval(
    plan: Plan, state: str | None, request: ApprovalRequest | None, result: Any = None
) -> dict[str, Any]:
    records = WaveRecords(
        name="prod",
        states={"deploy": "success", "approve": state},
        approved_at=(result or {}).get("responded_at"),
        approved_by=(result or {}).get("responded_by_user", {}).get("name"),
    )
    return approval_view(records, plan.wave("prod"), request)


def test_a_rejection_names_who_rejected_it_and_when(plan: Plan) -> None:
    rejected = ApprovalRequest(chosen=(REJECT_OPTION,), responded_by="Grace", responded_at=AT)
    assert prod_approval(plan, "failed", rejected) == {
        "required": True,
        "state": "rejected",
        "by": "Grace",
        "at": AT,
        "waiting_for": [],
    }


def test_a_failed_approval_nobody_answered_says_so(plan: Plan) -> None:
    unanswered = ApprovalRequest(assignees=("Ada",))
    shown = prod_approval(plan, "failed", unanswered)
    assert (shown["state"], shown["by"], shown["at"]) == ("not_answered", None, None)
    # With no question to read (it failed before asking), as the report calls it.
    assert prod_approval(plan, "failed", None)["state"] == "rejected"


def test_a_waiting_approval_names_whom_it_waits_for(plan: Plan) -> None:
    asked = ApprovalRequest(assignees=("Ada", "Grace"))
    for state in ("deferred", "awaiting_input"):
        shown = prod_approval(plan, state, asked)
        assert (shown["state"], shown["waiting_for"]) == ("waiting", ["Ada", "Grace"])
    assert prod_approval(plan, "awaiting_input", ApprovalRequest())["waiting_for"] == []
    assert prod_approval(plan, "awaiting_input", None)["waiting_for"] == []


def test_an_approval_is_the_tasks_record_else_the_questions_answer(plan: Plan) -> None:
    answered = ApprovalRequest(chosen=(APPROVE_OPTION,), responded_by="Grace", responded_at=AT)
    from_task = prod_approval(plan, "success", answered, APPROVED_RESULT)
    assert (from_task["state"], from_task["by"], from_task["at"]) == ("approved", "Ada", AT)
    from_question = prod_approval(plan, "success", answered)
    assert (from_question["state"], from_question["by"]) == ("approved", "Grace")
    # Approved, then failed by Airflow: still approved, as the report says.
    assert prod_approval(plan, "failed", None, APPROVED_RESULT)["state"] == "approved"


@given(
    st.sampled_from(STATES),
    st.none()
    | st.builds(
        ApprovalRequest,
        assignees=st.lists(st.sampled_from(["Ada", "Grace"]), max_size=2).map(tuple),
        chosen=st.sampled_from([(), (APPROVE_OPTION,), (REJECT_OPTION,)]),
        responded_by=st.none() | st.just("Grace"),
        responded_at=st.none() | st.just(AT),
    ),
    st.booleans(),
)
def test_an_approval_names_someone_only_once_answered(
    state: str | None, request: ApprovalRequest | None, approved: bool
) -> None:
    plan = load_plan(EXAMPLE)
    shown = prod_approval(plan, state, request, APPROVED_RESULT if approved else None)
    if shown["by"] is not None or shown["at"] is not None:
        assert shown["state"] in ("approved", "rejected")
    if shown["waiting_for"]:
        assert shown["state"] == "waiting"
    if shown["state"] == "rejected" and request is not None and request.rejected:
        assert (shown["by"], shown["at"]) == (request.responded_by, request.responded_at)
