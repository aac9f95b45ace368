"""What the live tests check about finished runs, through REST and the component logs.

Each check returns the problems it found as readable lines (empty: none), so a test can
report every run that went wrong at once: how many runs hit Airflow's deferral race
("state mismatch"), and in which tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from live_api import TERMINAL_RUN_STATES, LiveApi
from live_stack import LiveStack

# How the scheduler words an executor event that disagrees with the task's state (the
# message it stores as the "state mismatch" event log), and the event's own name.
MISMATCH_PATTERN = r"state mismatch|reported that the task instance .* finished with state"
RAN = frozenset({"success", "failed"})


@dataclass
class Run:
    """A run a test started, and what it saw while waiting for it."""

    dag_id: str
    run_id: str
    state: str | None = None
    approvals: list[str] = field(default_factory=list)
    asked_at: float | None = None
    """When the test first saw the run's approval waiting for an answer (monotonic)."""


def try_problems(api: LiveApi, run: Run, allowed: Mapping[str, str] | None = None) -> list[str]:
    """Every task instance of the run ran once at most and ended as expected.

    ``allowed`` maps task ids to the state they must end in; every other task must end
    ``success`` or ``skipped``. A task that ran has try number 1 and one try in its
    history; one that was skipped without running has try number 0 or 1."""
    allowed = allowed or {}
    problems = []
    for ti in api.task_instances(run.dag_id, run.run_id):
        task, state, try_number = ti["task_id"], ti["state"], ti["try_number"]
        expected = allowed.get(task)
        if expected is not None and state != expected:
            problems.append(f"{task}: {state} (expected {expected}), try {try_number}")
        elif expected is None and state not in {"success", "skipped"}:
            problems.append(f"{task}: {state}, try {try_number}")
        if state in RAN and try_number != 1:
            problems.append(f"{task}: ended {state} on try {try_number}")
        elif state == "skipped" and try_number > 1:
            problems.append(f"{task}: skipped on try {try_number}")
        if state in RAN:
            tries = api.tries(run.dag_id, run.run_id, task)
            if len(tries) != 1:
                history = ", ".join(f"try {t['try_number']} {t['state']}" for t in tries)
                problems.append(f"{task}: {len(tries)} tries ({history})")
    return problems


def mismatch_events(api: LiveApi, dag_ids: Iterable[str]) -> list[str]:
    """The "state mismatch" event log entries of the DAGs."""
    found = []
    for dag_id in dag_ids:
        for entry in api.event_logs(event="state mismatch", dag_id=dag_id):
            found.append(
                f"event log: state mismatch on {entry.get('dag_id')} {entry.get('run_id')} "
                f"{entry.get('task_id')} try {entry.get('try_number')}: "
                f"{str(entry.get('extra'))[:300]}"
            )
    return found


def mismatch_log_lines(stack: LiveStack, dag_ids: Iterable[str]) -> list[str]:
    """Lines of the scheduler's log reporting a state mismatch on one of the DAGs."""
    ids = tuple(dag_ids)
    return [
        f"scheduler log: {line[:400]}"
        for line in stack.grep("scheduler", MISMATCH_PATTERN)
        if any(dag_id in line for dag_id in ids)
    ]


HUMAN_DELAY_SECONDS = 10.0
"""How long after the question the test answers, as a person would. An answer within a
second or two of the task parking (a bot) can meet Airflow 3.3's deferral race, which no
task can prevent (the answer route resumes the task itself); the product then asks again
(the approval task's one retry). The strict first-try checks here are for people's pace."""


def answer_approvals(api: LiveApi, run: Run, task_id: str, option: str = "Approve") -> None:
    """Answer the run's pending approval ``task_id`` through the HITL REST route, once it
    has waited ``HUMAN_DELAY_SECONDS`` since the test first saw it asked."""
    now = time.monotonic()
    run.asked_at = run.asked_at if run.asked_at is not None else now
    if now - run.asked_at < HUMAN_DELAY_SECONDS:
        return
    detail = api.hitl_detail(run.dag_id, run.run_id, task_id)
    if detail is None or detail.get("response_received"):
        return
    options = detail.get("options") or []
    assert option in options, f"{task_id} of {run.run_id} offers {options}, not {option!r}"
    api.respond(run.dag_id, run.run_id, task_id, option)
    run.approvals.append(option)


def wait_all(
    api: LiveApi,
    runs: Sequence[Run],
    timeout: float,
    on_poll: Callable[[Run, dict[str, str | None]], None] | None = None,
    interval: float = 2.0,
) -> None:
    """Poll the runs until every one has ended, calling ``on_poll`` for the running ones."""
    deadline = time.monotonic() + timeout
    pending = list(runs)
    while pending:
        for run in list(pending):
            try:
                state = api.run(run.dag_id, run.run_id)["state"]
            except httpx.HTTPError:
                continue  # the API server is busy; ask again next round
            run.state = state
            if state in TERMINAL_RUN_STATES:
                pending.remove(run)
            elif on_poll is not None:
                on_poll(run, api.task_states(run.dag_id, run.run_id))
        if not pending:
            return
        if time.monotonic() > deadline:
            still = "\n".join(
                f"  {run.dag_id} {run.run_id}: {run.state} "
                f"{api.task_states(run.dag_id, run.run_id)}"
                for run in pending
            )
            message = f"{len(pending)} runs still unfinished after {timeout:.0f}s:\n{still}"
            raise AssertionError(message)
        time.sleep(interval)


def sim_calls(stack: LiveStack) -> list[dict[str, Any]]:
    """awssim's log of mutating AWS calls (its ground truth, over HTTP)."""
    response = httpx.get(f"{stack.sim_url}/_awssim/calls", timeout=60)
    response.raise_for_status()
    return response.json()


def sim_state(stack: LiveStack) -> dict[str, Any]:
    """awssim's ground truth: nodes, associations, stack sets, calls."""
    response = httpx.get(f"{stack.sim_url}/_awssim/state", timeout=120)
    response.raise_for_status()
    return response.json()


def operation_calls(calls: Iterable[Mapping[str, Any]], stack_set: str) -> dict[str, list[str]]:
    """The calls that started each StackSets operation on ``stack_set``, by operation id:
    mutating CloudFormation calls carrying an ``OperationId``, accepted by AWS or not."""
    started: dict[str, list[str]] = {}
    for call in calls:
        params = call["params"]
        ours = call["service"] == "cloudformation" and params.get("StackSetName") == stack_set
        if ours and "OperationId" in params:
            started.setdefault(params["OperationId"], []).append(
                f"{call['operation']} (HTTP {call['status']})"
            )
    return started
