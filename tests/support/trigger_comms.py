"""A stand-in for the triggerer's side of a trigger's XCom writes, for tests.

In a triggerer, a trigger's ``XCom.aset`` sends a ``SetXCom`` message over
``task_runner.SUPERVISOR_COMMS`` (a ``TriggerCommsDecoder``) to the triggerer's supervisor,
which stores it. ``RecordingComms`` takes that place: it keeps the messages (or fails them
all, as a supervisor answering with an error would), and ``as_triggerer`` installs it and
gives a trigger the task instance the triggerer would set. The trigger's code runs the
SDK's real ``XCom.aset``; only the process boundary is replaced.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk.api.datamodels._generated import TaskInstance
from airflow.sdk.execution_time import task_runner
from airflow.sdk.execution_time.comms import SetXCom
from airflow.triggers.base import BaseTrigger


@dataclass
class RecordingComms:
    """Answers ``asend`` as the triggerer's supervisor does a stored ``SetXCom`` (None), or
    raises ``fail`` for every message; ``messages`` holds what was sent, failed or not."""

    fail: BaseException | None = None
    messages: list[Any] = field(default_factory=list)

    async def asend(self, msg: Any) -> None:
        """Keep ``msg``; raise ``fail`` if set."""
        self.messages.append(msg)
        if self.fail is not None:
            raise self.fail

    @property
    def xcom_writes(self) -> list[SetXCom]:
        """The ``SetXCom`` messages, in order."""
        return [msg for msg in self.messages if isinstance(msg, SetXCom)]


def task_instance(
    dag_id: str = "distributor_rollout__test",
    task_id: str = "canary.wait_compliance",
    run_id: str = "manual__2026-11-27T08:00:00+00:00",
    map_index: int = -1,
) -> TaskInstance:
    """The SDK's task instance model, as the triggerer hands a trigger its task instance."""
    return TaskInstance(
        id=uuid.uuid4(),
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        try_number=1,
        map_index=map_index,
        dag_version_id=uuid.uuid4(),
    )


@contextmanager
def as_triggerer(
    trigger: BaseTrigger | None, comms: RecordingComms, ti: TaskInstance | None = None
) -> Iterator[RecordingComms]:
    """Run code as a triggerer would: ``comms`` as ``SUPERVISOR_COMMS`` and, unless
    ``trigger`` is None, ``ti`` (default: ``task_instance()``) as the trigger's task
    instance. The previous comms, if any, come back afterwards."""
    if trigger is not None:
        trigger.task_instance = ti or task_instance()  # type: ignore[assignment]
    missing = object()
    previous = getattr(task_runner, "SUPERVISOR_COMMS", missing)
    task_runner.SUPERVISOR_COMMS = comms  # type: ignore[assignment]
    try:
        yield comms
    finally:
        if previous is missing:
            del task_runner.SUPERVISOR_COMMS
        else:
            task_runner.SUPERVISOR_COMMS = previous  # type: ignore[assignment]
