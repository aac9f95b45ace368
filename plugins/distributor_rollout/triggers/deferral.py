"""No instant triggers: an event never comes sooner than a floor after the task deferred.

Airflow 3.2-3.3's scheduler fails a deferred task when its trigger fires before the
scheduler has handled the executor's "success" for the worker process that deferred (it
reads as a task that changed state externally: "state mismatch"). A trigger whose event
comes ``[distributor_rollout] min_deferral_seconds`` after the deferral leaves the scheduler
that long to drain the stale event. The task computes the earliest time (``fire_not_before``)
when it defers; the trigger carries it as a plain kwarg, so a restarted triggerer keeps it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from distributor_rollout.settings import min_deferral_seconds


def fire_not_before() -> float:
    """Epoch seconds before which a trigger created now must not fire (the task calls this
    when it defers; the floor is the deployment's setting, in real seconds)."""
    return time.time() + min_deferral_seconds()


async def hold_until(not_before: float | None, log: Any) -> None:
    """Sleep until ``not_before`` (epoch seconds; None: no floor) before yielding an event;
    ``log`` is the trigger's logger."""
    if not_before is None:
        return
    wait = not_before - time.time()
    if wait > 0:
        log.info("Holding the event %.1fs (deferral floor, see triggers.deferral)", wait)
        await asyncio.sleep(wait)
