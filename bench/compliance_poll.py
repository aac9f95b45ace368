"""Benchmark: one compliance poll over 2,000 and 20,000 account/Regions, 20 ms per call.

What is measured: the gate's poll (``AssociationStatusHook.poll_async``, the triggerer's
path, at the sensor's default concurrency of 16), once to assume every member role and
then again with credentials cached, over a synthetic organization whose every
account/Region has the association and a reader role. awssim runs in its own process
(``bench/support/seeded_awssim.py``, seeded in-process so setup takes seconds), with a
scenario injecting ``--latency`` into every Systems Manager call.

Figures and budgets (issue 14, DESIGN.md §5), for the second poll:
- wall time against the ideal N × latency / concurrency: ratio ≤ 1.25 (time); and against
  bare aiobotocore clients making the same N requests at the same concurrency on the same
  machine (≤ 1.25): on 2 cores the simulator's CPU per request (beside the poller's) bounds
  the wall before the latency does, for any client;
- HTTP requests against N: ≤ 1.0 × N once roles are cached (count: fails the run);
- the poller's own CPU per target (this process only; awssim's CPU is read from its own
  process and printed beside it): ≤ 0.5 ms (time);
- the sensor's threaded path (``poll``, a worker) at the smaller size, reported.

Run: ``.venv/bin/python bench/compliance_poll.py [--targets 2000,20000] [--latency 0.02]
[--concurrency 16] [--profile FILE]``; ``--quick`` polls 150 account/Regions.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import (
    REPO,
    Figure,
    Figures,
    airflow_environment,
    arguments,
    awssim_server,
    control,
    exit_with,
    process_cpu,
)

airflow_environment()

from distributor_rollout.core.targets import Target  # noqa: E402 - after the environment
from distributor_rollout.hooks.association_status import (  # noqa: E402
    AssociationStatusHook,
    StatusPoll,
)

READER = "DistributorRolloutComplianceReader"
ASSOCIATION = "bench-association"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
DUMMY_SECRET = "awssim"  # noqa: S105 - awssim accepts any secret; keys name the account
CPU_BUDGET_MS = 0.5
WALL_BUDGET = 1.25
SEEDED = REPO / "bench" / "support" / "seeded_awssim.py"


def counter(calls: Counter[str]) -> Callable[..., None]:
    """A botocore ``before-send`` handler counting HTTP requests by service.Operation."""

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.removeprefix("before-send.")] += 1

    return count


Poll = Callable[[AssociationStatusHook, Counter[str]], StatusPoll]


def poll_async(wave: list[Target], concurrency: int) -> Poll:
    """The trigger's path: one event loop, a semaphore, one aiobotocore session."""

    def run(hook: AssociationStatusHook, calls: Counter[str]) -> StatusPoll:
        async def counted() -> StatusPoll:
            session = await hook.aio_session()
            session.register("before-send", counter(calls), unique_id="bench-count")
            return await hook.poll_async(wave, ASSOCIATION, concurrency)

        return asyncio.run(counted())

    return run


def poll_sync(wave: list[Target], concurrency: int) -> Poll:
    """The sensor's poke path: worker threads, one boto3 session."""

    def run(hook: AssociationStatusHook, calls: Counter[str]) -> StatusPoll:
        hook.boto_session.events.register("before-send", counter(calls), unique_id="bench-count")
        return hook.poll(wave, ASSOCIATION, concurrency)

    return run


def library_floor(wave: list[Target], concurrency: int, server_pid: int) -> dict[str, Any]:
    """The same N ListAssociations requests from bare aiobotocore clients (one per Region,
    the connection's own credentials, no member roles, none of the product's code), at
    the same concurrency: the CPU any per-target poll built on botocore pays per request."""
    import aiobotocore.session  # noqa: PLC0415 - only here

    endpoint = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"]

    async def run() -> None:
        session = aiobotocore.session.get_session()
        slots = asyncio.Semaphore(concurrency)
        contexts = {
            region: session.create_client(
                "ssm",
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id="awssim-admin",
                aws_secret_access_key=DUMMY_SECRET,
            )
            for region in REGIONS
        }
        clients = {region: await context.__aenter__() for region, context in contexts.items()}
        request = {
            "AssociationFilterList": [{"key": "AssociationName", "value": ASSOCIATION}],
            "MaxResults": 50,
        }

        async def one(target: Target) -> None:
            async with slots:
                await clients[target.region].list_associations(**request)

        try:
            # One request per client first: building a client and its first connection
            # are not per-target costs.
            await asyncio.gather(
                *(client.list_associations(**request) for client in clients.values())
            )
            server_cpu, cpu, started = (
                process_cpu(server_pid),
                time.process_time(),
                time.perf_counter(),
            )
            await asyncio.gather(*(one(target) for target in wave))
            floor.update(
                seconds=time.perf_counter() - started,
                cpu=time.process_time() - cpu,
                server_cpu=process_cpu(server_pid) - server_cpu,
            )
        finally:
            for context in contexts.values():
                await context.__aexit__(None, None, None)

    floor: dict[str, float] = {}
    asyncio.run(run())
    print(
        f"  bare aiobotocore {floor['seconds']:7.2f}s  client CPU {floor['cpu']:6.2f}s  "
        f"awssim CPU {floor['server_cpu']:6.2f}s"
    )
    return floor


