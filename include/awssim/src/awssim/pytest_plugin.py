"""pytest fixtures for tests that run against awssim over HTTP.

Installing the awssim distribution enables them (its ``pytest11`` entry point). One server
per test process (moto's state is process-global); each test that asks for ``sim`` gets it
freshly reloaded with the ``demo`` org, no faults and a slow clock that the test moves with
``sim.advance()`` / ``sim.settle()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from awssim.server import SimServer
from awssim.simulator import Simulator

DEFAULT_REGION = "us-east-1"


class AwsClients:
    """boto3 clients against the simulator, acting as a chosen account."""

    def __init__(self, server: SimServer) -> None:
        self.server = server

    @property
    def endpoint_url(self) -> str:
        """The simulator's endpoint."""
        return self.server.endpoint_url

    def session(self, account: str | None = None, region: str = DEFAULT_REGION) -> boto3.Session:
        """A session whose calls act as ``account`` (default: the delegated administrator)."""
        key = account or "awssim-default"
        return boto3.Session(
            aws_access_key_id=key, aws_secret_access_key="awssim", region_name=region
        )

    def client(
        self, service: str, *, account: str | None = None, region: str = DEFAULT_REGION, **kw: Any
    ) -> Any:
        """A boto3 client for ``service`` as ``account`` in ``region``."""
        return self.session(account, region).client(service, endpoint_url=self.endpoint_url, **kw)

    def assumed_client(
        self,
        service: str,
        role_arn: str,
        *,
        region: str = DEFAULT_REGION,
        account: str | None = None,
    ) -> Any:
        """A client with credentials from AssumeRole(role_arn), called as ``account``."""
        credentials = self.client("sts", account=account, region=region).assume_role(
            RoleArn=role_arn, RoleSessionName="awssim-test"
        )["Credentials"]
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )


@pytest.fixture(scope="session")
def awssim_server() -> Iterator[SimServer]:
    """The process's simulator server (started once)."""
    server = SimServer(Simulator("demo", speed=1.0)).start()
    yield server
    server.stop()


@pytest.fixture
def sim(awssim_server: SimServer) -> Simulator:
    """The simulator, reloaded for this test: demo org, happy scenario, seed 0, speed 1."""
    awssim_server.sim.load("demo", None, speed=1.0, seed=0)
    return awssim_server.sim


@pytest.fixture
def aws(awssim_server: SimServer, sim: Simulator) -> AwsClients:
    """boto3 clients against the freshly loaded simulator."""
    return AwsClients(awssim_server)
