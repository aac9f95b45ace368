"""A discrete-event scheduler on simulated time.

AWS does its work asynchronously; awssim does it lazily. Work that AWS would do later (a stack
instance finishing, an agent applying an association) is scheduled at a simulated time, and
every request first runs whatever has come due. Nobody can observe state without a request,
so running events on arrival is indistinguishable from running them on time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

Action = Callable[[float], None]


@dataclass(order=True)
class _Event:
    due: float
    seq: int
    action: Action = field(compare=False)
    label: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)


class EventHandle:
    """Lets the scheduler's caller cancel an event before it runs."""

    def __init__(self, event: _Event) -> None:
        self._event = event

    @property
    def due(self) -> float:
        """Simulated seconds at which the event runs."""
        return self._event.due

    def cancel(self) -> None:
        """Do not run the event."""
        self._event.cancelled = True


class Scheduler:
    """Runs actions at simulated times, in due order (ties in scheduling order)."""

    def __init__(self) -> None:
        self._queue: list[_Event] = []
        self._seq = itertools.count()

    def at(self, due: float, action: Action, label: str = "") -> EventHandle:
        """Run ``action(due)`` once the clock reaches ``due`` simulated seconds."""
        event = _Event(due, next(self._seq), action, label)
        heapq.heappush(self._queue, event)
        return EventHandle(event)

    def run_until(self, now: float) -> int:
        """Run every event due at or before ``now``, including ones they schedule; returns count."""
        ran = 0
        while self._queue and self._queue[0].due <= now:
            event = heapq.heappop(self._queue)
            if event.cancelled:
                continue
            event.action(event.due)
            ran += 1
        return ran

    def next_due(self) -> float | None:
        """When the next pending event is due, or None when nothing is pending."""
        while self._queue and self._queue[0].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0].due if self._queue else None

    def pending(self) -> int:
        """How many events are still to run."""
        return sum(1 for event in self._queue if not event.cancelled)

    def clear(self) -> None:
        """Forget every pending event."""
        self._queue.clear()
