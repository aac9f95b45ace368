"""Format rules for the names and ids a plan holds, as AWS enforces them.

Each rule takes a value and returns ``None`` when it is valid, or the message of
what is wrong in the project's shape ``what (got X; expected Y)``. The patterns
come from botocore's service models (SSM ``DocumentName``, ``AssociationName``,
``DocumentVersionName``, ``MaxConcurrency``, ``MaxErrors``; CloudFormation
``OrganizationalUnitId``, ``Account``) so a plan that passes here passes there.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from distributor_rollout.core.errors import describe
from distributor_rollout.core.regions import KNOWN_REGIONS
from distributor_rollout.core.steps import RETIRE_DAG_SUFFIX, RETIRE_RUN_STEPS, RUN_STEPS

Rule = Callable[[str], "str | None"]

_SSM_NAME = re.compile(r"[a-zA-Z0-9_\-.]{3,128}")
_SSM_RESERVED_PREFIXES = ("aws", "amazon", "amzn")
_VERSION = re.compile(r"[a-zA-Z0-9_\-.]{1,128}")
_OU_ID = re.compile(r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32}")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_STACK_SET_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")
_MAX_CONCURRENCY = re.compile(r"[1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%")
_MAX_ERRORS = re.compile(r"[1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%")
_SNS_TOPIC_ARN = re.compile(
    r"arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?"
)
_IAM_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
_S3_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*")
_TAG_KEY = re.compile(r"[\w\s.:/=+\-@]{1,128}")
_PLAN_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_WAVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,49}")
# The longest values the placeholders take, so a pattern that fits for them fits for all.
_PLACEHOLDER_SAMPLES = {"{account_id}": "123456789012", "{region}": "ap-southeast-7"}
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _bad(what: str, value: str, expected: str) -> str:
    return f"{what} (got {describe(value)}; expected {expected})"


def _matching(pattern: re.Pattern[str], what: str, expected: str, doc: str) -> Rule:
    """A rule that holds when the whole value matches ``pattern``."""

    def rule(value: str) -> str | None:
        return None if pattern.fullmatch(value) else _bad(what, value, expected)

    rule.__doc__ = doc
    return rule


_DOCUMENT_ARN = re.compile(
    r"arn:(?P<partition>aws(-[a-z]+)*):ssm:(?P<region>[a-z0-9-]+):(?P<owner>[0-9]{12}):"
    r"document/(?P<name>[a-zA-Z0-9_\-.]{3,128})"
)


def document_name(value: str) -> str | None:
    """An SSM ``DocumentName`` (AWS's own packages included: no reserved-prefix rule)."""
    if _SSM_NAME.fullmatch(value):
        return None
    return _bad("not a valid SSM document name", value, "3-128 letters, digits, '_', '-' or '.'")


def existing_package(value: str) -> str | None:
    """An existing Distributor package: a document name (AWS's, like AmazonCloudWatchAgent,
    or the account's own) or the ARN of a document another account shares."""
    if _SSM_NAME.fullmatch(value) or _DOCUMENT_ARN.fullmatch(value):
        return None
    return _bad(
        "not a package name or a shared document ARN",
        value,
        "a document name like AmazonCloudWatchAgent, or "
        "arn:aws:ssm:<region>:<owner account>:document/<name>",
    )


def existing_package_parts(value: str) -> tuple[str | None, str]:
    """(owner account, document name) of a valid ``existing_package`` value; the owner is
    None for a plain name (AWS's package, or the caller's own)."""
    match = _DOCUMENT_ARN.fullmatch(value)
    if match is None:
        return None, value
    return match["owner"], match["name"]


def reserved_document_prefix(value: str) -> bool:
    """Whether SSM refuses to create a document of this name (AWS keeps the prefix)."""
    return value.lower().startswith(_SSM_RESERVED_PREFIXES)


def package_name(value: str) -> str | None:
    """A Distributor package is an SSM document: its name follows SSM ``DocumentName``."""
    expected = "3-128 letters, digits, '_', '-' or '.', not starting with aws, amazon or amzn"
    if not _SSM_NAME.fullmatch(value):
        return _bad("not a valid SSM document name", value, expected)
    if value.lower().startswith(_SSM_RESERVED_PREFIXES):
        return _bad("uses a prefix AWS reserves for its own documents", value, expected)
    return None


association_name = _matching(
    _SSM_NAME,
    "not a valid association name",
    "3-128 letters, digits, '_', '-' or '.'",
    """State Manager ``AssociationName``.""",
)


version = _matching(
    _VERSION,
    "not a valid package version",
    "1-128 letters, digits, '_', '-' or '.'",
    """Distributor package version, stored as the document's ``VersionName``.""",
)


ou_id = _matching(
    _OU_ID,
    "not an organizational unit id",
    "an OU id like 'ou-ab12-cdef3456' or a root id like 'r-ab12'",
    """An organizational unit id, or the organization root id (StackSets accept both).""",
)


def ou_ref(value: str) -> str | None:
    """How a wave names an OU: its id, or its path of OU names from the root.

    Paths (``/Prod/EU``; ``/`` is the root) read better in a plan and survive an OU being
    re-created; wave resolution turns them into ids with the organization snapshot.
    """
    if value.startswith("/"):
        segments = value.strip("/").split("/") if value != "/" else []
        if all(0 < len(segment) <= 128 and segment == segment.strip() for segment in segments):
            return None
        expected = "a path of OU names from the root like '/Prod/EU', or '/' for the root"
        return _bad("not a valid OU path", value, expected)
    if _OU_ID.fullmatch(value):
        return None
    expected = "an OU id like 'ou-ab12-cdef3456', a root id like 'r-ab12', or a path like '/Prod'"
    return _bad("not an organizational unit id or path", value, expected)


account_id = _matching(
    _ACCOUNT_ID,
    "not an AWS account id",
    "12 digits, quoted in YAML",
    """A 12-digit AWS account id.""",
)


def region(value: str) -> str | None:
    """A Region name AWS has (see ``core.regions``)."""
    if value in KNOWN_REGIONS:
        return None
    return _bad("not an AWS Region", value, "a Region name like 'us-east-1' or 'eu-west-1'")


stack_set_name = _matching(
    _STACK_SET_NAME,
    "not a valid stack set name",
    "a letter followed by up to 127 letters, digits or '-'",
    """CloudFormation stack set name: a letter, then letters, digits or hyphens, ≤ 128.""",
)


def max_concurrency(value: str) -> str | None:
    """State Manager ``MaxConcurrency``: a count ≥ 1 or a percentage 1%-100%."""
    if _MAX_CONCURRENCY.fullmatch(value):
        return None
    return _bad(
        "not a valid MaxConcurrency", value, "a count like '10' or a percentage '1%'-'100%'"
    )


max_errors = _matching(
    _MAX_ERRORS,
    "not a valid MaxErrors",
    "a count like '0' or a percentage '0%'-'100%'",
    """State Manager ``MaxErrors``: a count ≥ 0 or a percentage 0%-100%.""",
)


sns_topic_arn = _matching(
    _SNS_TOPIC_ARN,
    "not an SNS topic ARN",
    "an ARN like 'arn:aws:sns:us-east-1:123456789012:rollouts'",
    """An SNS topic ARN.""",
)


iam_role_name = _matching(
    _IAM_ROLE_NAME,
    "not a valid IAM role name",
    "1-64 letters, digits or '+=,.@_-'",
    """An IAM role name.""",
)


def s3_prefix(value: str) -> str | None:
    """An S3 key prefix used as a folder: safe characters, no leading or trailing '/'."""
    if _S3_PREFIX.fullmatch(value):
        return None
    expected = (
        "segments of letters, digits or \"!_.*'()-\" joined by '/', no leading or trailing '/'"
    )
    return _bad("not a valid S3 folder", value, expected)


def tag_key(value: str) -> str | None:
    """A resource tag key usable in an SSM target ``tag:<key>``."""
    if value.lower().startswith("aws:"):
        return _bad("uses the reserved 'aws:' prefix", value, "a tag key of your own")
    if _TAG_KEY.fullmatch(value):
        return None
    return _bad("not a valid tag key", value, "1-128 letters, digits, spaces or '_.:/=+-@'")


def tag_value(value: str) -> str | None:
    """A resource tag value to match (SSM targets need a non-empty value)."""
    if 1 <= len(value) <= 256:
        return None
    return _bad("not a valid tag value", value, "1-256 characters")


def plan_name(value: str) -> str | None:
    """The plan's id, used in the DAG ids, S3 keys and operation ids.

    Not ending in the retire DAG's suffix: plan ``x__retire``'s rollout DAG id would be
    plan ``x``'s retire DAG id."""
    expected = "1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
    if not _PLAN_NAME.fullmatch(value):
        return _bad("not a valid plan name", value, expected)
    if value.endswith(RETIRE_DAG_SUFFIX):
        return _bad(
            "ends like a retire DAG id",
            value,
            f"a name not ending in {RETIRE_DAG_SUFFIX!r} (plan <name>'s retire DAG is "
            f"distributor_rollout__<name>{RETIRE_DAG_SUFFIX})",
        )
    return None


RESERVED_WAVE_NAMES = frozenset(RUN_STEPS) | frozenset(RETIRE_RUN_STEPS)
"""The rollout and retire DAGs' own task ids: a wave's TaskGroup of the same name would
clash."""


def wave_name(value: str) -> str | None:
    """A wave name, used in task ids and operation ids.

    Not one of the DAG's own steps, and not starting with ``rollback`` and a separator:
    a wave's operation ids would then start like the run's rollback operations
    (``operation_ids.step_prefix(run_id, "rollback")``) and read as a rolled-back run."""
    expected = "1-50 letters, digits, '_' or '-', starting with a letter or digit"
    if not _WAVE_NAME.fullmatch(value):
        return _bad("not a valid wave name", value, expected)
    if value in RESERVED_WAVE_NAMES or value.replace("_", "-").startswith("rollback-"):
        steps = ", ".join(sorted(RESERVED_WAVE_NAMES))
        return _bad(
            "is reserved for the rollout's and the retire's own steps",
            value,
            f"a name other than {steps}, not starting with 'rollback-' or 'rollback_'",
        )
    return None


def bucket_pattern(value: str) -> str | None:
    """The package bucket pattern: one bucket per Region, so ``{region}`` is required;
    ``{account_id}`` is optional. Every name it yields must be a valid bucket name."""
    if "{region}" not in value:
        expected = "an S3 bucket name with '{region}' and optionally '{account_id}'"
        return _bad("must name one bucket per Region with '{region}'", value, expected)
    return bucket_template(value)


def bucket_template(value: str) -> str | None:
    """A bucket name that may hold ``{account_id}`` and ``{region}`` placeholders."""
    sample = value
    for placeholder, longest in _PLACEHOLDER_SAMPLES.items():
        sample = sample.replace(placeholder, longest)
    if "{" in sample or "}" in sample:
        expected = "only the placeholders '{account_id}' and '{region}'"
        return _bad("has an unknown placeholder", value, expected)
    return bucket_name(sample, shown=value)


def bucket_name(value: str, *, shown: str | None = None) -> str | None:
    """An S3 general purpose bucket name."""
    expected = (
        "3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit"
    )
    shown_value = value if shown is None else shown
    if not _BUCKET_NAME.fullmatch(value) or ".." in value or value.startswith("xn--"):
        return _bad("not a valid S3 bucket name", shown_value, expected)
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", value):
        return _bad("looks like an IP address", shown_value, expected)
    return None


def fill_bucket_pattern(pattern: str, *, account_id: str, region: str) -> str:
    """The bucket name a pattern or template gives for one account and Region."""
    return pattern.replace("{account_id}", account_id).replace("{region}", region)
