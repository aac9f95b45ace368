"""StackSet operations as AWS runs them (placeholder until built)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from awssim.simulator import Simulator


class StackSetEngine:
    """Stack sets, their instances and asynchronous operations."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def reset(self) -> None:
        """Forget every stack set."""

    def state(self) -> dict[str, Any]:
        """Ground truth, JSON-safe."""
        return {}


def install() -> None:
    """Patch moto's CloudFormation stack set handlers."""
