"""triggers.poll_record: a trigger's waiting polls written to its task's XCom, best effort."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
from airflow.sdk.execution_time.comms import ErrorResponse
from trigger_comms import RecordingComms, as_triggerer, task_instance

from distributor_rollout.core.gate import ComplianceTotals, GateDecision
from distributor_rollout.core.gate_progress import LatestPoll
from distributor_rollout.core.steps import LATEST_POLL_XCOM_KEY
from distributor_rollout.triggers.poll_record import PollRecorder

POLL = LatestPoll(
    GateDecision(
        state="WAIT",
        reason="72.0% compliant of 25 nodes, below 95%",
        compliant_percent=72.0,
        totals=ComplianceTotals(expected=25, success=18, pending=7),
        passing_since=None,
    ),
    "2026-11-27T08:05:00+00:00",
)


@dataclass
class RecordingLog:
    """The slice of a trigger's logger the recorder uses, keeping (level, message)."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append(("warning", msg % args))

    def debug(self, msg: str, *args: Any) -> None:
        self.lines.append(("debug", msg % args))

    def levels(self, level: str) -> list[str]:
        return [text for lvl, text in self.lines if lvl == level]


@dataclass
class Writer:
    """An XCom writer that keeps its calls and raises the next of ``errors``, if any."""

    errors: list[BaseException] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, key: str, value: Any, **where: Any) -> None:
        self.calls.append({"key": key, "value": value, **where})
        if self.errors:
            raise self.errors.pop(0)


def record(recorder: PollRecorder, ti: Any, poll: LatestPoll = POLL) -> bool:
    return asyncio.run(recorder.record(ti, poll))


def test_a_poll_goes_to_the_task_instances_xcom_through_the_sdk() -> None:
    ti = task_instance(dag_id="d", task_id="canary.wait_compliance", run_id="r", map_index=-1)
    with as_triggerer(None, RecordingComms()) as comms:
        assert record(PollRecorder(RecordingLog()), ti)

    (sent,) = comms.xcom_writes
    assert (sent.key, sent.dag_id, sent.task_id, sent.run_id, sent.map_index) == (
        LATEST_POLL_XCOM_KEY,
        "d",
        "canary.wait_compliance",
        "r",
        -1,
    )
    # Stored as the sensor's own push is: the tab reads it back as the same poll.
    assert LatestPoll.read(sent.value) == POLL


def test_an_unmapped_task_instance_without_a_map_index_writes_for_minus_one() -> None:
    writer = Writer()
    ti = task_instance().model_copy(update={"map_index": None})

    assert record(PollRecorder(RecordingLog(), writer), ti)

    assert writer.calls[0]["map_index"] == -1


def test_without_a_task_instance_nothing_is_written_and_nothing_warned() -> None:
    writer, log = Writer(), RecordingLog()
    recorder = PollRecorder(log, writer)

    assert not record(recorder, None)
    assert not record(recorder, None)

    assert writer.calls == []
    assert log.levels("warning") == []
    assert len(log.levels("debug")) == 1, "said once, quietly"


def test_a_failed_write_warns_once_per_kind_of_failure_and_is_never_raised() -> None:
    refused = AirflowRuntimeError(
        ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": 500})
    )
    writer = Writer(errors=[refused, refused, ConnectionResetError("supervisor gone"), refused])
    log = RecordingLog()
    recorder = PollRecorder(log, writer)

    results = [record(recorder, task_instance()) for _ in range(5)]

    assert results == [False, False, False, False, True]
    warnings = log.levels("warning")
    assert len(warnings) == 2
    assert "AirflowRuntimeError" in warnings[0]
    assert "ConnectionResetError: supervisor gone" in warnings[1]
    assert all("keeps polling" in warning for warning in warnings)
    assert len(log.levels("debug")) == 2


def test_a_write_that_hangs_is_abandoned_after_the_timeout() -> None:
    async def hangs(*_: Any, **__: Any) -> None:
        await asyncio.sleep(3600)

    log = RecordingLog()

    assert not record(PollRecorder(log, hangs, timeout=0.05), task_instance())

    (warning,) = log.levels("warning")
    assert "TimeoutError" in warning


def test_cancelling_the_trigger_during_a_write_still_cancels_it() -> None:
    started = asyncio.Event()

    async def hangs(*_: Any, **__: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    async def cancel_while_writing() -> None:
        task = asyncio.create_task(
            PollRecorder(RecordingLog(), hangs).record(task_instance(), POLL)
        )
        await started.wait()
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancel_while_writing())
