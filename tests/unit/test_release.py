"""core.release: the record's XCom round trip, the run's tag and record key, the dry-run
digest, and whether a stack set already holds the release."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.artifacts import sha256_hex
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.release import (
    CREATED_BY_TAG,
    TEMPLATE_SHA256_KEY,
    Release,
    created_by_run,
    dry_run_release,
    dry_run_template_sha256,
    holds_release,
    release_key,
    run_tag_value,
    stack_set_parameters,
)

TEXT = "Resources: {}\n"
TEMPLATE = TemplateRef("https://b.s3.us-east-1.amazonaws.com/t/abc.yaml", {"Version": "2"})
PARAMETERS = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3)
TEMPLATES = st.builds(TemplateRef, st.text(min_size=1, max_size=30), PARAMETERS)
RUN_IDS = st.text(min_size=1, max_size=60)


def test_release_round_trips_through_its_dict() -> None:
    release = Release(
        stack_set_name="distributor-examplepackage",
        call_as="DELEGATED_ADMIN",
        region="us-east-1",
        template=TEMPLATE,
        previous=TemplateRef("https://b.s3.us-east-1.amazonaws.com/t/def.yaml", {"Version": "1"}),
        created=False,
    )
    assert Release.from_dict(release.to_dict()) == release
    first = Release("s", "SELF", "eu-west-1", release.template, None, created=True)
    assert Release.from_dict(first.to_dict()) == first


@given(
    release=st.builds(
        Release,
        stack_set_name=st.text(min_size=1, max_size=20),
        call_as=st.sampled_from(["SELF", "DELEGATED_ADMIN"]),
        region=st.sampled_from(["us-east-1", "eu-west-1"]),
        template=TEMPLATES,
        previous=st.one_of(st.none(), TEMPLATES),
        created=st.booleans(),
    ),
    text=st.text(max_size=40),
)
def test_every_release_and_its_dry_run_form_round_trip(release: Release, text: str) -> None:
    assert Release.from_dict(release.to_dict()) == release
    dry = dry_run_release(release, text)
    assert dry["dry_run"] is True
    assert dry_run_template_sha256(dry) == sha256_hex(text)
    assert Release.from_dict(dry) == release
    assert dry_run_template_sha256(release.to_dict()) is None


@given(run_id=RUN_IDS, other=RUN_IDS)
def test_only_the_creating_run_recognizes_its_stack_set(run_id: str, other: str) -> None:
    tag = run_tag_value(run_id)
    assert len(tag) == 32
    assert all(c in "0123456789abcdef" for c in tag)
    described = {"Tags": [{"Key": "owner", "Value": "x"}, {"Key": CREATED_BY_TAG, "Value": tag}]}
    assert created_by_run(described, run_id)
    assert created_by_run(described, other) == (run_tag_value(other) == tag)
    assert not created_by_run({}, run_id)
    assert release_key("ss", run_id) == f"runs/ss/{tag}/release.json"


def test_stack_set_parameters_read_every_value() -> None:
    described = {
        "Parameters": [{"ParameterKey": "A", "ParameterValue": "1"}, {"ParameterKey": "B"}]
    }
    assert stack_set_parameters(described) == {"A": "1", "B": ""}
    assert stack_set_parameters({}) == {}


def _described(text: Any, version: str = "2") -> dict[str, Any]:
    return {
        "TemplateBody": text,
        "Parameters": [
            {"ParameterKey": "Version", "ParameterValue": version},
            {"ParameterKey": "Other", "ParameterValue": "default"},
        ],
    }


def test_a_stack_set_holds_the_release_by_its_checked_text() -> None:
    assert holds_release(_described(TEXT), TEMPLATE, template_text=TEXT)
    assert not holds_release(_described(TEXT + " "), TEMPLATE, template_text=TEXT)
    assert not holds_release(_described(TEXT, version="1"), TEMPLATE, template_text=TEXT)


def test_a_dry_run_release_is_judged_by_its_digest() -> None:
    digest = sha256_hex(TEXT)
    assert holds_release(_described(TEXT), TEMPLATE, template_text=None, sha256=digest)
    assert not holds_release(_described(TEXT + " "), TEMPLATE, template_text=None, sha256=digest)
    assert not holds_release(_described(None), TEMPLATE, template_text=None, sha256=digest)
    assert not holds_release(_described(TEXT), TEMPLATE, template_text=None, sha256=None)
    assert not holds_release(
        _described(TEXT, version="1"), TEMPLATE, template_text=None, sha256=digest
    )
    assert dry_run_template_sha256({TEMPLATE_SHA256_KEY: ""}) is None
