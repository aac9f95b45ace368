"""The stack set template: cfn-lint clean, and shaped the way the rollout relies on.

The structural tests pin what other parts of the project assume about the template: the
seed's parameter names, how the manifest is passed, the pinned package version, and the
compliance-reader role existing in one region only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.decode import decode_str

from distributor_rollout.resources import template

TEMPLATE_PATH = Path(str(template()))

# One region per partition plus a few commercial ones: the template uses AWS::URLSuffix and
# AWS::Partition precisely so it is valid outside the aws partition.
LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"]

# Rule id -> why its finding is acceptable. Empty on purpose: every warning is a defect
# until someone argues otherwise here.
ACCEPTED_LINT_FINDINGS: dict[str, str] = {}

SEED_PARAMETERS = [
    "PackageName",
    "S3PackageBucket",
    "S3PackageBucketFolder",
    "S3PackageUrl",
    "Version",
    "AssociationName",
    "Action",
    "InstallationType",
    "OutputS3Prefix",
    "ScheduleExpression",
    "TargetResourceTagKey",
    "TargetResourceTagValue",
]
ASSOCIATION_PARAMETERS = [
    "AssociationVersion",
    "MaxConcurrency",
    "MaxErrors",
    "ComplianceSeverity",
    "ApplyOnlyAtCronInterval",
    "OutputS3BucketName",
]
# One package bucket per Region: the bucket name around ${AWS::Region}.
PACKAGE_BUCKET_PARAMETERS = ["S3PackageBucketPrefix", "S3PackageBucketSuffix"]
COMPLIANCE_READER_PARAMETERS = [
    "ComplianceReaderRoleName",
    "ComplianceReaderTrustedAccountId",
    "ComplianceReaderTrustedPrincipals",
    "ComplianceReaderHomeRegion",
]
# A package that already exists in Distributor (AWS's, or shared by another account).
EXISTING_PACKAGE_PARAMETERS = ["PackageOwnerAccount"]
MANIFEST_PARAMETERS = ["ManifestContent"] + [f"ManifestContentPart{n:02d}" for n in range(2, 17)]

# CloudFormation's limit on one parameter value, and Systems Manager's on a package manifest.
PARAMETER_VALUE_LIMIT = 4096
MANIFEST_LIMIT = 64 * 1024
# CreateStackSet/UpdateStackSet accept a TemplateBody up to this size.
TEMPLATE_BODY_LIMIT = 51_200

COMPLIANCE_READER_ACTIONS = [
    "ssm:DescribeAssociation",
    "ssm:ListAssociations",
    "ssm:DescribeAssociationExecutions",
    "ssm:DescribeAssociationExecutionTargets",
    "ssm:ListComplianceSummaries",
    "ssm:ListResourceComplianceSummaries",
    "ssm:ListComplianceItems",
    "ssm:DescribeInstanceInformation",
    "ssm:DescribeDocument",
    "ssm:ListDocumentVersions",
]


def _ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def _not_empty(name: str) -> dict[str, Any]:
    return {"Fn::Not": [{"Fn::Equals": [_ref(name), ""]}]}


# AssociationVersion when set (a rollback), else the version the document publishes.
_INSTALLED_VERSION = {
    "Fn::If": ["HasAssociationVersion", _ref("AssociationVersion"), _ref("Version")]
}


@pytest.fixture(scope="module")
def template_text() -> str:
    """The template as CloudFormation receives it."""
    return TEMPLATE_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def template(template_text: str) -> dict[str, Any]:
    """The template parsed with cfn-lint's loader, which understands !Ref, !If, !Sub, ..."""
    parsed, errors = decode_str(template_text)
    assert not errors, [str(error) for error in errors]
    assert parsed is not None
    return parsed


@pytest.fixture(scope="module")
def parameters(template: dict[str, Any]) -> dict[str, Any]:
    """The Parameters section."""
    return template["Parameters"]


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    """The Resources section."""
    return template["Resources"]


def _unaccepted(findings: list[Any]) -> list[str]:
    return [
        f"{finding.rule.id} line {finding.linenumber}: {finding.message}"
        for finding in findings
        if finding.rule.id not in ACCEPTED_LINT_FINDINGS
    ]


