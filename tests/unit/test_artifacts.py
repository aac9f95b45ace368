"""core.artifacts: digests from content addresses, TemplateBody where it fits."""

from __future__ import annotations

import pytest

from distributor_rollout.core.artifacts import (
    TEMPLATE_BODY_LIMIT,
    object_location,
    sha256_hex,
    template_digest,
    template_source,
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
