"""The IAM policy documents shipped in distributor_rollout/resources/iam: valid, real actions
only, and least privilege.

Every action is checked against botocore's model of its service, so a typo or an API name
used where IAM expects another name (s3:HeadObject) fails here instead of in an account.
Every StackSets, S3 and Organizations call of the hooks a rollout and a retire make is
allowed by the runner and retire policies, and the retire policy grants exactly what the
runner lacks for them.
"""

from __future__ import annotations

import ast
import json
import re
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from cfnlint.decode import decode_str

from distributor_rollout import hooks, operators
from distributor_rollout.resources import resource, template

# The shipped package data, as a folder (a test reads it; the product uses resources).
IAM_DIR = Path(str(resource("iam")))
TEMPLATE_PATH = Path(str(template()))
HOOKS_DIR = Path(hooks.__file__).parent
OPERATORS_DIR = Path(operators.__file__).parent

RUNNER = "rollout-runner-policy.json"
RETIRE = "retire-policy.json"
POLICY_FILES = [
    RUNNER,
    RETIRE,
    "compliance-reader-policy.json",
    "compliance-reader-trust-policy.json",
    "package-bucket-policy.json",
    "artifacts-bucket-policy.json",
]

# IAM service prefix -> botocore service model name.
SERVICE_MODELS = {
    "cloudformation": "cloudformation",
    "config": "config",
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
    "s3:DeleteObjectVersion": "DeleteObject",  # with a VersionId (DeleteObjects too)
    "s3:ListBucketVersions": "ListObjectVersions",
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
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:DeleteObjects": "s3:DeleteObject (and s3:DeleteObjectVersion for versions)",
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
    ("rollout-runner-policy.json", "PreflightReadsHaveNoResourceScope"),
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
        "s3:DeleteObjects",  # API name; IAM authorizes it by s3:DeleteObject(Version)
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


@pytest.mark.parametrize("name", [RUNNER, RETIRE])
def test_runner_and_retire_touch_only_their_own_buckets(name: str) -> None:
    """Every S3 statement but CreateBucket requires the bucket to be in the runner's account."""
    for statement in _load(name)["Statement"]:
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


# --- the retire -------------------------------------------------------------------------


def test_retire_deletes_only_the_rollout_stack_sets() -> None:
    """DeleteStackSet on the stack set ARNs the runner manages, nothing wider."""
    retire = _statement(_load(RETIRE), "DeleteRetiredStackSets")
    runner = _statement(_load(RUNNER), "ManageRolloutStackSets")
    assert _as_list(retire["Action"]) == ["cloudformation:DeleteStackSet"]
    assert _as_list(retire["Resource"]) == [
        arn for arn in runner["Resource"] if ":stackset/" in arn
    ]


def test_retire_empties_and_deletes_only_the_runners_buckets() -> None:
    """The retire's S3 statements name exactly the buckets the runner's statements name
    (package bucket prefix and artifacts bucket), as buckets or as their objects."""
    runner = _load(RUNNER)
    for retire_sid, runner_sid in (
        ("ListVersionsAndDeleteOwnPackageAndArtifactBuckets", "ListOwnPackageAndArtifactBuckets"),
        (
            "DeleteEveryVersionInOwnPackageAndArtifactBuckets",
            "ReadWriteOwnPackageAndArtifactObjects",
        ),
    ):
        retire_resources = _statement(_load(RETIRE), retire_sid)["Resource"]
        assert retire_resources == _statement(runner, runner_sid)["Resource"], retire_sid


# --- the calls the hooks make -----------------------------------------------------------

# The hooks whose client calls the runner and retire policies authorize, and their service.
HOOK_SERVICES = {
    "stack_set": "cloudformation",
    "package_bucket": "s3",
    "organizations": "organizations",
}
# The other hook modules the retire operators use, and why no policy here needs a line for
# them: identity calls sts:GetCallerIdentity, which needs no permission; association_status
# reads as the compliance reader in member accounts (the runner's
# AssumeComplianceReaderInOrganizationAccounts, then compliance-reader-policy.json);
# errors, retries and connection_guard make no call.
RETIRE_HOOKS_COVERED_ELSEWHERE = {
    "identity",
    "association_status",
    "errors",
    "retries",
    "connection_guard",
}

STACK_SET_ARN = (
    "arn:aws:cloudformation:eu-west-1:111111111111:stackset/${StackSetNamePrefix}example:1a2b"
)
STACK_SET = (STACK_SET_ARN,)
STACK_SET_AND_TARGETS = (
    STACK_SET_ARN,
    "arn:aws:cloudformation:eu-west-1:111111111111:stackset-target/"
    "${StackSetNamePrefix}example:1a2b/ou-ab12-cd34ef56",
)
BUCKETS = ("arn:aws:s3:::${PackageBucketPrefix}eu-west-1", "arn:aws:s3:::${ArtifactsBucketName}")
OBJECTS = tuple(f"{bucket}/examplepackage/1.0.2/manifest.json" for bucket in BUCKETS)
ORGANIZATION = ("arn:aws:organizations::111111111111:ou/o-exampleorgid/ou-ab12-cd34ef56",)

# Each client method those hooks call -> the IAM actions it needs and example resources
# it acts on (placeholders as the policies write them).
HOOK_CALLS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "cloudformation": {
        "create_stack_set": (
            ("cloudformation:CreateStackSet", "cloudformation:TagResource"),
            STACK_SET,
        ),
        "update_stack_set": (
            ("cloudformation:UpdateStackSet", "cloudformation:TagResource"),
            STACK_SET_AND_TARGETS,
        ),
        "delete_stack_set": (("cloudformation:DeleteStackSet",), STACK_SET),
        "describe_stack_set": (("cloudformation:DescribeStackSet",), STACK_SET),
        "create_stack_instances": (
            ("cloudformation:CreateStackInstances",),
            STACK_SET_AND_TARGETS,
        ),
        "update_stack_instances": (
            ("cloudformation:UpdateStackInstances",),
            STACK_SET_AND_TARGETS,
        ),
        "delete_stack_instances": (
            ("cloudformation:DeleteStackInstances",),
            STACK_SET_AND_TARGETS,
        ),
        "list_stack_instances": (("cloudformation:ListStackInstances",), STACK_SET),
        "describe_stack_set_operation": (
            ("cloudformation:DescribeStackSetOperation",),
            STACK_SET,
        ),
        "list_stack_set_operations": (("cloudformation:ListStackSetOperations",), STACK_SET),
        "list_stack_set_operation_results": (
            ("cloudformation:ListStackSetOperationResults",),
            STACK_SET,
        ),
    },
    "s3": {
        "create_bucket": (("s3:CreateBucket",), BUCKETS),
        "delete_bucket": (("s3:DeleteBucket",), BUCKETS),
        "head_bucket": (("s3:ListBucket",), BUCKETS),
        "list_objects_v2": (("s3:ListBucket",), BUCKETS),
        "list_object_versions": (("s3:ListBucketVersions",), BUCKETS),
        "get_bucket_policy": (("s3:GetBucketPolicy",), BUCKETS),
        "put_bucket_policy": (("s3:PutBucketPolicy",), BUCKETS),
        "get_public_access_block": (("s3:GetBucketPublicAccessBlock",), BUCKETS),
        "put_public_access_block": (("s3:PutBucketPublicAccessBlock",), BUCKETS),
        "get_bucket_ownership_controls": (("s3:GetBucketOwnershipControls",), BUCKETS),
        "put_bucket_ownership_controls": (("s3:PutBucketOwnershipControls",), BUCKETS),
        "get_bucket_versioning": (("s3:GetBucketVersioning",), BUCKETS),
        "put_bucket_versioning": (("s3:PutBucketVersioning",), BUCKETS),
        "get_bucket_encryption": (("s3:GetEncryptionConfiguration",), BUCKETS),
        "put_bucket_encryption": (("s3:PutEncryptionConfiguration",), BUCKETS),
        "get_bucket_tagging": (("s3:GetBucketTagging",), BUCKETS),
        "put_bucket_tagging": (("s3:PutBucketTagging",), BUCKETS),
        "head_object": (("s3:GetObject",), OBJECTS),
        "get_object": (("s3:GetObject",), OBJECTS),
        "put_object": (("s3:PutObject",), OBJECTS),
        # Versions by VersionId: s3:DeleteObject is required, s3:DeleteObjectVersion too.
        "delete_objects": (("s3:DeleteObject", "s3:DeleteObjectVersion"), OBJECTS),
    },
    "organizations": {
        "describe_organization": (("organizations:DescribeOrganization",), ORGANIZATION),
        "list_roots": (("organizations:ListRoots",), ORGANIZATION),
        "list_organizational_units_for_parent": (
            ("organizations:ListOrganizationalUnitsForParent",),
            ORGANIZATION,
        ),
        "list_accounts_for_parent": (("organizations:ListAccountsForParent",), ORGANIZATION),
    },
}


