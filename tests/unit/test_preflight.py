"""The preflight's verdicts, found texts and to-dos, from readings (no AWS)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.errors import Problem, ValidationError
from distributor_rollout.core.org import Organization
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import validate_plan
from distributor_rollout.core.preflight import (
    STACKSETS_PRINCIPAL,
    VERDICTS,
    BucketReading,
    Check,
    DocumentReading,
    PackageReading,
    Preflight,
    Readings,
    Refused,
    document_ref,
    judge,
    render,
    wave_regions,
    worst,
)
from distributor_rollout.core.preflight_organization import (
    REGISTER,
    caller_check,
    ou_check,
    trusted_access_check,
)
from distributor_rollout.core.preflight_resources import (
    bucket_check,
    package_check,
    plan_regions,
    region_check,
)
from distributor_rollout.core.report import ValidationFailure

ADMIN = "222222222222"
MANAGEMENT = "111111111111"
OTHER = "300000000001"
VENDOR = "444455556666"
DENIED = Refused("AccessDeniedException", "You don't have permissions to access this resource.")
NOT_ADMIN = Refused("ValidationError", "Account used is not a delegated administrator")


@pytest.fixture(scope="module")
def plan_data(example_plan_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(example_plan_path.read_text())
    return data


@pytest.fixture(scope="module")
def plan(plan_data: dict[str, Any]) -> Plan:
    return validate_plan(plan_data)


@pytest.fixture(scope="module")
def org(example_org_path: Path) -> Organization:
    return Organization.from_dict(json.loads(example_org_path.read_text()))


def _existing(plan_data: dict[str, Any], existing: str, version: str | None = None) -> Plan:
    package: dict[str, Any] = {"existing": existing}
    if version is not None:
        package["version"] = version
    return validate_plan({**plan_data, "package": package})


def _readings(plan: Plan, org: Organization, **changes: Any) -> Readings:
    readings = Readings(
        caller=ADMIN,
        management=MANAGEMENT,
        admins=(ADMIN,),
        access="ENABLED",
        organization=org,
        regions=dict.fromkeys(plan_regions(plan), "opt-in-not-required"),
        bucket=f"distributor-rollout-{ADMIN}-us-east-1",
        bucket_head=BucketReading("exists", "us-east-1"),
    )
    return dataclasses.replace(readings, **changes)


def _document(version_name: str, **changes: Any) -> DocumentReading:
    document = DocumentReading(
        name="AmazonCloudWatchAgent",
        document_type="Package",
        status="Active",
        document_version="3",
        version_name=version_name,
        default_version="3",
        owner="Amazon",
    )
    return dataclasses.replace(document, **changes)


# The whole preflight --------------------------------------------------------------------


def test_a_ready_organization_passes_every_check(plan: Plan, org: Organization) -> None:
    preflight = judge(plan, _readings(plan, org))
    assert [check.name for check in preflight.checks] == [
        "caller",
        "trusted_access",
        "ous",
        "regions",
        "artifacts_bucket",
    ]
    assert {check.verdict for check in preflight.checks} == {"pass"}
    assert preflight.verdict == "pass"
    assert preflight.problems == ()
    preflight.raise_for_failures()  # nothing to raise


def test_a_failed_check_raises_what_validate_records(plan: Plan, org: Organization) -> None:
    preflight = judge(plan, _readings(plan, org, access="DISABLED"))
    assert preflight.verdict == "fail"
    with pytest.raises(ValidationError) as raised:
        preflight.raise_for_failures()
    assert raised.value.subject == "preflight of plan 'examplepackage'"
    [problem] = raised.value.problems
    assert problem.path == "stack_set"
    [entry] = ValidationFailure.from_error(raised.value).problems
    assert entry.field == "stack_set"
    assert entry.what == "StackSets trusted access with AWS Organizations is not enabled"
    assert entry.got == "'DISABLED'"
    assert entry.expected is not None
    assert "ActivateOrganizationsAccess" in entry.expected


@given(st.lists(st.sampled_from(VERDICTS), max_size=6))
def test_the_preflight_verdict_is_its_worst_check(verdicts: list[Any]) -> None:
    checks = tuple(Check(f"c{i}", f"check {i}", v, "found") for i, v in enumerate(verdicts))
    preflight = Preflight("p", ADMIN, "DELEGATED_ADMIN", checks)
    expected = "fail" if "fail" in verdicts else "warn" if "warn" in verdicts else "pass"
    assert preflight.verdict == expected == worst(verdicts)


_texts = st.text(min_size=0, max_size=30)
_checks = st.builds(
    Check,
    name=st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    title=_texts,
    verdict=st.sampled_from(VERDICTS),
    found=_texts,
    todo=_texts,
    problems=st.lists(st.builds(Problem, _texts, _texts), max_size=3).map(tuple),
)


@given(st.lists(_checks, max_size=6).map(tuple), st.sampled_from(["SELF", "DELEGATED_ADMIN"]))
def test_a_preflight_reads_back_what_it_wrote(checks: tuple[Check, ...], call_as: str) -> None:
    preflight = Preflight("examplepackage", ADMIN, call_as, checks)
    written = json.loads(json.dumps(preflight.to_dict()))
    assert written["verdict"] == preflight.verdict
    assert Preflight.from_dict(written) == preflight


def test_an_unknown_verdict_is_refused() -> None:
    with pytest.raises(ValidationError, match="verdict"):
        Check.from_dict({"name": "x", "title": "x", "verdict": "maybe", "found": ""})


def test_the_table_names_every_check_and_what_to_do(plan: Plan, org: Organization) -> None:
    readings = _readings(
        plan, org, access="DISABLED", bucket_head=BucketReading("missing"), admins=()
    )
    text = render(judge(plan, readings))
    lines = text.splitlines()
    assert lines[0].startswith("preflight of plan 'examplepackage' as account 222222222222")
    rows = {line[2:25].rstrip(): line[25:].split()[0] for line in lines[2:-1] if line[2] != " "}
    assert rows == {
        "StackSets administrator": "FAIL",
        "trusted access": "FAIL",
        "OUs": "pass",
        "Regions": "pass",
        "artifacts bucket": "warn",
    }
    assert lines[1] == "  CHECK                    VERDICT  FOUND"
    assert text.count("to do:") == 3
    assert lines[-1] == "preflight: FAIL (2 pass, 1 warn, 2 fail)"
    assert max(len(line) for line in lines) <= 110


# The caller ------------------------------------------------------------------------------

_accounts = st.sampled_from([ADMIN, MANAGEMENT, OTHER, "399999999999"])


@given(
    call_as=st.sampled_from(["SELF", "DELEGATED_ADMIN"]),
    caller=_accounts,
    management=st.one_of(_accounts, st.just(DENIED)),
    admins=st.one_of(st.lists(_accounts, max_size=3).map(tuple), st.just(DENIED)),
    access=st.sampled_from(["ENABLED", "DISABLED", NOT_ADMIN, DENIED]),
)
def test_the_caller_passes_only_as_the_account_call_as_names(
    call_as: str,
    caller: str,
    management: str | Refused,
    admins: tuple[str, ...] | Refused,
    access: str | Refused,
) -> None:
    readings = Readings(
        caller=caller,
        management=management,
        admins=admins if call_as == "DELEGATED_ADMIN" else None,
        access=access,
        organization=DENIED,
        regions=DENIED,
        bucket="b",
        bucket_head=DENIED,
    )
    check = caller_check(call_as, readings)
    if call_as == "SELF":
        expected = "pass" if caller == management else "fail"
    elif isinstance(admins, tuple):
        expected = "pass" if caller in admins else "fail"
    else:  # ListDelegatedAdministrators refused: DescribeOrganizationsAccess decides
        expected = "warn" if isinstance(access, str) else "fail"
    assert check.verdict == expected
    if expected == "fail":
        [problem] = check.problems
        assert problem.path == "stack_set.call_as"
        assert caller in problem.message
        assert check.todo
    else:
        assert check.problems == ()


def test_an_unregistered_caller_is_told_how_to_register(plan: Plan, org: Organization) -> None:
    check = caller_check("DELEGATED_ADMIN", _readings(plan, org, caller=OTHER))
    assert check.verdict == "fail"
    assert check.found == (
        f"account {OTHER} is not a registered StackSets delegated administrator "
        f"(registered: {ADMIN})"
    )
    assert check.todo == REGISTER.format(account=OTHER)
    assert f"--account-id {OTHER} --service-principal {STACKSETS_PRINCIPAL}" in check.todo


def test_the_management_account_is_told_to_use_self(plan: Plan, org: Organization) -> None:
    check = caller_check("DELEGATED_ADMIN", _readings(plan, org, caller=MANAGEMENT))
    assert check.verdict == "fail"
    assert "is the management account" in check.found
    assert "stack_set.call_as: SELF" in check.todo


def test_a_denied_listing_falls_back_on_organizations_access(plan: Plan, org: Organization) -> None:
    proven = caller_check("DELEGATED_ADMIN", _readings(plan, org, admins=DENIED))
    assert proven.verdict == "warn"
    assert "organizations:ListDelegatedAdministrators" in proven.todo
    unproven = caller_check(
        "DELEGATED_ADMIN", _readings(plan, org, admins=DENIED, access=NOT_ADMIN)
    )
    assert unproven.verdict == "fail"
    assert "Account used is not a delegated administrator" in unproven.found
    assert unproven.todo.startswith(REGISTER.format(account=ADMIN))


def test_an_organization_that_cannot_be_read_fails_the_caller(
    plan: Plan, org: Organization
) -> None:
    outside = Refused("AWSOrganizationsNotInUseException", "not in an organization")
    check = caller_check("DELEGATED_ADMIN", _readings(plan, org, admins=outside))
    assert check.verdict == "fail"
    assert "AWSOrganizationsNotInUseException" in check.found


# Trusted access --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("ENABLED", "pass"),
        ("DISABLED", "fail"),
        ("DISABLED_PERMANENTLY", "fail"),
        ("PENDING", "warn"),
        (DENIED, "warn"),
    ],
)
def test_trusted_access(status: str | Refused, verdict: str) -> None:
    check = trusted_access_check("DELEGATED_ADMIN", status)
    assert check.verdict == verdict
    assert (check.problems != ()) == (verdict == "fail")
    if verdict == "fail":
        assert check.todo == (
            "enable trusted access: ActivateOrganizationsAccess from the management account "
            "(aws cloudformation activate-organizations-access), or CloudFormation console → "
            "StackSets → Enable trusted access"
        )


# OUs -------------------------------------------------------------------------------------


def test_a_missing_ou_names_its_wave(plan_data: dict[str, Any], org: Organization) -> None:
    waves = [dict(wave) for wave in plan_data["waves"]]
    waves[2]["ous"] = ["/Prod", "/Prod/Moon"]
    plan = validate_plan({**plan_data, "waves": waves})
    check = ou_check(plan, org)
    assert check.verdict == "fail"
    assert check.found == "missing: wave prod: /Prod/Moon"
    [problem] = check.problems
    assert problem.path == "waves[2].ous[1]"
    assert problem.message.startswith("wave 'prod': OU /Prod/Moon is not in the organization")


def test_ou_ids_and_paths_resolve(plan_data: dict[str, Any], org: Organization) -> None:
    prod = org.id_by_path["/Prod"]
    waves = [dict(wave) for wave in plan_data["waves"]]
    waves[2]["ous"] = [prod]
    check = ou_check(validate_plan({**plan_data, "waves": waves}), org)
    assert check.verdict == "pass"
    assert check.found == f"all 3 OUs of the 3 waves exist: /Sandbox, /NonProd, {prod}"


def test_overlapping_waves_fail_the_ou_check(plan_data: dict[str, Any], org: Organization) -> None:
    waves = [dict(wave) for wave in plan_data["waves"]]
    waves[1]["ous"] = ["/Prod/EU"]  # the prod wave's /Prod holds it too
    check = ou_check(validate_plan({**plan_data, "waves": waves}), org)
    assert check.verdict == "fail"
    assert check.found.startswith("waves[2] reaches targets wave 'nonprod' already deploys")
    assert [problem.path for problem in check.problems] == ["waves[2]"]


def test_an_unreadable_organization_fails_the_ou_check(plan: Plan) -> None:
    check = ou_check(plan, DENIED)
    assert check.verdict == "fail"
    assert "AccessDeniedException" in check.found
    assert [problem.path for problem in check.problems] == ["waves"]


# Regions ---------------------------------------------------------------------------------

_statuses = st.sampled_from(["opt-in-not-required", "opted-in", "not-opted-in", None])


@given(st.data())
def test_every_opt_in_region_is_named(plan: Plan, data: st.DataObject) -> None:
    statuses = {region: data.draw(_statuses, label=region) for region in plan_regions(plan)}
    known = {region: status for region, status in statuses.items() if status is not None}
    check = region_check(plan, known)
    admin = plan.stack_set.region
    unknown = [region for region, status in statuses.items() if status is None]
    opt_in = [r for r, s in known.items() if s != "opt-in-not-required"]
    if unknown or statuses[admin] == "not-opted-in":
        assert check.verdict == "fail"
        named = {p.message.split(" (got '")[1].split("'")[0] for p in check.problems}
        expected = set(unknown) | ({admin} if statuses[admin] == "not-opted-in" else set())
        assert named == expected
    elif opt_in:
        assert check.verdict == "warn"
        for region in opt_in:
            assert f"{region} is an opt-in Region ({known[region]}" in check.found
            assert f"--region-name {region}" in check.todo
        assert "every target account must opt in too" in check.found
    else:
        assert check.verdict == "pass"


def test_region_problems_name_the_first_field_naming_them(plan: Plan) -> None:
    check = region_check(plan, {"us-east-1": "opt-in-not-required"})
    assert [problem.path for problem in check.problems] == [
        "waves[1].regions[1]",
        "waves[2].regions[2]",
    ]


def test_unreadable_regions_are_a_warning(plan: Plan) -> None:
    check = region_check(plan, DENIED)
    assert check.verdict == "warn"
    assert "ec2:DescribeRegions" in check.todo


# The artifacts bucket --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "verdict", "found"),
    [
        (BucketReading("exists", "us-east-1"), "pass", "exists in us-east-1"),
        (BucketReading("missing"), "warn", "prepare task creates it in us-east-1"),
        (BucketReading("not_yours"), "fail", "is not this account's"),
        (BucketReading("exists", "eu-west-1"), "fail", "is in Region eu-west-1"),
        (Refused("InternalError"), "warn", "not checked"),
    ],
)
def test_the_artifacts_bucket(
    plan: Plan, org: Organization, head: BucketReading | Refused, verdict: str, found: str
) -> None:
    check = bucket_check(plan, _readings(plan, org, bucket_head=head))
    assert check.verdict == verdict
    assert found in check.found
    if verdict == "fail":
        [problem] = check.problems
        assert problem.path == "stack_set.artifacts_bucket"


# An existing package ---------------------------------------------------------------------


def _everywhere(plan: Plan, **per_region: Any) -> tuple[PackageReading, ...]:
    return tuple(
        PackageReading(region, document_ref(plan, region), **per_region)
        for region in wave_regions(plan)
    )


def test_a_built_package_has_no_package_check(plan: Plan, org: Organization) -> None:
    assert "package" not in [check.name for check in judge(plan, _readings(plan, org)).checks]


def test_an_unpinned_package_reports_each_regions_default(
    plan_data: dict[str, Any], org: Organization
) -> None:
    plan = _existing(plan_data, "AmazonCloudWatchAgent")
    readings = (
        PackageReading("us-east-1", "AmazonCloudWatchAgent", _document("1.300032.2")),
        PackageReading("us-west-2", "AmazonCloudWatchAgent", _document("1.300031.1")),
        PackageReading("eu-west-1", "AmazonCloudWatchAgent", _document("1.300032.2")),
    )
    preflight = judge(plan, _readings(plan, org, packages=readings))
    check = preflight.checks[-1]
    assert check.name == "package"
    assert check.verdict == "pass"
    assert check.found == (
        "AmazonCloudWatchAgent, default version by Region: us-east-1 1.300032.2, "
        "us-west-2 1.300031.1, eu-west-1 1.300032.2"
    )


def test_a_pinned_version_is_found_in_every_region(plan_data: dict[str, Any]) -> None:
    plan = _existing(plan_data, "AmazonCloudWatchAgent", "1.300031.1")
    readings = _everywhere(plan, default=_document("1.300032.2"), pinned=_document("1.300031.1"))
    check = package_check(plan, ADMIN, readings)
    assert check.verdict == "pass"
    assert check.found.startswith("AmazonCloudWatchAgent, version 1.300031.1 by Region: ")


def test_a_pinned_version_missing_in_a_region_fails_there(plan_data: dict[str, Any]) -> None:
    plan = _existing(plan_data, "AmazonCloudWatchAgent", "1.300031.1")
    missing = Refused("InvalidDocument", "The specified document does not exist.")
    readings = tuple(
        PackageReading(
            region,
            "AmazonCloudWatchAgent",
            _document("1.300032.2"),
            missing if region == "eu-west-1" else _document("1.300031.1"),
        )
        for region in wave_regions(plan)
    )
    check = package_check(plan, ADMIN, readings)
    assert check.verdict == "fail"
    [problem] = check.problems
    assert problem.path == "package.version"
    assert problem.message.startswith(
        "version 1.300031.1 of AmazonCloudWatchAgent does not exist in eu-west-1 (its default "
        "version there is 1.300032.2)"
    )
    assert "aws ssm list-document-versions --name AmazonCloudWatchAgent --region eu-west-1" in (
        problem.message
    )


def test_a_version_that_is_the_default_needs_no_second_read(plan_data: dict[str, Any]) -> None:
    plan = _existing(plan_data, "AmazonCloudWatchAgent", "1.300032.2")
    check = package_check(plan, ADMIN, _everywhere(plan, default=_document("1.300032.2")))
    assert check.verdict == "pass"


def test_a_shared_document_not_shared_in_a_region_says_who_shares_it(
    plan_data: dict[str, Any],
) -> None:
    plan = _existing(plan_data, f"arn:aws:ssm:us-east-1:{VENDOR}:document/VendorAgent")
    missing = Refused("InvalidDocument", "The specified document does not exist.")
    readings = tuple(
        PackageReading(
            region,
            document_ref(plan, region),
            missing if region == "us-west-2" else _document("2.0", name="VendorAgent"),
        )
        for region in wave_regions(plan)
    )
    check = package_check(plan, ADMIN, readings)
    assert check.verdict == "fail"
    [problem] = check.problems
    assert problem.path == "package.existing"
    assert problem.message.startswith(
        f"arn:aws:ssm:us-west-2:{VENDOR}:document/VendorAgent does not exist in us-west-2 "
        f"for account {ADMIN} (InvalidDocument)"
    )
    assert f"account {VENDOR} shares VendorAgent in us-west-2" in problem.message


def test_an_unknown_aws_package_points_at_the_list(plan_data: dict[str, Any]) -> None:
    plan = _existing(plan_data, "AmazonCloudWatchAgnet")
    missing = Refused("InvalidDocument", "The specified document does not exist.")
    check = package_check(plan, ADMIN, _everywhere(plan, default=missing))
    assert check.verdict == "fail"
    assert len(check.problems) == 3
    assert "Key=Owner,Values=Amazon" in check.problems[0].message


def test_a_document_that_is_not_a_package_fails(plan_data: dict[str, Any]) -> None:
    plan = _existing(plan_data, "AWS-RunShellScript")
    command = _document("", name="AWS-RunShellScript", document_type="Command")
    check = package_check(plan, ADMIN, _everywhere(plan, default=command))
    assert check.verdict == "fail"
    assert "is not a Distributor package" in check.problems[0].message


def test_an_unreadable_document_is_a_warning(plan_data: dict[str, Any]) -> None:
    plan = _existing(plan_data, "AmazonCloudWatchAgent")
    check = package_check(plan, ADMIN, _everywhere(plan, default=DENIED))
    assert check.verdict == "warn"
    assert "not checked: us-east-1: AccessDeniedException" in check.found
