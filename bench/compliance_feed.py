"""Benchmark: the compliance gate's polls through the change feed, 2,000 and 20,000
account/Regions, 20 ms per call.

What is measured: ``hooks.compliance_feed.FeedPoller.poll_async`` (the triggerer's path,
concurrency 16) over the same synthetic organization as ``bench/compliance_poll.py``, with
an organization-wide AWS Config aggregator (plan option ``compliance_reader.change_feed``).
awssim runs in its own process (``bench/support/seeded_awssim.py``) at the speed of the
real clock, so the whole run lies within the feed's 15-minute lookback: every query
returns every node's item, the worst case of a gate right after its wave deployed. The
association runs daily, as a fleet's would; the poller's clock is awssim's.

Polls, in order:
1. the first poll, which reads every target (the per-target baseline: one
   ``ListAssociations`` each);
2. a quiet poll: the query's rows were all captured before poll 1 read their targets, so
   nothing is re-read;
3. a poll after 1% of the targets re-ran their association (and Config delivered it):
   those targets are re-read.

Figures and budgets (issue 14: "If a poll at 20,000 targets cannot meet its budget with
per-account reads ..., measure an organization-wide source ... and offer it as a plan
option"), for polls 2 and 3:
- the poller's own CPU per target (this process only; awssim's printed beside it):
  ≤ 0.5 ms (time), against poll 1's per target;
- HTTP requests against N: ≤ 1.0 × N (count: fails the run); a page holds 100 nodes;
- wall against the ideal N × latency / concurrency of a per-target poll: ≤ 1.25 (time).
The gate still confirms any PASS or FAIL with a full poll, and polls every target every
``full_read_minutes``: those polls cost what ``bench/compliance_poll.py`` measures.

Run: ``.venv/bin/python bench/compliance_feed.py [--targets 2000,20000] [--latency 0.02]
[--concurrency 16]``; ``--quick`` polls 150 account/Regions.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import tempfile
import time
from datetime import datetime
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

import boto3  # noqa: E402 - after the environment

from distributor_rollout.core.plan import ChangeFeed  # noqa: E402
from distributor_rollout.core.targets import Target  # noqa: E402
from distributor_rollout.hooks.association_status import AssociationStatusHook  # noqa: E402
from distributor_rollout.hooks.compliance_feed import FeedPoller  # noqa: E402
from distributor_rollout.hooks.config_aggregator import ConfigAggregatorHook  # noqa: E402

READER = "DistributorRolloutComplianceReader"
ASSOCIATION = "bench-association"
AGGREGATOR = "org-association-compliance"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
DUMMY_SECRET = "awssim"  # noqa: S105 - awssim accepts any secret; keys name the account
CPU_BUDGET_MS = 0.5
WALL_BUDGET = 1.25
CHANGED_SHARE = 0.01
DELIVERED = 200.0
"""Simulated seconds after which Config delivered what it recorded (its delay: 120)."""
SEEDED = REPO / "bench" / "support" / "seeded_awssim.py"


def rerun(endpoint: str, targets: list[Target]) -> None:
    """Run the association again now in ``targets`` (as each account: awssim maps a
    12-digit key to its account)."""
    for target in targets:
        ssm = boto3.client(
            "ssm",
            endpoint_url=endpoint,
            region_name=target.region,
            aws_access_key_id=target.account_id,
            aws_secret_access_key=DUMMY_SECRET,
        )
        found = ssm.list_associations(
            AssociationFilterList=[{"key": "AssociationName", "value": ASSOCIATION}]
        )["Associations"]
        ssm.start_associations_once(AssociationIds=[found[0]["AssociationId"]])


def measure(
    poller: FeedPoller, endpoint: str, server_pid: int, name: str, n: int
) -> dict[str, Any]:
    """One poll: wall, this process's CPU, awssim's CPU and the requests it sent."""
    before = control(endpoint, "operations")
    server_cpu, cpu, started = process_cpu(server_pid), time.process_time(), time.perf_counter()
    poll = asyncio.run(poller.poll_async())
    figures = {
        "name": name,
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "server_cpu": process_cpu(server_pid) - server_cpu,
        "calls": {
            operation: count - before.get(operation, 0)
            for operation, count in control(endpoint, "operations").items()
            if count != before.get(operation, 0) and not operation.startswith("sts.")
        },
        "reads": poller.last_reads,
        "full": poller.last_full,
    }
    assert len(poll.statuses) + len(poll.unread) == n, "a poll covers every target"
    requests = ", ".join(f"{op}={count}" for op, count in sorted(figures["calls"].items()))
    print(
        f"  {name:7s} {figures['seconds']:7.2f}s  poller CPU {figures['cpu']:6.2f}s  "
        f"awssim CPU {figures['server_cpu']:6.2f}s  re-read {figures['reads']} "
        f"(full: {figures['full']})  requests {requests}"
    )
    return figures


def record(
    figures: Figures, label: str, *, poll: dict[str, Any], first: dict[str, Any], args: Any
) -> None:
    """A feed poll's figures against the first (per-target) poll, the ideal and budgets."""
    n = args.n
    figures.add(
        Figure(
            f"{label}.poller_cpu_per_target",
            poll["cpu"] / n * 1000,
            "ms",
            budget=CPU_BUDGET_MS,
            note=(
                f"the first poll (assumes every role, reads every target): "
                f"{first['cpu'] / n * 1000:.2f} ms; "
                f"awssim's own: {poll['server_cpu'] / n * 1000:.2f} ms/target"
            ),
        )
    )
    figures.add(
        Figure(
            f"{label}.requests",
            sum(poll["calls"].values()),
            "calls",
            baseline=n,
            baseline_label="N targets",
            budget=1.0,
            kind="count",
        )
    )
    figures.add(
        Figure(
            f"{label}.wall",
            poll["seconds"],
            "s",
            baseline=n * args.latency / args.concurrency,
            baseline_label=f"ideal {n} x {args.latency * 1000:g} ms / {args.concurrency}",
            budget=WALL_BUDGET,
        )
    )