def measure(poll: Poll, server_pid: int, profile: Path | None) -> list[dict[str, Any]]:
    """Two polls with one hook (the second has cached credentials): wall, this process's
    CPU, awssim's CPU and the requests each sent."""
    hook = AssociationStatusHook(role_name=READER, aws_conn_id="aws_default")
    calls: Counter[str] = Counter()
    polls = []
    for name in ("first", "second"):
        before = calls.copy()
        profiler = cProfile.Profile() if profile and name == "second" else None
        server_cpu, cpu, started = process_cpu(server_pid), time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        result = poll(hook, calls)
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
        polls.append(
            {
                "name": name,
                "seconds": time.perf_counter() - started,
                "cpu": time.process_time() - cpu,
                "server_cpu": process_cpu(server_pid) - server_cpu,
                "calls": calls - before,
                "unread": len(result.unread),
                "nodes": sum(item.success for item in result.compliances),
            }
        )
    for poll_figures in polls:
        requests = ", ".join(f"{op}={n}" for op, n in sorted(poll_figures["calls"].items()))
        print(
            f"  {poll_figures['name']:6s} poll {poll_figures['seconds']:7.2f}s  "
            f"poller CPU {poll_figures['cpu']:6.2f}s  awssim CPU {poll_figures['server_cpu']:6.2f}s"
            f"  requests {requests}  (compliant nodes {poll_figures['nodes']}, "
            f"unread {poll_figures['unread']})"
        )
    return polls


def record(
    figures: Figures,
    label: str,
    *,
    second: dict[str, Any],
    n: int,
    args: Any,
    floor: dict[str, Any] | None = None,
) -> None:
    """The second poll's figures against the ideal and the budgets."""
    latency, concurrency = args.latency, args.concurrency
    figures.add(
        Figure(
            f"{label}.wall",
            second["seconds"],
            "s",
            baseline=n * latency / concurrency,
            baseline_label=f"ideal {n} x {latency * 1000:g} ms / {concurrency}",
            budget=WALL_BUDGET,
            note=(
                f"awssim's CPU alone {second['server_cpu']:.2f} s: a server slower than "
                "N x latency / concurrency bounds the wall"
            ),
        )
    )
    figures.add(
        Figure(
            f"{label}.requests",
            sum(second["calls"].values()),
            "calls",
            baseline=n,
            baseline_label="N targets",
            budget=1.0,
            kind="count",
        )
    )
    figures.add(
        Figure(
            f"{label}.poller_cpu_per_target",
            second["cpu"] / n * 1000,
            "ms",
            budget=CPU_BUDGET_MS,
            note=f"awssim's own: {second['server_cpu'] / n * 1000:.2f} ms/target",
        )
    )
    if floor is not None:
        figures.add(
            Figure(
                f"{label}.wall_vs_bare_botocore",
                second["seconds"],
                "s",
                baseline=floor["seconds"],
                baseline_label="bare aiobotocore, same requests",
                budget=WALL_BUDGET,
                note="the same N requests at the same concurrency on this machine",
            )
        )
        figures.add(
            Figure(
                f"{label}.poller_cpu_vs_bare_botocore",
                second["cpu"] / n * 1000,
                "ms",
                baseline=floor["cpu"] / n * 1000,
                baseline_label="bare aiobotocore, same requests",
                note="the product's share of the poller's CPU per target",
            )
        )


def main() -> None:
    """Serve, measure, print."""
    parser = arguments(__doc__)
    parser.add_argument("--targets", default="2000,20000", help="account/Region counts")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per SSM call")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", type=Path, help="cProfile the async second poll here")
    args = parser.parse_args()
    sizes = [150] if args.quick else [int(size) for size in args.targets.split(",")]
    figures = Figures("compliance_poll")
    for position, size in enumerate(sizes):
        accounts = math.ceil(size / len(REGIONS))
        seeded = [str(SEEDED), "--accounts", str(accounts), "--role", READER]
        with (
            awssim_server([*seeded, "--association", ASSOCIATION]) as (endpoint, server),
            tempfile.TemporaryDirectory() as tmp,
        ):
            pid = server.pid
            os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
                {
                    "conn_type": "aws",
                    "login": "awssim-admin",
                    "password": DUMMY_SECRET,
                    "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
                }
            )
            scenario = Path(tmp) / "latency.yaml"
            scenario.write_text(
                f"name: latency\nlatency: [{{services: [ssm], seconds: {args.latency}}}]\n"
            )
            control(endpoint, "scenario", {"name": str(scenario)})
            members = [f"{400000000000 + index:012d}" for index in range(accounts)]
            wave = [Target(account, region) for account in members for region in REGIONS]
            n = len(wave)
            print(f"async poll of {n} account/Regions, concurrency {args.concurrency}:")
            polls = measure(poll_async(wave, args.concurrency), pid, args.profile)
            floor = library_floor(wave, args.concurrency, pid)
            record(figures, f"async.{n}", second=polls[1], n=n, args=args, floor=floor)
            if position == 0:
                print(f"sync poll of {n} account/Regions, concurrency {args.concurrency}:")
                polls = measure(poll_sync(wave, args.concurrency), pid, None)
                record(figures, f"sync.{n}", second=polls[1], n=n, args=args)
    exit_with(figures, args.json)


if __name__ == "__main__":
    main()
