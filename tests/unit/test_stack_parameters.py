"""Stack set parameters: every template parameter, valid by the template's own constraints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan, validate_plan
from distributor_rollout.core.stack_parameters import (
    CHUNK_CHARACTERS,
    MANIFEST_LIMIT,
    MANIFEST_PARAMETERS,
    bucket_name_parts,
    compact_manifest,
    manifest_chunks,
    render_stack_parameters,
    to_cfn_parameters,
)
from distributor_rollout.resources import template

TEMPLATE_PATH = Path(str(template()))
ADMIN = "222222222222"
RUNNER = f"arn:aws:iam::{ADMIN}:role/Runner"
"""The role the rollout runs as: the one principal the compliance reader trusts."""
MANIFEST = {
    "schemaVersion": "2.0",
    "version": "1.0.2",
    "publisher": "Exämple Corp",
    "packages": {"amazon": {"_any": {"x86_64": {"file": "ExamplePackage_amazon.zip"}}}},
    "files": {"ExamplePackage_amazon.zip": {"checksums": {"sha256": "0" * 64}}},
}
MANIFEST_TEXT = json.dumps(MANIFEST, indent=2, ensure_ascii=False) + "\n"


@pytest.fixture(scope="module")
def template_parameters() -> dict[str, Any]:
    """The template's Parameters section."""
    parsed, errors = decode_str(TEMPLATE_PATH.read_text(encoding="utf-8"))
    assert not errors
    assert parsed is not None
    parameters: dict[str, Any] = parsed["Parameters"]
    return parameters


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    """The shipped example plan."""
    return load_plan(example_plan_path)


def _variant(plan: Plan, section: str, **changes: Any) -> Plan:
    data = plan.model_dump(mode="json")
    data[section].update(changes)
    return validate_plan(data)


def _violations(parameters: dict[str, str], declared: dict[str, Any]) -> list[str]:
    """Values CloudFormation would reject by the template's parameter constraints."""
    found = []
    for name, value in parameters.items():
        spec = declared[name]
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.search(pattern, value):
            found.append(f"{name}={value!r} !~ {pattern}")
        if "AllowedValues" in spec and value not in spec["AllowedValues"]:
            found.append(f"{name}={value!r} not in {spec['AllowedValues']}")
        if len(value) > int(spec.get("MaxLength", 4096)):
            found.append(f"{name} longer than {spec['MaxLength']}")
        if len(value) < int(spec.get("MinLength", 0)):
            found.append(f"{name} shorter than {spec['MinLength']}")
    return found


def test_every_template_parameter_is_rendered(
    plan: Plan, template_parameters: dict[str, Any]
) -> None:
    """All of them, always: an omitted one would silently take its default on an update."""
    rendered = render_stack_parameters(plan, MANIFEST_TEXT, account_id=ADMIN, runner_arn=RUNNER)
    assert sorted(rendered) == sorted(template_parameters)
    assert _violations(rendered, template_parameters) == []


def test_example_plan_values(plan: Plan) -> None:
    rendered = render_stack_parameters(plan, MANIFEST_TEXT, account_id=ADMIN, runner_arn=RUNNER)
    assert {key: value for key, value in rendered.items() if "Manifest" not in key} == {
        "PackageName": "ExamplePackage",
        "PackageOwnerAccount": "",
        "Version": "1.0.2",
        "S3PackageBucket": "s3-examplepackage-222222222222-us-east-1",
        "S3PackageBucketPrefix": "s3-examplepackage-222222222222-",
        "S3PackageBucketSuffix": "",
        "S3PackageBucketFolder": "examplepackage",
        "S3PackageUrl": "",
        "AssociationName": "ExamplePackage-PackageDistributor",
        "AssociationVersion": "",
        "Action": "Install",
        "InstallationType": "Uninstall and reinstall",
        "ScheduleExpression": "rate(30 minutes)",
        "ApplyOnlyAtCronInterval": "false",
        "TargetResourceTagKey": "Distributor",
        "TargetResourceTagValue": "enabled",
        "MaxConcurrency": "20%",
        "MaxErrors": "10%",
        "ComplianceSeverity": "HIGH",
        "OutputS3BucketName": "",
        "OutputS3Prefix": "",
        "ComplianceReaderRoleName": "DistributorRolloutComplianceReader",
        "ComplianceReaderTrustedAccountId": ADMIN,
        "ComplianceReaderTrustedPrincipals": f"{RUNNER},arn:aws:iam::{ADMIN}:role/*/Runner",
        "ComplianceReaderHomeRegion": "us-east-1",
    }