def main() -> None:
    """Serve, measure, print."""
    parser = arguments(__doc__)
    parser.add_argument("--targets", default="2000,20000", help="account/Region counts")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per call")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    sizes = [150] if args.quick else [int(size) for size in args.targets.split(",")]
    figures = Figures("compliance_feed")
    for size in sizes:
        accounts = math.ceil(size / len(REGIONS))
        seeded = [str(SEEDED), "--accounts", str(accounts), "--role", READER]
        seeded += ["--association", ASSOCIATION, "--schedule", "rate(1 day)", "--speed", "1"]
        with (
            awssim_server([*seeded, "--aggregator", AGGREGATOR]) as (endpoint, server),
            tempfile.TemporaryDirectory() as tmp,
        ):
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
                f"name: latency\nlatency: [{{services: [ssm, config], seconds: {args.latency}}}]\n"
            )
            control(endpoint, "scenario", {"name": str(scenario)})
            control(endpoint, "advance", {"seconds": DELIVERED})
            members = [f"{400000000000 + index:012d}" for index in range(accounts)]
            wave = [Target(account, region) for account in members for region in REGIONS]
            n = len(wave)

            def fleet_clock() -> float:
                return datetime.fromisoformat(control(endpoint, "health")["sim_now"]).timestamp()

            poller = FeedPoller(
                AssociationStatusHook(role_name=READER, aws_conn_id="aws_default"),
                ConfigAggregatorHook(aws_conn_id="aws_default", region_name="us-east-1"),
                ChangeFeed(aggregator=AGGREGATOR, region="us-east-1", full_read_minutes=600),
                wave,
                association_name=ASSOCIATION,
                concurrency=args.concurrency,
                clock=fleet_clock,
            )
            print(f"feed polls of {n} account/Regions, concurrency {args.concurrency}:")
            first = measure(poller, endpoint, server.pid, "first", n)
            quiet = measure(poller, endpoint, server.pid, "quiet", n)
            changed = wave[:: max(1, round(1 / CHANGED_SHARE))]
            rerun(endpoint, changed)
            control(endpoint, "settle", {"horizon": 600})  # every re-run finished
            control(endpoint, "advance", {"seconds": DELIVERED})
            after = measure(poller, endpoint, server.pid, f"{len(changed)} re-ran", n)
            assert not quiet["full"], "the feed answered"
            assert not after["full"], "the feed answered"
            assert after["reads"] >= len(changed), "every target that re-ran is re-read"
            args.n = n
            record(figures, f"quiet.{n}", poll=quiet, first=first, args=args)
            record(figures, f"changed_1pct.{n}", poll=after, first=first, args=args)
    exit_with(figures, args.json)


if __name__ == "__main__":
    main()
