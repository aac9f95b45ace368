"""Benchmark: one compliance poll over ~300 account/Regions, at concurrency 1 and 16.

Budget (DESIGN.md §5): once member credentials are cached a poll costs at most N API
calls, and its wall time is close to N × latency / concurrency. The script serves a
synthetic organization (100 accounts × 3 Regions) with awssim in its own process (so its
CPU is not the poller's), gives every account the compliance-reader role and every
account/Region an association, injects ``--latency`` seconds into every Systems Manager
call with a scenario file, then polls with the trigger's async path (and the sensor's
threaded sync path). It prints, per run, the first poll (which assumes the roles) and a
second one with one hook: wall time and HTTP requests sent, counted on the hook's own
sessions; then the second poll against its ideal.

Run: ``.venv/bin/python bench/compliance_poll.py [--accounts 100] [--latency 0.05]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Airflow reads its home when first imported: keep it inside the repo and quiet.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow" / "bench"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import boto3  # noqa: E402 - after the environment above

from distributor_rollout.core.targets import Target  # noqa: E402
from distributor_rollout.hooks.association_status import (  # noqa: E402
    AssociationStatusHook,
    StatusPoll,
)

ADMIN = "222222222222"
READER = "DistributorRolloutComplianceReader"
ASSOCIATION = "bench-association"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
CONCURRENCIES = (1, 16)
DUMMY_SECRET = "awssim"  # noqa: S105 - awssim accepts any secret; keys name the account
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "sts:AssumeRole"}],
    }
)


@contextmanager
def awssim_process(accounts: int) -> Iterator[str]:
    """``python -m awssim serve`` on a free port; yields its endpoint URL."""
    server = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "awssim",
            "serve",
            "--port",
            "0",
            "--org",
            f"synthetic:{accounts}:10",
            "--speed",
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"on (http://\S+)", line)
        if match is None:
            raise RuntimeError(f"awssim did not start: {line!r}")
        yield match.group(1)
    finally:
        server.terminate()
        server.wait(timeout=30)


def control(endpoint: str, name: str, body: dict[str, Any]) -> None:
    """POST to awssim's control API."""
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        f"{endpoint}/_awssim/{name}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600):  # noqa: S310
        pass


def setup(endpoint: str, accounts: int) -> list[Target]:
    """Reader roles and associations everywhere; every node has run it once."""
    members = [f"{400000000000 + index:012d}" for index in range(accounts)]
    for account in members:
        session = boto3.Session(
            aws_access_key_id=account, aws_secret_access_key=DUMMY_SECRET, region_name="us-east-1"
        )
        session.client("iam", endpoint_url=endpoint).create_role(
            RoleName=READER, AssumeRolePolicyDocument=TRUST
        )
        for region in REGIONS:
            session.client("ssm", region_name=region, endpoint_url=endpoint).create_association(
                Name="AWS-RunShellScript",
                AssociationName=ASSOCIATION,
                Parameters={"commands": ["true"]},
                Targets=[{"Key": "tag:Distributor", "Values": ["enabled"]}],
                ScheduleExpression="rate(30 minutes)",
            )
    control(endpoint, "settle", {"horizon": 600})
    return [Target(account, region) for account in members for region in REGIONS]


def counter(calls: Counter[str]) -> Callable[..., None]:
    """A botocore ``before-send`` handler counting HTTP requests by service.Operation."""

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.removeprefix("before-send.")] += 1

    return count


def measure(poll: Callable[[AssociationStatusHook, Counter[str]], StatusPoll]) -> dict[str, Any]:
    """Two polls with one hook (so the second has cached credentials); the requests of
    each are what the hook's counter gained during it."""
    hook = AssociationStatusHook(role_name=READER, aws_conn_id="aws_default")
    calls: Counter[str] = Counter()
    figures: dict[str, Any] = {}
    for name in ("first", "second"):
        before = calls.copy()
        started = time.perf_counter()
        result = poll(hook, calls)
        figures[name] = {
            "seconds": time.perf_counter() - started,
            "calls": dict(sorted((calls - before).items())),
            "unread": len(result.unread),
            "nodes": sum(item.success for item in result.compliances),
        }
    return figures


def poll_async(wave: list[Target], concurrency: int) -> Callable[..., StatusPoll]:
    """The trigger's path: one event loop, a semaphore, one aiobotocore session."""

    def run(hook: AssociationStatusHook, calls: Counter[str]) -> StatusPoll:
        async def counted() -> StatusPoll:
            session = await hook.aio_session()
            # Registered once per hook (a second registration of the id is ignored).
            session.register("before-send", counter(calls), unique_id="bench-count")
            return await hook.poll_async(wave, ASSOCIATION, concurrency)

        return asyncio.run(counted())

    return run


def poll_sync(wave: list[Target], concurrency: int) -> Callable[..., StatusPoll]:
    """The sensor's poke path: worker threads, one boto3 session."""

    def run(hook: AssociationStatusHook, calls: Counter[str]) -> StatusPoll:
        hook.boto_session.events.register("before-send", counter(calls), unique_id="bench-count")
        return hook.poll(wave, ASSOCIATION, concurrency)

    return run


def report(label: str, concurrency: int, figures: dict[str, Any], latency: float, n: int) -> None:
    """One line per poll, then the second poll against N × latency / concurrency."""
    for name in ("first", "second"):
        poll = figures[name]
        calls = ", ".join(f"{op}={count}" for op, count in poll["calls"].items())
        print(
            f"{label:5s} concurrency {concurrency:2d} {name:6s} poll: {poll['seconds']:6.2f}s  "
            f"requests: {calls}  (compliant nodes {poll['nodes']}, unread {poll['unread']})"
        )
    ideal = n * latency / concurrency
    second = figures["second"]["seconds"]
    # With no injected latency the ideal is zero: the poll's time is then pure overhead
    # (client and simulator CPU), printed per target instead of as a ratio.
    versus = (
        f"ratio {second / ideal:.2f}" if ideal else f"overhead {second / n * 1000:.1f} ms/target"
    )
    print(
        f"{label:5s} concurrency {concurrency:2d} second poll {second:.2f}s vs ideal "
        f"{n} x {latency}s / {concurrency} = {ideal:.2f}s: {versus}"
    )


def main() -> None:
    """Serve, set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100, help="member accounts (× 3 Regions)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per SSM call")
    args = parser.parse_args()
    with awssim_process(args.accounts) as endpoint, tempfile.TemporaryDirectory() as tmp:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {
                "conn_type": "aws",
                "login": "awssim-admin",
                "password": DUMMY_SECRET,
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        )
        started = time.perf_counter()
        wave = setup(endpoint, args.accounts)
        print(f"setup: {len(wave)} account/Regions in {time.perf_counter() - started:.1f}s")
        scenario = Path(tmp) / "latency.yaml"
        scenario.write_text(
            f"name: latency\nlatency: [{{services: [ssm], seconds: {args.latency}}}]\n"
        )
        control(endpoint, "scenario", {"name": str(scenario)})
        for concurrency in CONCURRENCIES:
            figures = measure(poll_async(wave, concurrency))
            report("async", concurrency, figures, args.latency, len(wave))
        concurrency = CONCURRENCIES[-1]
        figures = measure(poll_sync(wave, concurrency))
        report("sync", concurrency, figures, args.latency, len(wave))


if __name__ == "__main__":
    main()
