"""The preflight's checks of what the rollout works in: Regions, artifacts bucket, package.

* ``regions``: the plan's Regions exist, and opt-in Regions are named;
* ``artifacts_bucket``: the artifacts bucket is usable, or the run may create it;
* ``package``: an existing package (and its pinned version) exists in every wave Region.

Each takes what ``hooks.preflight`` read (``core.preflight_records``) and returns a
``Check``: its verdict, what it found and, unless it passed, what to do. The Regions a run
works in and the document its association names in each are here too: these checks judge
them, and ``hooks.preflight`` reads those Regions and documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from distributor_rollout.core.artifacts import artifacts_bucket_refusal
from distributor_rollout.core.errors import Problem, wrong
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.preflight_records import (
    Check,
    DocumentReading,
    PackageReading,
    Readings,
    Refused,
    whats,
)
from distributor_rollout.core.regions import partition_of

MISSING_DOCUMENT_CODES: Final = frozenset({"InvalidDocument", "InvalidDocumentVersion"})
"""DescribeDocument's answers for a document, or a version of it, that does not exist (or
is not shared with the caller): the SSM API reference's InvalidDocument ("The specified
SSM document doesn't exist") and InvalidDocumentVersion."""
NO_OPT_IN: Final = "opt-in-not-required"
NOT_OPTED_IN: Final = "not-opted-in"
PACKAGE_TYPE: Final = "Package"
ACTIVE_DOCUMENT: Final = "Active"
ENABLE_REGION = (
    "opt each target account in: aws account enable-region --account-id <id> --region-name "
    "{region} from the management account (or Account console → AWS Regions)"
)


def plan_regions(plan: Plan) -> tuple[str, ...]:
    """The Regions a run of the plan works in: the waves' (first seen first), then the
    stack set's own Region."""
    regions = [region for wave in plan.waves for region in wave.regions]
    return tuple(dict.fromkeys([*regions, plan.stack_set.region]))


def wave_regions(plan: Plan) -> tuple[str, ...]:
    """The Regions stack instances (and so the association) are deployed to."""
    return tuple(dict.fromkeys(region for wave in plan.waves for region in wave.regions))


def document_ref(plan: Plan, region: str) -> str:
    """What the association names in ``region`` (the document, or its shared ARN there)."""
    return plan.package.document_ref(region, partition_of(region) or "aws")


# Regions ---------------------------------------------------------------------------------

REGIONS = ("regions", "Regions")


def _region_path(plan: Plan, region: str) -> str:
    """The first plan field naming the Region."""
    for index, wave in enumerate(plan.waves):
        if region in wave.regions:
            return f"waves[{index}].regions[{wave.regions.index(region)}]"
    return "stack_set.region"


def region_check(plan: Plan, regions: Mapping[str, str] | Refused) -> Check:
    """Whether the plan's Regions exist for the caller, naming opt-in Regions."""
    named = plan_regions(plan)
    if isinstance(regions, Refused):
        return Check(
            *REGIONS,
            "warn",
            f"not checked: DescribeRegions was refused ({regions})",
            "allow ec2:DescribeRegions to the connection's principal",
        )
    problems: list[Problem] = []
    notes: list[str] = []
    todos: list[str] = []
    for region in named:
        status = regions.get(region)
        path = _region_path(plan, region)
        if status is None:
            what = f"Region {region} is not a Region of the caller's partition"
            problems.append(wrong(path, what, region, "a Region DescribeRegions lists"))
        elif status == NOT_OPTED_IN and region == plan.stack_set.region:
            what = f"the stack set's Region {region} is not enabled in the account"
            todo = f"enable it: aws account enable-region --region-name {region}"
            problems.append(wrong(path, what, region, todo))
        elif status != NO_OPT_IN:
            where = "not enabled" if status == NOT_OPTED_IN else "enabled"
            notes.append(
                f"{region} is an opt-in Region ({status}: {where} in the administrator "
                "account); every target account must opt in too, or its stack instances "
                "there fail"
            )
            todos.append(ENABLE_REGION.format(region=region))
    if problems:
        return Check(
            *REGIONS,
            "fail",
            whats(problems),
            "name Regions the accounts can use",
            tuple(problems),
        )
    if notes:
        return Check(*REGIONS, "warn", "; ".join(notes), "; ".join(todos))
    return Check(*REGIONS, "pass", f"{', '.join(named)}: no opt-in needed")


# The artifacts bucket --------------------------------------------------------------------

BUCKET = ("artifacts_bucket", "artifacts bucket")


