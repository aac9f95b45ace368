"""``python -m distributor_rollout snapshot``: a real organization as an awssim org file.

Read-only: through the connection (the StackSets delegated administrator) it reads the
organization, and through the compliance-reader role in each member account the managed
nodes of the chosen Regions; then it writes the summary (``core.org_snapshot``) to
``--out``, for ``plan --org`` and for rehearsals against awssim. Progress goes to stderr,
one line per account read.

Regions come from ``--regions`` or a plan's waves (``--plan``); the role from
``--role-name``, else the plan's ``compliance_reader.role_name``, else the plan model's
default; the tag keys kept are the one the plan's association targets by and every
``--tag-key``. Exit status: 0 written, 1 AWS refused a read of the organization, 2 invalid
input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distributor_rollout.core import rules
from distributor_rollout.core.errors import Problem, RolloutError, ValidationError, wrong
from distributor_rollout.core.org_snapshot import (
    Provenance,
    delegated_admin,
    is_readable,
    layout_problems,
    member_accounts,
    org_file,
    render,
    root_accounts,
)
from distributor_rollout.core.plan import ComplianceReader, Plan
from distributor_rollout.core.plan_validation import read_yaml, validate_plan

EXIT_OK, EXIT_AWS, EXIT_INVALID = 0, 1, 2
DEFAULT_CONCURRENCY = 8
DEFAULT_ROLE_NAME = ComplianceReader().role_name


@dataclass(frozen=True)
class Settings:
    """What to read and how, resolved from the arguments and the plan."""

    name: str
    regions: tuple[str, ...]
    regions_from: str
    role_name: str
    tag_keys: tuple[str, ...]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``snapshot`` command to ``python -m distributor_rollout``'s subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "snapshot",
        help="write a real organization and its managed nodes as an awssim org file (read-only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--conn", default="aws_default", help="Airflow AWS connection id")
    parser.add_argument("--out", type=Path, required=True, help="the org file to write (YAML)")
    parser.add_argument("--regions", help="Regions to read, comma-separated (r1,r2)")
    parser.add_argument("--plan", type=Path, help="a rollout plan: Regions, role and tag keys")
    parser.add_argument("--role-name", help=f"member role to read through ({DEFAULT_ROLE_NAME})")
    parser.add_argument(
        "--tag-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a node tag key to keep (repeatable); other tags are never written",
    )
    parser.add_argument(
        "--anonymize", action="store_true", help="write account names as account-<n>"
    )
    parser.add_argument("--name", help="the org's name in the file (default: --out's stem)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"accounts read at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.set_defaults(run=run)
    return parser


def _plan(path: Path) -> Plan:
    # The snapshot needs the plan's waves, role and targeting, not its package source.
    return validate_plan(read_yaml(path, str(path)), subject=str(path))


def settings(args: argparse.Namespace) -> Settings:
    """The snapshot's settings, every input problem reported together."""
    plan = _plan(args.plan) if args.plan is not None else None
    problems: list[Problem] = []
    if args.regions:
        regions = tuple(dict.fromkeys(r.strip() for r in args.regions.split(",") if r.strip()))
        regions_from = "--regions"
    elif plan is not None:
        regions = tuple(dict.fromkeys(region for wave in plan.waves for region in wave.regions))
        regions_from = f"the waves of plan {plan.name!r}"
    else:
        regions, regions_from = (), ""
        problems.append(
            wrong(
                "--regions",
                "no Regions to read",
                None,
                "--regions r1,r2, or --plan PLAN (the union of its waves' Regions)",
            )
        )
    problems += [
        Problem(f"--regions[{region}]", message)
        for region in regions
        if (message := rules.region(region)) is not None
    ]
    role_name = args.role_name or (
        plan.stack_set.compliance_reader.role_name if plan is not None else DEFAULT_ROLE_NAME
    )
    if (message := rules.iam_role_name(role_name)) is not None:
        problems.append(Problem("--role-name", message))
    tag_keys = list(args.tag_key)
    if plan is not None and plan.association.target_tag_key is not None:
        tag_keys.append(plan.association.target_tag_key)
    problems += [
        Problem(f"--tag-key[{key}]", message)
        for key in tag_keys
        if (message := rules.tag_key(key)) is not None
    ]
    if not args.out.parent.is_dir():
        # Found now, not after minutes of reading the organization.
        problems.append(
            wrong("--out", "no such folder", str(args.out.parent), "a file in an existing folder")
        )
    if args.concurrency < 1:
        problems.append(wrong("--concurrency", "too small", args.concurrency, "1 or more"))
    if problems:
        raise ValidationError("snapshot", problems)
    return Settings(
        name=args.name or args.out.stem,
        regions=regions,
        regions_from=regions_from,
        role_name=role_name,
        tag_keys=tuple(sorted(set(tag_keys))),
    )


