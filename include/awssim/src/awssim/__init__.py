"""awssim: a local AWS Organization simulator (moto plus what moto lacks).

Start one in-process with :func:`running` (or :class:`Simulator` + :class:`SimServer`), or
as a server with ``python -m awssim serve``. boto3 and aiobotocore reach it over HTTP with
``endpoint_url``. See the README's awssim section for what it simulates.
"""

from __future__ import annotations

from awssim.server import SimServer, running
from awssim.simulator import Simulator

__all__ = ["SimServer", "Simulator", "running"]