# --- lint -------------------------------------------------------------------------------


def test_template_passes_cfn_lint_in_every_partition(template_text: str) -> None:
    """No cfn-lint error or warning, in commercial, China and GovCloud regions."""
    assert _unaccepted(lint(template_text, regions=LINT_REGIONS)) == []


@pytest.mark.parametrize(
    ("old", "new", "rule_id"),
    [
        ("DocumentType: Package", "DocumentType: Packages", "E3030"),
        ("Value: !Ref PackageAssociation", "Value: !Ref NoSuchResource", "E6101"),
        ("\nParameters:\n", "\nParameters:\n  UnusedParameter:\n    Type: String\n", "W2001"),
    ],
    ids=["bad-enum", "dangling-ref", "unused-parameter"],
)
def test_lint_check_reports_broken_templates(
    template_text: str, old: str, new: str, rule_id: str
) -> None:
    """The lint test above is live: it sees an error or a warning planted in the template."""
    assert old in template_text
    broken = template_text.replace(old, new, 1)
    assert rule_id in {finding.rule.id for finding in lint(broken, regions=["us-east-1"])}


def test_template_fits_in_a_template_body(template_text: str) -> None:
    """The rollout may pass the template inline; TemplateBody is capped at 51,200 bytes."""
    assert len(template_text.encode("utf-8")) < TEMPLATE_BODY_LIMIT


# --- parameters -------------------------------------------------------------------------


def test_parameters_are_the_seeds_plus_documented_extras(parameters: dict[str, Any]) -> None:
    """Every seed parameter keeps its name, and nothing undocumented sneaks in."""
    expected = (
        SEED_PARAMETERS
        + PACKAGE_BUCKET_PARAMETERS
        + ASSOCIATION_PARAMETERS
        + MANIFEST_PARAMETERS
        + COMPLIANCE_READER_PARAMETERS
        + EXISTING_PACKAGE_PARAMETERS
    )
    assert set(SEED_PARAMETERS) <= set(parameters)
    assert sorted(parameters) == sorted(expected)


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("S3PackageUrl", ""),
        ("S3PackageBucketPrefix", ""),
        ("S3PackageBucketSuffix", ""),
        ("OutputS3Prefix", ""),
        ("ScheduleExpression", "rate(30 minutes)"),
        ("TargetResourceTagKey", ""),
        ("TargetResourceTagValue", ""),
        ("OutputS3BucketName", ""),
        ("ComplianceReaderRoleName", ""),
        ("ApplyOnlyAtCronInterval", "false"),
        ("AssociationVersion", ""),
        ("PackageOwnerAccount", ""),
    ],
)
def test_optional_parameters_default_to_the_seeds_behaviour(
    parameters: dict[str, Any], name: str, default: str
) -> None:
    """Leaving an optional parameter out behaves like the seed solution."""
    assert parameters[name]["Default"] == default


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("Action", ["Install", "Uninstall"]),
        ("InstallationType", ["Uninstall and reinstall", "In-place update"]),
        ("ComplianceSeverity", ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNSPECIFIED"]),
        ("ApplyOnlyAtCronInterval", ["true", "false"]),
    ],
)
def test_enumerated_parameters_allow_exactly_the_documented_values(
    parameters: dict[str, Any], name: str, allowed: list[str]
) -> None:
    """CloudFormation rejects any other value before touching an account."""
    assert parameters[name]["AllowedValues"] == allowed


def test_every_parameter_has_a_type_and_a_description(parameters: dict[str, Any]) -> None:
    """The StackSet console and DescribeStackSet show these to operators."""
    lists = {"ComplianceReaderTrustedPrincipals"}  # ArnLike patterns for the trust policy
    for name, parameter in parameters.items():
        assert parameter.get("Type") == ("CommaDelimitedList" if name in lists else "String"), name
        assert parameter.get("Description"), name


# --- the package document ---------------------------------------------------------------