def _say(message: str) -> None:
    print(f"snapshot: {message}", file=sys.stderr, flush=True)


def _write(path: Path, text: str) -> None:
    """Write through a temporary sibling, so a failed write never leaves half a file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def take(args: argparse.Namespace, chosen: Settings) -> dict[str, Any]:
    """Read the organization and its nodes; the org file's data."""
    # Airflow and the AWS SDK load only for this command: the others run without AWS.
    from distributor_rollout.hooks.org_snapshot import (  # noqa: PLC0415
        AccountProgress,
        OrgSnapshotHook,
    )

    hook = OrgSnapshotHook(aws_conn_id=args.conn, role_name=chosen.role_name)
    caller = hook.caller_account_id()
    org = hook.organization()
    admin, warnings = delegated_admin(caller, org.management_account_id, hook.stacksets_admins())
    for warning in warnings:
        _say(f"warning: {warning}")
    problems = layout_problems(org, admin, anonymize=args.anonymize)
    if problems:
        raise ValidationError("snapshot", problems)
    for account_id in root_accounts(org):
        _say(
            f"warning: account {account_id} is directly in the root, where the org file "
            "has no place for accounts: left out (source.accounts_in_root)"
        )
    accounts = member_accounts(org)
    readable = [account for account in accounts if is_readable(account)]
    _say(
        f"{len(accounts)} member accounts in {len(org.units)} OUs; reading managed nodes of "
        f"{len(readable)} active accounts in {', '.join(chosen.regions)} as role "
        f"{chosen.role_name}"
    )

    def progress(step: AccountProgress) -> None:
        outcome = "unreadable" if step.unreadable else f"{step.nodes} nodes"
        _say(f"{step.done}/{step.total} accounts read ({step.account_id}: {outcome})")

    readings = hook.read_accounts(
        readable,
        chosen.regions,
        want_tags=bool(chosen.tag_keys),
        concurrency=args.concurrency,
        progress=progress,
    )
    for item in sorted(readings.unreadable, key=lambda item: (item.account_id, item.region or "")):
        where = f"account {item.account_id}" + (f" in {item.region}" if item.region else "")
        _say(f"warning: {where} not read, written without nodes there: {item.reason}")
    for item in sorted(readings.incomplete, key=lambda item: (item.account_id, item.region or "")):
        _say(f"warning: account {item.account_id} in {item.region}: {item.reason}")
    return org_file(
        org,
        name=chosen.name,
        admin=admin,
        regions=chosen.regions,
        readings=readings,
        provenance=Provenance(
            taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
            regions_from=chosen.regions_from,
            role_name=chosen.role_name,
            tag_keys=chosen.tag_keys,
            anonymized=args.anonymize,
        ),
    )


def run(args: argparse.Namespace) -> int:
    """The ``snapshot`` command: 0 written, 1 AWS refused, 2 invalid input (printed)."""
    from botocore.exceptions import (  # type: ignore[import-untyped]  # noqa: PLC0415 - see take()
        BotoCoreError,
        ClientError,
    )

    chosen = settings(args)
    try:
        data = take(args, chosen)
    except (ClientError, BotoCoreError) as error:
        print(f"snapshot failed: {error}", file=sys.stderr)
        return EXIT_AWS
    _write(args.out, render(data))
    nodes = sum(
        entry["count"]
        for unit in _units(data["units"])
        for account in unit["accounts"]
        for entries in account["inventory"].values()
        for entry in entries
    )
    _say(f"wrote {args.out}: {nodes} managed nodes")
    return EXIT_OK


def _units(units: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every unit of a nested ``units`` list, parents first."""
    found: list[dict[str, Any]] = []
    for unit in units:
        found.append(unit)
        found.extend(_units(unit["units"]))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """``snapshot`` alone, with ``python -m distributor_rollout``'s error handling."""
    parser = argparse.ArgumentParser(prog="python -m distributor_rollout")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["snapshot", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.run(args))
    except RolloutError as error:
        print(str(error), file=sys.stderr)
        return EXIT_INVALID
