"""``python -m distributor_rollout``: validate a plan, show its waves, build a package.

Everything here runs without AWS. Input errors print as messages and exit 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from distributor_rollout.core.durations import format_duration
from distributor_rollout.core.errors import RolloutError, ValidationError, wrong
from distributor_rollout.core.org import Organization
from distributor_rollout.core.package import build_package
from distributor_rollout.core.plan import Plan, wave_gate, wave_operation
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.waves import render_waves, resolve_waves

EXIT_OK, EXIT_INVALID = 0, 2


def _validate(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan)
    summary = f"{len(plan.waves)} waves, digest {plan.digest()[:12]}"
    print(f"{args.plan}: valid plan {plan.name!r} ({summary})")
    return EXIT_OK


def _wave_settings(plan: Plan) -> list[str]:
    lines = []
    for wave in plan.waves:
        operation, gate = wave_operation(plan, wave), wave_gate(plan, wave)
        concurrency = (
            f"{operation.max_concurrent_count} accounts"
            if operation.max_concurrent_count is not None
            else f"{operation.max_concurrent_percentage}% of accounts"
        )
        tolerance = (
            f"{operation.failure_tolerance_count}"
            if operation.failure_tolerance_count is not None
            else f"{operation.failure_tolerance_percentage}%"
        )
        lines.append(
            f"  {wave.name}: {concurrency} at once, tolerate {tolerance} failed per Region, "
            f"{operation.region_concurrency.lower()} Regions, "
            f"{operation.concurrency_mode.lower().replace('_', ' ')}; "
            f"gate ≥{gate.threshold_percent:g}% of ≥{gate.min_nodes} nodes, "
            f"timeout {format_duration(gate.timeout_seconds)}, "
            f"bake {format_duration(gate.bake_seconds)}"
            + (", approval required" if wave.approval else "")
        )
    return lines


def _read_org(path: Path) -> Organization:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValidationError(
            str(path), [wrong("", "cannot read", str(path), f"a readable file ({error.strerror})")]
        ) from None
    except json.JSONDecodeError as error:
        raise ValidationError(
            str(path), [wrong("", "not valid JSON", error.msg, f"JSON (line {error.lineno})")]
        ) from None
    return Organization.from_dict(data, subject=str(path))


def _plan(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan)
    org = _read_org(args.org)
    resolution = resolve_waves(plan, org)
    package = f"{plan.package.name} {plan.package.version}"
    print(f"plan {plan.name!r}: {package} (dry run: nothing is deployed)")
    print(render_waves(resolution, org))
    print("settings:")
    print("\n".join(_wave_settings(plan)))
    return EXIT_INVALID if resolution.problems else EXIT_OK


def _build(args: argparse.Namespace) -> int:
    name, version, publisher = args.name, args.version, args.publisher
    if args.plan is not None:
        plan = load_plan(args.plan)
        name = name or plan.package.name
        version = version or plan.package.version
        publisher = publisher or plan.package.publisher
    missing = [flag for flag, value in (("--name", name), ("--version", version)) if not value]
    if missing:
        raise ValidationError(
            "build", [wrong(flag, "missing", None, "a value, or --plan PLAN") for flag in missing]
        )
    result = build_package(args.source, args.out, name=name, version=version, publisher=publisher)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m distributor_rollout", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate a rollout plan")
    validate.add_argument("plan", type=Path)
    validate.set_defaults(run=_validate)
    plan = commands.add_parser("plan", help="show a plan's resolved waves (no AWS calls)")
    plan.add_argument("plan", type=Path)
    plan.add_argument("--org", type=Path, required=True, help="organization snapshot (JSON)")
    plan.set_defaults(run=_plan)
    build = commands.add_parser("build", help="build a Distributor package locally")
    build.add_argument("source", type=Path)
    build.add_argument("out", type=Path)
    build.add_argument("--name", help="package name (default: the plan's)")
    build.add_argument("--version", help="package version (default: the plan's)")
    build.add_argument("--publisher", help="manifest publisher")
    build.add_argument("--plan", type=Path, help="take name, version and publisher from a plan")
    build.set_defaults(run=_build)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code is 0 on success and 2 on invalid input."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except RolloutError as error:
        print(str(error), file=sys.stderr)
        return EXIT_INVALID
