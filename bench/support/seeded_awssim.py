"""awssim in its own process, seeded for a compliance poll (``bench/compliance_poll.py``).

A poll benchmark at 20,000 account/Regions needs a reader role in thousands of accounts and
an association in each account/Region. Made through the API, that setup is ~27,000 calls
(minutes of the simulator's CPU) before the first measurement; here the simulator seeds
them in-process before it serves: the IAM role through moto's backend, the association
through awssim's State Manager (``StateManager.create``, exactly what CreateAssociation
does), then settles the clock so every node has run it once. The poll then reaches it over
HTTP like any other awssim: only the seeding is in-process. ``--aggregator`` also creates an
organization-wide AWS Config aggregator of that name in the delegated administrator's
account (us-east-1), for the change feed (``bench/compliance_feed.py``).

Prints ``awssim: ... on http://127.0.0.1:PORT`` (as ``python -m awssim serve`` does) when it
serves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

ADMIN = "222222222222"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "sts:AssumeRole"}],
    }
)


def main() -> int:
    """Seed, then serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--regions", type=int, default=3)
    parser.add_argument("--role", required=True, help="the reader role created in each member")
    parser.add_argument("--association", required=True, help="the association's name")
    parser.add_argument("--schedule", default="rate(30 minutes)", help="the association's")
    parser.add_argument("--speed", type=float, default=60, help="simulated seconds per second")
    parser.add_argument("--aggregator", help="create a Config aggregator of this name")
    args = parser.parse_args()

    from moto.iam.models import iam_backends  # noqa: PLC0415 - moto loads slowly

    from awssim.orgspec import synthetic_org  # noqa: PLC0415
    from awssim.server import SimServer  # noqa: PLC0415
    from awssim.simulator import Simulator  # noqa: PLC0415

    started = time.monotonic()
    units = max(1, args.accounts // 20)
    sim = Simulator(synthetic_org(args.accounts, units, args.regions), speed=args.speed)
    members = sorted(account for account in sim.org.account_ids() if account.startswith("4"))[
        : args.accounts
    ]
    with sim.lock:
        for account in members:
            iam_backends[account]["global"].create_role(args.role, TRUST, "/", None, "", [], None)
            for region in sim.org_spec.regions:
                sim.statemanager.create(
                    account,
                    region,
                    {
                        "Name": "AWS-RunShellScript",
                        "AssociationName": args.association,
                        "Parameters": {"commands": ["true"]},
                        "Targets": [{"Key": "tag:Distributor", "Values": ["enabled"]}],
                        "ScheduleExpression": args.schedule,
                    },
                )
        if args.aggregator:
            from moto.config.models import config_backends  # noqa: PLC0415

            config_backends[sim.org_spec.delegated_admin]["us-east-1"].put_configuration_aggregator(
                {
                    "ConfigurationAggregatorName": args.aggregator,
                    "OrganizationAggregationSource": {
                        "RoleArn": f"arn:aws:iam::{ADMIN}:role/ConfigAggregator",
                        "AllAwsRegions": True,
                    },
                }
            )
    sim.settle(600)
    server = SimServer(sim, port=0)
    print(
        f"awssim: {len(members)} members x {len(sim.org_spec.regions)} Regions seeded in "
        f"{time.monotonic() - started:.1f}s, on {server.endpoint_url}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
