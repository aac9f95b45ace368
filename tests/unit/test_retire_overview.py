"""What the retire's approval shows before the first wave."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributor_rollout.core.deployment import Instance
from distributor_rollout.core.plan import Plan
from distributor_rollout.core.plan_validation import load_plan
from distributor_rollout.core.retire_buckets import RetiredBucket
from distributor_rollout.core.retire_overview import retire_overview, retire_question
from distributor_rollout.core.targets import Target
from distributor_rollout.core.waves import ResolvedWave

A, B, C = "300000000001", "300000000002", "300000000003"


@pytest.fixture(scope="module")
def plan(example_plan_path: Path) -> Plan:
    return load_plan(example_plan_path)


@pytest.fixture(scope="module")
def waves() -> list[ResolvedWave]:
    return [
        ResolvedWave("canary", ("ou-abcd-11111111",), ("us-east-1",), (A,)),
        ResolvedWave("nonprod", ("ou-abcd-22222222",), ("us-east-1", "us-west-2"), (B,)),
        ResolvedWave("prod", ("ou-abcd-33333333",), ("us-east-1",), (C,)),
    ]


def found(*targets: tuple[str, str]) -> list[Instance]:
    return [Instance(Target(a, r), "CURRENT") for a, r in targets]


def test_the_question_lists_each_wave_in_retire_order_with_its_instances(
    plan: Plan, waves: list[ResolvedWave]
) -> None:
    instances = found((A, "us-east-1"), (B, "us-east-1"), (B, "us-west-2"), (A, "eu-west-1"))
    bucket = RetiredBucket("artifacts", "art-bucket", "us-east-1", ())
    overview = retire_overview(plan, waves, instances, [bucket])
    assert [(w.name, w.instances) for w in overview.waves] == [
        ("prod", 0),
        ("nonprod", 2),
        ("canary", 1),
    ]
    assert overview.outside == 1
    assert overview.instances == 3
    question = retire_question(overview, plan.name)
    assert question.subject == "Retire ExamplePackage: 3 stack instances in 3 waves?"
    assert "| 1 | prod | /Prod | us-east-1 | 1 | 0 |" in question.body
    assert "| 2 | nonprod | /NonProd | us-east-1, us-west-2 | 1 | 2 |" in question.body
    assert "1 stack instances are outside the plan's waves" in question.body
    assert "art-bucket" in question.body


def test_nothing_to_remove_when_the_stack_set_and_the_buckets_are_gone(
    plan: Plan, waves: list[ResolvedWave]
) -> None:
    assert retire_overview(plan, waves, None).nothing_to_remove
    bucket = RetiredBucket("package", "left-over", "us-east-1", ())
    assert not retire_overview(plan, waves, None, [bucket]).nothing_to_remove
    assert not retire_overview(plan, waves, []).nothing_to_remove
