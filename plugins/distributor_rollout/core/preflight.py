"""The preflight: whether AWS holds what a plan's rollout needs, judged from what was read.

``hooks.preflight`` reads (every read is one AWS call; a refusal arrives as ``Refused``);
this module decides each check's verdict (``pass``, ``warn`` or ``fail``), says what it
found and, when it does not pass, what to do: the API call or console step. A failed
check carries the problems ``validate`` raises, each naming the plan field it concerns,
so the CLI, the DAG's ``validate`` task and the run report say the same thing.

The checks:

* ``caller``: the connection is the registered StackSets delegated administrator
  (``call_as: DELEGATED_ADMIN``) or the management account (``call_as: SELF``);
* ``trusted_access``: trusted access between StackSets and Organizations is enabled;
* ``ous``: every OU the waves name exists (and the waves resolve as a run resolves them);
* ``regions``: the plan's Regions exist, and opt-in Regions are named;
* ``artifacts_bucket``: the artifacts bucket is usable, or the run may create it;
* ``package``: an existing package (and its pinned version) exists in every wave Region.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from distributor_rollout.core.artifacts import artifacts_bucket_refusal
from distributor_rollout.core.errors import Problem, ValidationError, wrong
from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.regions import partition_of
from distributor_rollout.core.waves import resolve_waves

Verdict = Literal["pass", "warn", "fail"]
VERDICTS: Final[tuple[Verdict, ...]] = ("pass", "warn", "fail")
"""From best to worst: the preflight's verdict is its worst check's."""

STACKSETS_PRINCIPAL: Final = "member.org.stacksets.cloudformation.amazonaws.com"
DENIED_CODES: Final = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
)
MISSING_DOCUMENT_CODES: Final = frozenset({"InvalidDocument", "InvalidDocumentVersion"})
"""DescribeDocument's answers for a document, or a version of it, that does not exist (or
is not shared with the caller): the SSM API reference's InvalidDocument ("The specified
SSM document doesn't exist") and InvalidDocumentVersion."""
NO_OPT_IN: Final = "opt-in-not-required"
NOT_OPTED_IN: Final = "not-opted-in"
PACKAGE_TYPE: Final = "Package"
ACTIVE_DOCUMENT: Final = "Active"

REGISTER = (
    "register the account from the management account: aws organizations "
    "register-delegated-administrator --account-id {account} --service-principal "
    f"{STACKSETS_PRINCIPAL} (or CloudFormation console → StackSets → Register delegated "
    "administrator)"
)
ENABLE_TRUSTED_ACCESS = (
    "enable trusted access: ActivateOrganizationsAccess from the management account "
    "(aws cloudformation activate-organizations-access), or CloudFormation console → "
    "StackSets → Enable trusted access"
)
ENABLE_REGION = (
    "opt each target account in: aws account enable-region --account-id <id> --region-name "
    "{region} from the management account (or Account console → AWS Regions)"
)


@dataclass(frozen=True, slots=True)
class Refused:
    """An AWS read that failed: the service's error code and message."""

    code: str
    message: str = ""

    @property
    def denied(self) -> bool:
        """Whether IAM or the service refused the caller (rather than the thing missing)."""
        return self.code in DENIED_CODES

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass(frozen=True, slots=True)
class BucketReading:
    """What ``HeadBucket`` (with ``ExpectedBucketOwner``) said: ``exists`` (with its
    Region), ``missing`` (404) or ``not_yours`` (403: another account's, or unreadable)."""

    state: Literal["exists", "missing", "not_yours"]
    region: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentReading:
    """One version of an SSM document as ``DescribeDocument`` describes it."""

    name: str
    document_type: str
    status: str
    document_version: str
    version_name: str | None
    default_version: str = ""
    owner: str = ""


@dataclass(frozen=True, slots=True)
class PackageReading:
    """An existing package in one Region: its default version, and the pinned version when
    the plan pins one that is not the default (None otherwise)."""

    region: str
    ref: str
    default: DocumentReading | Refused
    pinned: DocumentReading | Refused | None = None


