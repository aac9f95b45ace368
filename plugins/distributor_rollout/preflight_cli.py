"""``python -m distributor_rollout preflight``: whether AWS is ready for a plan's rollout.

Read-only: through the connection it checks what the rollout DAG's ``validate`` task
checks before anything changes (``core.preflight``): the caller is the registered
StackSets delegated administrator (or the management account with ``call_as: SELF``),
trusted access for StackSets is enabled, every OU of the waves exists, opt-in Regions,
the artifacts bucket, and for an existing package, the package (and its pinned version)
in every Region of the waves. Each check prints its verdict, what it found and, when it
does not pass, what to do; ``--json`` prints the same as JSON.

Exit status: 0 every check passed or only warned, 1 a check failed or AWS could not be
read at all (no credentials, unreachable endpoint), 2 invalid input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from distributor_rollout.core.errors import RolloutError, ValidationError
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.preflight import render

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``preflight`` command to ``python -m distributor_rollout``'s subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "preflight",
        help="check that AWS is ready for a plan's rollout (read-only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("plan", type=Path, help="the rollout plan (YAML)")
    parser.add_argument("--conn", default="aws_default", help="Airflow AWS connection id")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.set_defaults(run=run)
    return parser


@contextlib.contextmanager
def _logs_on_stderr() -> Iterator[None]:
    """Send what Airflow and the AWS SDK log to stderr while AWS is read: Airflow logs to
    stdout, which carries the table or the JSON alone."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if type(handler) is logging.StreamHandler
        and handler.stream not in {sys.stderr, sys.__stderr__}
    ]
    streams = [handler.setStream(sys.stderr) for handler in handlers]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            if stream is not None:
                handler.setStream(stream)


def run(args: argparse.Namespace) -> int:
    """The ``preflight`` command: 0 passed (maybe with warnings), 1 failed, 2 invalid input."""
    plan = load_plan(args.plan)
    # Airflow and the AWS SDK load only for this command: the others run without AWS.
    from botocore.exceptions import (  # type: ignore[import-untyped]  # noqa: PLC0415
        BotoCoreError,
        ClientError,
    )

    from distributor_rollout.hooks.preflight import run_preflight  # noqa: PLC0415

    try:
        with _logs_on_stderr():
            preflight = run_preflight(plan, aws_conn_id=args.conn)
    except (ClientError, BotoCoreError) as error:
        print(f"preflight could not read AWS: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(preflight.to_dict(), indent=2))
    else:
        print(render(preflight))
    try:
        preflight.raise_for_failures()
    except ValidationError as error:
        # The same report the DAG's validate task fails with.
        print(str(error), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``preflight`` alone, with ``python -m distributor_rollout``'s error handling."""
    parser = argparse.ArgumentParser(prog="python -m distributor_rollout")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["preflight", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.run(args))
    except RolloutError as error:
        print(str(error), file=sys.stderr)
        return EXIT_INVALID
