"""Serving awssim over HTTP on loopback: in a thread (tests, demo) or in the foreground (CLI).

Every AWS request is counted by operation on its way in (``Ledger.count``; served as
``GET /_awssim/operations``), before faults or moto answer it.

moto's dispatcher lists moto's package folder (a directory read and a ``stat`` per service)
to route every request; the folder does not change while awssim serves, so
``_list_moto_modules_once`` reads it once per process. At thousands of requests a minute
that listing was a third of the time awssim spent answering them.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import moto.backends as moto_backends
from werkzeug.serving import BaseWSGIServer, make_server

from awssim.keepalive import KeepAliveHandler
from awssim.orgspec import OrgSpec
from awssim.scenario import Scenario
from awssim.simulator import Simulator
from awssim.wsgi import CONTROL_PREFIX, SimApp, StartResponse, identify


class _QuietHandler(KeepAliveHandler):
    """moto's request handler, keeping connections alive as AWS does (``awssim.keepalive``),
    without a log line per request."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Requests are in the ledger; the access log is noise."""


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_list_moto_modules())


_list_moto_modules = moto_backends.list_of_moto_modules


def _list_moto_modules_once() -> None:
    """Route requests through a listing of moto's services read once (idempotent)."""
    moto_backends.list_of_moto_modules = _moto_modules


class _CountingApp:
    """The simulator's WSGI app, counting each AWS request by service and operation."""

    def __init__(self, sim: Simulator) -> None:
        _list_moto_modules_once()
        self.app = SimApp(sim)
        self.ledger = sim.ledger

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            # identify() buffers the body it reads, so the app reads it again unchanged.
            call = identify(environ)
            self.ledger.count(call.service, call.operation)
        return self.app(environ, start_response)


class SimServer:
    """A simulator served by a threaded WSGI server on ``host:port`` (0: a free port)."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self._server: BaseWSGIServer = make_server(
            host, port, _CountingApp(sim), threaded=True, request_handler=_QuietHandler
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        """What boto3 and aiobotocore take as ``endpoint_url``."""
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> SimServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="awssim", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextmanager
def running(
    org: str | Path | OrgSpec = "demo",
    scenario: str | Path | Scenario | None = None,
    *,
    speed: float = 60.0,
    seed: int = 0,
    port: int = 0,
) -> Iterator[SimServer]:
    """A simulator served on loopback for the duration of the block.

    >>> with running("demo", "happy") as server:
    ...     boto3.client("ssm", endpoint_url=server.endpoint_url, region_name="us-east-1")
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = SimServer(Simulator(org, scenario, speed=speed, seed=seed), port=port).start()
    try:
        yield server
    finally:
        server.stop()
