"""core.artifacts: keys and URLs, digests from content addresses, TemplateBody where it fits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor_rollout.core.artifacts import (
    TEMPLATE_BODY_LIMIT,
    artifacts_bucket_refusal,
    is_template,
    object_location,
    s3_object_url,
    sha256_hex,
    template_digest,
    template_key,
    template_sha256,
    template_source,
    template_url,
    with_template_body,
)
from distributor_rollout.core.errors import ValidationError

DIGEST = sha256_hex("Resources: {}\n")
URL = f"https://artifacts-1.s3.us-east-1.amazonaws.com/templates/my-set/{DIGEST}.yaml"


def test_the_digest_comes_from_the_content_address() -> None:
    assert object_location(URL) == ("artifacts-1", f"templates/my-set/{DIGEST}.yaml")
    assert template_digest(URL) == DIGEST
    china = URL.replace("us-east-1.amazonaws.com", "cn-north-1.amazonaws.com.cn")
    assert template_digest(china) == DIGEST


@pytest.mark.parametrize(
    "url",
    [
        "https://artifacts-1.s3.us-east-1.amazonaws.com/templates/my-set/1.0.0.json",
        "https://evil.example.com/templates/my-set/" + DIGEST + ".yaml",
        "s3://artifacts-1/templates/my-set/" + DIGEST + ".yaml",
    ],
)
def test_a_url_that_names_no_digest_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="template_url"):
        template_digest(url)


def test_the_text_is_passed_when_it_fits_else_the_url() -> None:
    small = "x" * TEMPLATE_BODY_LIMIT
    assert template_source(URL, small) == {"TemplateBody": small}
    assert template_source(URL, small + "x") == {"TemplateURL": URL}
    # Multi-byte characters count as bytes, as StackSets count them.
    assert template_source(URL, "é" * (TEMPLATE_BODY_LIMIT // 2 + 1)) == {"TemplateURL": URL}
    assert template_source(URL, None) == {"TemplateURL": URL}


def test_requests_swap_their_url_for_the_checked_text() -> None:
    request = {"TemplateURL": URL, "Regions": ["us-east-1"]}
    assert with_template_body(request, {URL: "text"}) == {
        "Regions": ["us-east-1"],
        "TemplateBody": "text",
    }
    assert with_template_body(request, {}) == request
    assert with_template_body({"Regions": []}, {URL: "text"}) == {"Regions": []}


BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}", fullmatch=True)
REGIONS = st.sampled_from(["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])
STACK_SETS = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,30}", fullmatch=True)


@given(bucket=BUCKETS, region=REGIONS, name=STACK_SETS, text=st.text())
def test_a_template_url_names_the_digest_of_its_text(
    bucket: str, region: str, name: str, text: str
) -> None:
    url = template_url(bucket, region, name, text)
    assert url == s3_object_url(bucket, region, template_key(name, text))
    assert object_location(url) == (bucket, template_key(name, text))
    assert template_digest(url) == template_sha256(text) == sha256_hex(text)
    assert is_template(text, template_digest(url))
    assert not is_template(text + " ", template_digest(url))


def test_is_template_needs_a_text_and_a_digest() -> None:
    assert not is_template(None, DIGEST)
    assert not is_template("Resources: {}\n", None)
    assert is_template("Resources: {}\n", DIGEST)


@pytest.mark.parametrize(
    ("state", "found", "expected"),
    [
        ("exists", "us-east-1", None),
        ("missing", None, None),
        ("not_yours", None, "is not this account's"),
        ("exists", "eu-west-1", "not the stack set's Region us-east-1"),
    ],
)
def test_artifacts_bucket_refusals(state: str, found: str | None, expected: str | None) -> None:
    refusal = artifacts_bucket_refusal(
        "artifacts-1", "us-east-1", account="222222222222", state=state, found_region=found
    )
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert expected in refusal
