"""A release: the stack set and the template version one rollout run deploys.

The prepare step renders this version's template, stores it as an immutable S3 object and
records what the stack set ran before; every later step of the run (waves, rollback,
report) works from this record, passed between tasks as its ``to_dict()``. The record is
stored once per run (``release_key``), and a stack set a run created carries the run's tag
(``CREATED_BY_TAG``), so a retried Prepare still knows the run created it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from distributor_rollout.core.artifacts import is_template, template_sha256
from distributor_rollout.core.changes import TemplateRef
from distributor_rollout.core.deployment import holds_template

CREATED_BY_TAG: Final = "distributor-rollout:created-by-run"
"""Tags the stack set with the run that created it: a retry of that run's Prepare task then
still knows the run created it (no previous version to restore), instead of mistaking its
own template for the previous one."""
TEMPLATE_SHA256_KEY: Final = "template_sha256"
"""A dry-run release's extra key: the sha256 of this version's template text. Its template
URL is where the text would be stored, but nothing is there, so the deploy step compares
this digest with the stack set's template instead of reading the template from S3."""


@dataclass(frozen=True, slots=True)
class Release:
    """The stack set this run deploys to, this version's template, and the one before it.

    ``previous`` is the stack set's template and parameters before this run (what a
    ``previous_version`` rollback restores); None when this run created the stack set.
    """

    stack_set_name: str
    call_as: str
    region: str
    template: TemplateRef
    previous: TemplateRef | None
    created: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom)."""
        return {
            "stack_set_name": self.stack_set_name,
            "call_as": self.call_as,
            "region": self.region,
            "template": self.template.to_dict(),
            "previous": self.previous.to_dict() if self.previous else None,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Release:
        """The inverse of ``to_dict``."""
        previous = data.get("previous")
        return cls(
            stack_set_name=data["stack_set_name"],
            call_as=data["call_as"],
            region=data["region"],
            template=TemplateRef.from_dict(data["template"]),
            previous=TemplateRef.from_dict(previous) if previous else None,
            created=bool(data["created"]),
        )


def run_tag_value(run_id: str) -> str:
    """The ``CREATED_BY_TAG`` value for a run (a digest: run ids hold characters tags refuse)."""
    return hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:32]


def release_key(stack_set_name: str, run_id: str) -> str:
    """Where a run's release is recorded in the artifacts bucket (written once per run)."""
    return f"runs/{stack_set_name}/{run_tag_value(run_id)}/release.json"


def created_by_run(described: Mapping[str, Any], run_id: str) -> bool:
    """Whether a ``DescribeStackSet`` answer is of a stack set ``run_id`` created (an earlier
    try of its Prepare task): then the run has no previous version to record or restore."""
    tags = {tag["Key"]: tag["Value"] for tag in described.get("Tags", [])}
    return tags.get(CREATED_BY_TAG) == run_tag_value(run_id)


def stack_set_parameters(described: Mapping[str, Any]) -> dict[str, str]:
    """The parameter values a ``DescribeStackSet`` answer holds (a value AWS leaves out is
    empty)."""
    return {
        item["ParameterKey"]: item.get("ParameterValue", "")
        for item in described.get("Parameters", [])
    }


def dry_run_release(release: Release, template_text: str) -> dict[str, Any]:
    """What a dry-run Prepare returns: the release it would record, marked ``dry_run``, and
    the sha256 of this version's template text (``TEMPLATE_SHA256_KEY``), which stands in
    for the template that was never stored."""
    return {
        **release.to_dict(),
        "dry_run": True,
        TEMPLATE_SHA256_KEY: template_sha256(template_text),
    }


def dry_run_template_sha256(data: Mapping[str, Any]) -> str | None:
    """The template digest a dry-run release carries (None for a release that was stored)."""
    digest = data.get(TEMPLATE_SHA256_KEY)
    return digest if isinstance(digest, str) and digest else None


def holds_release(
    described: Mapping[str, Any],
    template: TemplateRef,
    *,
    template_text: str | None,
    sha256: str | None = None,
) -> bool:
    """Whether a ``DescribeStackSet`` answer already holds the release's ``template``.

    Judged from the release template's checked text when there is one; otherwise (a
    dry-run release, whose template was never stored) the stack set's own text stands in
    for it when it hashes to ``sha256``. Parameters are compared either way
    (``core.deployment.holds_template``).
    """
    if template_text is None:
        current = described.get("TemplateBody")
        if not isinstance(current, str) or not is_template(current, sha256):
            return False
        template_text = current
    return holds_template(described, template_text, template)
