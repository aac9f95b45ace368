"""Pydantic field types that carry the project's format rules and messages.

A rule failure becomes a ``PydanticCustomError`` of type ``rule`` whose message is the
rule's own text, so ``plan_validation`` can report it verbatim at the field's path.
"""

from __future__ import annotations

from typing import Annotated

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


PackageName = Annotated[str, _checked(rules.package_name)]
AssociationName = Annotated[str, _checked(rules.association_name)]
Version = Annotated[str, _checked(rules.version)]
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
AssociationSchedule = Annotated[str, AfterValidator(_association_schedule)]
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
