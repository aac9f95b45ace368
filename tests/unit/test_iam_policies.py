"""The IAM policy documents shipped in distributor_rollout/resources/iam: valid, real actions
only, and least privilege.

Every action is checked against botocore's model of its service, so a typo or an API name
used where IAM expects another name (s3:HeadObject) fails here instead of in an account.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from cfnlint.decode import decode_str

from distributor_rollout.resources import resource, template

# The shipped package data, as a folder (a test reads it; the product uses resources).
IAM_DIR = Path(str(resource("iam")))
TEMPLATE_PATH = Path(str(template()))

POLICY_FILES = [
    "rollout-runner-policy.json",
    "compliance-reader-policy.json",
    "compliance-reader-trust-policy.json",
    "package-bucket-policy.json",
    "artifacts-bucket-policy.json",
]

# IAM service prefix -> botocore service model name.
SERVICE_MODELS = {
    "cloudformation": "cloudformation",
    "ec2": "ec2",
    "organizations": "organizations",
    "s3": "s3",
    "sns": "sns",
    "ssm": "ssm",
    "sts": "sts",
}

# IAM actions that are not the name of an API operation, each with an operation it
# authorizes; the test checks that operation exists, so this table cannot rot silently.
IAM_ONLY_ACTIONS = {
    "cloudformation:TagResource": "CreateStackSet",  # required when the request has Tags
    "s3:ListBucket": "ListObjectsV2",  # also HeadBucket
    "s3:PutBucketPublicAccessBlock": "PutPublicAccessBlock",
    "s3:PutEncryptionConfiguration": "PutBucketEncryption",
    "s3:GetBucketPublicAccessBlock": "GetPublicAccessBlock",
    "s3:GetEncryptionConfiguration": "GetBucketEncryption",
    "s3:DeleteObjectVersion": "DeleteObject",  # with a VersionId
}

# API operation names that are NOT IAM actions -> the IAM action to write instead. botocore
# knows these operations, so without this table they would pass the model check.
API_NAMES_THAT_ARE_NOT_ACTIONS = {
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
}

# (file, Sid) -> the wildcard action allowed there, and why.
WILDCARD_ACTIONS = {
    # Deny every S3 action over plain HTTP: a wildcard in a Deny narrows, never widens.
    ("package-bucket-policy.json", "DenyPlainHttp"): "s3:*",
    ("artifacts-bucket-policy.json", "DenyPlainHttp"): "s3:*",
}

# (file, Sid) of the statements allowed "Resource": "*": read-only actions that support no
# resource-level permissions (see resources/iam/README.md).
UNSCOPED_STATEMENTS = {
    ("rollout-runner-policy.json", "ListStackSetsHasNoResourceScope"),
    ("rollout-runner-policy.json", "ReadOrganizationStructure"),
    ("compliance-reader-policy.json", "ReadAssociationStatusAndCompliance"),
    ("compliance-reader-policy.json", "ReadInstanceArchitectureAndTags"),
}

PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\}")
PLACEHOLDERS = {
    "ArtifactsBucketName",
    "BucketName",
    "ComplianceReaderRoleName",
    "DelegatedAdminAccountId",
    "NotificationTopicPrefix",
    "OrganizationId",
    "PackageBucketPrefix",
    "RunnerPrincipalArn",
    "RunnerPrincipalArnAnyPath",
    "StackSetNamePrefix",
}


@cache
def _operations(service: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model(service)
    return frozenset(model.operation_names)


def action_problems(action: str, *, wildcard_ok: bool = False) -> list[str]:
    """What is wrong with one IAM action name; empty when botocore confirms it."""
    prefix, _, name = action.partition(":")
    if prefix not in SERVICE_MODELS or not name:
        return [f"{action}: unknown service prefix {prefix!r}; known: {sorted(SERVICE_MODELS)}"]
    if "*" in name or "?" in name:
        return [] if wildcard_ok else [f"{action}: wildcard action not in WILDCARD_ACTIONS"]
    if action in API_NAMES_THAT_ARE_NOT_ACTIONS:
        return [f"{action}: not an IAM action; use {API_NAMES_THAT_ARE_NOT_ACTIONS[action]}"]
    operations = _operations(SERVICE_MODELS[prefix])
    if action in IAM_ONLY_ACTIONS:
        operation = IAM_ONLY_ACTIONS[action]
        return [] if operation in operations else [f"{action}: maps to unknown {operation}"]
    if name not in operations:
        return [f"{action}: {name} is not an operation of botocore's {prefix} model"]
    return []


def _load(name: str) -> dict[str, Any]:
    return json.loads((IAM_DIR / name).read_text(encoding="utf-8"))


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    matches = [s for s in policy["Statement"] if s.get("Sid") == sid]
    assert len(matches) == 1, f"expected one statement {sid!r}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The stack set template, parsed with cfn-lint's CloudFormation-aware loader."""
    parsed, errors = decode_str(TEMPLATE_PATH.read_text(encoding="utf-8"))
    assert not errors, [str(error) for error in errors]
    assert parsed is not None
    return parsed