def test_manifest_is_compact_ascii_in_built_key_order(plan: Plan) -> None:
    rendered = render_stack_parameters(plan, MANIFEST_TEXT, account_id=ADMIN, runner_arn=RUNNER)
    joined = "".join(rendered[name] for name in MANIFEST_PARAMETERS)
    assert joined == json.dumps(MANIFEST, separators=(",", ":"))
    assert joined.isascii()
    assert "Ex\\u00e4mple" in joined
    assert json.loads(joined) == MANIFEST
    assert list(json.loads(joined)) == list(MANIFEST)  # keys as built, not re-sorted
    assert all(rendered[name] == "" for name in MANIFEST_PARAMETERS[1:])


def test_optional_settings(plan: Plan, template_parameters: dict[str, Any]) -> None:
    """No tag targets every node; no reader role; output prefix; cron-only application."""
    changed = _variant(
        plan,
        "association",
        target_tag_key=None,
        target_tag_value=None,
        output_s3_prefix="runs/examplepackage",
        schedule="cron(0 2 ? * SUN *)",
        apply_only_at_cron_interval=True,
    )
    changed = _variant(changed, "stack_set", compliance_reader={"create": False})
    rendered = render_stack_parameters(changed, MANIFEST_TEXT, account_id=ADMIN, runner_arn=RUNNER)
    assert (rendered["TargetResourceTagKey"], rendered["TargetResourceTagValue"]) == ("", "")
    assert rendered["ComplianceReaderRoleName"] == ""
    assert rendered["OutputS3BucketName"] == "s3-examplepackage-222222222222-us-east-1"
    assert rendered["OutputS3Prefix"] == "runs/examplepackage"
    assert rendered["ApplyOnlyAtCronInterval"] == "true"
    assert _violations(rendered, template_parameters) == []


@pytest.mark.parametrize(
    ("pattern", "parts"),
    [
        ("s3-examplepackage-{account_id}-{region}", ("s3-examplepackage-222222222222-", "")),
        ("{region}-packages-{account_id}", ("", "-packages-222222222222")),
        ("pkg-{region}-{account_id}-x", ("pkg-", "-222222222222-x")),
    ],
)
def test_bucket_pattern_is_cut_around_the_region(pattern: str, parts: tuple[str, str]) -> None:
    assert bucket_name_parts(pattern, account_id=ADMIN) == parts


@pytest.mark.parametrize("pattern", ["{region}", "a-{region}-{region}"])
def test_bucket_pattern_the_template_cannot_express(pattern: str) -> None:
    with pytest.raises(ValidationError, match=r"package\.bucket"):
        bucket_name_parts(pattern, account_id=ADMIN)


def test_home_bucket_follows_the_administration_region(plan: Plan) -> None:
    moved = _variant(plan, "stack_set", region="eu-west-1")
    rendered = render_stack_parameters(moved, MANIFEST_TEXT, account_id=ADMIN, runner_arn=RUNNER)
    assert rendered["S3PackageBucket"] == "s3-examplepackage-222222222222-eu-west-1"


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=MANIFEST_LIMIT))
def test_chunks_rejoin_to_the_manifest(compact: str) -> None:
    chunks = manifest_chunks(compact)
    assert len(chunks) == len(MANIFEST_PARAMETERS)
    assert "".join(chunks) == compact
    assert all(len(chunk) <= CHUNK_CHARACTERS for chunk in chunks)
    # Used chunks are full except the last one; no empty chunk before a used one.
    used = [chunk for chunk in chunks if chunk]
    assert chunks[: len(used)] == tuple(used)
    assert all(len(chunk) == CHUNK_CHARACTERS for chunk in used[:-1])


