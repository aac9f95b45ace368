"""Rollouts under the real scheduler, executor and triggerer, driven over REST v2 only.

(a) happy runs of several plans side by side, one plan asking for approval (answered
through the HITL route): every run succeeds with every task on its first and only try,
and neither the event log nor the scheduler's log shows a state mismatch;
(b) a package whose installs fail (its run goes beside the happy ones): the gate fails,
the run rolls back, and the report says why; (c) while a compliance wait is deferred, the
triggerer records its polls of the gate to the task's XCom (the Rollout tab's live gate
progress); the scheduler and the triggerer are then SIGKILLed and restarted: the run
finishes, and every StackSets operation was started exactly once.

``LIVE_HAPPY_RUNS`` (default 10) sets how many happy runs (a) makes: ``make soak`` runs 100.
"""

from __future__ import annotations

import math
import os
import time

import pytest
from live_api import LiveApi, LiveApiError
from live_checks import (
    Run,
    answer_approvals,
    mismatch_events,
    mismatch_log_lines,
    operation_calls,
    sim_calls,
    sim_state,
    try_problems,
    wait_all,
)
from live_stack import APPROVER, LiveStack

from distributor_rollout.core.steps import LATEST_POLL_XCOM_KEY
from distributor_rollout.dag_factory import dag_id_for

# One Airflow stack per session: every live test runs in the same xdist worker.
pytestmark = pytest.mark.xdist_group("live")

HAPPY_PLANS = ("live-a", "live-b", "live-c", "live-d", "live-e")
APPROVAL_PLAN, APPROVAL_TASK = "live-a", "canary.approve"
HAPPY_RUNS = int(os.environ.get("LIVE_HAPPY_RUNS", "10"))
SANDBOX_ACCOUNTS = ("300000000001", "300111111112")  # /Sandbox in awssim's demo org
# Generous bounds that only a stuck run reaches (they are not timing assertions): a clean
# run takes about a minute; one that loses tries to retries (1 min backoff) takes longer.
RUN_BUDGET = 300.0
HAPPY_TIMEOUT = RUN_BUDGET * math.ceil(HAPPY_RUNS / len(HAPPY_PLANS)) + 120


def _problems(api: LiveApi, stack: LiveStack, runs: list[Run]) -> dict[str, list[str]]:
    """Every problem of finished runs that should have had none, by run (``dag run``), and
    the state mismatches the event log and the scheduler's log report for their DAGs."""
    problems: dict[str, list[str]] = {}
    for run in runs:
        found = [] if run.state == "success" else [f"run {run.state}"]
        problems[f"{run.dag_id} {run.run_id}"] = found + try_problems(api, run)
    dag_ids = sorted({run.dag_id for run in runs})
    problems["state mismatches"] = mismatch_events(api, dag_ids) + mismatch_log_lines(
        stack, dag_ids
    )
    return problems


