"""``python -m awssim serve --port P [--org ORG] [--scenario S] [--speed X] [--seed N]``."""

from __future__ import annotations

import argparse
import sys
import time

from awssim.orgspec import OrgSpecError
from awssim.scenario import ScenarioError, shipped_scenarios


def main(argv: list[str] | None = None) -> int:
    """Run the awssim command line."""
    parser = argparse.ArgumentParser(prog="python -m awssim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the simulator over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    serve.add_argument("--port", type=int, default=5000, help="port (0: any free port)")
    serve.add_argument(
        "--org", default="demo", help="org YAML path, 'demo', or synthetic:ACCOUNTS[:OUS[:DEPTH]]"
    )
    serve.add_argument(
        "--scenario", default="happy", help=f"scenario YAML path or one of {shipped_scenarios()}"
    )
    serve.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    serve.add_argument("--seed", type=int, default=0, help="seed for the fleet and faults")
    args = parser.parse_args(argv)

    from awssim.server import SimServer  # noqa: PLC0415 - moto loads slowly; parse args first
    from awssim.simulator import Simulator  # noqa: PLC0415

    started = time.monotonic()
    try:
        sim = Simulator(args.org, args.scenario, speed=args.speed, seed=args.seed)
    except (OrgSpecError, ScenarioError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    server = SimServer(sim, host=args.host, port=args.port)
    print(
        f"awssim: org {sim.org_spec.name} ({len(sim.fleet)} nodes), scenario "
        f"{sim.scenario.name}, speed x{sim.clock.speed:g}, on {server.endpoint_url} "
        f"(ready in {time.monotonic() - started:.1f}s); default account "
        f"{sim.default_account}",
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
