"""The awssim a rehearsal runs against: embedded in this process (the default), or one served
apart (``python -m awssim serve``) and named by ``--endpoint``.

An awssim of its own process keeps the simulator's CPU and memory out of the rehearsal's,
which is what a benchmark of the product measures (``bench/rollout_scale.py``). It must
already simulate what the rehearsal was asked for: the same organization, scenario and clock
speed (the rollout's waits are scaled by that speed). ``ServedAwssim.check`` compares its
``/_awssim/health`` with them, so a rehearsal never runs against another organization than
the one its plan was checked against.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from rollout_demo.inputs import Inputs, RehearsalInputError

CONTROL_TIMEOUT = 600.0
"""Seconds a control request may take (the state of a large organization is long)."""


class Awssim(Protocol):
    """What a rehearsal needs of its awssim: where it is, and its ground truth."""

    @property
    def endpoint_url(self) -> str:
        """What boto3 and aiobotocore take as ``endpoint_url``."""
        ...

    def state(self) -> dict[str, Any]:
        """Ground truth, as ``GET /_awssim/state`` serves it."""
        ...


@dataclass(frozen=True)
class EmbeddedAwssim:
    """awssim served from a thread of this process."""

    server: Any
    """An ``awssim.server.SimServer``."""

    @property
    def endpoint_url(self) -> str:
        """The embedded server's URL."""
        return str(self.server.endpoint_url)

    def state(self) -> dict[str, Any]:
        """The simulator's ground truth, read directly."""
        state: dict[str, Any] = self.server.sim.state()
        return state


@dataclass(frozen=True)
class ServedAwssim:
    """awssim served by another process at ``endpoint_url``."""

    endpoint_url: str

    def control(self, name: str) -> dict[str, Any]:
        """``GET /_awssim/<name>``, decoded."""
        url = f"{self.endpoint_url.rstrip('/')}/_awssim/{name}"
        with urllib.request.urlopen(url, timeout=CONTROL_TIMEOUT) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def state(self) -> dict[str, Any]:
        """Ground truth, over HTTP."""
        return self.control("state")

    def check(self, inputs: Inputs, speed: float) -> None:
        """``RehearsalInputError`` unless this awssim answers and simulates ``inputs``'
        organization and scenario at ``speed``."""
        try:
            health = self.control("health")
        except (OSError, ValueError) as error:
            raise RehearsalInputError(
                f"--endpoint {self.endpoint_url}: no awssim answers there ({error}); start "
                "one with python -m awssim serve --port PORT --org ORG --scenario S --speed X"
            ) from None
        expected = {"org": inputs.org.name, "scenario": inputs.scenario.name, "speed": speed}
        wrong = [
            f"{key} {health.get(key)!r} (the rehearsal's is {value!r})"
            for key, value in expected.items()
            if health.get(key) != value
        ]
        if wrong:
            raise RehearsalInputError(
                f"--endpoint {self.endpoint_url}: awssim there simulates another world: "
                f"{'; '.join(wrong)}. Serve it with the rehearsal's --org, --scenario and "
                "--speed"
            )


@contextmanager
def embedded(inputs: Inputs, speed: float) -> Iterator[Awssim]:
    """awssim on loopback in this process for the duration of the block."""
    from awssim.server import running  # noqa: PLC0415 - moto loads slowly

    with running(inputs.org, inputs.scenario, speed=speed) as server:
        yield EmbeddedAwssim(server)
