"""core.stack_set_update: an update of what the stack set holds names nothing by value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.stack_set_update import keeping_held_template

_keys = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1
)


@given(
    parameters=st.dictionaries(_keys, st.text(max_size=20), max_size=6),
    source=st.sampled_from(["TemplateURL", "TemplateBody"]),
)
def test_the_held_template_and_values_are_named_by_previous(
    parameters: dict[str, str], source: str
) -> None:
    scope = {"DeploymentTargets": {"OrganizationalUnitIds": ["ou-ab12-00000001"]}, "Regions": ["r"]}
    request = {
        **scope,
        source: "https://b.s3.us-east-1.amazonaws.com/t.json",
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    }
    kept = keeping_held_template(request)
    assert kept == {
        **scope,
        "UsePreviousTemplate": True,
        "Parameters": [{"ParameterKey": k, "UsePreviousValue": True} for k in parameters],
    }
    # The caller's request is left as it was.
    assert request[source]
    assert "UsePreviousTemplate" not in request