# --- every policy file ------------------------------------------------------------------


def test_the_directory_holds_exactly_the_known_policies() -> None:
    """A new policy file must be added to POLICY_FILES, so these tests cover it."""
    assert sorted(p.name for p in IAM_DIR.glob("*.json")) == sorted(POLICY_FILES)


@pytest.mark.parametrize("name", POLICY_FILES)
def test_policy_is_valid_json_with_current_version(name: str) -> None:
    """Version 2012-10-17 (the only one with policy variables) and a list of statements."""
    policy = _load(name)
    assert policy["Version"] == "2012-10-17"
    assert isinstance(policy["Statement"], list)
    assert policy["Statement"]


@pytest.mark.parametrize("name", POLICY_FILES)
def test_statements_are_well_formed(name: str) -> None:
    """Unique Sid, Allow or Deny, Action (never NotAction), Resource or Principal."""
    statements = _load(name)["Statement"]
    sids = [statement.get("Sid") for statement in statements]
    assert all(sids), f"{name}: every statement needs a Sid"
    assert len(set(sids)) == len(sids), f"{name}: duplicate Sid"
    for statement in statements:
        assert statement["Effect"] in {"Allow", "Deny"}
        assert "Action" in statement
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        assert "Resource" in statement or "Principal" in statement


@pytest.mark.parametrize("name", POLICY_FILES)
def test_every_action_exists_in_botocore(name: str) -> None:
    """Each action is an operation of its service's model, or a documented IAM-only one."""
    problems = []
    for statement in _load(name)["Statement"]:
        allowed = WILDCARD_ACTIONS.get((name, statement["Sid"]))
        for action in _as_list(statement["Action"]):
            problems += action_problems(action, wildcard_ok=action == allowed)
    assert problems == []


@pytest.mark.parametrize("name", POLICY_FILES)
def test_resource_star_only_where_justified(name: str) -> None:
    """Resource "*" only on the listed read-only statements, and only in Allow."""
    for statement in _load(name)["Statement"]:
        if "*" in _as_list(statement.get("Resource", [])):
            assert (name, statement["Sid"]) in UNSCOPED_STATEMENTS, statement["Sid"]
            assert statement["Effect"] == "Allow"


@pytest.mark.parametrize("name", POLICY_FILES)
def test_placeholders_are_known_and_documented(name: str) -> None:
    """Each ${Name} is one of the documented placeholders, and the README explains it."""
    used = set(PLACEHOLDER.findall((IAM_DIR / name).read_text(encoding="utf-8")))
    assert used <= PLACEHOLDERS, used - PLACEHOLDERS
    readme = (IAM_DIR / "README.md").read_text(encoding="utf-8")
    for placeholder in used:
        assert f"`${{{placeholder}}}`" in readme, placeholder


def test_readme_documents_every_policy_file() -> None:
    """The README says what each file is for."""
    readme = (IAM_DIR / "README.md").read_text(encoding="utf-8")
    for name in POLICY_FILES:
        assert f"`{name}`" in readme, name


# --- the checker itself -----------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        "s3:HeadObject",  # API name; the IAM action is s3:GetObject
        "s3:PutBucketEncryption",  # API name; the IAM action is s3:PutEncryptionConfiguration
        "ssm:DescribeAsociation",  # typo
        "cloudformation:CreateStackSets",  # no such operation
        "lambda:InvokeFunction",  # service this project has no business calling
        "ssm:Describe*",  # wildcard
    ],
)
def test_action_check_rejects_wrong_actions(action: str) -> None:
    """The botocore check is live: it rejects API names, typos, strangers and wildcards."""
    assert action_problems(action)


def test_iam_only_table_points_at_real_operations() -> None:
    """Every IAM-only action maps to an operation its service model really has."""
    for action in IAM_ONLY_ACTIONS:
        assert action_problems(action) == [], action


# --- the runner -------------------------------------------------------------------------


def test_runner_covers_every_resource_type_of_the_template(template: dict[str, Any]) -> None:
    """Stack instance actions are authorized per resource type; a new type needs a line."""
    statement = _statement(_load("rollout-runner-policy.json"), "ManageRolloutStackSets")
    granted = {r.rpartition("type/resource/")[2] for r in statement["Resource"] if "type/" in r}
    used = {resource["Type"].replace("::", "-") for resource in template["Resources"].values()}
    assert used == granted


def test_runner_assumes_only_the_compliance_reader_inside_the_organization() -> None:
    """sts:AssumeRole on one role name, in accounts of this organization only."""
    statement = _statement(
        _load("rollout-runner-policy.json"), "AssumeComplianceReaderInOrganizationAccounts"
    )
    assert _as_list(statement["Action"]) == ["sts:AssumeRole"]
    assert statement["Resource"] == "arn:aws:iam::*:role/${ComplianceReaderRoleName}"
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "${OrganizationId}"}}