def client_methods(module: str, service: str) -> set[str]:
    """The client methods of ``service`` a hook module names: called or passed on
    (``self.conn.x``), or as a paginator's operation (``"list_x"``)."""
    methods = {xform_name(operation) for operation in _operations(service)}
    tree = ast.parse((HOOKS_DIR / f"{module}.py").read_text(encoding="utf-8"))
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            named.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named.add(node.value)
    return named & methods


def allows(names: list[str], action: str, resource: str) -> bool:
    """Whether an Allow statement of these policies grants ``action`` on ``resource``
    (IAM's ``*`` matches any characters, ``/`` included)."""
    return any(
        statement["Effect"] == "Allow"
        and action in _as_list(statement["Action"])
        and any(fnmatchcase(resource, pattern) for pattern in _as_list(statement["Resource"]))
        for name in names
        for statement in _load(name)["Statement"]
    )


def _actions(name: str) -> set[str]:
    return {
        action for statement in _load(name)["Statement"] for action in _as_list(statement["Action"])
    }


@pytest.mark.parametrize(("module", "service"), HOOK_SERVICES.items())
def test_the_table_lists_every_call_of_the_hooks(module: str, service: str) -> None:
    """A new client call in one of these hooks needs its IAM action in HOOK_CALLS."""
    assert client_methods(module, service) == set(HOOK_CALLS[service])


