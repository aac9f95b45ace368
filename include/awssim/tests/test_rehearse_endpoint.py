"""``python -m rollout_demo --endpoint URL``: a rehearsal against an awssim served apart runs
only if that awssim simulates what the rehearsal was asked for (``rollout_demo.endpoint``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from awssim.pytest_plugin import AwsClients
from rollout_demo.endpoint import ServedAwssim
from rollout_demo.inputs import RehearsalInputError, resolve

REPO = Path(__file__).resolve().parents[3]


def test_an_awssim_simulating_the_same_world_is_accepted(aws: AwsClients) -> None:
    inputs = resolve(REPO, plan="examplepackage", org="demo", scenario="happy")
    served = ServedAwssim(aws.endpoint_url)

    served.check(inputs, speed=1.0)  # the fixture's awssim: demo, happy, x1

    assert served.state()["org"]["name"] == "demo"


def test_another_organization_scenario_or_speed_is_refused(aws: AwsClients) -> None:
    field_plan = REPO / "include" / "rollouts" / "examples" / "field-agent.yaml"
    inputs = resolve(REPO, plan=str(field_plan), org="field", scenario="throttling")

    with pytest.raises(RehearsalInputError) as refused:
        ServedAwssim(aws.endpoint_url).check(inputs, speed=300.0)

    message = str(refused.value)
    assert "org 'demo' (the rehearsal's is 'field')" in message
    assert "scenario 'happy' (the rehearsal's is 'throttling')" in message
    assert "speed 1.0 (the rehearsal's is 300.0)" in message


def test_no_awssim_at_the_endpoint_says_how_to_start_one() -> None:
    inputs = resolve(REPO, plan="examplepackage", org="demo", scenario="happy")

    with pytest.raises(RehearsalInputError, match="python -m awssim serve"):
        ServedAwssim("http://127.0.0.1:9").check(inputs, speed=300.0)
