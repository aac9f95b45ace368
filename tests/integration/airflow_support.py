"""Running operators and sensors the way Airflow does, without a scheduler.

``run_task`` calls ``execute``; when the task defers, it runs the trigger in an event loop
until its first event and resumes the task with it, as the triggerer and a worker would.
The task instance here only records what the task pushes to XCom; every AWS call is real
(against awssim).
"""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk.exceptions import TaskDeferred
from airflow.triggers.base import BaseTrigger, TriggerEvent

RUN_ID = "manual__2026-11-27T08:00:00+00:00"


@dataclass
class RecordingTaskInstance:
    """The slice of a task instance operators use: XCom pushes and identity."""

    task_id: str = "task"
    dag_id: str = "distributor_rollout__test"
    run_id: str = RUN_ID
    try_number: int = 1
    max_tries: int = 2
    map_index: int = -1
    xcom: dict[str, Any] = field(default_factory=dict)
    others: dict[tuple[str, str], Any] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    """Running runs per DAG id, as ``get_dr_count`` answers (none unless a test says)."""

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        """Record a pushed value."""
        self.xcom[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        """This task's own pushes (what a resumed task reads back), or another task's value
        as a test set it in ``others`` (``(task_id, key)``); None when there is none."""
        if task_ids is None or task_ids == self.task_id:
            return self.xcom.get(key)
        return self.others.get((task_ids, key))

    def get_dr_count(self, dag_id: str, states: list[str] | None = None, **_: Any) -> int:
        """Runs of ``dag_id`` in ``states`` (the test's ``running`` for "running")."""
        return self.running.get(dag_id, 0) if states == ["running"] else 0


@dataclass
class MemoryStateStore:
    """The slice of Airflow's task state store operators use (``context["task_state_store"]``):
    JSON values by key, kept across the tries of one task (share one between contexts to
    play a retry)."""

    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value (a copy, as JSON would give), or ``default``."""
        return json.loads(json.dumps(self.values[key])) if key in self.values else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        """Store a JSON value (refused as Airflow refuses it: None, or not JSON)."""
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = json.loads(json.dumps(value))


def make_context(
    task_id: str = "task",
    run_id: str = RUN_ID,
    *,
    store: MemoryStateStore | None = None,
    max_tries: int = 2,
    **extra: Any,
) -> dict[str, Any]:
    """A task context with a recording task instance and a task state store (``store``
    to share one with an earlier try; ``max_tries`` as Airflow sets it, raised by a clear)."""
    ti = RecordingTaskInstance(task_id=task_id, run_id=run_id, max_tries=max_tries)
    return {
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "task_state_store": store if store is not None else MemoryStateStore(),
        **extra,
    }


async def first_event(trigger: BaseTrigger, timeout: float = 120.0) -> TriggerEvent:
    """The trigger's first event (what the triggerer would hand back to the task)."""

    async def _first() -> TriggerEvent:
        async for event in trigger.run():
            return event
        msg = f"{type(trigger).__name__} ended without an event"
        raise AssertionError(msg)

    return await asyncio.wait_for(_first(), timeout)


def run_task(
    operator: Any,
    context: dict[str, Any] | None = None,
    timeout: float = 120.0,
    *,
    deferred: TaskDeferred | None = None,
) -> Any:
    """Run ``operator`` to completion through any number of deferrals; returns its result.

    With ``deferred`` (what an earlier ``execute`` raised), resume from that deferral
    instead of starting over: pass a freshly built operator, as Airflow resumes on one."""
    context = context or make_context(operator.task_id)
    # Airflow resumes a deferred task on a fresh copy parsed from the DAG, in another
    # process: resume on a copy of the operator as constructed, so state kept on ``self``
    # across a deferral is lost here as it would be there.
    pristine = _fresh_copy(operator)
    if deferred is None:
        try:
            return operator.execute(context)
        except TaskDeferred as first:
            deferred = first
    while True:
        # The triggerer rebuilds the trigger from its serialized form: so do we.
        classpath, trigger_kwargs = deferred.trigger.serialize()
        event = asyncio.run(first_event(_import(classpath)(**trigger_kwargs), timeout))
        kwargs = {**(deferred.kwargs or {}), "event": event.payload}
        try:
            return getattr(_fresh_copy(pristine), deferred.method_name)(context, **kwargs)
        except TaskDeferred as again:
            deferred = again


def _fresh_copy(operator: Any) -> Any:
    """A deep copy without cached hooks (they hold locks and clients, and a new process
    would build its own anyway)."""
    cached = {name: operator.__dict__.pop(name) for name in ("hook",) if name in operator.__dict__}
    try:
        return copy.deepcopy(operator)
    finally:
        operator.__dict__.update(cached)


def _import(classpath: str) -> type[BaseTrigger]:
    module_name, _, name = classpath.rpartition(".")
    module = __import__(module_name, fromlist=[name])
    cls: type[BaseTrigger] = getattr(module, name)
    return cls
