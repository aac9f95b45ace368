"""The approval task and the plan's ``approvals``: who is asked, and which answers count.

The task talks to Airflow through the task runner's supervisor channel (the HITL detail it
writes); the test records what it sends there, and answers as Airflow's answer route would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import TaskAwaitingInput
from airflow.sdk.execution_time import task_runner
from airflow_support import RecordingTaskInstance, make_context

from distributor_rollout.operators.approval import ApprovalDeclined, WaveApprovalOperator


@dataclass
class Supervisor:
    """What the task sent to Airflow's supervisor."""

    sent: list[Any] = field(default_factory=list)

    def send(self, msg: Any) -> None:
        self.sent.append(msg)


@dataclass
class ApprovalTaskInstance(RecordingTaskInstance):
    """A task instance with the id the HITL detail is keyed by, in a run of no other tasks."""

    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def get_task_states(self, **_: Any) -> dict[str, Any]:
        return {}


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    recorder = Supervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", recorder, raising=False)
    return recorder


def plan_with(tmp_path: Path, example: Path, **approvals: Any) -> str:
    data = yaml.safe_load(example.read_text())
    data["package"]["source"] = str((example.parent / data["package"]["source"]).resolve())
    data["approvals"] = approvals
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def approval(plan: str) -> WaveApprovalOperator:
    return WaveApprovalOperator(task_id="prod.approve", plan_path=plan, wave="prod")


def context_of(user: str | None) -> dict[str, Any]:
    context = make_context("prod.approve", dag_run=SimpleNamespace(triggering_user_name=user))
    context["ti"] = context["task_instance"] = ApprovalTaskInstance(task_id="prod.approve")
    return context


def answer(option: str, by: str) -> dict[str, Any]:
    return {
        "chosen_options": [option],
        "params_input": {},
        "responded_at": datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
        "responded_by_user": {"id": by, "name": by},
    }


def test_the_trigger_user_is_not_asked_and_their_approval_does_not_count(
    example_plan_path: Path, tmp_path: Path, supervisor: Supervisor
) -> None:
    task = approval(plan_with(tmp_path, example_plan_path, approvers=["alice", "bob"]))
    context = context_of("alice")
    with pytest.raises(TaskAwaitingInput):
        task.execute(context)
    [asked] = supervisor.sent
    assert [user.id for user in asked.assigned_users] == ["bob"]

    # All-admins mode lets anyone answer: alice's own approval is not counted, and the
    # question is asked again.
    with pytest.raises(TaskAwaitingInput):
        task.execute_complete(context, answer("Approve", by="alice"))
    assert len(supervisor.sent) == 2
    result = task.execute_complete(context, answer("Approve", by="bob"))
    assert result["responded_by_user"]["id"] == "bob"


def test_without_named_approvers_anyone_but_the_trigger_user_may_approve(
    example_plan_path: Path, tmp_path: Path, supervisor: Supervisor
) -> None:
    task = approval(plan_with(tmp_path, example_plan_path))
    context = context_of("alice")
    with pytest.raises(TaskAwaitingInput):
        task.execute(context)
    assert supervisor.sent[0].assigned_users == []  # whoever Airflow lets answer
    with pytest.raises(TaskAwaitingInput):
        task.execute_complete(context, answer("Approve", by="alice"))
    assert task.execute_complete(context, answer("Approve", by="carol"))["chosen_options"] == [
        "Approve"
    ]


def test_a_rejection_always_counts_and_self_approval_can_be_allowed(
    example_plan_path: Path, tmp_path: Path, supervisor: Supervisor
) -> None:
    strict = approval(plan_with(tmp_path, example_plan_path))
    with pytest.raises(ApprovalDeclined):
        strict.execute_complete(context_of("alice"), answer("Reject", by="alice"))
    relaxed = approval(plan_with(tmp_path, example_plan_path, allow_self_approval=True))
    context = context_of("alice")
    with pytest.raises(TaskAwaitingInput):
        relaxed.execute(context)
    assert relaxed.execute_complete(context, answer("Approve", by="alice"))
