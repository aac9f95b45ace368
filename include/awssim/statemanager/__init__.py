"""State Manager, compliance and the simulated SSM Agent (placeholder until built)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from awssim.simulator import Simulator


class StateManager:
    """Associations, executions and compliance per account and Region."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def reset(self) -> None:
        """Forget every association."""

    def state(self) -> dict[str, Any]:
        """Ground truth, JSON-safe."""
        return {}


def install() -> None:
    """Patch moto's SSM and CloudFormation with the State Manager extensions."""