def test_package_document_is_a_versioned_distributor_package(resources: dict[str, Any]) -> None:
    """Type Package, named after the package, a new document version per package version."""
    document = resources["PackageDocument"]
    assert document["Type"] == "AWS::SSM::Document"
    properties = document["Properties"]
    assert properties["DocumentType"] == "Package"
    assert properties["UpdateMethod"] == "NewVersion"
    assert properties["DocumentFormat"] == "JSON"
    assert properties["Name"] == _ref("PackageName")
    assert properties["VersionName"] == _ref("Version")


def test_attachments_come_from_the_url_or_the_derived_version_folder(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """S3PackageUrl when given, else https://<bucket>.s3.<region>.<suffix>/<folder>/<version>,
    where the bucket is the stack's own Region's (prefix + Region + suffix) when the prefix or
    the suffix is set, and S3PackageBucket otherwise (the seed's behaviour)."""
    attachments = resources["PackageDocument"]["Properties"]["Attachments"]
    assert len(attachments) == 1
    assert attachments[0]["Key"] == "SourceUrl"
    condition, given, derived = attachments[0]["Values"][0]["Fn::If"]
    assert condition == "HasS3PackageUrl"
    assert template["Conditions"]["HasS3PackageUrl"] == _not_empty("S3PackageUrl")
    assert given == _ref("S3PackageUrl")
    regional_condition, regional, single = derived["Fn::If"]
    assert regional_condition == "HasRegionalPackageBucket"
    assert template["Conditions"]["HasRegionalPackageBucket"] == {
        "Fn::Or": [_not_empty(name) for name in PACKAGE_BUCKET_PARAMETERS]
    }
    assert regional == {
        "Fn::Sub": "https://${S3PackageBucketPrefix}${AWS::Region}${S3PackageBucketSuffix}"
        ".s3.${AWS::Region}.${AWS::URLSuffix}/${S3PackageBucketFolder}/${Version}"
    }
    assert single == {
        "Fn::Sub": "https://${S3PackageBucket}.s3.${AWS::Region}.${AWS::URLSuffix}"
        "/${S3PackageBucketFolder}/${Version}"
    }


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("S3PackageBucketPrefix", ["", "s3-examplepackage-222222222222-"], ["-x", "Up", "a_b"]),
        ("S3PackageBucketSuffix", ["", "-packages", "x"], ["-", "x-", "A"]),
    ],
)
def test_bucket_name_parts_allow_only_bucket_name_characters(
    parameters: dict[str, Any], name: str, good: list[str], bad: list[str]
) -> None:
    """The parts around the Region keep the whole name a valid bucket name's start and end."""
    pattern = re.compile(parameters[name]["AllowedPattern"])
    assert all(pattern.fullmatch(value) for value in good)
    assert not any(pattern.fullmatch(value) for value in bad)