def test_the_table_names_real_iam_actions() -> None:
    for calls in HOOK_CALLS.values():
        for actions, _ in calls.values():
            for action in actions:
                assert action_problems(action) == [], action


def test_runner_and_retire_policies_allow_every_call_of_the_hooks() -> None:
    """What a rollout and a retire call through these hooks is allowed on the resources
    they call it on."""
    refused = [
        f"{action} on {resource} ({method})"
        for calls in HOOK_CALLS.values()
        for method, (actions, resources) in calls.items()
        for action in actions
        for resource in resources
        if not allows([RUNNER, RETIRE], action, resource)
    ]
    assert refused == []


def test_retire_grants_exactly_what_the_hooks_need_beyond_the_runner() -> None:
    """Least privilege: the retire policy adds the retire's calls and nothing the runner
    already has (DeleteStackSet, and emptying and deleting versioned buckets)."""
    needed = {
        action
        for calls in HOOK_CALLS.values()
        for actions, _ in calls.values()
        for action in actions
    }
    assert _actions(RETIRE) == needed - _actions(RUNNER)
    assert _actions(RETIRE) == {
        "cloudformation:DeleteStackSet",
        "s3:ListBucketVersions",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:DeleteBucket",
    }
    assert not allows([RUNNER], "cloudformation:DeleteStackSet", STACK_SET_ARN)


def test_the_retire_operators_use_only_hooks_whose_calls_are_accounted_for() -> None:
    """A retire operator that starts using another hook needs its calls reviewed here."""
    used: set[str] = set()
    for path in OPERATORS_DIR.glob("retire_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "distributor_rollout.hooks."
            ):
                used.add(str(node.module).rsplit(".", 1)[1])
    assert {"stack_set", "package_bucket"} <= used
    assert used <= set(HOOK_SERVICES) | RETIRE_HOOKS_COVERED_ELSEWHERE


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
