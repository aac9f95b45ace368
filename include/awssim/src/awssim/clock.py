"""Simulated time: AWS hours become seconds, in the same order of states.

The clock runs ``speed`` times faster than the wall clock, and tests can jump it forward
with :meth:`SimClock.advance`. Everything awssim reports (operation timestamps, execution
times) is simulated time; everything it schedules (instance operations, agent runs) is due
at a simulated time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """A monotonic clock that runs ``speed`` times faster than real time."""

    def __init__(self, speed: float = 60.0, start: datetime | None = None) -> None:
        if speed <= 0:
            msg = f"speed must be > 0 (got {speed})"
            raise ValueError(msg)
        self._speed = speed
        self._start = start or datetime.now(UTC)
        self._real_start = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    def seconds(self) -> float:
        """Simulated seconds since the clock started."""
        with self._lock:
            return (time.monotonic() - self._real_start) * self._speed + self._offset

    def now(self) -> datetime:
        """The simulated wall-clock time (timezone-aware, UTC)."""
        return self.at(self.seconds())

    def at(self, seconds: float) -> datetime:
        """The simulated datetime of a simulated-seconds value."""
        return self._start + timedelta(seconds=seconds)

    def advance(self, seconds: float) -> float:
        """Jump the clock forward by ``seconds`` simulated seconds; returns the new reading."""
        if seconds < 0:
            msg = f"the clock only moves forward (got {seconds})"
            raise ValueError(msg)
        with self._lock:
            self._offset += seconds
        return self.seconds()
