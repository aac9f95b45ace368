"""Free-text plan fields within their limits, and a stack set kept to one partition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from distributor_rollout.core import fields
from distributor_rollout.core.errors import ValidationError
from distributor_rollout.core.plan_validation import validate_plan


@pytest.fixture
def raw(example_plan_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(example_plan_path.read_text())
    return data


def _problems(data: object) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        validate_plan(data)
    return [str(problem) for problem in raised.value.problems]


@pytest.mark.parametrize(
    "owner", ["platform-team", "alice@example.com", "Team A, Team B", "o" * fields.OWNER_MAX]
)
def test_usual_owners_are_accepted(raw: dict[str, Any], owner: str) -> None:
    raw["owner"] = owner
    assert validate_plan(raw).owner == owner


@pytest.mark.parametrize("owner", ["", " lead", "a;b", "<script>", "o" * (fields.OWNER_MAX + 1)])
def test_unsafe_owners_are_refused(raw: dict[str, Any], owner: str) -> None:
    raw["owner"] = owner
    (problem,) = _problems(raw)
    assert problem.startswith(f"owner: not a valid owner (got {owner!r}")


def test_a_description_may_span_lines_up_to_its_limit(raw: dict[str, Any]) -> None:
    raw["description"] = "line one\n\tline two\n" + "d" * (fields.DESCRIPTION_MAX - 19)
    raw["stack_set"]["description"] = "Über ☃ — unicode is fine"
    plan = validate_plan(raw)
    assert len(plan.description) == fields.DESCRIPTION_MAX


def test_twenty_tags_of_a_hundred_characters_are_accepted(raw: dict[str, Any]) -> None:
    raw["tags"] = [f"{n:02d}" + "t" * (fields.DAG_TAG_MAX - 2) for n in range(fields.DAG_TAGS_MAX)]
    assert len(validate_plan(raw).tags) == fields.DAG_TAGS_MAX


def test_a_huge_tag_list_is_refused_without_checking_each_tag(raw: dict[str, Any]) -> None:
    raw["tags"] = ["\x00"] * 1_000_000
    assert _problems(raw) == ["tags: too many tags (got 1000000; expected at most 20)"]


def test_a_stack_set_administered_in_china_keeps_its_waves_there(raw: dict[str, Any]) -> None:
    raw["stack_set"]["region"] = "cn-north-1"
    raw["stack_set"]["compliance_reader"]["create"] = False
    problems = _problems(raw)
    assert problems[0] == (
        "waves[0].regions[0]: in partition aws, not the stack set's (got 'us-east-1'; "
        "expected a Region of partition aws-cn, like stack_set.region (cn-north-1))"
    )
    assert all("in partition aws, not the stack set's" in problem for problem in problems)


def test_the_reader_home_region_is_held_to_the_partition(raw: dict[str, Any]) -> None:
    raw["stack_set"]["compliance_reader"]["home_region"] = "us-gov-west-1"
    problems = _problems(raw)
    assert (
        "stack_set.compliance_reader.home_region: in partition aws-us-gov, not the stack set's "
        "(got 'us-gov-west-1'; expected a Region of partition aws, like stack_set.region "
        "(us-east-1))"
    ) in problems


def test_with_an_unknown_admin_region_the_first_wave_region_sets_the_partition(
    raw: dict[str, Any],
) -> None:
    raw["stack_set"]["region"] = "mars-1"
    raw["stack_set"]["compliance_reader"]["create"] = False
    raw["waves"][1]["regions"] = ["cn-north-1"]
    problems = _problems(raw)
    assert problems[-1] == (
        "waves[1].regions[0]: in partition aws-cn, not the stack set's (got 'cn-north-1'; "
        "expected a Region of partition aws, like waves[0].regions[0] (us-east-1))"
    )