def bucket_check(plan: Plan, readings: Readings) -> Check:
    """Whether the artifacts bucket can hold the stack set's templates and reports."""
    bucket, region, head = readings.bucket, plan.stack_set.region, readings.bucket_head
    if isinstance(head, Refused):
        return Check(
            *BUCKET,
            "warn",
            f"not checked: HeadBucket on {bucket} failed ({head})",
            "allow s3:ListBucket on the artifacts bucket to the connection's principal",
        )
    refusal = artifacts_bucket_refusal(
        bucket, region, account=readings.caller, state=head.state, found_region=head.region
    )
    if refusal is not None:
        todo = (
            "change stack_set.artifacts_bucket (it may use {account_id} and {region}), or "
            "give this account the bucket"
        )
        return Check(
            *BUCKET,
            "fail",
            refusal,
            todo,
            (wrong("stack_set.artifacts_bucket", refusal, plan.stack_set.artifacts_bucket, todo),),
        )
    if head.state == "missing":
        # PrepareStackSetOperator creates a missing artifacts bucket (secured, tagged
        # as the product's) in the stack set's Region; a dry run only says it would.
        return Check(
            *BUCKET,
            "warn",
            f"{bucket} does not exist yet: the run's prepare task creates it in {region}",
            "nothing, unless the bucket should exist already (then check "
            "stack_set.artifacts_bucket)",
        )
    return Check(*BUCKET, "pass", f"{bucket} exists in {region} and belongs to the account")


# An existing package ---------------------------------------------------------------------

PACKAGE = ("package", "package")


def package_check(plan: Plan, caller: str, readings: Sequence[PackageReading]) -> Check:
    """Whether the existing package (and its pinned version) exists in every wave Region;
    for an unpinned package, which version is the default in each."""
    package = plan.package
    problems: list[Problem] = []
    unread: list[str] = []
    found: list[tuple[str, DocumentReading]] = []
    for reading in readings:
        outcome = _package_in_region(plan, caller, reading)
        if isinstance(outcome, Problem):
            problems.append(outcome)
        elif isinstance(outcome, str):
            unread.append(outcome)
        else:
            found.append((reading.region, outcome))
    if problems:
        todo = (
            "make the package (and the pinned version) available in every Region of the "
            "waves, or change package.existing or package.version"
        )
        return Check(*PACKAGE, "fail", whats(problems), todo, tuple(problems))
    which = f"version {package.version}" if package.version else "default version"
    per_region = ", ".join(f"{region} {document.version_name}" for region, document in found)
    seen = f"{package.existing}, {which} by Region: {per_region or 'none read'}"
    if unread:
        return Check(
            *PACKAGE,
            "warn",
            f"{seen}; not checked: {'; '.join(unread)}",
            "allow ssm:DescribeDocument to the connection's principal",
        )
    inactive = [
        f"{region}: {document.status}"
        for region, document in found
        if document.status != ACTIVE_DOCUMENT
    ]
    if inactive:
        return Check(
            *PACKAGE,
            "warn",
            f"{seen}; not Active in {', '.join(inactive)}",
            "wait until the document is Active in every Region",
        )
    return Check(*PACKAGE, "pass", seen)


def _package_in_region(
    plan: Plan, caller: str, reading: PackageReading
) -> DocumentReading | Problem | str:
    """The version the association would install in one Region, the problem that it has
    none, or why it could not be read."""
    package, region, ref = plan.package, reading.region, reading.ref
    default = reading.default
    if isinstance(default, Refused):
        if default.code not in MISSING_DOCUMENT_CODES:
            return f"{region}: {default}"
        owner = package.document_owner
        todo = (
            f"account {owner} shares {package.name} in {region} with the target accounts "
            f"(aws ssm modify-document-permission --name {package.name} --permission-type "
            f"Share --account-ids-to-add <account ids> --region {region}, run in {owner})"
            if owner
            else f"the name of an AWS package there (aws ssm list-documents --filters "
            f"Key=Owner,Values=Amazon Key=DocumentType,Values=Package --region {region})"
        )
        return wrong(
            "package.existing",
            f"{ref} does not exist in {region} for account {caller} ({default.code})",
            package.existing,
            todo,
        )
    if default.document_type != PACKAGE_TYPE:
        return wrong(
            "package.existing",
            f"{ref} in {region} is not a Distributor package",
            default.document_type,
            "a document of type Package",
        )
    if package.version is None or default.version_name == package.version:
        return default
    pinned = reading.pinned
    if isinstance(pinned, DocumentReading):
        return pinned
    if pinned is not None and pinned.code not in MISSING_DOCUMENT_CODES:
        return f"{region} version {package.version}: {pinned}"
    return wrong(
        "package.version",
        f"version {package.version} of {ref} does not exist in {region} (its default "
        f"version there is {default.version_name})",
        package.version,
        f"a version it has in every Region (aws ssm list-document-versions --name {ref} "
        f"--region {region}), or no package.version for the default version",
    )
