"""core.planned_calls: a dry-run wave's calls, readable in the log and small in XCom."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.deployment import Call
from distributor_rollout.core.planned_calls import (
    LONGEST_SHOWN_VALUE,
    PREVIOUS_VALUE_SHOWN,
    dry_run_wave,
    loggable_request,
    planned_entry,
)
from distributor_rollout.core.targets import Target

TARGETS = (
    Target("111111111111", "us-east-1"),
    Target("111111111111", "eu-west-1"),
    Target("222222222222", "us-east-1"),
)
CALL = Call(
    "create",
    "dr-abc-canary-create-1234",
    TARGETS,
    {
        "DeploymentTargets": {"OrganizationalUnitIds": ["ou-ab12-cdefgh12"]},
        "Regions": ["us-east-1", "eu-west-1"],
        "ParameterOverrides": [],
    },
)


def test_parameters_kept_by_previous_value_are_logged_as_such() -> None:
    shown = loggable_request(
        {
            "UsePreviousTemplate": True,
            "Parameters": [{"ParameterKey": "K", "UsePreviousValue": True}],
        }
    )
    assert shown == {"UsePreviousTemplate": True, "Parameters": {"K": PREVIOUS_VALUE_SHOWN}}


@given(value=st.text(max_size=200))
def test_long_parameter_values_are_logged_by_length(value: str) -> None:
    shown = loggable_request({"Parameters": [{"ParameterKey": "K", "ParameterValue": value}]})
    if len(value) <= LONGEST_SHOWN_VALUE:
        assert shown["Parameters"] == {"K": value}
    else:
        assert shown["Parameters"] == {"K": f"<{len(value)} characters>"}


def test_a_request_without_parameters_is_logged_as_it_is() -> None:
    assert loggable_request({"Regions": ["us-east-1"]}) == {"Regions": ["us-east-1"]}


def test_a_planned_call_is_counts_and_names() -> None:
    assert planned_entry(CALL) == {
        "api_call": "CreateStackInstances",
        "operation_id": "dr-abc-canary-create-1234",
        "targets": 3,
        "accounts": 2,
        "regions": ["us-east-1", "eu-west-1"],
        "organizational_units": ["ou-ab12-cdefgh12"],
    }


def test_a_dry_run_wave_has_the_shape_of_a_real_one() -> None:
    result = dry_run_wave("canary", [CALL], TARGETS).to_dict()
    assert result["wave"] == "canary"
    assert result["operations"] == []
    assert result["nothing_to_do"] is False
    assert result["dry_run"] is True
    assert result["targets"] == [str(target) for target in TARGETS]
    assert result["planned"] == [planned_entry(CALL)]
    assert result["changes"] == {"wave": "canary", "templates": [], "changes": []}
    assert dry_run_wave("canary", [], TARGETS).to_dict()["nothing_to_do"] is True