@dataclass(frozen=True)
class Readings:
    """Everything the preflight read, as the hook translated it."""

    caller: str
    management: str | Refused
    admins: tuple[str, ...] | Refused | None
    """ListDelegatedAdministrators for StackSets (None: not read, for call_as SELF)."""
    access: str | Refused
    """DescribeOrganizationsAccess(CallAs=the plan's call_as): its Status."""
    organization: Organization | Refused
    regions: Mapping[str, str] | Refused
    """DescribeRegions(AllRegions=True): OptInStatus by Region name."""
    bucket: str
    bucket_head: BucketReading | Refused
    packages: tuple[PackageReading, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome: what it found and, unless it passed, what to do.

    ``problems`` (only when it failed) are what ``validate`` raises, each naming the plan
    field it concerns.
    """

    name: str
    title: str
    verdict: Verdict
    found: str
    todo: str = ""
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``--json``)."""
        return {
            "name": self.name,
            "title": self.title,
            "verdict": self.verdict,
            "found": self.found,
            "todo": self.todo,
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        """The inverse of ``to_dict``."""
        verdict = data["verdict"]
        if verdict not in VERDICTS:
            raise ValidationError(
                "preflight check", [wrong("verdict", "unknown", verdict, " | ".join(VERDICTS))]
            )
        return cls(
            name=str(data["name"]),
            title=str(data["title"]),
            verdict=cast("Verdict", verdict),
            found=str(data["found"]),
            todo=str(data.get("todo", "")),
            problems=tuple(
                Problem(str(p["path"]), str(p["message"])) for p in data.get("problems", ())
            ),
        )


@dataclass(frozen=True)
class Preflight:
    """Every check of one plan, as one caller sees AWS."""

    plan: str
    caller: str
    call_as: str
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of the checks (``pass`` when there are none)."""
        return worst(check.verdict for check in self.checks)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The problems of the failed checks, in check order."""
        return tuple(problem for check in self.checks for problem in check.problems)

    @property
    def subject(self) -> str:
        """What a ``ValidationError`` of the preflight is about."""
        return f"preflight of plan {self.plan!r}"

    def raise_for_failures(self) -> None:
        """``ValidationError`` with the failed checks' problems, if any check failed."""
        if self.verdict == "fail":
            raise ValidationError(self.subject, self.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``--json``)."""
        return {
            "plan": self.plan,
            "caller": self.caller,
            "call_as": self.call_as,
            "verdict": self.verdict,
            "checks": [check.to_dict() for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preflight:
        """The inverse of ``to_dict`` (the overall verdict is recomputed from the checks)."""
        return cls(
            plan=str(data["plan"]),
            caller=str(data["caller"]),
            call_as=str(data["call_as"]),
            checks=tuple(Check.from_dict(check) for check in data["checks"]),
        )


def worst(verdicts: Iterator[Verdict] | Sequence[Verdict]) -> Verdict:
    """The worst of some verdicts (``pass`` for none)."""
    return max(verdicts, key=VERDICTS.index, default="pass")


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


def judge(plan: Plan, readings: Readings) -> Preflight:
    """Every check of the plan against what was read."""
    checks = [
        caller_check(plan.stack_set.call_as, readings),
        trusted_access_check(plan.stack_set.call_as, readings.access),
        ou_check(plan, readings.organization),
        region_check(plan, readings.regions),
        bucket_check(plan, readings),
    ]
    if plan.package.is_existing:
        checks.append(package_check(plan, readings.caller, readings.packages))
    return Preflight(
        plan=plan.name,
        caller=readings.caller,
        call_as=plan.stack_set.call_as,
        checks=tuple(checks),
    )


# The caller ------------------------------------------------------------------------------

CALLER = ("caller", "StackSets administrator")


def caller_check(call_as: str, readings: Readings) -> Check:
    """Whether the caller may run service-managed stack sets as ``call_as`` says."""
    if call_as == "SELF":
        return _management_caller(readings)
    caller = readings.caller
    admins = Refused("NotRead") if readings.admins is None else readings.admins
    if isinstance(admins, tuple):
        listed = f"registered: {', '.join(sorted(admins)) or 'none'}"
        if caller in admins:
            return Check(
                *CALLER,
                "pass",
                f"account {caller} is a registered StackSets delegated administrator ({listed})",
            )
        if caller == readings.management:
            return _failed_caller(
                caller,
                f"account {caller} is the management account, which StackSets serves as "
                f"SELF, not DELEGATED_ADMIN ({listed})",
                "set stack_set.call_as: SELF, or run from a registered delegated "
                "administrator account",
            )
        return _failed_caller(
            caller,
            f"account {caller} is not a registered StackSets delegated administrator ({listed})",
            REGISTER.format(account=caller),
        )
    if not admins.denied:
        return _failed_caller(
            caller,
            f"the StackSets delegated administrators cannot be read ({admins})",
            "run from an account of the organization that is its registered StackSets "
            "delegated administrator",
        )
    # ListDelegatedAdministrators answers only the management account and delegated
    # administrators (Organizations API reference), and IAM may deny it besides. Its
    # refusal does not say the caller is unregistered: DescribeOrganizationsAccess with
    # CallAs=DELEGATED_ADMIN answers only an account "registered as a delegated
    # administrator in the management account" (CloudFormation API reference), so its
    # answer, whatever the status, proves the registration. That stays a warning: the
    # CloudFormation User Guide asks delegated administrators to hold
    # organizations:ListDelegatedAdministrators, and StackSets calls made without it fail
    # with "Account used is not a delegated administrator".
    if isinstance(readings.access, str):
        return Check(
            *CALLER,
            "warn",
            f"account {caller} is a registered StackSets delegated administrator "
            "(DescribeOrganizationsAccess answers it as DELEGATED_ADMIN), but it may not "
            f"call organizations:ListDelegatedAdministrators ({admins})",
            "allow organizations:ListDelegatedAdministrators to the connection's "
            "principal: CloudFormation asks it of delegated administrators, and StackSets "
            "calls fail without it",
        )
    return _failed_caller(
        caller,
        f"account {caller} is not shown to be a registered StackSets delegated "
        f"administrator: ListDelegatedAdministrators was refused ({admins.code}), and so was "
        f"DescribeOrganizationsAccess as DELEGATED_ADMIN ({readings.access})",
        REGISTER.format(account=caller)
        + "; if it is registered, allow organizations:ListDelegatedAdministrators and "
        "cloudformation:DescribeOrganizationsAccess to the connection's principal",
    )


def _management_caller(readings: Readings) -> Check:
    caller, management = readings.caller, readings.management
    if isinstance(management, Refused):
        return _failed_caller(
            caller,
            f"the organization cannot be read to find its management account ({management})",
            "with call_as SELF, run as the organization's management account",
        )
    if caller == management:
        return Check(*CALLER, "pass", f"account {caller} is the management account (call_as SELF)")
    return _failed_caller(
        caller,
        f"account {caller} is not the management account {management}, which call_as SELF needs",
        "run as the management account, or set stack_set.call_as: DELEGATED_ADMIN and run "
        "from a registered StackSets delegated administrator",
    )


def _failed_caller(caller: str, what: str, todo: str) -> Check:
    return Check(*CALLER, "fail", what, todo, (wrong("stack_set.call_as", what, caller, todo),))


# Trusted access --------------------------------------------------------------------------

TRUSTED_ACCESS = ("trusted_access", "trusted access")


def trusted_access_check(call_as: str, access: str | Refused) -> Check:
    """Whether StackSets may act in the organization (DescribeOrganizationsAccess)."""
    if isinstance(access, Refused):
        return Check(
            *TRUSTED_ACCESS,
            "warn",
            f"not checked: DescribeOrganizationsAccess as {call_as} was refused ({access})",
            "allow cloudformation:DescribeOrganizationsAccess to the connection's principal "
            "(a refusal as DELEGATED_ADMIN also means the account is not registered: see "
            "the caller check)",
        )
    found = f"StackSets trusted access with AWS Organizations is {access}"
    if access == "ENABLED":
        return Check(*TRUSTED_ACCESS, "pass", found)
    if access in {"DISABLED", "DISABLED_PERMANENTLY"}:
        todo = ENABLE_TRUSTED_ACCESS
        problem = wrong(
            "stack_set",
            "StackSets trusted access with AWS Organizations is not enabled",
            access,
            todo,
        )
        return Check(*TRUSTED_ACCESS, "fail", found, todo, (problem,))
    # The API reference lists ENABLED, DISABLED and DISABLED_PERMANENTLY; anything else
    # (an activation still in progress) is neither proof nor refusal.
    return Check(
        *TRUSTED_ACCESS,
        "warn",
        found,
        "wait until DescribeOrganizationsAccess says ENABLED before the first wave",
    )


# OUs -------------------------------------------------------------------------------------

OUS = ("ous", "OUs")
_OU_PATH = re.compile(r"^waves\[(?P<wave>\d+)\]\.ous\[(?P<ou>\d+)\]$")


def ou_check(plan: Plan, organization: Organization | Refused) -> Check:
    """Whether every OU of the waves exists, resolved as a run resolves them."""
    if isinstance(organization, Refused):
        todo = (
            "run as the management account or a registered delegated administrator (see "
            "the caller check) whose principal may call organizations:DescribeOrganization, "
            "ListRoots, ListOrganizationalUnitsForParent and ListAccountsForParent"
        )
        what = f"the organization cannot be read ({organization})"
        return Check(*OUS, "fail", what, todo, (wrong("waves", what, None, todo),))
    resolution = resolve_waves(plan, organization)
    problems: list[Problem] = []
    missing: list[str] = []
    overlaps: list[str] = []
    for problem in resolution.problems:
        match = _OU_PATH.match(problem.path)
        if match is None:  # waves that overlap: a run stops on them before any change
            problems.append(problem)
            overlaps.append(f"{problem.path} {_whats([problem])}")
            continue
        wave = plan.waves[int(match["wave"])]
        ref = wave.ous[int(match["ou"])]
        missing.append(f"wave {wave.name}: {ref}")
        problems.append(
            wrong(
                problem.path,
                f"wave {wave.name!r}: OU {ref} is not in the organization",
                ref,
                "an OU that exists: create it, or name one of "
                + ", ".join(sorted(organization.id_by_path)[:10]),
            )
        )
    if problems:
        found = "; ".join([*(["missing: " + "; ".join(missing)] if missing else []), *overlaps])
        todo = "fix the waves' OUs (OU ids, or paths like /Prod/EU): each must exist, once"
        return Check(*OUS, "fail", found, todo, tuple(problems))
    named = list(dict.fromkeys(ref for wave in plan.waves for ref in wave.ous))
    found = f"all {len(named)} OUs of the {len(plan.waves)} waves exist: {', '.join(named)}"
    if resolution.warnings:
        warnings = "; ".join(resolution.warnings)
        return Check(*OUS, "warn", f"{found}; {warnings}", "check the waves' OUs and filters")
    return Check(*OUS, "pass", found)


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
            _whats(problems),
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
        return Check(*PACKAGE, "fail", _whats(problems), todo, tuple(problems))
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


def _whats(problems: Sequence[Problem]) -> str:
    """The problems' "what" parts, without their got/expected tails."""
    return "; ".join(problem.message.split(" (got ", 1)[0] for problem in problems)


# Rendering -------------------------------------------------------------------------------

_WIDTH = 110


def render(preflight: Preflight) -> str:
    """The preflight as a table: a row per check (verdict, what was found, what to do)."""
    label = max([len("CHECK"), *(len(check.title) for check in preflight.checks)])
    lines = [
        f"preflight of plan {preflight.plan!r} as account {preflight.caller} "
        f"(call_as {preflight.call_as}); read-only",
        f"  {'CHECK':<{label}}  {'VERDICT':<8} FOUND",
    ]
    indent = " " * (2 + label + 2 + 8 + 1)
    for check in preflight.checks:
        verdict = check.verdict.upper() if check.verdict == "fail" else check.verdict
        head = f"  {check.title:<{label}}  {verdict:<8} "
        lines.extend(
            textwrap.wrap(check.found, _WIDTH, initial_indent=head, subsequent_indent=indent)
            or [head.rstrip()]
        )
        if check.verdict != "pass" and check.todo:
            lines.extend(
                textwrap.wrap(
                    f"to do: {check.todo}",
                    _WIDTH,
                    initial_indent=indent,
                    subsequent_indent=indent + "  ",
                )
            )
    counts = {verdict: sum(c.verdict == verdict for c in preflight.checks) for verdict in VERDICTS}
    summary = ", ".join(f"{count} {verdict}" for verdict, count in counts.items() if count)
    lines.append(f"preflight: {preflight.verdict.upper()} ({summary or 'no checks'})")
    return "\n".join(lines)
