"""awssim's control API under ``/_awssim/``: ground truth and test controls, not AWS.

* ``GET  /_awssim/health``            org, scenario, clock
* ``GET  /_awssim/state``             ground truth: nodes (installed; reachability now:
                                      online, offline_since, back_at, outages),
                                      associations, stack sets, calls
* ``GET  /_awssim/calls``             the log of mutating calls
* ``GET  /_awssim/operations``        every call counted by ``service.Operation``, reads too
* ``POST /_awssim/advance``           ``{"seconds": N}``: move simulated time forward
* ``POST /_awssim/settle``            ``{"horizon": N}``: jump through due events
* ``POST /_awssim/scenario``          ``{"name": "throttling"}``: switch faults
* ``POST /_awssim/reset``             ``{"org": ..., "scenario": ..., "seed": ..., "speed": ...}``
"""

from __future__ import annotations

import json
from typing import Any

from awssim.orgspec import OrgSpecError
from awssim.scenario import ScenarioError
from awssim.simulator import Simulator

OK = "200 OK"
BAD = "400 Bad Request"
MISSING = "404 Not Found"


def handle(sim: Simulator, environ: dict[str, Any]) -> tuple[str, Any]:
    """Answer one control request with (status line, JSON payload)."""
    name = environ.get("PATH_INFO", "").removeprefix("/_awssim/").strip("/")
    method = environ.get("REQUEST_METHOD", "GET")
    try:
        body = _json_body(environ) if method == "POST" else {}
        return _dispatch(sim, method, name, body)
    except (OrgSpecError, ScenarioError, ValueError, TypeError) as error:
        return BAD, {"error": str(error)}


def _dispatch(sim: Simulator, method: str, name: str, body: dict[str, Any]) -> tuple[str, Any]:
    if method == "GET" and name == "health":
        return OK, health(sim)
    if method == "GET" and name == "state":
        return OK, sim.state()
    if method == "GET" and name == "calls":
        with sim.lock:
            return OK, [call.to_dict() for call in sim.ledger.calls()]
    if method == "GET" and name == "operations":
        return OK, sim.ledger.counts()
    if method == "POST" and name == "advance":
        sim.advance(float(body.get("seconds", 0)))
        return OK, health(sim)
    if method == "POST" and name == "settle":
        sim.settle(float(body.get("horizon", 3600)))
        return OK, health(sim)
    if method == "POST" and name == "scenario":
        sim.set_scenario(body.get("name"))
        return OK, health(sim)
    if method == "POST" and name == "reset":
        sim.load(
            body.get("org", sim.org_spec),
            body.get("scenario"),
            speed=body.get("speed"),
            seed=body.get("seed"),
        )
        return OK, health(sim)
    return MISSING, {"error": f"no control endpoint {method} /_awssim/{name}"}


def health(sim: Simulator) -> dict[str, Any]:
    """A short summary of the running simulator."""
    with sim.lock:
        return {
            "ok": True,
            "org": sim.org_spec.name,
            "scenario": sim.scenario.name,
            "seed": sim.seed,
            "speed": sim.clock.speed,
            "sim_seconds": sim.clock.seconds(),
            "sim_now": sim.clock.now().isoformat(),
        }


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    data = json.loads(raw or b"{}")
    if not isinstance(data, dict):
        msg = "the request body must be a JSON object"
        raise TypeError(msg)
    return data
