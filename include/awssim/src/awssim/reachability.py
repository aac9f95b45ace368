"""Agents that come back: schedules each outage's end and lets the State Manager catch up.

Going offline needs no event: whoever asks (a run dispatching a node, DescribeInstanceInformation,
the ground truth) reads ``Node.online_at`` at that moment. Coming back does: the real SSM
Agent, once it reconnects, asks for its associations and runs what it has not run, so the
end of an outage is an event on the simulated clock, and so is a scenario switch that
brings nodes back (``unmanaged-nodes`` → ``happy``).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from awssim.events import EventHandle
from awssim.fleet import Node, Outage

if TYPE_CHECKING:
    from awssim.simulator import Simulator


class Reachability:
    """The scheduled returns of the active scenario's offline agents."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._handles: list[EventHandle] = []

    def reset(self) -> None:
        """Forget the scheduled returns (the scenario that made the outages is gone)."""
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()

    def watch(self, node: Node, outage: Outage) -> None:
        """Schedule the node's return at the end of ``outage`` (if it ever ends)."""
        if outage.end is None:
            return
        self._handles.append(
            self.sim.scheduler.at(
                outage.end,
                partial(self._back, node),
                f"reachability:{node.instance_id}:back",
            )
        )

    def back(self, nodes: list[Node], moment: float) -> None:
        """These nodes' agents are online again at ``moment``: they run what is due."""
        for node in nodes:
            self._back(node, moment)

    def _back(self, node: Node, moment: float) -> None:
        if node.online_at(moment):  # another outage may have begun in the meantime
            self.sim.statemanager.runner.catch_up(node, moment)
