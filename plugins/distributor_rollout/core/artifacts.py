"""Trusted artifacts: where a run stores what it stores, the digests it records for it, and
how StackSets get a template.

Templates live in the artifacts bucket under their content address
(``templates/<stack set>/<sha256>.yaml``), so the digest a run expects of a template is in
its URL, and whether a text is that template is one comparison (``is_template``); release
records are checked against the digest the run recorded when it wrote them. A template is
handed to StackSets as ``TemplateBody`` whenever it fits (read from S3 and checked once,
then passed by value: nobody can swap the object between the check and the call); only a
template larger than ``TemplateBody`` takes is passed by URL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

from distributor_rollout.core.errors import Problem, ValidationError, wrong

TEMPLATE_BODY_LIMIT: Final = 51_200
"""The largest ``TemplateBody`` StackSets accept, in bytes (``TemplateURL``: 1 MB)."""
_OBJECT_URL = re.compile(
    r"^https://(?P<bucket>[a-z0-9][a-z0-9.-]*)\.s3\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"(?:\.cn)?/(?P<key>.+)$"
)
_TEMPLATE_KEY = re.compile(r"^templates/[^/]+/(?P<sha256>[0-9a-f]{64})\.yaml$")


def sha256_hex(data: bytes | str) -> str:
    """The hex sha256 of bytes, or of text as UTF-8."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def stored_object_problems(data: Mapping[str, Any], what: str) -> list[Problem]:
    """What is wrong with the reference to a record stored in the artifacts bucket (a wave's
    changes or targets, the rollback's record): its ``bucket``, ``key`` and ``sha256`` must
    be non-empty text. ``what`` names the record in the messages."""
    return [
        wrong(name, "missing or not text", data.get(name), f"the {what}'s {name}")
        for name in ("bucket", "key", "sha256")
        if not isinstance(data.get(name), str) or not data.get(name)
    ]


def template_sha256(template_text: str) -> str:
    """The sha256 of a template's text (UTF-8): its content address."""
    return sha256_hex(template_text)


def is_template(text: object, sha256: str | None) -> bool:
    """Whether ``text`` is the template whose content address is ``sha256``: a text that
    hashes to it (never when no digest is known)."""
    return isinstance(text, str) and sha256 is not None and template_sha256(text) == sha256


def template_key(stack_set_name: str, template_text: str) -> str:
    """``templates/<stack set>/<sha256 of the text>.yaml``: same text, same key, forever."""
    return f"templates/{stack_set_name}/{template_sha256(template_text)}.yaml"


def s3_object_url(bucket: str, region: str, key: str) -> str:
    """The virtual-hosted-style HTTPS URL of an object (what ``TemplateURL`` takes)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{region}.{suffix}/{key}"


def template_url(bucket: str, region: str, stack_set_name: str, template_text: str) -> str:
    """The URL of a template stored under its content address in ``bucket``: known before
    (and without) storing it."""
    return s3_object_url(bucket, region, template_key(stack_set_name, template_text))


def object_location(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of a virtual-hosted-style S3 object URL (what prepare stores)."""
    match = _OBJECT_URL.match(url)
    if match is None:
        problem = wrong(
            "template_url",
            "is not an S3 object URL of the artifacts bucket",
            url,
            "https://<bucket>.s3.<region>.amazonaws.com/<key>",
        )
        raise ValidationError("stored template", [problem])
    return match["bucket"], match["key"]


def template_digest(url: str) -> str:
    """The sha256 a stored template must have: the one its content address names."""
    _, key = object_location(url)
    match = _TEMPLATE_KEY.match(key)
    if match is None:
        problem = wrong(
            "template_url",
            "is not content-addressed, so its template cannot be checked",
            url,
            "a key templates/<stack set>/<sha256>.yaml",
        )
        raise ValidationError("stored template", [problem])
    return match["sha256"]


def fits_template_body(body: str) -> bool:
    """Whether StackSets take the template text as ``TemplateBody``."""
    return len(body.encode("utf-8")) <= TEMPLATE_BODY_LIMIT


def template_source(url: str, body: str | None) -> dict[str, Any]:
    """``{"TemplateBody": body}`` when the checked text fits, else ``{"TemplateURL": url}``."""
    if body is not None and fits_template_body(body):
        return {"TemplateBody": body}
    return {"TemplateURL": url}


def with_template_body(request: dict[str, Any], bodies: dict[str, str]) -> dict[str, Any]:
    """``request`` with its ``TemplateURL`` replaced by the checked text (``bodies``: URL to
    text) where that fits; unchanged when it names no template."""
    url = request.get("TemplateURL")
    if not isinstance(url, str):
        return request
    changed = {key: value for key, value in request.items() if key != "TemplateURL"}
    changed.update(template_source(url, bodies.get(url)))
    return changed


def artifacts_bucket_refusal(
    bucket: str, region: str, *, account: str, state: str, found_region: str | None
) -> str | None:
    """Why the artifacts bucket ``HeadBucket`` found (``state``, ``found_region``) cannot
    hold the stack set's templates, or None when it can (or may be created)."""
    if state == "not_yours":
        return (
            f"artifacts bucket {bucket} (Region {region}) exists but is not this account's "
            f"({account}) or cannot be read by it; change stack_set.artifacts_bucket"
        )
    if found_region and found_region != region:
        # Keep the template next to the stack set: its TemplateURL names that Region.
        return (
            f"artifacts bucket {bucket} is in Region {found_region}, not the stack set's "
            f"Region {region}; put {{region}} in stack_set.artifacts_bucket"
        )
    return None