def test_manifest_is_the_join_of_every_chunk_parameter_in_order(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """Content rejoins the chunks listed in Metadata, the contract the renderer follows."""
    contract = template["Metadata"]["DistributorRollout"]
    assert contract["ManifestContentParameters"] == MANIFEST_PARAMETERS
    delimiter, pieces = resources["PackageDocument"]["Properties"]["Content"]["Fn::Join"]
    assert delimiter == ""
    assert pieces == [_ref(name) for name in MANIFEST_PARAMETERS]


def test_manifest_chunks_cover_the_largest_manifest_ssm_accepts(
    template: dict[str, Any], parameters: dict[str, Any]
) -> None:
    """Each chunk fits a CloudFormation parameter, and together they hold 64 KB."""
    chunk = template["Metadata"]["DistributorRollout"]["ManifestContentChunkCharacters"]
    assert chunk == PARAMETER_VALUE_LIMIT
    for name in MANIFEST_PARAMETERS:
        assert parameters[name]["MaxLength"] == chunk, name
    assert len(MANIFEST_PARAMETERS) * chunk >= MANIFEST_LIMIT
    # Every chunk defaults to empty: a short manifest is one chunk, and no manifest at all
    # is a package that already exists (no document; the template's rule then wants none
    # of the built package's parameters missing).
    assert all(parameters[name]["Default"] == "" for name in MANIFEST_PARAMETERS)
    assert template["Conditions"]["BuildsPackage"] == _not_empty("ManifestContent")


# --- the association --------------------------------------------------------------------


def test_association_installs_the_pinned_package_version(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """AWS-ConfigureAWSPackage with the seed's parameters; version pinned, never "latest"."""
    association = resources["PackageAssociation"]
    assert association["Type"] == "AWS::SSM::Association"
    properties = association["Properties"]
    assert properties["Name"] == "AWS-ConfigureAWSPackage"
    assert properties["AssociationName"] == _ref("AssociationName")
    # The package this stack creates by !Ref (which orders the association after it); an
    # existing one by name, or by its ARN in the stack's Region when another account shares it.
    shared_arn = {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${PackageOwnerAccount}"
        ":document/${PackageName}"
    }
    own = {"Fn::If": ["BuildsPackage", _ref("PackageDocument"), _ref("PackageName")]}
    assert properties["Parameters"] == {
        "action": [_ref("Action")],
        "installationType": [_ref("InstallationType")],
        "name": [{"Fn::If": ["HasPackageOwner", shared_arn, own]}],
        "version": [_INSTALLED_VERSION],
    }
    assert template["Conditions"]["HasPackageOwner"] == _not_empty("PackageOwnerAccount")
    assert resources["PackageDocument"]["Condition"] == "BuildsPackage"
    assert template["Conditions"]["HasAssociationVersion"] == _not_empty("AssociationVersion")


def test_association_reports_compliance_and_rate_controls(resources: dict[str, Any]) -> None:
    """The health gate reads AUTO-synced compliance; rate controls come from parameters."""
    properties = resources["PackageAssociation"]["Properties"]
    assert properties["SyncCompliance"] == "AUTO"
    for name in ("ScheduleExpression", "MaxConcurrency", "MaxErrors", "ComplianceSeverity"):
        assert properties[name] == _ref(name), name
    assert properties["ApplyOnlyAtCronInterval"] == {"Fn::If": ["ApplyOnlyAtCron", True, False]}
    # The stack must not wait for nodes: the rollout's compliance gate does, per wave.
    assert "WaitForSuccessTimeoutSeconds" not in properties


def test_association_targets_tagged_nodes_or_every_managed_node(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """tag:<key> = <value> when a tag key is given, else InstanceIds = *."""
    properties = resources["PackageAssociation"]["Properties"]
    condition, tagged, everything = properties["Targets"]["Fn::If"]
    assert condition == "HasTargetTag"
    assert template["Conditions"]["HasTargetTag"] == _not_empty("TargetResourceTagKey")
    assert tagged == [
        {
            "Key": {"Fn::Sub": "tag:${TargetResourceTagKey}"},
            "Values": [_ref("TargetResourceTagValue")],
        }
    ]
    assert everything == [{"Key": "InstanceIds", "Values": ["*"]}]


def test_output_location_only_with_a_bucket(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """No bucket, no OutputLocation at all (AWS::NoValue), not an empty bucket name."""
    properties = resources["PackageAssociation"]["Properties"]
    condition, location, absent = properties["OutputLocation"]["Fn::If"]
    assert condition == "HasOutputBucket"
    assert template["Conditions"]["HasOutputBucket"] == _not_empty("OutputS3BucketName")
    assert location == {
        "S3Location": {
            "OutputS3BucketName": _ref("OutputS3BucketName"),
            "OutputS3KeyPrefix": _ref("OutputS3Prefix"),
        }
    }
    assert absent == _ref("AWS::NoValue")


# --- the compliance-reader role ---------------------------------------------------------


def test_compliance_reader_role_exists_only_in_its_home_region(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """IAM is global: a role per region would collide on its name in the second region."""
    role = resources["ComplianceReaderRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Condition"] == "CreateComplianceReaderRole"
    assert template["Conditions"]["CreateComplianceReaderRole"] == {
        "Fn::And": [
            _not_empty("ComplianceReaderRoleName"),
            {"Fn::Equals": [_ref("AWS::Region"), _ref("ComplianceReaderHomeRegion")]},
        ]
    }
    assert template["Outputs"]["ComplianceReaderRoleArn"]["Condition"] == (
        "CreateComplianceReaderRole"
    )


def test_compliance_reader_role_trusts_only_the_runner(
    resources: dict[str, Any],
) -> None:
    """One trusted principal: the delegated-admin account, through sts:AssumeRole."""
    properties = resources["ComplianceReaderRole"]["Properties"]
    assert properties["RoleName"] == _ref("ComplianceReaderRoleName")
    statements = properties["AssumeRolePolicyDocument"]["Statement"]
    assert len(statements) == 1
    assert statements[0]["Effect"] == "Allow"
    assert statements[0]["Action"] == "sts:AssumeRole"
    assert statements[0]["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ComplianceReaderTrustedAccountId}:root"}
    }
    # ...and of that account only the runner's role, not every principal in it.
    assert statements[0]["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": _ref("ComplianceReaderTrustedPrincipals")}
    }


def test_compliance_reader_role_is_read_only(resources: dict[str, Any]) -> None:
    """Exactly the ten read actions the compliance gate uses, and the two reads of node
    shapes the snapshot command makes, each in an Allow statement of its own."""
    policies = resources["ComplianceReaderRole"]["Properties"]["Policies"]
    assert len(policies) == 1
    statements = policies[0]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in statements] == [
        "ReadAssociationStatusAndCompliance",
        "ReadInstanceArchitectureAndTags",
        "ReadHybridNodeTags",
    ]
    assert {s["Effect"] for s in statements} == {"Allow"}
    compliance, instances, hybrid_tags = statements
    assert compliance["Action"] == COMPLIANCE_READER_ACTIONS
    assert instances["Action"] == ["ec2:DescribeInstances"]
    assert instances["Resource"] == "*"  # DescribeInstances has no resource-level scope
    assert hybrid_tags["Action"] == ["ssm:ListTagsForResource"]
    # Tags of the account's own managed (hybrid) instances only, not of its documents.
    assert hybrid_tags["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:managed-instance/*"
    }


# --- rules and outputs ------------------------------------------------------------------


def test_rules_reject_half_configured_options(template: dict[str, Any]) -> None:
    """A tag key without value, a prefix without bucket, a role without trust or home, a
    package built here without its version or folder (or with another account as owner)."""
    rules = template["Rules"]
    assert set(rules) == {
        "TargetTagKeyAndValueTogether",
        "OutputPrefixNeedsBucket",
        "ComplianceReaderNeedsTrustAndHome",
        "BuiltPackageNeedsVersionAndBucket",
    }
    built = rules["BuiltPackageNeedsVersionAndBucket"]
    assert built["RuleCondition"] == _not_empty("ManifestContent")
    assert [a["Assert"] for a in built["Assertions"]] == [
        _not_empty("Version"),
        _not_empty("S3PackageBucketFolder"),
        {"Fn::Equals": [_ref("PackageOwnerAccount"), ""]},
    ]
    assert rules["OutputPrefixNeedsBucket"]["RuleCondition"] == _not_empty("OutputS3Prefix")
    assert rules["ComplianceReaderNeedsTrustAndHome"]["RuleCondition"] == _not_empty(
        "ComplianceReaderRoleName"
    )
    asserted = [a["Assert"] for a in rules["ComplianceReaderNeedsTrustAndHome"]["Assertions"]]
    assert asserted == [
        _not_empty("ComplianceReaderTrustedAccountId"),
        _not_empty("ComplianceReaderHomeRegion"),
    ]


def test_outputs_name_the_document_version_and_association(template: dict[str, Any]) -> None:
    """What a reader of the stack instance needs to find the package and its association."""
    outputs = template["Outputs"]
    assert outputs["PackageDocumentName"]["Value"] == _ref("PackageDocument")
    assert outputs["PackageVersionName"]["Value"] == _ref("Version")
    # Only a stack that creates the document names it and its version.
    assert outputs["PackageDocumentName"]["Condition"] == "BuildsPackage"
    assert outputs["PackageVersionName"]["Condition"] == "BuildsPackage"
    assert outputs["InstalledVersionName"]["Value"] == {
        "Fn::If": ["HasAssociationVersionOrVersion", _INSTALLED_VERSION, "default"]
    }
    # Ref of an AWS::SSM::Association is its AssociationId.
    assert outputs["PackageAssociationId"]["Value"] == _ref("PackageAssociation")
