"""``python -m distributor_rollout``: validate a plan, show its waves, build a package,
snapshot an organization, check AWS is ready for a plan (preflight).

Everything here but ``snapshot`` and ``preflight`` runs without AWS (they read through the
connection, never writing; see ``snapshot_cli`` and ``preflight_cli``). Input errors print as
messages and exit 2; no traceback.
``plan --org`` reads an organization file (the awssim org YAML that ``snapshot`` writes)
or a JSON organization snapshot (``core.org.Organization.to_dict``); its warnings about
nodes leave the exit status at 0: they say what a run would meet, not that the plan is
wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from distributor_rollout import preflight_cli, snapshot_cli
from distributor_rollout.core.durations import format_duration
from distributor_rollout.core.errors import PackageError, RolloutError, ValidationError, wrong
from distributor_rollout.core.manifest import PlatformTarget, parse_manifest
from distributor_rollout.core.org import Organization
from distributor_rollout.core.org_file import OrgFile, looks_like_org_file, read_org_file
from distributor_rollout.core.package import build_package
from distributor_rollout.core.package_source import plan_package
from distributor_rollout.core.plan import Plan, wave_gate, wave_operation
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.reach import (
    plan_reach,
    reach_warnings,
    render_reach,
    snapshot_warnings,
)
from distributor_rollout.core.safe_yaml import ORG_FILE_LIMITS, load_yaml
from distributor_rollout.core.source_location import is_s3
from distributor_rollout.core.waves import Resolution, render_waves, resolve_waves

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


def _read_org(path: Path) -> Organization | OrgFile:
    """An organization file or a JSON snapshot: parsed by suffix, told apart by content.

    ``.json`` is parsed as JSON (its errors say so), anything else as YAML; then data with
    ``root_id`` is a snapshot and data with org-file keys an org file (JSON holding an org
    file is one too); data that is neither is read as the suffix suggests.
    """
    subject = str(path)
    json_file = path.suffix.lower() == ".json"
    data = _read_json(path) if json_file else load_yaml(path, subject, ORG_FILE_LIMITS)
    snapshot = isinstance(data, dict) and "root_id" in data
    if looks_like_org_file(data) or not (json_file or snapshot):
        return read_org_file(data, subject=subject)
    return Organization.from_dict(data, subject=subject)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValidationError(
            str(path), [wrong("", "cannot read", str(path), f"a readable file ({error.strerror})")]
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = f"line {error.lineno}" if isinstance(error, json.JSONDecodeError) else "UTF-8"
        message = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise ValidationError(
            str(path), [wrong("", "not valid JSON", message, f"JSON ({where})")]
        ) from None


def _manifest_entries(
    plan: Plan, manifest: Path | None
) -> tuple[frozenset[PlatformTarget] | None, str | None]:
    """The platform targets the package has files for, or None and why they are unknown."""
    if manifest is not None:
        try:
            data = manifest.read_bytes()
        except OSError as error:
            raise ValidationError(
                str(manifest),
                [wrong("", "cannot read", str(manifest), f"a manifest.json ({error.strerror})")],
            ) from None
        return frozenset(target for target, _ in parse_manifest(data, str(manifest)).packages), None
    if plan.package.existing is not None:
        return None, (
            f"{plan.package.existing} already exists in Distributor and plan reads no AWS: "
            "give --manifest FILE (its manifest) to check the nodes' platforms against it"
        )
    if is_s3(plan.package.source_folder):
        return None, (
            f"the package source {plan.package.source_folder} is in S3 and plan reads no AWS: "
            "give --manifest FILE to check the nodes' platforms against its manifest"
        )
    source = Path(plan.package.source_folder)
    try:
        # Only checks and decides the zips: nothing is written to ``out``.
        zips, _ = plan_package(
            source,
            source.parent / f"{source.name}.unbuilt",
            name=plan.package.name,
            version=plan.package.built_version,
            publisher=plan.package.publisher,
            workers=None,
        )
    except PackageError as error:
        problems = f"{error.total} problem{'s' if error.total != 1 else ''}"
        return None, (
            f"the package source {source} cannot be built ({problems}; the build command "
            "lists them): the nodes' platforms are not checked"
        )
    except OSError as error:
        return None, (
            f"the package source {source} cannot be read ({error.strerror}): the nodes' "
            "platforms are not checked"
        )
    return frozenset(target for item in zips for target in item.targets), None


def _org_line(path: Path, org: Organization | OrgFile) -> str:
    organization = org.organization if isinstance(org, OrgFile) else org
    members = sum(a.id != organization.management_account_id for a in organization.accounts)
    shape = f"{members} member accounts in {len(organization.units)} OUs"
    if not isinstance(org, OrgFile):
        return (
            f"organization snapshot {path}: {shape}; it holds no nodes (node counts need an "
            "organization file, such as snapshot writes)"
        )
    counts = (
        "node counts with ≈ are expected values of its simulated fleet"
        if org.estimated
        else "node counts from its inventory"
    )
    # The provenance a snapshot writes; the rest of its free-form block goes to warnings.
    provenance = [
        f"{key} {value if isinstance(value, str) else json.dumps(value, default=str)}"
        for key, value in (org.source or {}).items()
        if key in ("by", "taken_at", "anonymized")
    ]
    source = f" ({', '.join(provenance)})" if provenance else ""
    return f"organization {org.name!r} from {path}{source}: {shape}; {counts}"


def _ou_id_note(org: Organization | OrgFile, resolution: Resolution, plan: Plan) -> list[str]:
    """An org file has no OU ids: say so when a wave names an OU by id and is not found."""
    if not isinstance(org, OrgFile):
        return []
    unresolved = {problem.path for problem in resolution.problems}
    for index, wave in enumerate(plan.waves):
        for position, ref in enumerate(wave.ous):
            if not ref.startswith("/") and f"waves[{index}].ous[{position}]" in unresolved:
                return [
                    "note: an organization file names OUs by path only (the OU ids it gets "
                    "are made up): name the waves' OUs by path, such as /Prod/EU"
                ]
    return []


def _plan(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan)
    org = _read_org(args.org)
    organization = org.organization if isinstance(org, OrgFile) else org
    resolution = resolve_waves(plan, organization)
    details: dict[str, list[str]] = {}
    warnings: list[str] = []
    if isinstance(org, OrgFile):
        packages, unchecked = _manifest_entries(plan, args.manifest)
        reaches = plan_reach(plan, resolution, org.nodes, packages)
        details = {
            reach.name: render_reach(reach, plan.association)
            for reach, wave in zip(reaches, resolution.waves, strict=True)
            if wave.accounts
        }
        warnings = [
            *snapshot_warnings(org.source, plan.association),
            *([unchecked] if unchecked else []),
            *reach_warnings(plan, resolution, reaches, packages or ()),
        ]
    package = f"{plan.package.name} {plan.package.version_label}"
    print(f"plan {plan.name!r}: {package} (dry run: nothing is deployed)")
    print(_org_line(args.org, org))
    print(render_waves(resolution, organization, details, warnings))
    for note in _ou_id_note(org, resolution, plan):
        print(note)
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
    plan.add_argument(
        "--org",
        type=Path,
        required=True,
        help="organization file (YAML, as snapshot writes and awssim reads) or snapshot (JSON)",
    )
    plan.add_argument(
        "--manifest",
        type=Path,
        help="a manifest.json to check the nodes' platforms against "
        "(default: the one the plan's package source builds)",
    )
    plan.set_defaults(run=_plan)
    build = commands.add_parser("build", help="build a Distributor package locally")
    build.add_argument("source", type=Path)
    build.add_argument("out", type=Path)
    build.add_argument("--name", help="package name (default: the plan's)")
    build.add_argument("--version", help="package version (default: the plan's)")
    build.add_argument("--publisher", help="manifest publisher")
    build.add_argument("--plan", type=Path, help="take name, version and publisher from a plan")
    build.set_defaults(run=_build)
    snapshot_cli.register(commands)
    preflight_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code is 0 on success and 2 on invalid input."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except RolloutError as error:
        print(str(error), file=sys.stderr)
        return EXIT_INVALID