def _text(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{key}: {line}" for key, lines in problems.items() for line in lines)


@pytest.fixture(scope="module")
def failing_run(api: LiveApi) -> Run:
    """The failing plan's run (its package fails to install everywhere), started once. The
    happy test starts it beside its own runs, as one more plan rolling out at the same
    time, and the failure test reads how it ended."""
    dag_id = dag_id_for("live-fail")
    api.unpause(dag_id)
    return Run(dag_id, api.trigger(dag_id, {"version": "1.0.1"}, run_id="fail-001"))


@pytest.mark.timeout(HAPPY_TIMEOUT + 300)
def test_happy_runs_side_by_side_succeed_on_their_first_try(
    api: LiveApi,
    approver_api: LiveApi,
    live_stack: LiveStack,
    tracked_runs: list[tuple[str, str]],
    failing_run: Run,
) -> None:
    for plan in HAPPY_PLANS:
        api.unpause(dag_id_for(plan))
    runs = []
    # All runs are triggered up front: each DAG runs one at a time (max_active_runs=1),
    # the plans' DAGs side by side. Each run ships a new version of its plan's package.
    for index in range(HAPPY_RUNS):
        plan, number = HAPPY_PLANS[index % len(HAPPY_PLANS)], index // len(HAPPY_PLANS) + 1
        dag_id = dag_id_for(plan)
        run_id = api.trigger(dag_id, {"version": f"1.0.{number}"}, run_id=f"happy-{number:03d}")
        runs.append(Run(dag_id, run_id))
        tracked_runs.append((dag_id, run_id))

    self_approval_refused: dict[str, bool] = {}

    def approve(run: Run, states: dict[str, str | None]) -> None:
        if run.dag_id == dag_id_for(APPROVAL_PLAN) and states.get(APPROVAL_TASK) in {
            "deferred",
            "awaiting_input",
        }:
            if run.run_id not in self_approval_refused:
                # The plan names only the approver: Airflow refuses the admin who triggered.
                try:
                    api.respond(run.dag_id, run.run_id, APPROVAL_TASK, "Approve")
                except LiveApiError as refused:
                    self_approval_refused[run.run_id] = "got 403" in str(refused)
                else:
                    self_approval_refused[run.run_id] = False
            answer_approvals(approver_api, run, APPROVAL_TASK, "Approve")

    wait_all(api, runs, HAPPY_TIMEOUT, on_poll=approve)

    problems = _problems(api, live_stack, runs)
    for run in runs:
        found = problems[f"{run.dag_id} {run.run_id}"]
        report = api.xcom(run.dag_id, run.run_id, "report", "report")
        decisions = [wave["decision"] for wave in report["waves"]]
        if report["status"] != "succeeded" or not set(decisions) <= {"passed", "approved"}:
            found.append(f"report {report['status']} {decisions}: {report['summary']}")
        if run.dag_id == dag_id_for(APPROVAL_PLAN):
            detail = api.hitl_detail(run.dag_id, run.run_id, APPROVAL_TASK)
            answered = detail and (detail["chosen_options"], detail["responded_by_user"]["name"])
            if run.approvals != ["Approve"] or answered != (["Approve"], APPROVER):
                found.append(f"approval: we sent {run.approvals}, Airflow has {answered}")
            if self_approval_refused.get(run.run_id) is not True:
                found.append("the admin who triggered the run was not refused as its approver")
            approved_by = report["waves"][0].get("approved_by")
            if approved_by != APPROVER:
                found.append(f"the report names {approved_by!r} as the approver")
            if decisions[0] != "approved":
                found.append(f"the approved wave reads {decisions[0]}")
    # A run counts as hit when it has problems of its own or the event log names it.
    mismatched = " ".join(problems["state mismatches"])
    hit = [
        run
        for run in runs
        if problems[f"{run.dag_id} {run.run_id}"] or f"on {run.dag_id} {run.run_id} " in mismatched
    ]
    assert not any(problems.values()), (
        f"{len(hit)} of {len(runs)} happy runs went wrong:\n{_text(problems)}"
    )


@pytest.mark.timeout(RUN_BUDGET + 300)
def test_a_failing_gate_rolls_the_run_back_and_the_report_says_why(
    api: LiveApi, live_stack: LiveStack, tracked_runs: list[tuple[str, str]], failing_run: Run
) -> None:
    run, dag_id = failing_run, failing_run.dag_id
    tracked_runs.append((run.dag_id, run.run_id))
    wait_all(api, [run], RUN_BUDGET)

    # The report task fails the run with its summary; the gate's failure is decided
    # (not retried) and the rollback succeeds, every task on its first try.
    assert run.state == "failed"
    decided = {
        "canary.wait_compliance": "failed",
        "rollback": "success",
        "finalize": "upstream_failed",
        "report": "failed",
    }
    problems = try_problems(api, run, allowed=decided)
    problems += mismatch_events(api, [dag_id]) + mismatch_log_lines(live_stack, [dag_id])
    assert not problems, "\n".join(problems)

    report = api.xcom(dag_id, run.run_id, "report", "report")
    assert report["status"] == "rolled_back", report["summary"]
    (wave,) = report["waves"]
    assert wave["decision"] == "failed"
    assert wave["compliance"]["decision"] == "FAIL"
    assert wave["compliance"]["failed"] > 0
    assert "threshold unreachable" in wave["reason"], wave
    assert f"wave canary failed: {wave['reason']}" in report["summary"]
    # The failed targets named are the wave's own: the Sandbox accounts in us-east-1.
    assert wave["failed_targets"], wave
    assert {entry["target"] for entry in wave["failed_targets"]} <= {
        f"{account}/us-east-1" for account in SANDBOX_ACCOUNTS
    }
    assert report["rollback"]["status"] == "succeeded", report["rollback"]
    assert report["rollback"]["restored_targets"] == len(SANDBOX_ACCOUNTS)

    # awssim's ground truth: a first install rolled back leaves no node with the package
    # and no stack instance behind.
    truth = sim_state(live_stack)
    holders = [n["instance_id"] for n in truth["nodes"] if "LiveFailPackage" in n["installed"]]
    assert holders == []
    (stack_set,) = [s for s in truth["stack_sets"].values() if s["name"] == "distributor-livefail"]
    assert stack_set["instances"] == []


@pytest.mark.timeout(RUN_BUDGET * 2 + 300)
def test_scheduler_and_triggerer_killed_during_a_deferred_wait_the_run_still_finishes(
    api: LiveApi, live_stack: LiveStack, tracked_runs: list[tuple[str, str]]
) -> None:
    dag_id, wait_task = dag_id_for("live-crash"), "canary.wait_compliance"
    api.unpause(dag_id)
    run = Run(dag_id, api.trigger(dag_id, {"version": "1.0.1"}, run_id="crash-001"))
    tracked_runs.append((run.dag_id, run.run_id))

    # The plan's first gate bakes for 2 h of fleet time (24 s real): the wait is deferred
    # for a while. Crash both components that hold it, as a lost node would.
    deadline = time.monotonic() + RUN_BUDGET
    state = None
    while state != "deferred":
        state = api.task_states(dag_id, run.run_id).get(wait_task)
        assert state in {None, "scheduled", "queued", "running", "deferred"}, (
            f"{wait_task} went {state} before it could be caught deferred"
        )
        assert time.monotonic() < deadline, f"{wait_task} never deferred"
        time.sleep(0.5)
    # While deferred, the triggerer's polls reach the task's XCom (the Rollout tab's gate
    # progress): a poll newer than the sensor's last one before it deferred, still waiting.
    before = api.xcom(dag_id, run.run_id, wait_task, LATEST_POLL_XCOM_KEY)["polled_at"]
    while (poll := api.xcom(dag_id, run.run_id, wait_task, LATEST_POLL_XCOM_KEY))[
        "polled_at"
    ] == before:
        assert api.task_states(dag_id, run.run_id)[wait_task] == "deferred", (
            f"{wait_task} left deferral before the triggerer recorded a poll"
        )
        assert time.monotonic() < deadline, "the triggerer recorded no poll of the gate"
        time.sleep(0.5)
    assert poll["polled_at"] > before
    assert poll["decision"]["state"] == "WAIT", poll
    live_stack.kill("scheduler", "triggerer")
    assert api.task_states(dag_id, run.run_id)[wait_task] == "deferred"
    live_stack.restart("scheduler", "triggerer")

    wait_all(api, [run], RUN_BUDGET)
    problems = _problems(api, live_stack, [run])
    assert not any(problems.values()), _text(problems)
    report = api.xcom(dag_id, run.run_id, "report", "report")
    assert report["status"] == "succeeded", report["summary"]

    # awssim's mutation log: every StackSets operation of the run was started once, and
    # those are exactly the operations its deploy tasks recorded (no second start after
    # the crash, none started and forgotten).
    started = operation_calls(sim_calls(live_stack), "distributor-livecrash")
    deployed = {
        operation
        for wave in ("canary", "nonprod")
        for operation in api.xcom(dag_id, run.run_id, f"{wave}.deploy", "return_value")[
            "operations"
        ]
    }
    assert started, "the run started no StackSets operation"
    assert {op: calls for op, calls in started.items() if len(calls) != 1} == {}
    assert set(started) == deployed
