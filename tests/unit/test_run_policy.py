"""Who may answer a wave's approval, and which answers count."""

from __future__ import annotations

from distributor_rollout.core.run_policy import (
    ApprovalPolicy,
    approver_problems,
    approvers_for,
    refused_answer,
)


def test_the_trigger_user_is_left_out_of_the_assignees_unless_allowed() -> None:
    policy = ApprovalPolicy(approvers=["alice", "bob"])
    assert approvers_for(policy, "alice") == ("bob",)
    assert approvers_for(policy, None) == ("alice", "bob")  # a scheduled run
    allowed = policy.model_copy(update={"allow_self_approval": True})
    assert approvers_for(allowed, "alice") == ("alice", "bob")
    assert approvers_for(ApprovalPolicy(), "alice") == ()  # anyone Airflow lets answer


def test_a_run_needs_an_approver_other_than_its_trigger_user() -> None:
    policy = ApprovalPolicy(approvers=["alice"])
    assert [problem.path for problem in approver_problems(policy, "alice")] == [
        "approvals.approvers"
    ]
    assert list(approver_problems(policy, "bob")) == []
    assert list(approver_problems(ApprovalPolicy(), "alice")) == []


def test_which_answers_count() -> None:
    anyone = ApprovalPolicy()
    named = ApprovalPolicy(approvers=["bob"])
    assert refused_answer(anyone, approved=True, responder="bob", triggered_by="alice") is None
    assert "may not approve its own waves" in str(
        refused_answer(anyone, approved=True, responder="alice", triggered_by="alice")
    )
    # A rejection always counts: stopping a rollout is always safe.
    assert refused_answer(anyone, approved=False, responder="alice", triggered_by="alice") is None
    assert "not among the plan's approvers" in str(
        refused_answer(named, approved=True, responder="carol", triggered_by="alice")
    )
    assert refused_answer(named, approved=True, responder="bob", triggered_by=None) is None
    selfish = ApprovalPolicy(allow_self_approval=True)
    assert refused_answer(selfish, approved=True, responder="alice", triggered_by="alice") is None
