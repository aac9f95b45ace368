"""The simulated clock and the event scheduler."""

from __future__ import annotations

import pytest

from awssim.clock import SimClock
from awssim.events import Scheduler


def test_clock_runs_faster_than_real_time_and_jumps_forward() -> None:
    clock = SimClock(speed=1000.0)
    first = clock.seconds()
    assert clock.advance(3600) >= first + 3600
    assert clock.now() >= clock.at(first + 3600)


def test_clock_refuses_to_go_back_or_stand_still() -> None:
    with pytest.raises(ValueError, match="forward"):
        SimClock().advance(-1)
    with pytest.raises(ValueError, match="speed"):
        SimClock(speed=0)


def test_events_run_in_due_order_then_scheduling_order() -> None:
    scheduler = Scheduler()
    ran: list[str] = []
    scheduler.at(20, lambda _due: ran.append("late"))
    scheduler.at(10, lambda _due: ran.append("first"))
    scheduler.at(10, lambda _due: ran.append("second"))
    assert scheduler.run_until(15) == 2
    assert ran == ["first", "second"]
    assert scheduler.next_due() == 20


def test_events_scheduled_by_events_run_when_due_in_the_same_pass() -> None:
    scheduler = Scheduler()
    ran: list[float] = []

    def chain(due: float) -> None:
        ran.append(due)
        if due < 30:
            scheduler.at(due + 10, chain)

    scheduler.at(10, chain)
    scheduler.run_until(25)
    assert ran == [10, 20]
    scheduler.run_until(100)
    assert ran == [10, 20, 30]


def test_cancelled_events_never_run() -> None:
    scheduler = Scheduler()
    ran: list[int] = []
    handle = scheduler.at(5, lambda _due: ran.append(1))
    handle.cancel()
    assert scheduler.pending() == 0
    assert scheduler.run_until(10) == 0
    assert ran == []
    assert scheduler.next_due() is None