@pytest.mark.parametrize("size", [MANIFEST_LIMIT, MANIFEST_LIMIT - 1, CHUNK_CHARACTERS + 1])
def test_chunks_at_the_edges(size: int) -> None:
    chunks = manifest_chunks("x" * size)
    assert "".join(chunks) == "x" * size


def test_a_manifest_over_the_limit_is_an_error_naming_size_and_limit() -> None:
    with pytest.raises(ValidationError) as raised:
        manifest_chunks("x" * (MANIFEST_LIMIT + 1))
    message = str(raised.value)
    assert str(MANIFEST_LIMIT + 1) in message
    assert str(MANIFEST_LIMIT) in message
    assert "manifest.json" in message


def test_compact_manifest_round_trips() -> None:
    compact = compact_manifest(MANIFEST_TEXT)
    assert compact == json.dumps(MANIFEST, separators=(",", ":"), ensure_ascii=True)
    assert json.loads(compact) == MANIFEST


def test_cfn_parameters_keep_order() -> None:
    assert to_cfn_parameters({"B": "1", "A": ""}) == [
        {"ParameterKey": "B", "ParameterValue": "1"},
        {"ParameterKey": "A", "ParameterValue": ""},
    ]


def test_the_compliance_reader_trusts_only_the_runner(plan: Plan) -> None:
    rendered = render_stack_parameters(plan, MANIFEST_TEXT, account_id=ADMIN, runner_arn=RUNNER)
    assert rendered["ComplianceReaderTrustedPrincipals"].split(",") == [
        RUNNER,  # the role as GetCallerIdentity names it (no path)...
        f"arn:aws:iam::{ADMIN}:role/*/Runner",  # ...and under any path
    ]
    root = f"arn:aws:iam::{ADMIN}:root"
    assert (
        render_stack_parameters(plan, MANIFEST_TEXT, account_id=ADMIN, runner_arn=root)[
            "ComplianceReaderTrustedPrincipals"
        ]
        == root
    )


# --- packages that already exist in Distributor -----------------------------------------


def _existing(plan: Plan, existing: str, version: str | None = None) -> Plan:
    data = plan.model_dump(mode="json", exclude_none=True)
    package = {"existing": existing} | ({"version": version} if version else {})
    data["package"] = package
    return validate_plan(data)


@pytest.mark.parametrize(
    ("existing", "version", "expected"),
    [
        ("AmazonCloudWatchAgent", None, ("AmazonCloudWatchAgent", "")),
        ("AWSEFSTools", "1.5.2", ("AWSEFSTools", "")),
        (
            "arn:aws:ssm:eu-west-1:444455556666:document/VendorAgent",
            "7.1",
            ("VendorAgent", "444455556666"),
        ),
    ],
)
def test_an_existing_package_renders_no_document_and_no_bucket(
    plan: Plan,
    template_parameters: dict[str, Any],
    existing: str,
    version: str | None,
    expected: tuple[str, str],
) -> None:
    """Name, owner and pin only: an empty manifest tells the template to create no
    document, and every value still passes the template's constraints."""
    rendered = render_stack_parameters(
        _existing(plan, existing, version), None, account_id=ADMIN, runner_arn=RUNNER
    )
    assert sorted(rendered) == sorted(template_parameters)
    assert _violations(rendered, template_parameters) == []
    assert (rendered["PackageName"], rendered["PackageOwnerAccount"]) == expected
    assert rendered["Version"] == (version or "")
    assert all(rendered[key] == "" for key in MANIFEST_PARAMETERS)
    assert all(rendered[key] == "" for key in rendered if key.startswith("S3Package"))
    assert rendered["AssociationVersion"] == ""
