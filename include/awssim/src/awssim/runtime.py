"""The process's simulator, for the code patched into moto's request handlers.

moto's backends are process-global, so there is one simulator per process; the patched
handlers find it here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from awssim.simulator import Simulator

_current: Simulator | None = None


def set_current(sim: Simulator) -> None:
    """Make ``sim`` the process's simulator."""
    global _current  # noqa: PLW0603 - the one process-wide simulator
    _current = sim


def current() -> Simulator:
    """The process's simulator; raises when none was started."""
    if _current is None:
        msg = "no awssim simulator is running in this process (create awssim.Simulator first)"
        raise RuntimeError(msg)
    return _current
