"""Pydantic field types that carry the project's format rules and messages.

A rule failure becomes a ``PydanticCustomError`` of type ``rule`` whose message is the
rule's own text, so ``plan_validation`` can report it verbatim at the field's path.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from distributor_rollout.core import rules, schedule
from distributor_rollout.core.durations import format_duration, parse_duration
from distributor_rollout.core.errors import describe

RULE_ERROR = "rule"


def _fail(message: str) -> PydanticCustomError:
    # The message goes through the context: a literal template would treat the braces in
    # messages such as "'{region}'" as placeholders.
    return PydanticCustomError(RULE_ERROR, "{message}", {"message": message})


def _checked(rule: rules.Rule) -> AfterValidator:
    def check(value: str) -> str:
        problem = rule(value)
        if problem is not None:
            raise _fail(problem)
        return value

    return AfterValidator(check)


def _duration_between(low: int, high: int) -> BeforeValidator:
    def convert(value: object) -> int:
        try:
            seconds = parse_duration(value)
        except ValueError as error:
            raise _fail(str(error)) from None
        if not low <= seconds <= high:
            raise _fail(
                f"out of range (got {describe(value)}; "
                f"expected between {format_duration(low)} and {format_duration(high)})"
            )
        return seconds

    return BeforeValidator(convert)


def _none_words(value: object) -> object:
    """YAML reads ``schedule: none`` as the string 'none'; both mean no schedule."""
    if isinstance(value, str) and value.strip().lower() in {"", "none", "null"}:
        return None
    return value


def _association_schedule(value: str) -> str:
    problem = schedule.association_schedule_problem(value)
    if problem is not None:
        raise _fail(problem)
    return value


def _dag_schedule(value: str) -> str:
    problem = schedule.dag_schedule_problem(value)
    if problem is not None:
        raise _fail(problem)
    return value


def version(value: str) -> str | None:
    """A package version that is also one safe path segment.

    The version names a folder of the build and a segment of S3 keys, so on top of SSM's
    ``VersionName`` characters it may not be only dots ('.' and '..' climb out of the
    folder) nor end with a dot (Windows drops trailing dots, so '1.0.' would be '1.0').
    """
    problem = rules.version(value)
    if problem is not None:
        return problem
    if value.strip(".") == "" or value.endswith("."):
        return (
            f"not a safe single path segment (got {describe(value)}; expected "
            "1-128 letters, digits, '_', '-' or '.', not only dots and not ending with '.')"
        )
    return None


# Text shown in Airflow's UI, CloudFormation and the manifest. Control characters (other
# than line breaks and tabs in multi-line text) and bidirectional overrides make text read
# differently from what it is, in a terminal or a browser.
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LAYOUT: Final = frozenset("\n\t")
DESCRIPTION_MAX: Final = 1024  # CloudFormation's stack set Description limit
OWNER_MAX: Final = 64
DAG_TAG_MAX: Final = 100  # Airflow's TAG_MAX_LEN: a longer tag fails when the DAG is stored
DAG_TAGS_MAX: Final = 20
STACK_SET_TAG_VALUE_MAX: Final = 256  # CloudFormation's TagValue
STACK_SET_TAGS_MAX: Final = 50  # CloudFormation's Tags
PUBLISHER_MAX: Final = 256
_OWNER: Final = re.compile(rf"[A-Za-z0-9](?:[A-Za-z0-9 _.@,-]{{0,{OWNER_MAX - 2}}}[A-Za-z0-9])?")


def _control_character(value: str, allowed: frozenset[str]) -> str | None:
    for char in value:
        if char not in allowed and (unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS):
            return char
    return None


def _text(what: str, low: int, high: int, *, multiline: bool) -> rules.Rule:
    """A free-text rule: ``low``-``high`` characters, no control characters."""
    allowed = _LAYOUT if multiline else frozenset()
    expected = f"{low}-{high} characters without control characters" + (
        " (line breaks and tabs allowed)" if multiline else " or line breaks"
    )

    def rule(value: str) -> str | None:
        if not low <= len(value) <= high:
            count = len(value)
            return f"{what} has {count} characters (got {describe(value)}; expected {expected})"
        char = _control_character(value, allowed)
        if char is not None:
            return (
                f"{what} holds the control character U+{ord(char):04X} "
                f"(got {describe(value)}; expected {expected})"
            )
        return None

    rule.__doc__ = f"{what.capitalize()}: {expected}."
    return rule


def owner(value: str) -> str | None:
    """The DAG owner Airflow shows and filters on: a short name of a safe character set."""
    if _OWNER.fullmatch(value):
        return None
    expected = (
        f"1-{OWNER_MAX} letters, digits, spaces or '_.@,-', "
        "starting and ending with a letter or digit"
    )
    return f"not a valid owner (got {describe(value)}; expected {expected})"


def _at_most(count: int, what: str) -> BeforeValidator:
    # Before item validation, so an oversized collection costs one check, not one per item.
    def check(value: object) -> object:
        if isinstance(value, (list, dict)) and len(value) > count:
            raise _fail(f"too many {what} (got {len(value)}; expected at most {count})")
        return value

    return BeforeValidator(check)


PackageName = Annotated[str, _checked(rules.package_name)]
DocumentName = Annotated[str, _checked(rules.document_name)]
ExistingPackageRef = Annotated[str, _checked(rules.existing_package)]
AssociationName = Annotated[str, _checked(rules.association_name)]
Version = Annotated[str, _checked(version)]
OuId = Annotated[str, _checked(rules.ou_id)]
OuRef = Annotated[str, _checked(rules.ou_ref)]
AccountId = Annotated[str, _checked(rules.account_id)]
RegionName = Annotated[str, _checked(rules.region)]
StackSetName = Annotated[str, _checked(rules.stack_set_name)]
MaxConcurrency = Annotated[str, _checked(rules.max_concurrency)]
MaxErrors = Annotated[str, _checked(rules.max_errors)]
SnsTopicArn = Annotated[str, _checked(rules.sns_topic_arn)]
IamRoleName = Annotated[str, _checked(rules.iam_role_name)]
S3Prefix = Annotated[str, _checked(rules.s3_prefix)]
TagKey = Annotated[str, _checked(rules.tag_key)]
TagValue = Annotated[str, _checked(rules.tag_value)]
PlanName = Annotated[str, _checked(rules.plan_name)]
WaveName = Annotated[str, _checked(rules.wave_name)]
PackageBucketPattern = Annotated[str, _checked(rules.bucket_pattern)]
BucketTemplate = Annotated[str, _checked(rules.bucket_template)]
BucketName = Annotated[str, _checked(rules.bucket_name)]
AssociationSchedule = Annotated[str, AfterValidator(_association_schedule)]
Description = Annotated[str, _checked(_text("description", 0, DESCRIPTION_MAX, multiline=True))]
Owner = Annotated[str, _checked(owner)]
DagTag = Annotated[str, _checked(_text("tag", 1, DAG_TAG_MAX, multiline=False))]
DagTags = Annotated[list[DagTag], _at_most(DAG_TAGS_MAX, "tags")]
StackSetTagValue = Annotated[
    str, _checked(_text("tag value", 1, STACK_SET_TAG_VALUE_MAX, multiline=False))
]
StackSetTags = Annotated[dict[TagKey, StackSetTagValue], _at_most(STACK_SET_TAGS_MAX, "tags")]
Publisher = Annotated[str, _checked(_text("publisher", 1, PUBLISHER_MAX, multiline=False))]
DagSchedule = Annotated[
    str | None,
    BeforeValidator(_none_words),
    AfterValidator(lambda value: None if value is None else _dag_schedule(value)),
]

# Gate timings. The lower bounds are low on purpose: rehearsals against awssim run on
# simulated time and poll every second or two. A gate longer than a week is a stuck
# rollout, not a gate.
WEEK = 7 * 86_400
GateTimeout = Annotated[int, _duration_between(10, WEEK)]
BakeTime = Annotated[int, _duration_between(0, WEEK)]
PollInterval = Annotated[int, _duration_between(1, 3_600)]
