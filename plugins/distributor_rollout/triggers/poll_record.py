"""Record a deferred gate's waiting polls from the triggerer, where the Rollout tab reads them.

While the compliance sensor is deferred, its polls run in the trigger. Airflow's triggerer
gives a trigger its task instance (``BaseTrigger.task_instance``, set before ``run``) and
handles the XCom writes a trigger sends through the SDK (``XCom.aset`` → ``SetXCom`` to the
triggerer's supervisor), so the trigger records each waiting poll under the sensor's key
(``core.steps.LATEST_POLL_XCOM_KEY``) in the sensor's own XCom, as the sensor would.

Best effort: the tab's numbers are a view, and the gate decides without them. A write that
fails or hangs (``RECORD_TIMEOUT_SECONDS``) is logged, as a warning the first time for each
kind of failure, and the gate polls on. Without a task instance (``dag.test()`` runs a
deferred task's trigger inline without one; unit tests) nothing is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol

from airflow.sdk.execution_time.xcom import XCom

from distributor_rollout.core.gate_progress import LatestPoll
from distributor_rollout.core.steps import LATEST_POLL_XCOM_KEY

RECORD_TIMEOUT_SECONDS = 10.0
"""How long one write may take before the gate stops waiting for it and polls on."""


class TaskKey(Protocol):
    """What identifies the task instance whose XCom a trigger writes to."""

    @property
    def dag_id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def map_index(self) -> int | None: ...


class XComWriter(Protocol):
    """Writes one XCom value (the shape of the SDK's ``XCom.aset``)."""

    def __call__(
        self, key: str, value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int
    ) -> Awaitable[None]: ...


class PollRecorder:
    """Writes one trigger's waiting polls to its task instance's XCom, never failing it.

    :param log: the trigger's logger.
    :param writer: how to write. By default the SDK's ``XCom`` as the deployment configures
        it (``[core] xcom_backend``), the class a task's ``xcom_push`` goes through: the tab
        finds the trigger's polls stored as it finds the sensor's.
    :param timeout: seconds one write may take.
    """

    def __init__(
        self,
        log: Any,
        writer: XComWriter | None = None,
        timeout: float = RECORD_TIMEOUT_SECONDS,
    ) -> None:
        self._log = log
        self._writer = writer
        self._timeout = timeout
        self._failures_seen: set[str] = set()
        self._told_no_task = False

    async def record(self, task_instance: TaskKey | None, poll: LatestPoll) -> bool:
        """Write ``poll`` for ``task_instance`` (the trigger's); True once written. False
        when there is no task instance to write for, or the write failed or timed out."""
        if task_instance is None:
            if not self._told_no_task:
                self._told_no_task = True
                self._log.debug("No task instance (not in a triggerer): polls are not recorded")
            return False
        try:
            writer: XComWriter = self._writer or XCom.aset
            await asyncio.wait_for(
                writer(
                    LATEST_POLL_XCOM_KEY,
                    poll.to_dict(),
                    dag_id=task_instance.dag_id,
                    task_id=task_instance.task_id,
                    run_id=task_instance.run_id,
                    # The SDK's model allows None; Airflow stores an unmapped task as -1.
                    map_index=-1 if task_instance.map_index is None else task_instance.map_index,
                ),
                self._timeout,
            )
        except Exception as error:  # noqa: BLE001 - any failure to record must spare the gate
            self._failed(error)
            return False
        return True

    def _failed(self, error: Exception) -> None:
        """Warn the first time a kind of failure occurs; later ones of that kind go to debug,
        so a broken write path does not flood a long gate's log."""
        kind = type(error).__name__
        if kind in self._failures_seen:
            self._log.debug("Latest poll not recorded (%s: %s)", kind, error)
            return
        self._failures_seen.add(kind)
        self._log.warning(
            "Could not record the gate's latest poll for the Rollout tab (%s: %s); the gate "
            "keeps polling, and the tab shows the last poll recorded until one is",
            kind,
            str(error) or "no detail",
        )