def test_runner_touches_only_its_own_buckets() -> None:
    """Every S3 statement but CreateBucket requires the bucket to be in the runner's account."""
    for statement in _load("rollout-runner-policy.json")["Statement"]:
        actions = _as_list(statement["Action"])
        if not actions[0].startswith("s3:") or actions == ["s3:CreateBucket"]:
            continue
        assert statement["Condition"] == {
            "StringEquals": {"aws:ResourceAccount": "${DelegatedAdminAccountId}"}
        }, statement["Sid"]


def test_runner_never_deletes_a_stack_set() -> None:
    """Rollback removes stack instances; deleting the stack set is an operator's call."""
    actions = {
        action
        for statement in _load("rollout-runner-policy.json")["Statement"]
        for action in _as_list(statement["Action"])
    }
    assert "cloudformation:DeleteStackSet" not in actions
    assert "cloudformation:DeleteStackInstances" in actions


# --- the compliance reader --------------------------------------------------------------


def test_compliance_reader_policy_matches_the_template_role(template: dict[str, Any]) -> None:
    """The JSON policy and the role the template creates grant the same actions."""
    role = template["Resources"]["ComplianceReaderRole"]["Properties"]
    (inline,) = role["Policies"]
    in_template = [a for s in inline["PolicyDocument"]["Statement"] for a in s["Action"]]
    in_json = [
        action
        for statement in _load("compliance-reader-policy.json")["Statement"]
        for action in _as_list(statement["Action"])
    ]
    assert sorted(in_json) == sorted(in_template)


def test_compliance_reader_policy_is_read_only() -> None:
    """Only Describe*/List* calls, in Allow statements."""
    for statement in _load("compliance-reader-policy.json")["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            assert action.split(":")[1].startswith(("Describe", "List")), action


def test_compliance_reader_trust_matches_the_template_role(template: dict[str, Any]) -> None:
    """Both trust the delegated-admin account's runner role only, through sts:AssumeRole."""
    (trust,) = _load("compliance-reader-trust-policy.json")["Statement"]
    assert trust["Effect"] == "Allow"
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": "arn:aws:iam::${DelegatedAdminAccountId}:root"}
    assert trust["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": ["${RunnerPrincipalArn}", "${RunnerPrincipalArnAnyPath}"]}
    }
    role = template["Resources"]["ComplianceReaderRole"]["Properties"]
    (in_template,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert in_template["Action"] == trust["Action"]
    assert in_template["Principal"]["AWS"]["Fn::Sub"].endswith(":root")
    assert set(in_template["Condition"]) == set(trust["Condition"]) == {"ArnLike"}


# --- the package bucket -----------------------------------------------------------------


def test_bucket_policy_lets_only_stack_set_execution_roles_of_the_organization_read() -> None:
    """Principal * is narrowed to the org's StackSets execution roles: CreateDocument, run
    by them in member accounts, is what reads the files (Distributor copies them then)."""
    policy = _load("package-bucket-policy.json")
    read = _statement(policy, "StackSetExecutionRolesReadPackageFiles")
    assert read["Effect"] == "Allow"
    assert _as_list(read["Action"]) == ["s3:GetObject"]
    assert read["Resource"] == "arn:aws:s3:::${BucketName}/*"
    assert read["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "${OrganizationId}"},
        "ArnLike": {
            "aws:PrincipalArn": [
                "arn:aws:iam::*:role/stacksets-exec-*",
                "arn:aws:iam::*:role/AWSCloudFormationStackSetExecutionRole",
            ]
        },
    }
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            assert "aws:PrincipalOrgID" in statement["Condition"]["StringEquals"]
            assert "aws:PrincipalArn" in statement["Condition"]["ArnLike"]


def test_artifacts_policy_lets_only_the_runner_write() -> None:
    policy = _load("artifacts-bucket-policy.json")
    writes = _statement(policy, "OnlyTheRunnerWritesArtifacts")
    assert (writes["Effect"], writes["Principal"]) == ("Deny", "*")
    assert set(writes["Action"]) == {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"}
    assert writes["Condition"] == {
        "ArnNotLike": {
            "aws:PrincipalArn": ["${RunnerPrincipalArn}", "${RunnerPrincipalArnAnyPath}"]
        }
    }
    assert all(statement["Effect"] == "Deny" for statement in policy["Statement"])


@pytest.mark.parametrize("name", ["package-bucket-policy.json", "artifacts-bucket-policy.json"])
def test_bucket_policy_denies_plain_http_on_bucket_and_objects(name: str) -> None:
    """Every S3 action over HTTP is refused, for the bucket and every object in it."""
    deny = _statement(_load(name), "DenyPlainHttp")
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert sorted(_as_list(deny["Resource"])) == [
        "arn:aws:s3:::${BucketName}",
        "arn:aws:s3:::${BucketName}/*",
    ]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
